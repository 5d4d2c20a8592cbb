package cryptoutil

import (
	"encoding/binary"
	"math/bits"
)

// Checksum returns the RTMFP packet checksum of b: the RFC 1071 Internet checksum, i.e.
// the one's-complement of the one's-complement sum of b read as big-endian 16-bit words.
//
//	b:    | w0 hi | w0 lo | w1 hi | w1 lo | ... | last |
//	sum = w0 + w1 + ... (+ 0x00<last> if len(b) is odd), carries folded back in
//	Checksum(b) = ^sum & 0xFFFF
//
// An odd trailing byte is added as the LOW byte of a final word (value 0x00XX), as
// rtmfp-cpp does; RFC 1071 itself would add it as the high byte. The difference only
// matters for a session with sequence numbers and without HMAC, where the checksummed
// region (everything after the checksum field) has odd length whenever the sequence
// number VLU has odd length (hmac-sseq-and-groups.md §3.3).
//
// The sum is accumulated 32 bytes at a time in a 64-bit one's-complement accumulator,
// which yields the same 16-bit result as word-by-word addition.
func Checksum(b []byte) uint16 {
	var s, c uint64
	for len(b) >= 32 {
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[0:8]), c)
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[8:16]), c)
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[16:24]), c)
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[24:32]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b), c)
		b = b[8:]
	}
	// End-around carry for the 64-bit accumulator.
	s, c = bits.Add64(s, 0, c)
	s += c
	// Fold to 32 bits; the remaining words are added on top without overflow risk.
	s = (s >> 32) + (s & 0xFFFFFFFF)
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0])
	}
	for s > 0xFFFF {
		s = (s >> 16) + (s & 0xFFFF)
	}
	return ^uint16(s)
}
