// Package rtmfp holds the wire formats of RTMFP (RFC 7016) as the Flash profile (RFC 7425)
// uses them: variable-length integers, option lists, socket addresses, the packet header,
// chunk framing and every handshake and session chunk.
//
// The package is pure: no I/O, no goroutines, no global state. Encoders append to a caller's
// slice (Append(b []byte) []byte) and report their size (Len() int); decoders read from a
// caller's slice and keep references into it instead of copying, so that a datagram can be
// parsed without allocating. Encryption and checksums live in package cryptoutil.
package rtmfp

import "errors"

// Errors shared by the decoders of this package.
var (
	// ErrShort means the input ended before the structure being decoded did.
	ErrShort = errors.New("rtmfp: input too short")
	// ErrVLUOverflow means a variable-length integer does not fit in 64 bits.
	ErrVLUOverflow = errors.New("rtmfp: VLU overflows 64 bits")
)

// MaxVLULen is the longest encoding of a 64-bit value: ceil(64/7) bytes.
const MaxVLULen = 10

// VLULen returns the number of bytes AppendVLU writes for v.
//
// A VLU (RFC 7016 §2.1.2) is a big-endian base-128 integer: 7 bits per byte, most
// significant group first, bit 0x80 set on every byte except the last.
//
//	0 -> 00        127 -> 7F        128 -> 81 00        16384 -> 81 80 00
func VLULen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// AppendVLU appends the VLU encoding of v to b.
func AppendVLU(b []byte, v uint64) []byte {
	n := VLULen(v)
	for i := n - 1; i >= 0; i-- {
		c := byte(v>>(7*uint(i))) & 0x7F
		if i > 0 {
			c |= 0x80
		}
		b = append(b, c)
	}
	return b
}

// ReadVLU decodes a VLU from the start of b and returns the value and the number of bytes
// it occupied. It fails with ErrShort if b ends inside the VLU and with ErrVLUOverflow if
// the value needs more than 64 bits (leading 0x80 bytes, which add nothing, are accepted).
func ReadVLU(b []byte) (v uint64, n int, err error) {
	for n < len(b) {
		c := b[n]
		n++
		if v > (^uint64(0))>>7 {
			return 0, n, ErrVLUOverflow
		}
		v = v<<7 | uint64(c&0x7F)
		if c&0x80 == 0 {
			return v, n, nil
		}
	}
	return 0, n, ErrShort
}

// readVLUField reads a VLU length N followed by N bytes, returning those bytes (a sub-slice
// of b) and the total number of bytes consumed.
func readVLUField(b []byte) (field []byte, n int, err error) {
	l, n, err := ReadVLU(b)
	if err != nil {
		return nil, n, err
	}
	if l > uint64(len(b)-n) {
		return nil, n, ErrShort
	}
	end := n + int(l)
	return b[n:end:end], end, nil
}

// appendVLUField appends VLU(len(field)) followed by field.
func appendVLUField(b, field []byte) []byte {
	b = AppendVLU(b, uint64(len(field)))
	return append(b, field...)
}

// vluFieldLen is the encoded size of a VLU-length-prefixed field of n bytes.
func vluFieldLen(n int) int { return VLULen(uint64(n)) + n }
