package flash

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/actorrtmfp/actorrtmfp/codec/amf"
)

func TestMetadata(t *testing.T) {
	for _, tc := range []struct {
		hex  string
		want Metadata
		err  bool
	}{
		{"54 43 04 00", Metadata{Kind: KindNetConnection}, false},
		{"54 43 04 01", Metadata{Kind: KindNetStream, StreamID: 1}, false},
		{"54 43 05 01", Metadata{Kind: KindNetStream, StreamID: 1, NetworkOrder: true}, false},
		{"54 43 04 81 00", Metadata{Kind: KindNetStream, StreamID: 128}, false},
		{"47 43", Metadata{Kind: KindNetGroup}, false},
		{"54 43 04 fa 89 01", Metadata{Kind: KindNetStream, StreamID: 0x7a<<14 | 0x09<<7 | 1}, false}, // librtmfp P2P
		{"54 43 00 00", Metadata{}, true},
		{"54 43 04", Metadata{}, true},
		{"54 43 04 80", Metadata{}, true},
		{"47 52 1c", Metadata{}, true},
		{"", Metadata{}, true},
	} {
		m, err := ParseMetadata(unhex(t, tc.hex))
		if (err != nil) != tc.err || m != tc.want {
			t.Errorf("%s: %+v %v", tc.hex, m, err)
		}
		if tc.err {
			if !errors.Is(err, ErrMetadata) || m.Kind != KindUnknown {
				t.Errorf("%s: %v", tc.hex, err)
			}
			continue
		}
		if got := m.Append(nil); !bytes.Equal(got, unhex(t, tc.hex)) {
			t.Errorf("%s: appended %x", tc.hex, got)
		}
	}
	if got := (Metadata{}).Append([]byte{1}); !bytes.Equal(got, []byte{1}) {
		t.Errorf("unknown kind appended %x", got)
	}
	if KindNetStream.String() != "NetStream" || KindUnknown.String() != "Unknown" {
		t.Error("String")
	}
}

func TestMessageHeader(t *testing.T) {
	m, err := ParseMessage(unhex(t, "08 00000102 af 00 12 10"))
	if err != nil || m.Type != TypeAudio || m.Timestamp != 0x102 || !bytes.Equal(m.Body, unhex(t, "af 00 12 10")) {
		t.Fatalf("%+v %v", m, err)
	}
	if got := m.Append(nil); !bytes.Equal(got, unhex(t, "08 00000102 af 00 12 10")) {
		t.Errorf("append %x", got)
	}
	m, err = ParseMessage(unhex(t, "0f 00000005 00 05"))
	if err != nil || !bytes.Equal(m.Body, []byte{5}) {
		t.Fatalf("%+v %v", m, err)
	}
	if got := m.Append(nil); !bytes.Equal(got, unhex(t, "0f 00000005 00 05")) {
		t.Errorf("append %x", got)
	}
	for _, tc := range []struct {
		hex  string
		want error
	}{
		{"14 0000", ErrShort},
		{"11 00000000", ErrShort},
		{"11 00000000 01 05", ErrFormat},
	} {
		if _, err := ParseMessage(unhex(t, tc.hex)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v", tc.hex, err)
		}
	}
}

