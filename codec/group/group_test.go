package group

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"

	"github.com/actorrtmfp/actorrtmfp/codec/internal/hexlit"
)

// The OSMF multicast sample's specifier (netgroup.md §1) and the ID librtmfp's algorithm
// gives it (§2).
const (
	sampleSpec = "G:01012105f8cd3b377cf93646b30b07f29cf917d68d63c26ac60af46f0563829280d48fc5010c160e666d732e6d756c7469636173742e6578616d706c650009157265616c65796573"
	sampleID   = "d5b23dda058c883c215b23ff09c959540009a843327c5bdf85aa517ae19cb3ec"
)

func TestGroupText(t *testing.T) {
	txt, id, err := GroupText(sampleSpec)
	if err != nil {
		t.Fatal(err)
	}
	if want := sampleSpec[:len(sampleSpec)-len("0009157265616c65796573")]; txt != want {
		t.Fatalf("text %q, want %q", txt, want)
	}
	if hex.EncodeToString(id[:]) != sampleID {
		t.Fatalf("id %x", id)
	}
	// Version 2 (7F 02) hashes twice.
	_, id2, err := GroupText("G:027f02010e00")
	if err != nil {
		t.Fatal(err)
	}
	_, id1, _ := GroupText("G:0201020e00")
	if id1 == id2 {
		t.Fatal("v2 specifier hashed once")
	}
	for _, bad := range []string{"", "G:", "X:0100", "G:zz00", "G:0501", "G:0101"} {
		if _, _, err := GroupText(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestInitLayout(t *testing.T) {
	m := Init{Group: [32]byte{0xAB, 1}, Key: [32]byte{2}, Peer: [32]byte{3}}
	b := m.Append(nil)
	if b[0] != 0x01 || !bytes.Equal(b[1:3], []byte{0x41, 0}) || string(b[3:7]) != "ab01" || b[67] != 0x21 || b[101] != 0x23 {
		t.Fatalf("layout % x", b)
	}
	got, err := Parse(b)
	if err != nil || got != m {
		t.Fatalf("%+v %v", got, err)
	}
	b[3] = 'A' // librtmfp compares the ID's text ignoring case
	if got, err := Parse(b); err != nil || got != m {
		t.Fatal(err)
	}
	b[3] = 'g'
	if _, err := Parse(b); !errors.Is(err, ErrFormat) {
		t.Fatal(err)
	}
	if _, err := Parse(b[:50]); !errors.Is(err, ErrShort) {
		t.Fatal(err)
	}
}

func TestGroupKeyDiffers(t *testing.T) {
	n := [32]byte{9}
	if GroupKey("G:01", n) == GroupKey("G:02", n) || GroupKey("G:01", n) == GroupKey("G:01", [32]byte{8}) {
		t.Fatal("key ignores its inputs")
	}
}

func TestMediaInfoRoundTrip(t *testing.T) {
	m := MediaInfo{Name: "live/cam", Key: [34]byte{0x21, 0x01, 7}, WindowMs: 8000, UpdatePeriodMs: 100, FetchPeriodMs: 2500, SendToAll: true}
	got, err := Parse(m.Append(nil))
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("%+v %v", got, err)
	}
	end := MediaEnd{Last: 300}
	got, err = Parse(end.Append(nil))
	if err != nil || got != end {
		t.Fatalf("%+v %v", got, err)
	}
	// librtmfp's announcement, as its writer lays it out (name "s", key, 01 02, window 8000,
	// object encoding, update 100, fetch 2500).
	lib := hexlit.Decode(t, "21 02 00 73 2101 0000000000000000000000000000000000000000000000000000000000000000 0102 03 03 be40 04 04 92a760 02 05 64 03 07 9344")
	got, err = Parse(lib)
	if err != nil {
		t.Fatal(err)
	}
	if mi := got.(MediaInfo); mi.Name != "s" || mi.WindowMs != 8000 || mi.UpdatePeriodMs != 100 || mi.FetchPeriodMs != 2500 {
		t.Fatalf("%+v", mi)
	}
}

func TestFragmentsMapHas(t *testing.T) {
	m := FragmentsMap{Last: 20, Bits: []byte{0b0000_0101, 0b1000_0000}}
	for id, want := range map[uint64]bool{20: true, 19: true, 18: false, 17: true, 16: false, 4: true, 3: false, 21: false, 0: false} {
		if m.Has(id) != want {
			t.Errorf("Has(%d) = %v", id, !want)
		}
	}
}

func TestSplitAndParse(t *testing.T) {
	data := bytes.Repeat([]byte{1, 2, 3}, 1000) // 3000 bytes: 4 fragments
	frags, err := Split(nil, 10, 9, 1234, data)
	if err != nil || len(frags) != 4 {
		t.Fatalf("%d %v", len(frags), err)
	}
	var joined []byte
	for i, f := range frags {
		p, err := ParseFragment(f.Append(nil))
		if err != nil {
			t.Fatal(err)
		}
		if p.ID != uint64(10+i) || int(p.Split) != 3-i || p.First() != (i == 0) || p.Last() != (i == 3) {
			t.Fatalf("fragment %d: %+v", i, p)
		}
		joined = append(joined, p.Data...)
	}
	if !bytes.Equal(joined, data) || frags[0].Time != 1234 || frags[0].MediaType != 9 {
		t.Fatal("split does not join back")
	}
	one, _ := Split(nil, 1, 8, 5, []byte{0xAF, 1})
	if len(one) != 1 || one[0].Marker != TypeMediaData {
		t.Fatalf("%+v", one)
	}
	if _, err := Split(nil, 1, 9, 0, make([]byte, MaxMessage+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatal(err)
	}
	if _, err := ParseFragment(append([]byte{TypeMediaData, 1, 9, 0, 0, 0, 0}, make([]byte, MaxFragment+1)...)); !errors.Is(err, ErrTooLarge) {
		t.Fatal(err)
	}
	if _, err := ParseFragment([]byte{TypeMediaData, 0, 9, 0, 0, 0, 0}); err == nil {
		t.Fatal("fragment 0 accepted")
	}
}

func TestPost(t *testing.T) {
	if _, err := ParsePost(nil); err == nil {
		t.Fatal("empty post")
	}
	if _, err := ParsePost(make([]byte, MaxPost+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatal(err)
	}
	p, err := ParsePost([]byte{2, 0, 1, 'x'})
	if err != nil || p.ID() == (Post{Body: []byte{2, 0, 1, 'y'}}).ID() {
		t.Fatal(err)
	}
}
