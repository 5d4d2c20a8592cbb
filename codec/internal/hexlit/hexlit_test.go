package hexlit

import (
	"bytes"
	"testing"
)

func TestDecode(t *testing.T) {
	got := Decode(t, "01 02|0a\n\t\"AB\" ff")
	if want := []byte{0x01, 0x02, 0x0a, 'A', 'B', 0xff}; !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}
}
