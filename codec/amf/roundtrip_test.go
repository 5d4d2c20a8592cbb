package amf

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// sampleValues covers every type of the value model.
func sampleValues() []any {
	inner := &Object{Dynamic: true, Props: []Property{{"n", 1.0}}}
	return []any{
		nil, Undefined{}, true, false, 0.0, -1.5, math.Inf(1), math.NaN(), math.Copysign(0, -1),
		Integer(0), Integer(MaxInteger), Integer(MinInteger), Integer(-1),
		"", "hello", "ünï©ødé", strings.Repeat("x", 70000),
		XMLDocument("<doc/>"), XML("<x/>"), ByteArray{}, ByteArray{0, 1, 255},
		Date{Millis: 1.7e12}, Date{},
		[]any{}, []any{1.0, "a", nil, Undefined{}, []any{true}},
		&Array{Dense: []any{1.0}, Assoc: []Property{{"k", "v"}, {"k", "dup"}}},
		&Object{Dynamic: true},
		&Object{Dynamic: true, Props: []Property{{"a", 1.0}, {"b", nil}, {"c", Undefined{}}}},
		&Object{Class: "com.example.T", Dynamic: true, Props: []Property{{"x", inner}, {"y", inner}}},
		&Object{Class: "S", Sealed: 2, Props: []Property{{"p", 1.0}, {"q", "two"}}},
		&Object{Class: "flex.messaging.io.ObjectProxy", Externalizable: true, External: inner},
		&VectorInt{Items: []int32{math.MinInt32, 0, math.MaxInt32}},
		&VectorUint{Fixed: true, Items: []uint32{0, math.MaxUint32}},
		&VectorDouble{Items: []float64{math.NaN(), -0.0, 1e300}},
		&VectorObject{Type: "com.example.T", Items: []any{inner, nil}},
		&VectorObject{Type: "*"},
		&Dictionary{WeakKeys: true, Entries: []DictEntry{{inner, "obj key"}, {1.0, "num key"}, {"s", inner}}},
	}
}

func amf0Only() []any {
	return []any{
		Unsupported{},
		Date{Millis: -1, TZ: -60},
		&ECMAArray{Count: 2, Props: []Property{{"0", "a"}, {"1", "b"}}},
		&ECMAArray{Count: 0, Props: []Property{{"x", 1.0}}}, // count kept verbatim
		&Object{Class: "Typed", Dynamic: true, Props: []Property{{"v", false}}},
		&Object{Dynamic: true, Props: []Property{{"", "empty key"}}}, // not representable in AMF3
		AMF3Value{V: "switched"},
	}
}

func TestRoundTripAMF0(t *testing.T) {
	for i, v := range append(sampleValues(), amf0Only()...) {
		b, err := AppendAMF0(nil, v)
		if err != nil {
			t.Fatalf("#%d %T: %v", i, v, err)
		}
		got, n, err := DecodeAMF0(b)
		if err != nil || n != len(b) {
			t.Fatalf("#%d %T: n=%d/%d err=%v", i, v, n, len(b), err)
		}
		want := v
		if w, ok := v.(AMF3Value); ok {
			want = w.V
		}
		// AMF0 objects carry no traits: compare loosely, except for values that went
		// through the switch whole.
		if d := diff(want, got, true, 0); d != "" {
			t.Errorf("#%d %T: %s", i, v, d)
		}
		if _, ok := v.(AMF3Value); ok {
			continue // a switched value decodes bare and re-encodes natively
		}
		b2, err := AppendAMF0(nil, got)
		if err != nil || !bytes.Equal(b, b2) {
			t.Errorf("#%d %T: second encoding differs: %v\n%x\n%x", i, v, err, b, b2)
		}
	}
}

func TestRoundTripAMF3(t *testing.T) {
	for i, v := range sampleValues() {
		b, err := AppendAMF3(nil, v)
		if err != nil {
			t.Fatalf("#%d %T: %v", i, v, err)
		}
		got, n, err := DecodeAMF3(b)
		if err != nil || n != len(b) {
			t.Fatalf("#%d %T: n=%d/%d err=%v", i, v, n, len(b), err)
		}
		if d := diff(v, got, false, 0); d != "" {
			t.Errorf("#%d %T: %s", i, v, d)
		}
		b2, err := AppendAMF3(nil, got)
		if err != nil || !bytes.Equal(b, b2) {
			t.Errorf("#%d %T: second encoding differs: %v\n%x\n%x", i, v, err, b, b2)
		}
	}
}

