package flash

import (
	"bytes"
	"testing"

	"github.com/actorrtmfp/actorrtmfp/codec/amf"
)

// FuzzMessage feeds arbitrary bytes to every parser of the package. Whatever parses must
// re-encode and parse again to the same thing.
func FuzzMessage(f *testing.F) {
	for _, s := range []string{msgFlashConnect, msgFlashResult, msgFlashSetPeerInfo, msgFlashKeepalive,
		msgCumulusSetPeerInfo, msgCumulusKeepalive, msgTCConnect, msgTCResult, msgTCSetPeerInfo,
		msgTCCreateStream, msgTCStreamResult,
		`12 000003e8 02 000d "@setDataFrame" 02 000a "onMetaData" 08 00000001 0005 "width" 00 4084000000000000 000009`,
		`0f 00000000 00 02 0011 "|RtmpSampleAccess" 01 01 01 01`,
		`11 00000000 00 11 06 0b "relay" 11 04 05 05 11 06 07 "abc" 11 06 00`,
		"09 00000010 17 00 000000 01", `09 00000010 90 "hvc1" 01`, "08 00000000 af 00 12 10",
		"54 43 04 01", "47 43", "01 21 15 0000000000000000000000000000000000000000000000000000000000000000",
		"0b 0000000000000000000000000000000000000000000000000000000000000000",
	} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if md, err := ParseMetadata(in); err == nil {
			if md2, err := ParseMetadata(md.Append(nil)); err != nil || md2 != md {
				t.Fatalf("metadata %+v → %+v %v", md, md2, err)
			}
		}
		if g, err := ParseGroupJoin(in); err == nil {
			if g2, err := ParseGroupJoin(g.Append(nil)); err != nil || g2 != g {
				t.Fatalf("group join %v", err)
			}
		}
		if id, err := ParseGroupMember(in); err == nil && !bytes.Equal(AppendGroupMember(nil, id), in) {
			t.Fatal("group member")
		}
		m, err := ParseMessage(in)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Append(nil), in) {
			t.Fatal("message header does not round-trip")
		}
		dec := amf.Decoder{MaxValues: 1 << 16, MaxBytes: 1 << 20}
		switch m.Type {
		case TypeCommandAMF0, TypeCommandAMF3:
			c, err := ParseCommand(m, &dec)
			if err != nil {
				return
			}
			_, _ = ParseStatus(c.Object)
			out, err := AppendCommand(nil, c)
			if err != nil {
				t.Fatalf("re-encoding %+v: %v", c, err)
			}
			m2, err := ParseMessage(out)
			if err != nil {
				t.Fatal(err)
			}
			c2, err := ParseCommand(m2, &dec)
			if err != nil {
				t.Fatalf("re-parsing: %v\n%x", err, out)
			}
			// (a NaN transaction ID compares unequal to itself)
			if c2.Name != c.Name || c2.TransactionID != c.TransactionID && c.TransactionID == c.TransactionID ||
				c2.AMF3 != c.AMF3 || c2.Timestamp != c.Timestamp || len(c2.Args) != len(c.Args) {
				t.Fatalf("%+v\n%+v", c, c2)
			}
			if out2, err := AppendCommand(nil, c2); err != nil || !bytes.Equal(out, out2) {
				t.Fatalf("command encoding not stable: %v", err)
			}
		case TypeDataAMF0, TypeDataAMF3:
			d, err := ParseData(m, &dec)
			if err != nil {
				return
			}
			_ = d.Name()
			out, err := AppendData(nil, d)
			if err != nil {
				t.Fatalf("re-encoding data: %v", err)
			}
			m2, _ := ParseMessage(out)
			d2, err := ParseData(m2, &dec)
			if err != nil || len(d2.Values) != len(d.Values) || d2.Timestamp != d.Timestamp {
				t.Fatalf("re-parsing data: %v", err)
			}
		case TypeUserControl:
			u, err := ParseUserControl(m)
			if err != nil {
				return
			}
			u.StreamID()
			u.BufferLength()
			u.PingTime()
			u.FlowSyncFields()
			u.Keepalive()
			u2, err := ParseUserControl(Message{Type: TypeUserControl, Body: u.Append(nil)[HeaderLen:]})
			if err != nil || u2.Event != u.Event || !bytes.Equal(u2.Data, u.Data) {
				t.Fatal("user control round trip")
			}
		case TypeAudio:
			AudioCodec(m.Body)
			IsAACSequenceHeader(m.Body)
			IsAudioSequenceHeader(m.Body)
		case TypeVideo:
			VideoCodec(m.Body)
			VideoFourCC(m.Body)
			IsKeyFrame(m.Body)
			IsAVCSequenceHeader(m.Body)
			IsHEVCSequenceHeader(m.Body)
			IsVideoSequenceHeader(m.Body)
		}
	})
}
