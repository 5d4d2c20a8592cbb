package rtmfp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func TestVLUVectors(t *testing.T) {
	// Values and encodings from framing-and-crypto.md §8.1.
	vectors := []struct {
		v   uint64
		hex string
	}{
		{0, "00"}, {127, "7f"}, {128, "8100"}, {130, "8102"}, {255, "817f"},
		{16383, "ff7f"}, {16384, "818000"}, {2097151, "ffff7f"}, {2097152, "81808000"},
		{268435456, "8180808000"}, {^uint64(0), "81ffffffffffffffff7f"},
	}
	for _, vec := range vectors {
		got := AppendVLU(nil, vec.v)
		if hex.EncodeToString(got) != vec.hex {
			t.Errorf("AppendVLU(%d) = %x, want %s", vec.v, got, vec.hex)
		}
		if VLULen(vec.v) != len(got) {
			t.Errorf("VLULen(%d) = %d, want %d", vec.v, VLULen(vec.v), len(got))
		}
		v, n, err := ReadVLU(append(got, 0xAA))
		if err != nil || v != vec.v || n != len(got) {
			t.Errorf("ReadVLU(%s) = %d, %d, %v", vec.hex, v, n, err)
		}
	}
}

func TestVLUErrors(t *testing.T) {
	if _, _, err := ReadVLU(nil); !errors.Is(err, ErrShort) {
		t.Errorf("empty: %v", err)
	}
	if _, _, err := ReadVLU([]byte{0x81, 0x80}); !errors.Is(err, ErrShort) {
		t.Errorf("unterminated: %v", err)
	}
	if _, _, err := ReadVLU([]byte{0x82, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}); !errors.Is(err, ErrVLUOverflow) {
		t.Errorf("65 bits: %v", err)
	}
	// Redundant leading zero groups are legal.
	if v, n, err := ReadVLU([]byte{0x80, 0x80, 0x05}); err != nil || v != 5 || n != 3 {
		t.Errorf("leading zero groups: %d %d %v", v, n, err)
	}
}

func TestOptionList(t *testing.T) {
	// User data options of the server's NetConnection return flow in the Flash capture:
	// metadata "TC\x04\x00", return association with flow 2, marker, then the message.
	wire, _ := hex.DecodeString("0500544304000" + "20a0200" + "14")
	list, rest, err := SplitTerminatedOptions(wire)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rest, []byte{0x14}) {
		t.Fatalf("rest = %x", rest)
	}
	it := NewOptionIterator(list)
	var got []Option
	for it.Next() {
		got = append(got, it.Option())
	}
	if it.Err() != nil || len(got) != 2 {
		t.Fatalf("options %v err %v", got, it.Err())
	}
	if got[0].Type != 0 || !bytes.Equal(got[0].Value, []byte("TC\x04\x00")) || got[1].Type != 0x0A || !bytes.Equal(got[1].Value, []byte{2}) {
		t.Fatalf("options = %+v", got)
	}
	var enc []byte
	enc = AppendOption(enc, 0, []byte("TC\x04\x00"))
	enc = AppendOptionVLU(enc, 0x0A, 2)
	enc = append(enc, 0)
	if !bytes.Equal(enc, wire[:len(wire)-1]) {
		t.Fatalf("re-encoded %x, want %x", enc, wire[:len(wire)-1])
	}
	if got[0].Len()+got[1].Len()+1 != len(enc) {
		t.Fatal("Len disagrees with Append")
	}
}

func TestOptionErrors(t *testing.T) {
	for _, in := range [][]byte{{0x05, 0x00}, {0x02, 0x81}, {0x81}} {
		it := NewOptionIterator(in)
		for it.Next() {
		}
		if it.Err() == nil {
			t.Errorf("%x: no error", in)
		}
	}
	if _, _, err := SplitTerminatedOptions([]byte{0x02, 0x0A, 0x01}); err == nil {
		t.Error("list without marker accepted")
	}
	if o, ok, err := FindOption([]byte{0x02, 0x15, 0x02, 0x02, 0x15, 0x0E}, 0x15); !ok || err != nil || o.Value[0] != 2 {
		t.Errorf("FindOption = %v %v %v", o, ok, err)
	}
}
