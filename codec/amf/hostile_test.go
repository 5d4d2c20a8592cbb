package amf

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestHostileInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		amf3 bool
		hex  string
		want error
	}{
		{"empty", false, "", ErrShort},
		{"truncated number", false, "00 3ff0", ErrShort},
		{"truncated string", false, `02 0005 "abc"`, ErrShort},
		{"long string len 2^32-1", false, "0c ffffffff 00", ErrShort},
		{"xml len 2^32-1", false, "0f ffffffff", ErrShort},
		{"strict array 2^28 with 5 bytes", false, "0a 10000000 05 05 05 05 05", ErrShort},
		{"strict array 2^32-1", false, "0a ffffffff", ErrShort},
		{"ecma array unterminated", false, `08 00000001 0001 "a" 05`, ErrShort},
		{"object end outside object", false, "09", ErrMarker},
		{"movieclip", false, "04", ErrMarker},
		{"recordset", false, "0e", ErrMarker},
		{"unknown AMF0 marker", false, "12", ErrMarker},
		{"reference to nothing", false, "07 0000", ErrReference},
		{"reference to self", false, `03 0001 "a" 07 0000 000009`, ErrRefLoop},
		{"switch then nothing", false, "11", ErrShort},
		{"truncated U29", true, "04 ff ff", ErrShort},
		{"truncated U29 4th byte", true, "04 ff ff ff", ErrShort},
		{"string len 2^28-1", true, "06 ff ff ff ff", ErrShort},
		{"string ref to nothing", true, "06 02", ErrReference},
		{"object ref to nothing", true, "0a 02", ErrReference},
		{"trait ref to nothing", true, "0a 05", ErrReference},
		{"date ref to nothing", true, "08 00", ErrReference},
		{"array count 2^28-1", true, "09 ff ff ff ff 01", ErrShort},
		{"array holding itself", true, "09 03 01 09 00", ErrRefLoop},
		{"object holding itself", true, `0a 0b 01 03 "a" 0a 00 01`, ErrRefLoop},
		{"sealed count 2^25-1", true, "0a ff ff ff f3 01", ErrShort},
		{"vector double count 64", true, "0f 81 01 00 00000000", ErrShort},
		{"vector int count 2^28-1", true, "0d ff ff ff ff 00", ErrShort},
		{"vector object count", true, `10 ff ff ff ff 00 03 "*"`, ErrShort},
		{"dictionary count", true, "11 09 00 01 01 01", ErrShort},
		{"bytearray len", true, "0c 0b 0102", ErrShort},
		{"unknown externalizable", true, `0a 07 07 "a.b"`, ErrExternalizable},
		{"unknown AMF3 marker", true, "12", ErrMarker},
		{"unterminated dynamic object", true, `0a 0b 01 03 "a" 01`, ErrShort},
	} {
		in := unhex(t, tc.hex)
		var err error
		if tc.amf3 {
			_, _, err = DecodeAMF3(in)
		} else {
			_, _, err = DecodeAMF0(in)
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestDepthLimit(t *testing.T) {
	nest := func(open, close string, n int) []byte {
		return unhex(t, strings.Repeat(open, n)+"05"+strings.Repeat(close, n))
	}
	// AMF0 objects {a:{a:...null}}.
	if _, _, err := DecodeAMF0(nest(`03 0001 "a"`, "000009", DefaultMaxDepth)); err != nil {
		t.Errorf("depth %d: %v", DefaultMaxDepth, err)
	}
	if _, _, err := DecodeAMF0(nest(`03 0001 "a"`, "000009", DefaultMaxDepth+1)); !errors.Is(err, ErrTooDeep) {
		t.Errorf("depth %d: %v", DefaultMaxDepth+1, err)
	}
	// AMF3 arrays [[[...]]], 10000 deep: must stop early, not overflow the stack.
	in := unhex(t, strings.Repeat("09 03 01", 10000)+"01")
	if _, _, err := DecodeAMF3(in); !errors.Is(err, ErrTooDeep) {
		t.Errorf("deep AMF3: %v", err)
	}
	d := Decoder{MaxDepth: 3}
	d.Reset(unhex(t, "09 03 01 09 03 01 09 03 01 09 03 01 01"))
	if _, err := d.ReadAMF3(); !errors.Is(err, ErrTooDeep) {
		t.Errorf("MaxDepth 3: %v", err)
	}
	// A reference must not smuggle depth: A is 40 deep; 30 arrays then a reference to A
	// would expand to 71.
	a := strings.Repeat("09 03 01", 40) + "01"
	hex := "09 05 01" + a + strings.Repeat("09 03 01", 30) + "09 02" // A is object #1
	if _, _, err := DecodeAMF3(unhex(t, hex)); !errors.Is(err, ErrTooDeep) {
		t.Errorf("depth via reference: %v", err)
	}
	hex = "09 05 01" + a + strings.Repeat("09 03 01", 20) + "09 02"
	v, _, err := DecodeAMF3(unhex(t, hex))
	if err != nil {
		t.Fatalf("depth via reference within limit: %v", err)
	}
	if _, err := AppendAMF0(nil, v); err != nil {
		t.Errorf("re-encoding the expanded tree: %v", err)
	}
}

// A chain of arrays each holding two references to the previous one doubles the value tree
// per level; the budget must stop it after a few bytes of input.
func TestReferenceFanOut(t *testing.T) {
	const levels = 40
	var b bytes.Buffer
	b.Write(appendU29([]byte{AMF3Array}, levels<<1|1))
	b.WriteByte(0x01)
	b.Write(unhex(t, `09 03 01 06 0b "hello"`)) // object #1
	for k := 2; k <= levels; k++ {
		prev := appendU29(nil, uint32(k-1)<<1)
		b.Write(unhex(t, "09 05 01"))
		for i := 0; i < 2; i++ {
			b.WriteByte(AMF3Array)
			b.Write(prev)
		}
	}
	in := b.Bytes()
	var err error
	n := allocBytes(func() { _, _, err = DecodeAMF3(in) })
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("fan-out of %d input bytes: %v", len(in), err)
	}
	if n > 1<<20 {
		t.Errorf("fan-out decode allocated %d bytes", n)
	}
	// The same through AMF0 references.
	b.Reset()
	b.Write(unhex(t, `0a 00000028 0a 00000001 02 0005 "hello"`)) // table #0 outer, #1 first
	for k := 2; k <= levels; k++ {
		b.Write(unhex(t, "0a 00000002"))
		for i := 0; i < 2; i++ {
			b.Write([]byte{AMF0Reference, 0, byte(k - 1)})
		}
	}
	if _, _, err := DecodeAMF0(b.Bytes()); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("AMF0 fan-out: %v", err)
	}
	// String references are charged by length.
	b.Reset()
	b.Write(appendU29([]byte{AMF3Array}, 1000<<1|1))
	b.WriteByte(0x01)
	b.Write(appendU29([]byte{AMF3String}, 4000<<1|1))
	b.Write(bytes.Repeat([]byte{'s'}, 4000))
	for i := 1; i < 1000; i++ {
		b.Write([]byte{AMF3String, 0})
	}
	d := Decoder{MaxBytes: 1 << 20}
	d.Reset(b.Bytes())
	if _, err := d.ReadAMF3(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("string fan-out: %v", err)
	}
	d = Decoder{MaxBytes: 8 << 20}
	d.Reset(b.Bytes())
	if _, err := d.ReadAMF3(); err != nil {
		t.Fatalf("string fan-out within budget: %v", err)
	}
	// Trait references are charged by their names.
	b.Reset()
	b.Write(appendU29([]byte{AMF3Array}, 600<<1|1))
	b.WriteByte(0x01)
	b.Write(unhex(t, "0a 13 01"))
	b.Write(appendU29(nil, 3000<<1|1))
	b.Write(bytes.Repeat([]byte{'n'}, 3000))
	b.WriteByte(0x01)
	for i := 1; i < 600; i++ {
		b.Write([]byte{AMF3Object, 0x01, 0x01})
	}
	d = Decoder{MaxBytes: 1 << 20}
	d.Reset(b.Bytes())
	if _, err := d.ReadAMF3(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("trait fan-out: %v", err)
	}
}

func TestValueBudget(t *testing.T) {
	d := Decoder{MaxValues: 10}
	d.Reset(unhex(t, "0a 0000000a"+strings.Repeat("05", 10)))
	if _, err := d.ReadAMF0(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("11 values with MaxValues 10: %v", err)
	}
	d.Reset(unhex(t, "0a 00000009"+strings.Repeat("05", 9)))
	if _, err := d.ReadAMF0(); err != nil {
		t.Fatalf("10 values with MaxValues 10: %v", err)
	}
}

// Declared sizes never drive allocation beyond what the input can hold.
func TestHostileAllocation(t *testing.T) {
	for _, hex := range []string{
		"0a 0fffffff" + strings.Repeat("0a 0fffffff", 50),
		"09 ff ff ff fd 01" + strings.Repeat("09 ff ff ff fd 01", 50),
		"0f ff ff ff ff 00",
		"11 ff ff ff ff 00",
	} {
		in := unhex(t, hex)
		n := allocBytes(func() {
			DecodeAMF0(in)
			DecodeAMF3(in)
		})
		if n > 64<<10 {
			t.Errorf("%s...: %d bytes allocated", hex[:12], n)
		}
	}
}
