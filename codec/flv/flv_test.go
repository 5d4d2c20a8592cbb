package flv

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

func TestHeaderRoundTrip(t *testing.T) {
	b := Header{Audio: true, Video: true}.Append(nil)
	if got := hex.EncodeToString(b); got != "464c5601050000000900000000" {
		t.Fatalf("header %s", got)
	}
	h, err := ParseHeader(b)
	if err != nil || !h.Audio || !h.Video || h.DataOffset != 9 {
		t.Fatalf("%+v %v", h, err)
	}
	for _, bad := range []string{"464c56", "464c5602050000000900", "474c5601050000000900", "464c5601050000000300"} {
		in, _ := hex.DecodeString(bad)
		if _, err := ParseHeader(in); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}

func TestTagRoundTrip(t *testing.T) {
	tag := Tag{Type: TagVideo, Timestamp: 0x12345678, Body: []byte{0x17, 0x01, 0, 0, 0, 0xAA}}
	b, err := AppendTag(nil, tag)
	if err != nil {
		t.Fatal(err)
	}
	// The extended timestamp byte carries bits 31–24 after the low 24 bits.
	if want := "09000006345678120000001701000000aa00000011"; hex.EncodeToString(b) != want {
		t.Fatalf("tag %x, want %s", b, want)
	}
	got, n, err := ParseTag(append(b, 0xFF))
	if err != nil || n != len(b) || got.Type != tag.Type || got.Timestamp != tag.Timestamp || !bytes.Equal(got.Body, tag.Body) {
		t.Fatalf("%+v %d %v", got, n, err)
	}
	// A wrong PreviousTagSize, a truncated tag, an encrypted one and an unknown type fail.
	bad := bytes.Clone(b)
	bad[len(bad)-1]++
	if _, _, err := ParseTag(bad); !errors.Is(err, ErrPrevSize) {
		t.Errorf("bad previous size: %v", err)
	}
	if _, _, err := ParseTag(b[:len(b)-1]); !errors.Is(err, ErrShort) {
		t.Errorf("truncated: %v", err)
	}
	enc := bytes.Clone(b)
	enc[0] |= 0x20
	if _, _, err := ParseTag(enc); !errors.Is(err, ErrEncrypted) {
		t.Errorf("encrypted: %v", err)
	}
	unknown := bytes.Clone(b)
	unknown[0] = 7
	if _, _, err := ParseTag(unknown); !errors.Is(err, ErrTagType) {
		t.Errorf("type 7: %v", err)
	}
	if _, err := AppendTag(nil, Tag{Type: TagAudio, Body: make([]byte, MaxDataSize+1)}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("too large: %v", err)
	}
}

func TestMessageMapping(t *testing.T) {
	data, _ := flash.AppendData(nil, flash.Data{Timestamp: 40, AMF3: true, Values: []any{"onCuePoint", 1.0}})
	m, err := flash.ParseMessage(data)
	if err != nil {
		t.Fatal(err)
	}
	tag, ok := FromMessage(m)
	if !ok || tag.Type != TagScript || tag.Timestamp != 40 || tag.Body[0] != amf.AMF0String {
		t.Fatalf("AMF3 data message as a tag: %+v %v", tag, ok)
	}
	if back := tag.Message(); back.Type != flash.TypeDataAMF0 || !bytes.Equal(back.Body, m.Body) {
		t.Fatalf("back: %+v", back)
	}
	if _, ok := FromMessage(flash.Message{Type: flash.TypeCommandAMF0}); ok {
		t.Fatal("a command became a tag")
	}
}

func TestMetadataPatch(t *testing.T) {
	props := []amf.Property{{Key: "width", Value: 320.0}, {Key: "duration", Value: 9.0}, {Key: "encoder", Value: "x"}}
	body, err := AppendMetadata(nil, 0, 0, props)
	if err != nil {
		t.Fatal(err)
	}
	if !Patchable(body) {
		t.Fatal("not patchable")
	}
	PutDuration(body, 12.5)
	PutFileSize(body, 123456)
	if Duration(body) != 12.5 {
		t.Fatalf("duration %v", Duration(body))
	}
	d, err := flash.ParseData(flash.Message{Type: flash.TypeDataAMF0, Body: body}, amf.NewDecoder(nil))
	if err != nil || d.Name() != MetadataName || len(d.Values) != 2 {
		t.Fatalf("%+v %v", d, err)
	}
	arr, ok := d.Values[1].(*amf.ECMAArray)
	if !ok || arr.Count != 4 || len(arr.Props) != 4 {
		t.Fatalf("array %#v", d.Values[1])
	}
	want := []amf.Property{{Key: "duration", Value: 12.5}, {Key: "filesize", Value: 123456.0}, props[0], props[2]}
	for i, p := range arr.Props {
		if p != want[i] {
			t.Errorf("property %d: %+v, want %+v", i, p, want[i])
		}
	}
	// Metadata of another layout (a publisher's own order) is not patched.
	other, _ := amf.AppendAMF0(amf.AppendAMF0String(nil, MetadataName), &amf.ECMAArray{Props: props})
	if Patchable(other) {
		t.Fatal("foreign layout reported patchable")
	}
}
