package rtmfp

// IHello is the Initiator Hello chunk (type 0x30, RFC 7016 §2.3.2), the first packet of a
// handshake:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     0x30      |        chunk length           | epdLength VLU |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  endpoint discriminator (epdLength bytes, see EPD)            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  tag (the rest of the chunk; Flash and rtmfp-cpp use 16 bytes)|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// EPD holds the discriminator's bytes without their length; Tag is echoed by RHello and
// Redirect. Both refer into the parsed payload.
type IHello struct {
	EPD []byte
	Tag []byte
}

// ParseIHello decodes an IHello chunk payload.
func ParseIHello(payload []byte) (IHello, error) {
	epd, n, err := readVLUField(payload)
	if err != nil {
		return IHello{}, err
	}
	return IHello{EPD: epd, Tag: payload[n:]}, nil
}

// PayloadLen returns the size of the chunk payload.
func (c IHello) PayloadLen() int { return vluFieldLen(len(c.EPD)) + len(c.Tag) }

// Len returns the encoded size of the chunk, header included.
func (c IHello) Len() int { return ChunkHeaderLen + c.PayloadLen() }

// Append appends the whole chunk to b.
func (c IHello) Append(b []byte) []byte {
	b = AppendChunkHeader(b, ChunkIHello, c.PayloadLen())
	b = appendVLUField(b, c.EPD)
	return append(b, c.Tag...)
}
