package amf

import (
	"bytes"
	"testing"
)

// Limits for fuzzing: small budgets keep iterations fast; the properties checked hold for
// any limits.
func fuzzDecoder() *Decoder { return &Decoder{MaxValues: 1 << 16, MaxBytes: 1 << 20} }

// maxFuzzAlloc bounds what one decode of an input of at most 4 KiB may allocate.
const maxFuzzAlloc = 4 << 20

func fuzzSeeds(f *testing.F, amf3 bool) {
	for _, s := range []string{flashConnect, flashResult, flashSetPeerInfo, tcConnect, tcResult,
		tcSetPeerInfo, tcCreateStream, tcStreamResult} {
		f.Add(unhex(f, s))
	}
	for _, v := range append(sampleValues(), amf0Only()...) {
		var b []byte
		var err error
		if amf3 {
			b, err = AppendAMF3(nil, v)
		} else {
			b, err = AppendAMF0(nil, v)
		}
		if err == nil && len(b) < 4096 {
			f.Add(b)
		}
	}
	f.Add(unhex(f, `09 07 01 0a 0b 01 03 "a" 06 03 "z" 01 0a 02 0a 01 00 06 02 01`))
	f.Add(unhex(f, `11 06 07 "foo" 11 06 00 11 0a 13 03 "A" 03 "x" 04 01 11 0a 01 04 02`))
}

// FuzzAMF0 decodes arbitrary bytes as a sequence of AMF0 values. Whatever decodes must
// re-encode, decode again to the same values (objects compared without traits, which AMF0
// cannot carry), and re-encode to the same bytes; no input may make one decode allocate
// more than maxFuzzAlloc.
func FuzzAMF0(f *testing.F) {
	fuzzSeeds(f, false)
	f.Fuzz(func(t *testing.T, in []byte) {
		d := fuzzDecoder()
		var vs []any
		var err error
		n := allocBytes(func() {
			d.Reset(in)
			for d.Len() > 0 {
				var v any
				if v, err = d.ReadAMF0(); err != nil {
					return
				}
				vs = append(vs, v)
			}
		})
		if len(in) <= 4096 && n > maxFuzzAlloc {
			t.Fatalf("decoding %d bytes allocated %d bytes", len(in), n)
		}
		if err != nil {
			return
		}
		var enc1 []byte
		for _, v := range vs {
			if enc1, err = AppendAMF0(enc1, v); err != nil {
				t.Fatalf("re-encoding %#v: %v", v, err)
			}
		}
		d.Reset(enc1)
		var enc2 []byte
		for i := range vs {
			v, err := d.ReadAMF0()
			if err != nil {
				t.Fatalf("decoding re-encoded value %d: %v\n%x", i, err, enc1)
			}
			if diff := diff(vs[i], v, true, 0); diff != "" {
				t.Fatalf("value %d changed: %s", i, diff)
			}
			if enc2, err = AppendAMF0(enc2, v); err != nil {
				t.Fatal(err)
			}
		}
		if d.Len() != 0 {
			t.Fatalf("%d bytes left over", d.Len())
		}
		if !bytes.Equal(enc1, enc2) {
			t.Fatalf("encoding not stable:\n%x\n%x", enc1, enc2)
		}
	})
}

// FuzzAMF3 decodes arbitrary bytes as one AMF3 value. Whatever decodes must re-encode (with
// references), decode to an identical value and re-encode to the same bytes.
func FuzzAMF3(f *testing.F) {
	fuzzSeeds(f, true)
	f.Fuzz(func(t *testing.T, in []byte) {
		d := fuzzDecoder()
		var v any
		var err error
		n := allocBytes(func() {
			d.Reset(in)
			v, err = d.ReadAMF3()
		})
		if len(in) <= 4096 && n > maxFuzzAlloc {
			t.Fatalf("decoding %d bytes allocated %d bytes", len(in), n)
		}
		if err != nil {
			return
		}
		enc1, err := AppendAMF3(nil, v)
		if err != nil {
			t.Fatalf("re-encoding %#v: %v", v, err)
		}
		d.Reset(enc1)
		v2, err := d.ReadAMF3()
		if err != nil || d.Len() != 0 {
			t.Fatalf("decoding re-encoded value: %v (%d left)\n%x", err, d.Len(), enc1)
		}
		if diff := diff(v, v2, false, 0); diff != "" {
			t.Fatalf("value changed: %s", diff)
		}
		enc2, err := AppendAMF3(nil, v2)
		if err != nil || !bytes.Equal(enc1, enc2) {
			t.Fatalf("encoding not stable: %v\n%x\n%x", err, enc1, enc2)
		}
	})
}