func TestAMF0Encodings(t *testing.T) {
	ts := time.Date(2024, 1, 2, 3, 4, 5, 6e6, time.UTC)
	for _, tc := range []struct {
		name string
		v    any
		hex  string
	}{
		{"int", 3, "00 4008000000000000"},
		{"uint32", uint32(1), "00 3ff0000000000000"},
		{"float32", float32(0.5), "00 3fe0000000000000"},
		{"bool", true, "01 01"},
		{"string", "ab", `02 0002 "ab"`},
		{"long string", LongString("ab"), `0c 00000002 "ab"`},
		{"xml document", XMLDocument("<a/>"), `0f 00000004 "<a/>"`},
		{"date", Date{Millis: 1, TZ: 1}, "0b 3ff0000000000000 0001"},
		{"time", ts, "0b 4278cc820d88e000 0000"} /* 1704164645006 ms */, {"time ms", ts.Add(time.Microsecond), "0b 4278cc820d88e000 0000"},
		{"typed object", &Object{Class: "C", Props: []Property{{"a", nil}}}, `10 0001 "C" 0001 "a" 05 000009`},
		{"ecma array", NewECMAArray(Property{"a", 1.0}), `08 00000001 0001 "a" 00 3ff0000000000000 000009`},
		{"sorted map", map[string]any{"b": "x", "a": nil}, `03 0001 "a" 05 0001 "b" 02 0001 "x" 000009`},
		{"strings", []string{"a"}, `0a 00000001 02 0001 "a"`},
		{"integer", Integer(7), "11 04 07"},
		{"bytes", []byte{9}, "11 0c 03 09"},
		{"amf3 value", AMF3Value{V: "s"}, `11 06 03 "s"`},
		{"nil object", (*Object)(nil), "05"},
	} {
		got, err := AppendAMF0(nil, tc.v)
		if err != nil || !bytes.Equal(got, unhex(t, tc.hex)) {
			t.Errorf("%s: %x %v, want %s", tc.name, got, err, tc.hex)
		}
	}
	if got, _ := AppendAMF0(nil, strings.Repeat("z", 65536)); got[0] != AMF0LongString {
		t.Errorf("65536-byte string not written as long string: %x", got[:5])
	}
	if got, _ := AppendAMF0(nil, strings.Repeat("z", 65535)); got[0] != AMF0String {
		t.Errorf("65535-byte string not written as string: %x", got[:5])
	}
}

func TestFastHelpers(t *testing.T) {
	b := AppendAMF0ObjectStart(nil)
	b = AppendAMF0Key(b, "level")
	b = AppendAMF0String(b, "status")
	b, err := AppendAMF0Property(b, "n", 2)
	if err != nil {
		t.Fatal(err)
	}
	b = AppendAMF0Key(b, "u")
	b = AppendAMF0Undefined(b)
	b = AppendAMF0Key(b, "z")
	b = AppendAMF0Null(b)
	b = AppendAMF0Key(b, "t")
	b = AppendAMF0Bool(b, true)
	b = AppendAMF0ObjectEnd(b)
	want := NewObject(Property{"level", "status"}, Property{"n", 2.0}, Property{"u", Undefined{}},
		Property{"z", nil}, Property{"t", true})
	ref, _ := AppendAMF0(nil, want)
	if !bytes.Equal(b, ref) {
		t.Fatalf("%x\n%x", b, ref)
	}
	if _, err := AppendAMF0Property(nil, strings.Repeat("k", 65536), 1); !errors.Is(err, ErrTooLong) {
		t.Fatal(err)
	}
}

func TestObjectAccessors(t *testing.T) {
	o := NewObject(Property{"a", "x"}, Property{"n", Integer(4)})
	if s, ok := o.GetString("a"); !ok || s != "x" {
		t.Error("GetString")
	}
	if n, ok := o.GetNumber("n"); !ok || n != 4 {
		t.Error("GetNumber Integer")
	}
	if _, ok := o.GetNumber("a"); ok {
		t.Error("GetNumber on string")
	}
	o.Set("a", "y")
	o.Set("b", 1.0)
	if len(o.Props) != 3 || o.Props[0].Value != "y" || o.Props[2].Key != "b" {
		t.Errorf("Set: %#v", o.Props)
	}
	var nilObj *Object
	if _, ok := nilObj.Get("a"); ok {
		t.Error("nil Get")
	}
	a := NewECMAArray(Property{"k", 1.0})
	a.Set("l", 2.0)
	a.Set("k", 3.0)
	if a.Count != 2 || len(a.Props) != 2 {
		t.Errorf("ECMAArray Set: %#v", a)
	}
	if n, _ := a.GetNumber("k"); n != 3 {
		t.Error("ECMAArray GetNumber")
	}
	d := NewDate(time.UnixMilli(1234))
	if d.Millis != 1234 || !d.Time().Equal(time.UnixMilli(1234)) {
		t.Errorf("Date %v", d)
	}
	if !(Date{Millis: math.NaN()}).Time().IsZero() {
		t.Error("NaN date")
	}
}

