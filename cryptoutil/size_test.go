package cryptoutil

import (
	"testing"
	"unsafe"
)

// TestCipherStructsFitTheirSizeClass guards what each held session pays for its two
// directions: Go rounds an allocation up to its size class (…, 48, 64, 80, 96, 112, 128
// bytes). The HMAC state lives behind a pointer so that checksum sessions (the Flash
// dialect) do not carry it; if this fails, keep rarely used state out of these structs
// or raise the bound and say why in docs/benchmarks.md.
func TestCipherStructsFitTheirSizeClass(t *testing.T) {
	for _, c := range []struct {
		name      string
		size, max uintptr
	}{
		{"Encrypter", unsafe.Sizeof(Encrypter{}), 64},
		{"Decrypter", unsafe.Sizeof(Decrypter{}), 80},
	} {
		if c.size > c.max {
			t.Errorf("%s is %d bytes, over its %d-byte size class", c.name, c.size, c.max)
		}
	}
}
