package rtmfp

// FIHello is the Forwarded Initiator Hello chunk (type 0x0F, RFC 7016 §2.3.3). A server sends
// it inside its session with peer B to pass on an IHello that initiator A addressed to B, so
// that B answers A directly:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     0x0F      |        chunk length           | epdLength VLU |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  endpoint discriminator, as A sent it (epdLength bytes)       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  reply address: where A can be reached (see Address)          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  tag (the rest of the chunk)                                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Example (A's public 203.0.113.5:40000): 0F 003A | 22 21 0F <B's peer ID> |
// 02 CB007105 9C40 | <tag>. EPD and Tag refer into the parsed payload.
type FIHello struct {
	EPD          []byte
	ReplyAddress Address
	Tag          []byte
}

// ParseFIHello decodes an FIHello chunk payload.
func ParseFIHello(payload []byte) (FIHello, error) {
	epd, n, err := readVLUField(payload)
	if err != nil {
		return FIHello{}, err
	}
	addr, m, err := ParseAddress(payload[n:])
	if err != nil {
		return FIHello{}, err
	}
	return FIHello{EPD: epd, ReplyAddress: addr, Tag: payload[n+m:]}, nil
}

// PayloadLen returns the size of the chunk payload.
func (c FIHello) PayloadLen() int {
	return vluFieldLen(len(c.EPD)) + c.ReplyAddress.Len() + len(c.Tag)
}

// Len returns the encoded size of the chunk, header included.
func (c FIHello) Len() int { return ChunkHeaderLen + c.PayloadLen() }

// Append appends the whole chunk to b.
func (c FIHello) Append(b []byte) []byte {
	b = AppendChunkHeader(b, ChunkFIHello, c.PayloadLen())
	b = appendVLUField(b, c.EPD)
	b = c.ReplyAddress.Append(b)
	return append(b, c.Tag...)
}