func TestEncodeErrors(t *testing.T) {
	cyc := NewObject()
	cyc.Set("self", cyc)
	for _, tc := range []struct {
		name string
		v    any
		amf0 error
		amf3 error
	}{
		{"struct", struct{}{}, ErrUnsupported, ErrUnsupported},
		{"chan", make(chan int), ErrUnsupported, ErrUnsupported},
		{"cycle", cyc, ErrTooDeep, ErrRefLoop},
		{"sealed > props", &Object{Sealed: 2, Props: []Property{{"a", 1.0}}}, nil, ErrInvalid},
		{"empty dynamic key", NewObject(Property{"", 1.0}), nil, ErrInvalid},
		{"empty assoc key", &Array{Assoc: []Property{{"", 1.0}}}, ErrInvalid, ErrInvalid},
		{"unknown externalizable", &Object{Class: "x.Y", Externalizable: true}, ErrExternalizable, ErrExternalizable},
		{"long key", NewObject(Property{strings.Repeat("k", 65536), 1.0}), ErrTooLong, nil},
		{"unsupported in amf3", Unsupported{}, nil, ErrUnsupported},
	} {
		_, err0 := AppendAMF0(nil, tc.v)
		_, err3 := AppendAMF3(nil, tc.v)
		if (tc.amf0 == nil) != (err0 == nil) || (tc.amf0 != nil && !errors.Is(err0, tc.amf0)) {
			t.Errorf("%s: AMF0 error %v, want %v", tc.name, err0, tc.amf0)
		}
		if (tc.amf3 == nil) != (err3 == nil) || (tc.amf3 != nil && !errors.Is(err3, tc.amf3)) {
			t.Errorf("%s: AMF3 error %v, want %v", tc.name, err3, tc.amf3)
		}
	}
	deep := any("leaf")
	for i := 0; i < DefaultMaxDepth; i++ {
		deep = []any{deep}
	}
	if _, err := AppendAMF0(nil, deep); err != nil {
		t.Errorf("depth %d: %v", DefaultMaxDepth, err)
	}
	if _, err := AppendAMF0(nil, []any{deep}); !errors.Is(err, ErrTooDeep) {
		t.Errorf("depth %d: %v", DefaultMaxDepth+1, err)
	}
}

func TestDecoderInternAndReuse(t *testing.T) {
	msg := unhex(t, flashConnect)
	d := NewDecoder(msg)
	for i := 0; i < 3; i++ {
		d.Reset(msg)
		for d.Len() > 0 {
			if _, err := d.ReadAMF0(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(d.intern) == 0 || len(d.intern) > internMaxEntries {
		t.Fatalf("intern cache size %d", len(d.intern))
	}
	d.Reset(msg)
	allocs := testing.AllocsPerRun(20, func() {
		d.Reset(msg)
		for d.Len() > 0 {
			if _, err := d.ReadAMF0(); err != nil {
				t.Fatal(err)
			}
		}
	})
	// 1 object + 1 props slice + boxed numbers/strings; keys and short strings are cached.
	if allocs > 20 {
		t.Errorf("%.0f allocations per connect decode", allocs)
	}
}

func TestTypedReads(t *testing.T) {
	d := NewDecoder(unhex(t, `02 0001 "a" 11 06 03 "b" 0c 00000001 "c" 00 4000000000000000 11 04 03 11 05 3ff0000000000000 05 01 01`))
	for _, want := range []string{"a", "b", "c"} {
		if s, err := d.ReadAMF0String(); err != nil || s != want {
			t.Fatalf("string %q %v", s, err)
		}
	}
	for _, want := range []float64{2, 3, 1} {
		if n, err := d.ReadAMF0Number(); err != nil || n != want {
			t.Fatalf("number %v %v", n, err)
		}
	}
	if _, err := d.ReadAMF0String(); !errors.Is(err, ErrType) {
		t.Fatalf("string from null: %v", err)
	}
	if _, err := d.ReadAMF0Number(); !errors.Is(err, ErrType) {
		t.Fatalf("number from bool: %v", err)
	}
}
