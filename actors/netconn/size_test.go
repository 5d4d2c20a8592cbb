package netconn

import (
	"testing"
	"unsafe"
)

// TestPerClientStructsFitTheirSizeClass guards what every connected client costs the
// server: Go rounds each allocation up to its size class (…, 112, 128, 144, 160, 176
// bytes). State that only some clients need (a connect being decided, relay calls) lives
// behind pointers; if this fails, keep it there or raise the bound and say why in
// docs/benchmarks.md.
func TestPerClientStructsFitTheirSizeClass(t *testing.T) {
	for _, c := range []struct {
		name      string
		size, max uintptr
	}{
		{"connection", unsafe.Sizeof(connection{}), 128},
		{"client", unsafe.Sizeof(client{}), 160},
	} {
		if c.size > c.max {
			t.Errorf("%s is %d bytes, over its %d-byte size class", c.name, c.size, c.max)
		}
	}
}
