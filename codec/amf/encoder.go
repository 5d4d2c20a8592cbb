package amf

import (
	"encoding/binary"
	"math"
)

// encoder carries the state of one AppendAMF0 or AppendAMF3 call: the nesting depth and,
// when refs is set (AMF3 outside a 0x11 switch), the AMF3 reference tables.
type encoder struct {
	refs   bool
	depth  int
	strs   map[string]int
	traits map[string]int
	objs   map[any]objRef
	nobj   int
	key    []byte
}

type objRef struct {
	idx  int
	done bool
}

// AppendAMF0 appends the AMF0 encoding of v to b. Values that exist only in AMF3 are
// written through the 0x11 switch with no references inside; see the package
// documentation for the type mapping.
func AppendAMF0(b []byte, v any) ([]byte, error) {
	var e encoder
	return e.amf0(b, v)
}

// AppendAMF3 appends the AMF3 encoding of v to b, using string, trait and object
// references within v (the tables start empty for each call).
func AppendAMF3(b []byte, v any) ([]byte, error) {
	e := encoder{refs: true}
	return e.amf3(b, v)
}

func (e *encoder) enter() error {
	e.depth++
	if e.depth > DefaultMaxDepth {
		return ErrTooDeep
	}
	return nil
}

func (e *encoder) leave() { e.depth-- }

// goInt reports whether v is a Go integer type and returns its value; big reports a uint64
// too large for int64 (returned in u).
func goInt(v any) (i int64, u uint64, big, ok bool) {
	switch x := v.(type) {
	case int:
		return int64(x), 0, false, true
	case int8:
		return int64(x), 0, false, true
	case int16:
		return int64(x), 0, false, true
	case int32:
		return int64(x), 0, false, true
	case int64:
		return x, 0, false, true
	case uint:
		return goUint(uint64(x))
	case uint8:
		return int64(x), 0, false, true
	case uint16:
		return int64(x), 0, false, true
	case uint32:
		return int64(x), 0, false, true
	case uint64:
		return goUint(x)
	case uintptr:
		return goUint(uint64(x))
	}
	return 0, 0, false, false
}

func goUint(u uint64) (int64, uint64, bool, bool) {
	if u > math.MaxInt64 {
		return 0, u, true, true
	}
	return int64(u), 0, false, true
}

func appendU16Len(b []byte, n int) []byte { return append(b, byte(n>>8), byte(n)) }

func appendDouble(b []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(b, math.Float64bits(f))
}
