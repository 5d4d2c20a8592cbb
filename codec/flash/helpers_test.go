package flash

import (
	"testing"

	"github.com/actorrtmfp/actorrtmfp/codec/internal/hexlit"
)

// unhex decodes a hex literal (see hexlit).
func unhex(t testing.TB, s string) []byte { t.Helper(); return hexlit.Decode(t, s) }

// Whole TC messages cut by hand out of the user-data chunks of the captures:
// testdata/flash-session (Flash Player 11.7 ↔ go-rtmfp; packets decrypted with the keys in
// the protocol notes, framing §10.2) and testdata/rfc7425-session (rtmfp-cpp tcconn ↔
// tcserver; plaintexts in its README).
const (
	// Flash packet 5, C→S connect.
	msgFlashConnect = `14 00000000 02 0007 "connect" 00 3ff0000000000000
		03 0003 "app" 02 0000
		   0008 "flashVer" 02 0010 "WIN 11,7,700,202"
		   0006 "swfUrl" 06
		   0005 "tcUrl" 02 0018 "rtmfp://192.168.137.183/"
		   0004 "fpad" 01 00
		   000c "capabilities" 00 406d600000000000
		   000b "audioCodecs" 00 40abee0000000000
		   000b "videoCodecs" 00 406f800000000000
		   000d "videoFunction" 00 3ff0000000000000
		   0007 "pageUrl" 06
		   000e "objectEncoding" 00 4008000000000000
		000009`
	// Flash packet 6, S→C _result (go-rtmfp).
	msgFlashResult = `14 00000000 02 0007 "_result" 00 3ff0000000000000 05
		03 000e "objectEncoding" 00 4008000000000000
		   0004 "code" 02 001d "NetConnection.Connect.Success"
		   0004 "data" 05
		   000b "description" 02 0014 "Connection succeeded"
		   0005 "level" 02 0006 "status"
		000009`
	// Flash packet 8, C→S setPeerInfo as type 0x11 (timestamp 0x82, format byte 00).
	msgFlashSetPeerInfo = `11 00000082 00 02 000b "setPeerInfo" 00 0000000000000000 05
		02 0013 "192.168.137.1:55655" 02 0014 "192.168.202.99:55655"`
	// Flash packet 9, S→C Set Keepalive (go-rtmfp's 15/10, meant as seconds).
	msgFlashKeepalive = `04 00000000 0029 0000000f 0000000a`
	// Cumulus issue #19 dump: setPeerInfo as type 0x14 and Set Keepalive 5000/5000 ms.
	msgCumulusSetPeerInfo = `14 00000000 02 000b "setPeerInfo" 00 0000000000000000 05
		02 0012 "169.254.8.30:39046" 02 0014 "192.168.178.21:39046"`
	msgCumulusKeepalive = `04 00000000 0029 00001388 00001388`
	// rfc7425 g14-05, C→S connect (objectEncoding 0).
	msgTCConnect = `14 00000000 02 0007 "connect" 00 3ff0000000000000
		03 0003 "app" 02 0004 "live"
		   000b "audioCodecs" 00 40efffe000000000
		   0012 "audioFourCcInfoMap" 03 0001 "*" 00 4014000000000000 000009
		   0006 "capsEx" 00 4008000000000000
		   000a "fourCcList" 0a 00000001 02 0001 "*"
		   000e "objectEncoding" 00 0000000000000000
		   0005 "tcUrl" 02 001c "rtmfp://127.0.0.1:19650/live"
		   000b "videoCodecs" 00 40efffe000000000
		   0012 "videoFourCcInfoMap" 03 0001 "*" 00 4014000000000000 000009
		000009`
	// rfc7425 g14-07, S→C _result (tcserver).
	msgTCResult = `14 00000000 02 0007 "_result" 00 3ff0000000000000 05
		03 0012 "audioFourCcInfoMap" 03 0001 "*" 00 4010000000000000 000009
		   0006 "capsEx" 00 0000000000000000
		   0004 "code" 02 001d "NetConnection.Connect.Success"
		   000c "connectionID" 02 0040 "04dd0ad11a17d803ff18d9c270784c4e013eca242028ea7aa7ebd94adf88262e"
		   000b "description" 02 000e "you connected!"
		   000a "fourCcList" 0a 00000001 02 0001 "*"
		   0005 "level" 02 0006 "status"
		   000e "objectEncoding" 00 0000000000000000
		   0011 "serverFingerprint" 02 0040 "aa39626120bcd20c5c4eb9a646947ff7a57cf9229d963c7c883b98de75b6eafb"
		   0012 "videoFourCcInfoMap" 03 0001 "*" 00 4010000000000000 000009
		000009`
	// rfc7425 g14-09: setPeerInfo with no address, then createStream (txn 2).
	msgTCSetPeerInfo  = `14 00000000 02 000b "setPeerInfo" 00 0000000000000000 05`
	msgTCCreateStream = `14 00000000 02 000c "createStream" 00 4000000000000000 05`
	// rfc7425 g14-10: _result(2) null 1.
	msgTCStreamResult = `14 00000000 02 0007 "_result" 00 4000000000000000 05 00 3ff0000000000000`
)
