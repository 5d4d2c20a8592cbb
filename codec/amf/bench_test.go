package amf

import "testing"

func benchObjects() any {
	items := make([]any, 10)
	for i := range items {
		items[i] = &Object{Class: "com.example.Point", Sealed: 3, Dynamic: true, Props: []Property{
			{"x", Integer(i)}, {"y", float64(i) / 2}, {"label", "point"}, {"extra", true},
		}}
	}
	return items
}

// BenchmarkAMF3Object decodes and re-encodes an array of ten typed objects (trait and
// string references) with a reused Decoder and output buffer.
func BenchmarkAMF3Object(b *testing.B) {
	in, err := AppendAMF3(nil, benchObjects())
	if err != nil {
		b.Fatal(err)
	}
	var d Decoder
	out := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		d.Reset(in)
		v, err := d.ReadAMF3()
		if err != nil {
			b.Fatal(err)
		}
		if out, err = AppendAMF3(out[:0], v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeAMF0Connect decodes the values of Flash's connect command.
func BenchmarkDecodeAMF0Connect(b *testing.B) {
	in := unhex(b, flashConnect)
	var d Decoder
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		d.Reset(in)
		for d.Len() > 0 {
			if _, err := d.ReadAMF0(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
