package group

import (
	"reflect"
	"testing"

	"github.com/actorrtmfp/actorrtmfp/codec/internal/hexlit"
)

// FuzzParse feeds arbitrary bytes to the parsers. Whatever parses must re-encode to
// something that parses to the same message.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"0e", "0f", "0c", "0a 0a0d 00", "0a", "23 81", "2b 8101", "00 05 aabbcc", "10 04 02 aabb", "30 03 03 09 00000010 17",
		"20 01 08 00000000 af0112", "21 8202", "22 14 0580", "22 01",
		"21 02 00 73 2101 0000000000000000000000000000000000000000000000000000000000000000 0102 0106 03 03 be40 04 04 92a760 02 05 64 03 07 9344",
	} {
		f.Add(hexlit.Decode(f, s))
	}
	f.Add(Init{Group: [32]byte{1}, Key: [32]byte{2}, Peer: [32]byte{3}}.Append(nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := Parse(in)
		if err != nil {
			return
		}
		m2, err := Parse(m.Append(nil))
		if err != nil {
			t.Fatalf("%+v re-encoded does not parse: %v", m, err)
		}
		if fm, ok := m.(FragmentsMap); ok && len(fm.Bits) == 0 {
			fm.Bits = nil
			m = fm
			if fm2 := m2.(FragmentsMap); len(fm2.Bits) == 0 {
				fm2.Bits = nil
				m2 = fm2
			}
		}
		if f1, ok := m.(Fragment); ok && len(f1.Data) == 0 {
			f1.Data = nil
			m = f1
			f2 := m2.(Fragment)
			f2.Data = nil
			m2 = f2
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("%+v → %+v", m, m2)
		}
	})
}

// FuzzGroupText: a specifier never panics the parser, and what parses is a prefix of it.
func FuzzGroupText(f *testing.F) {
	f.Add(sampleSpec)
	f.Add("G:027f02010e00")
	f.Fuzz(func(t *testing.T, spec string) {
		txt, _, err := GroupText(spec)
		if err == nil && (len(txt) > len(spec) || spec[:len(txt)] != txt) {
			t.Fatalf("%q → %q", spec, txt)
		}
	})
}
