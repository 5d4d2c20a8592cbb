package amf

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

// Known AMF3 encodings, worked out by hand from the AMF 3 specification (U29 layout,
// string/trait/object reference tables, type markers).
func TestAMF3KnownAnswers(t *testing.T) {
	same := &Object{Dynamic: true, Props: []Property{{"a", Integer(1)}}}
	for _, tc := range []struct {
		name string
		v    any
		hex  string
	}{
		{"undefined", Undefined{}, "00"},
		{"null", nil, "01"},
		{"false", false, "02"},
		{"true", true, "03"},
		{"int 0", Integer(0), "04 00"},
		{"int 127", Integer(127), "04 7f"},
		{"int 128", Integer(128), "04 81 00"},
		{"int 16383", Integer(16383), "04 ff 7f"},
		{"int 16384", Integer(16384), "04 81 80 00"},
		{"int 2^21-1", Integer(1<<21 - 1), "04 ff ff 7f"},
		{"int 2^21", Integer(1 << 21), "04 80 c0 80 00"},
		{"int 2^28-1", Integer(1<<28 - 1), "04 bf ff ff ff"},
		{"int -2^28", Integer(-1 << 28), "04 c0 80 80 00"},
		{"int -1", Integer(-1), "04 ff ff ff ff"},
		{"double 1.5", 1.5, "05 3ff8000000000000"},
		{"empty string", "", "06 01"},
		{"string", "hello", `06 0b "hello"`},
		// Second occurrence of a string is a reference to string-table index 0.
		{"string ref", []any{"hello", "hello"}, `09 05 01 06 0b "hello" 06 00`},
		{"new Date(0)", Date{}, "08 01 0000000000000000"},
		{"xml document", XMLDocument("<a/>"), `07 09 "<a/>"`},
		{"xml", XML("<a/>"), `0b 09 "<a/>"`},
		{"bytearray", ByteArray{1, 2, 3}, "0c 07 010203"},
		{"dense array", []any{Integer(1), "x"}, `09 05 01 04 01 06 03 "x"`},
		{"mixed array", &Array{Dense: []any{Integer(2)}, Assoc: []Property{{"a", Integer(1)}}},
			`09 03 03 "a" 04 01 01 04 02`},
		// Anonymous dynamic object: traits 0x0B (inline, dynamic, 0 sealed), class "".
		{"dynamic object", &Object{Dynamic: true, Props: []Property{{"a", Integer(1)}}},
			`0a 0b 01 03 "a" 04 01 01`},
		// Two objects of sealed class "A" {x}: the second refers to traits #0 (U29O 0x01).
		{"trait ref", []any{
			&Object{Class: "A", Sealed: 1, Props: []Property{{"x", Integer(1)}}},
			&Object{Class: "A", Sealed: 1, Props: []Property{{"x", Integer(2)}}},
		}, `09 05 01 0a 13 03 "A" 03 "x" 04 01 0a 01 04 02`},
		// The same object twice: the array is object #0, the object #1 (U29O 0x02).
		{"object ref", []any{same, same}, `09 05 01 0a 0b 01 03 "a" 04 01 01 0a 02`},
		{"sealed and dynamic", &Object{Class: "B", Sealed: 1, Dynamic: true,
			Props: []Property{{"s", 1.0}, {"d", true}}}, `0a 1b 03 "B" 03 "s" 05 3ff0000000000000 03 "d" 03 01`},
		{"vector int", &VectorInt{Items: []int32{1, -1}}, "0d 05 00 00000001 ffffffff"},
		{"vector uint fixed", &VectorUint{Fixed: true, Items: []uint32{4294967295}}, "0e 03 01 ffffffff"},
		{"vector double", &VectorDouble{Items: []float64{1}}, "0f 03 00 3ff0000000000000"},
		{"vector object", &VectorObject{Type: "*", Items: []any{Integer(1)}}, `10 03 00 03 "*" 04 01`},
		{"dictionary", &Dictionary{Entries: []DictEntry{{"k", Integer(1)}}}, `11 03 00 06 03 "k" 04 01`},
		{"weak dictionary", &Dictionary{WeakKeys: true}, "11 01 01"},
		{"array collection", &Object{Class: "flex.messaging.io.ArrayCollection", Externalizable: true,
			External: []any{}}, `0a 07 43 "flex.messaging.io.ArrayCollection" 09 01 01`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := unhex(t, tc.hex)
			got, err := AppendAMF3(nil, tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encoded %x, want %x", got, want)
			}
			v, n, err := DecodeAMF3(want)
			if err != nil || n != len(want) {
				t.Fatalf("decode: n=%d err=%v", n, err)
			}
			if d := diff(tc.v, v, false, 0); d != "" {
				t.Fatalf("decoded %#v: %s", v, d)
			}
		})
	}
}

