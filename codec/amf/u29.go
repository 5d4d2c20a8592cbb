package amf

// U29 is AMF3's variable-length 29-bit unsigned integer: 1 to 4 bytes, big-endian. The first
// three bytes carry 7 bits each with 0x80 as the continuation bit; a fourth byte, if
// reached, carries 8 bits.
//
//	0x00000000 - 0x0000007F : 0xxxxxxx
//	0x00000080 - 0x00003FFF : 1xxxxxxx 0xxxxxxx
//	0x00004000 - 0x001FFFFF : 1xxxxxxx 1xxxxxxx 0xxxxxxx
//	0x00200000 - 0x1FFFFFFF : 1xxxxxxx 1xxxxxxx 1xxxxxxx xxxxxxxx

// maxU29 is the largest U29 value.
const maxU29 = 1<<29 - 1

// appendU29 appends the U29 encoding of v, which must be at most maxU29.
func appendU29(b []byte, v uint32) []byte {
	v &= maxU29
	switch {
	case v < 1<<7:
		return append(b, byte(v))
	case v < 1<<14:
		return append(b, byte(v>>7)|0x80, byte(v)&0x7F)
	case v < 1<<21:
		return append(b, byte(v>>14)|0x80, byte(v>>7)|0x80, byte(v)&0x7F)
	default:
		return append(b, byte(v>>22)|0x80, byte(v>>15)|0x80, byte(v>>8)|0x80, byte(v))
	}
}

// readU29 decodes a U29 at the start of b, returning the value and its length.
func readU29(b []byte) (uint32, int, error) {
	var v uint32
	n := 0
	for ; n < 3; n++ {
		if n >= len(b) {
			return 0, 0, ErrShort
		}
		c := b[n]
		v = v<<7 | uint32(c&0x7F)
		if c&0x80 == 0 {
			return v, n + 1, nil
		}
	}
	if n >= len(b) {
		return 0, 0, ErrShort
	}
	return v<<8 | uint32(b[n]), n + 1, nil
}

// u29Signed sign-extends a 29-bit value.
func u29Signed(v uint32) int32 { return int32(v<<3) >> 3 }
