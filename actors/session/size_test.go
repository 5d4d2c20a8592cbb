package session

import (
	"testing"
	"unsafe"
)

// TestPerSessionStructsFitTheirSizeClass guards the memory a held session costs: a server
// holds tens of thousands of these, and Go rounds each allocation up to its size class
// (…, 576, 640, 704, 768 bytes), so a field that pushes a struct over a boundary costs a
// whole class per session. If this fails, pack the fields again or move rarely used ones
// behind a pointer — or, if the growth is worth it, raise the bound and say so in
// docs/benchmarks.md.
func TestPerSessionStructsFitTheirSizeClass(t *testing.T) {
	for _, c := range []struct {
		name      string
		size, max uintptr
	}{
		{"Session", unsafe.Sizeof(Session{}), 640},
		{"recvFlow", unsafe.Sizeof(recvFlow{}), 192},
		{"sendFlow", unsafe.Sizeof(sendFlow{}), 176},
	} {
		if c.size > c.max {
			t.Errorf("%s is %d bytes, over its %d-byte size class", c.name, c.size, c.max)
		}
	}
}