// Integers outside the 29-bit range become doubles; native Go ints follow the same rule.
func TestAMF3IntegerRange(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{Integer(1 << 28), "05 41b0000000000000"},
		{Integer(-1<<28 - 1), "05 c1b0000001000000"},
		{int(5), "04 05"},
		{int64(-2), "04 ff ff ff fe"},
		{uint8(200), "04 81 48"},
		{uint64(math.MaxUint64), "05 43f0000000000000"},
		{int64(1 << 40), "05 4270000000000000"},
	} {
		got, err := AppendAMF3(nil, tc.v)
		if err != nil || !bytes.Equal(got, unhex(t, tc.want)) {
			t.Errorf("%#v: %x %v, want %s", tc.v, got, err, tc.want)
		}
	}
	// A 4-byte U29 with the sign bit (bit 28) set decodes as negative.
	v, _, err := DecodeAMF3(unhex(t, "04 ff ff ff fe"))
	if err != nil || v != Integer(-2) {
		t.Fatalf("%#v %v", v, err)
	}
}

// References decoded from Flash-style input resolve to the shared value and re-encode as
// references.
func TestAMF3DecodeReferences(t *testing.T) {
	// [o, o, {a: "z"}]: object reference #1, then trait reference #0 with the key "a"
	// (string #0) and the value "z" (string #1) as string references.
	in := unhex(t, `09 07 01 0a 0b 01 03 "a" 06 03 "z" 01 0a 02 0a 01 00 06 02 01`)
	v, n, err := DecodeAMF3(in)
	if err != nil || n != len(in) {
		t.Fatal(n, err)
	}
	arr := v.([]any)
	if arr[0] != arr[1] {
		t.Fatal("object reference not resolved to the same *Object")
	}
	o2 := arr[2].(*Object)
	if o2 == arr[0] || !o2.Dynamic || o2.Props[0].Key != "a" || o2.Props[0].Value != "z" {
		t.Fatalf("third object %#v", o2)
	}
	out, err := AppendAMF3(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, in) {
		t.Fatalf("re-encoded %x\nwant %x", out, in)
	}
}

// One Decoder message shares the AMF3 tables between 0x11 switches; Reset empties them.
func TestAMF3TablesPerMessage(t *testing.T) {
	msg := unhex(t, `11 06 07 "foo" 11 06 00`)
	var d Decoder
	d.Reset(msg)
	a, err := d.ReadAMF0()
	if err != nil || a != "foo" {
		t.Fatal(a, err)
	}
	b, err := d.ReadAMF0()
	if err != nil || b != "foo" {
		t.Fatalf("string reference across switches: %#v %v", b, err)
	}
	d.Reset(msg[6:])
	if _, err := d.ReadAMF0(); !errors.Is(err, ErrReference) {
		t.Fatalf("after Reset: %v", err)
	}
}

// The AMF0 encoder writes AMF3-only values through the switch without any reference.
func TestAMF0SwitchHasNoReferences(t *testing.T) {
	o := &Object{Class: "A", Sealed: 1, Props: []Property{{"x", Integer(1)}}}
	arr := &Array{Dense: []any{o, o, "s", "s"}, Assoc: []Property{{"k", "s"}}}
	got, err := AppendAMF0(nil, []any{arr, arr})
	if err != nil {
		t.Fatal(err)
	}
	one := `11 09 09 03 "k" 06 03 "s" 01
		0a 13 03 "A" 03 "x" 04 01
		0a 13 03 "A" 03 "x" 04 01
		06 03 "s" 06 03 "s"`
	want := unhex(t, "0a 00000002"+one+one)
	if !bytes.Equal(got, want) {
		t.Fatalf("got  %x\nwant %x", got, want)
	}
	// Each switched value decodes on its own, with fresh tables, too.
	for _, off := range []int{5, 5 + len(unhex(t, one))} {
		if _, _, err := DecodeAMF0(got[off:]); err != nil {
			t.Fatalf("switch at %d: %v", off, err)
		}
	}
}
