package amf

import (
	"bytes"
	"testing"
)

// Command bodies (after the 5-byte TC header type|timestamp, or 6 for type 0x11) of the
// messages in testdata/flash-session (Flash Player 11.7, decrypted with the keys of
// docs flows §12 / framing §10.2) and testdata/rfc7425-session (rtmfp-cpp tcconn/tcserver,
// plaintexts in its README), cut out of the user-data chunks by hand.
const (
	// Flash packet 5, C→S connect (objectEncoding 3, undefined swfUrl/pageUrl).
	flashConnect = `02 0007 "connect" 00 3ff0000000000000
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
	// Flash packet 6, S→C _result (go-rtmfp: alphabetical keys, data null).
	flashResult = `02 0007 "_result" 00 3ff0000000000000 05
		03 000e "objectEncoding" 00 4008000000000000
		   0004 "code" 02 001d "NetConnection.Connect.Success"
		   0004 "data" 05
		   000b "description" 02 0014 "Connection succeeded"
		   0005 "level" 02 0006 "status"
		000009`
	// Flash packet 8, C→S setPeerInfo (message type 0x11; body after 11 00000082 00).
	flashSetPeerInfo = `02 000b "setPeerInfo" 00 0000000000000000 05
		02 0013 "192.168.137.1:55655" 02 0014 "192.168.202.99:55655"`
	// rfc7425 g14-05, C→S connect (objectEncoding 0, nested objects, strict array).
	tcConnect = `02 0007 "connect" 00 3ff0000000000000
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
	tcResult = `02 0007 "_result" 00 3ff0000000000000 05
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
	// rfc7425 g14-09, C→S setPeerInfo with no address, then createStream.
	tcSetPeerInfo  = `02 000b "setPeerInfo" 00 0000000000000000 05`
	tcCreateStream = `02 000c "createStream" 00 4000000000000000 05`
	// rfc7425 g14-10, S→C _result of createStream: stream 1.
	tcStreamResult = `02 0007 "_result" 00 4000000000000000 05 00 3ff0000000000000`
)

// decodeAll reads AMF0 values until the input ends.
func decodeAll(t *testing.T, d *Decoder, b []byte) []any {
	t.Helper()
	d.Reset(b)
	var out []any
	for d.Len() > 0 {
		v, err := d.ReadAMF0()
		if err != nil {
			t.Fatalf("value %d at offset %d: %v", len(out), d.Offset(), err)
		}
		out = append(out, v)
	}
	return out
}

func encodeAll(t *testing.T, vs []any) []byte {
	t.Helper()
	var b []byte
	for _, v := range vs {
		var err error
		if b, err = AppendAMF0(b, v); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func TestCaptureRoundTrip(t *testing.T) {
	var d Decoder
	for _, tc := range []struct {
		name, hex string
		values    int
	}{
		{"flash connect", flashConnect, 3},
		{"flash _result", flashResult, 4},
		{"flash setPeerInfo", flashSetPeerInfo, 5},
		{"tc connect", tcConnect, 3},
		{"tc _result", tcResult, 4},
		{"tc setPeerInfo", tcSetPeerInfo, 3},
		{"tc createStream", tcCreateStream, 3},
		{"tc createStream _result", tcStreamResult, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := unhex(t, tc.hex)
			vs := decodeAll(t, &d, in)
			if len(vs) != tc.values {
				t.Fatalf("%d values, want %d: %#v", len(vs), tc.values, vs)
			}
			if out := encodeAll(t, vs); !bytes.Equal(out, in) {
				t.Fatalf("re-encoded\n%x\nwant\n%x", out, in)
			}
		})
	}
}

func TestFlashConnectValues(t *testing.T) {
	var d Decoder
	vs := decodeAll(t, &d, unhex(t, flashConnect))
	if vs[0] != "connect" || vs[1] != 1.0 {
		t.Fatalf("name/txn %#v %#v", vs[0], vs[1])
	}
	o, ok := vs[2].(*Object)
	if !ok || o.Class != "" || !o.Dynamic || o.Sealed != 0 {
		t.Fatalf("command object %#v", vs[2])
	}
	keys := []string{"app", "flashVer", "swfUrl", "tcUrl", "fpad", "capabilities", "audioCodecs",
		"videoCodecs", "videoFunction", "pageUrl", "objectEncoding"}
	if len(o.Props) != len(keys) {
		t.Fatalf("%d props", len(o.Props))
	}
	for i, k := range keys {
		if o.Props[i].Key != k {
			t.Errorf("prop %d = %q, want %q", i, o.Props[i].Key, k)
		}
	}
	if v, _ := o.Get("swfUrl"); v != (Undefined{}) {
		t.Errorf("swfUrl = %#v, want Undefined", v)
	}
	if v, _ := o.Get("pageUrl"); v != (Undefined{}) {
		t.Errorf("pageUrl = %#v, want Undefined", v)
	}
	if v, _ := o.Get("fpad"); v != false {
		t.Errorf("fpad = %#v", v)
	}
	for k, want := range map[string]float64{"capabilities": 235, "audioCodecs": 3575, "videoCodecs": 252,
		"videoFunction": 1, "objectEncoding": 3} {
		if n, ok := o.GetNumber(k); !ok || n != want {
			t.Errorf("%s = %v, %v; want %v", k, n, ok, want)
		}
	}
	if s, _ := o.GetString("flashVer"); s != "WIN 11,7,700,202" {
		t.Errorf("flashVer %q", s)
	}
	if s, _ := o.GetString("tcUrl"); s != "rtmfp://192.168.137.183/" {
		t.Errorf("tcUrl %q", s)
	}
	if s, ok := o.GetString("app"); !ok || s != "" {
		t.Errorf("app %q %v", s, ok)
	}
}

func TestTCConnectValues(t *testing.T) {
	var d Decoder
	vs := decodeAll(t, &d, unhex(t, tcConnect))
	o := vs[2].(*Object)
	if n, ok := o.GetNumber("objectEncoding"); !ok || n != 0 {
		t.Errorf("objectEncoding %v %v", n, ok)
	}
	m, _ := o.Get("audioFourCcInfoMap")
	mo, ok := m.(*Object)
	if !ok || len(mo.Props) != 1 || mo.Props[0].Key != "*" || mo.Props[0].Value != 5.0 {
		t.Errorf("audioFourCcInfoMap %#v", m)
	}
	l, _ := o.Get("fourCcList")
	if !equalValues(l, []any{"*"}, false) {
		t.Errorf("fourCcList %#v", l)
	}
}

func TestSetPeerInfoValues(t *testing.T) {
	var d Decoder
	vs := decodeAll(t, &d, unhex(t, flashSetPeerInfo))
	want := []any{"setPeerInfo", 0.0, nil, "192.168.137.1:55655", "192.168.202.99:55655"}
	if !equalValues(vs, want, false) {
		t.Fatalf("got %#v", vs)
	}
}