func TestUserControl(t *testing.T) {
	for _, tc := range []struct {
		hex      string
		uc       UserControl
		srv, prr uint32
	}{
		{msgFlashKeepalive, SetKeepalive(15, 10), 15, 10},
		{msgCumulusKeepalive, SetKeepalive(5000, 5000), 5000, 5000},
	} {
		in := unhex(t, tc.hex)
		if got := tc.uc.Append(nil); !bytes.Equal(got, in) {
			t.Errorf("append %x, want %x", got, in)
		}
		m, err := ParseMessage(in)
		if err != nil {
			t.Fatal(err)
		}
		u, err := ParseUserControl(m)
		if err != nil || u.Event != EventSetKeepalive {
			t.Fatalf("%+v %v", u, err)
		}
		if s, p, ok := u.Keepalive(); !ok || s != tc.srv || p != tc.prr {
			t.Errorf("keepalive %d %d %v", s, p, ok)
		}
		if _, ok := u.StreamID(); ok {
			t.Error("StreamID of keepalive")
		}
	}
	for _, tc := range []struct {
		uc  UserControl
		hex string
	}{
		{StreamBegin(1), "04 00000000 0000 00000001"},
		{StreamEOF(2), "04 00000000 0001 00000002"},
		{StreamDry(3), "04 00000000 0002 00000003"},
		{SetBufferLength(1, 3000), "04 00000000 0003 00000001 00000bb8"},
		{StreamIsRecorded(4), "04 00000000 0004 00000004"},
		{PingRequest(9), "04 00000000 0006 00000009"},
		{PingResponse(9), "04 00000000 0007 00000009"},
		{FlowSync(7, 3), "04 00000000 0022 00000007 00000003"},
	} {
		if got := tc.uc.Append(nil); !bytes.Equal(got, unhex(t, tc.hex)) {
			t.Errorf("%+v: %x, want %s", tc.uc, got, tc.hex)
		}
	}
	if id, ok := StreamBegin(1).StreamID(); !ok || id != 1 {
		t.Error("StreamID")
	}
	if id, ms, ok := SetBufferLength(5, 100).BufferLength(); !ok || id != 5 || ms != 100 {
		t.Error("BufferLength")
	}
	if id, ok := SetBufferLength(5, 100).StreamID(); !ok || id != 5 {
		t.Error("StreamID of SetBufferLength")
	}
	if tm, ok := PingResponse(8).PingTime(); !ok || tm != 8 {
		t.Error("PingTime")
	}
	if s, c, ok := FlowSync(7, 3).FlowSyncFields(); !ok || s != 7 || c != 3 {
		t.Error("FlowSyncFields")
	}
	if _, _, ok := (UserControl{Event: EventFlowSync, Data: []byte{0, 0, 0, 1}}).FlowSyncFields(); ok {
		t.Error("short FlowSync accepted")
	}
	if _, _, ok := StreamBegin(1).Keepalive(); ok {
		t.Error("Keepalive of StreamBegin")
	}
	if _, err := ParseUserControl(Message{Type: TypeUserControl, Body: []byte{0}}); !errors.Is(err, ErrShort) {
		t.Error(err)
	}
	if _, err := ParseUserControl(Message{Type: TypeAudio, Body: []byte{0, 0}}); !errors.Is(err, ErrType) {
		t.Error(err)
	}
}

