package flv

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// FuzzParse feeds arbitrary bytes to every parser of the package. Whatever parses must
// re-encode to the bytes it came from (StreamID aside); whatever is patchable must stay so when patched.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"464c5601050000000900000000",
		"09000006345678120000001701000000aa00000011",
		"0800000400000000000000af0011900000000f",
		"12000000000000000000000000000b",
	} {
		b, err := hex.DecodeString(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	meta, _ := AppendMetadata(nil, 1, 2, nil)
	f.Add(meta)
	f.Fuzz(func(t *testing.T, in []byte) {
		if h, err := ParseHeader(in); err == nil && h.DataOffset == HeaderLen {
			if out := h.Append(nil); !bytes.Equal(out[:HeaderLen-4], in[:HeaderLen-4]) && in[4]&^(FlagAudio|FlagVideo) == 0 {
				t.Fatalf("header %x → %x", in[:HeaderLen], out)
			}
		}
		if tag, n, err := ParseTag(in); err == nil {
			out, err := AppendTag(nil, tag)
			want := bytes.Clone(in[:n])
			want[8], want[9], want[10] = 0, 0, 0 // StreamID, read as 0 whatever it is
			if err != nil || !bytes.Equal(out, want) {
				t.Fatalf("tag %x → %x %v", in[:n], out, err)
			}
		}
		if Patchable(in) {
			b := bytes.Clone(in)
			PutDuration(b, 3.25)
			PutFileSize(b, 1e6)
			if !Patchable(b) || Duration(b) != 3.25 {
				t.Fatal("patching broke the layout")
			}
		}
	})
}