func TestStatus(t *testing.T) {
	s := ConnectSuccess(3)
	b1, err := s.AppendAMF0(nil)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := amf.AppendAMF0(nil, s.Object())
	if err != nil || !bytes.Equal(b1, b2) {
		t.Fatalf("AppendAMF0 and Object differ:\n%x\n%x", b1, b2)
	}
	v, _, err := amf.DecodeAMF0(b1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseStatus(v)
	if err != nil || p.Level != LevelStatus || p.Code != CodeConnectSuccess || p.Description != "Connection succeeded" ||
		len(p.Extra) != 1 || p.Extra[0].Key != "objectEncoding" || p.Extra[0].Value != 3.0 {
		t.Fatalf("%+v %v", p, err)
	}
	// The captured _result objects, whatever their key order.
	var dec amf.Decoder
	for _, hex := range []string{msgFlashResult, msgTCResult} {
		c, _ := parseCommand(t, &dec, hex)
		st, err := ParseStatus(c.Args[0])
		if err != nil || st.Code != CodeConnectSuccess || st.Level != LevelStatus || st.Description == "" {
			t.Errorf("%+v %v", st, err)
		}
		o := c.Args[0].(*amf.Object)
		if len(st.Extra) != len(o.Props)-3 {
			t.Errorf("extra %d of %d", len(st.Extra), len(o.Props))
		}
	}
	for _, v := range []any{nil, "x", (*amf.Object)(nil), amf.NewObject(amf.Property{Key: "level", Value: "status"})} {
		if _, err := ParseStatus(v); !errors.Is(err, ErrStatus) {
			t.Errorf("%#v: %v", v, err)
		}
	}
	if st, err := ParseStatus(amf.NewECMAArray(amf.Property{Key: "code", Value: "c"})); err != nil || st.Code != "c" {
		t.Errorf("ECMA status %+v %v", st, err)
	}
	for _, st := range []Status{
		ConnectRejected("r"), ConnectInvalidApp("a"), ConnectClosed(), CallFailed("f"), PublishStart("n"),
		PublishBadName("b"), UnpublishSuccess("n"), PlayReset("n"), PlayStart("n"), PlayStop("n"),
		PlayFailed("f"), PlayPublishNotify("n"), PlayUnpublishNotify("n"), PlayStreamNotFound("n"),
		SeekInvalidTime("s"),
	} {
		if st.Code == "" || st.Description == "" || (st.Level != LevelStatus && st.Level != LevelError) {
			t.Errorf("%+v", st)
		}
		wantErr := st.Code == CodeConnectRejected || st.Code == CodeConnectInvalidApp || st.Code == CodeCallFailed ||
			st.Code == CodePublishBadName || st.Code == CodePlayFailed || st.Code == CodePlayStreamNotFound ||
			st.Code == CodeSeekInvalidTime
		if wantErr != (st.Level == LevelError) {
			t.Errorf("%s has level %s", st.Code, st.Level)
		}
	}
}

func TestMedia(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		hex                      string
		audio                    bool
		aacSeq, audioSeq         bool
		avcSeq, hevcSeq, seq, kf bool
		ex                       bool
	}{
		{name: "aac seq", hex: "af 00 12 10", audio: true, aacSeq: true, audioSeq: true},
		{name: "aac raw", hex: "af 01 21 00", audio: true},
		{name: "mp3", hex: "2f ff", audio: true},
		{name: "enhanced audio seq", hex: `90 "mp4a" 12 10`, audio: true, audioSeq: true},
		{name: "enhanced audio frames", hex: `91 "Opus" 00`, audio: true},
		{name: "avc seq", hex: "17 00 000000 01 64", avcSeq: true, seq: true, kf: true},
		{name: "avc key", hex: "17 01 000000 00000001", kf: true},
		{name: "avc inter", hex: "27 01 000000 00000001"},
		{name: "hevc legacy seq", hex: "1c 00 000000 01", hevcSeq: true, seq: true, kf: true},
		{name: "hevc legacy inter", hex: "2c 01 000000"},
		{name: "enhanced hevc seq", hex: `90 "hvc1" 01`, hevcSeq: true, seq: true, kf: true, ex: true},
		{name: "enhanced hevc key", hex: `91 "hvc1" 000000`, kf: true, ex: true},
		{name: "enhanced hevc inter", hex: `a3 "hvc1"`, ex: true},
		{name: "enhanced av1 seq", hex: `90 "av01" 81`, seq: true, kf: true, ex: true},
		{name: "enhanced vp9 key", hex: `93 "vp09"`, kf: true, ex: true},
		{name: "enhanced command frame", hex: `d4 "hvc1"`, ex: true},
		{name: "short enhanced", hex: `90 68`, kf: true, ex: true},
		{name: "empty", hex: ""},
	} {
		b := unhex(t, tc.hex)
		if tc.audio {
			if IsAACSequenceHeader(b) != tc.aacSeq || IsAudioSequenceHeader(b) != tc.audioSeq {
				t.Errorf("%s: audio predicates", tc.name)
			}
			continue
		}
		if IsAVCSequenceHeader(b) != tc.avcSeq || IsHEVCSequenceHeader(b) != tc.hevcSeq ||
			IsVideoSequenceHeader(b) != tc.seq || IsKeyFrame(b) != tc.kf || IsExHeader(b) != tc.ex {
			t.Errorf("%s: avc %v hevc %v seq %v key %v ex %v", tc.name, IsAVCSequenceHeader(b),
				IsHEVCSequenceHeader(b), IsVideoSequenceHeader(b), IsKeyFrame(b), IsExHeader(b))
		}
	}
	if fc, ok := VideoFourCC(unhex(t, `90 "av01"`)); !ok || fc != FourCCAV1 {
		t.Error("VideoFourCC av01")
	}
	if fc, ok := VideoFourCC(unhex(t, `91 "vp09"`)); !ok || fc != FourCCVP9 {
		t.Error("VideoFourCC vp09")
	}
	if _, ok := VideoFourCC(unhex(t, "17 00")); ok {
		t.Error("VideoFourCC of a legacy tag")
	}
	if VideoCodec(unhex(t, "17 00")) != VideoCodecAVC || VideoCodec(unhex(t, `90 "hvc1"`)) != -1 || VideoCodec(nil) != -1 {
		t.Error("VideoCodec")
	}
	if AudioCodec(unhex(t, "af 00")) != AudioCodecAAC || AudioCodec(nil) != -1 {
		t.Error("AudioCodec")
	}
	for _, tc := range []struct {
		hex        string
		video, end bool
	}{
		{"17 02 000000", true, true}, {"1c 02 000000", true, true}, {"17 01 000000", true, false},
		{"12 02", true, false}, {`92 "hvc1"`, true, true}, {`91 "hvc1"`, true, false}, {"92 68", true, false},
		{`92 "Opus"`, false, true}, {`91 "Opus"`, false, false}, {"a2 00", false, false},
	} {
		b := unhex(t, tc.hex)
		if (tc.video && IsVideoSequenceEnd(b) != tc.end) || (!tc.video && IsAudioSequenceEnd(b) != tc.end) {
			t.Errorf("%s: sequence end should be %v", tc.hex, tc.end)
		}
	}
	if FourCCHEVC != 0x68766331 || FourCCAAC != 0x6d703461 {
		t.Error("FourCC constants")
	}
	allocs := testing.AllocsPerRun(100, func() {
		b := []byte{0x17, 0x00}
		_ = IsKeyFrame(b) && IsVideoSequenceHeader(b) && IsAACSequenceHeader(b)
	})
	if allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
}

func TestGroup(t *testing.T) {
	id := sha256.Sum256([]byte("group"))
	join := append(unhex(t, "01 21 15"), id[:]...)
	g, err := ParseGroupJoin(join)
	if err != nil || g.GroupID != id {
		t.Fatalf("%x %v", g.GroupID, err)
	}
	if got := g.Append(nil); !bytes.Equal(got, join) {
		t.Errorf("append %x", got)
	}
	// Legacy form: the server hashes the bytes. The group text of the netgroup notes' §2
	// example hashes to the ID given there.
	txt := "G:01012105f8cd3b377cf93646b30b07f29cf917d68d63c26ac60af46f0563829280d48fc5010c160e666d732e6d756c7469636173742e6578616d706c65"
	legacy := append([]byte{GroupMsgJoin, 0x80 | byte((len(txt)+1)>>7), byte((len(txt) + 1) & 0x7f), GroupIDLegacy}, txt...)
	g, err = ParseGroupJoin(legacy)
	if err != nil || hex.EncodeToString(g.GroupID[:]) != "d5b23dda058c883c215b23ff09c959540009a843327c5bdf85aa517ae19cb3ec" {
		t.Fatalf("legacy: %x %v", g.GroupID, err)
	}
	for _, bad := range []string{"", "01", "01 00", "01 21 15 00", "0b 21 15", "01 05 15 00000000", "01 ff"} {
		if _, err := ParseGroupJoin(unhex(t, bad)); !errors.Is(err, ErrGroup) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	m := AppendGroupMember(nil, id)
	if len(m) != 33 || m[0] != 0x0B {
		t.Fatalf("%x", m)
	}
	got, err := ParseGroupMember(m)
	if err != nil || got != id {
		t.Fatal(err)
	}
	if _, err := ParseGroupMember(m[:32]); !errors.Is(err, ErrGroup) {
		t.Error(err)
	}
	if _, err := ParseGroupMember(join[:33]); !errors.Is(err, ErrGroup) {
		t.Error(err)
	}
}
