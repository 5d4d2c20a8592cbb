package rtmfp

// RHello is the Responder Hello chunk (type 0x70, RFC 7016 §2.3.4), a responder's answer to
// an IHello:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     0x70      |        chunk length           | tagLength VLU |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  tag echo (tagLength bytes)                                   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| cookieLength VLU | cookie (cookieLength bytes)                |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  responder certificate (the rest of the chunk)                |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The fields refer into the parsed payload.
type RHello struct {
	Tag         []byte
	Cookie      []byte
	Certificate []byte
}

// ParseRHello decodes an RHello chunk payload.
func ParseRHello(payload []byte) (RHello, error) {
	tag, n, err := readVLUField(payload)
	if err != nil {
		return RHello{}, err
	}
	cookie, m, err := readVLUField(payload[n:])
	if err != nil {
		return RHello{}, err
	}
	return RHello{Tag: tag, Cookie: cookie, Certificate: payload[n+m:]}, nil
}

// PayloadLen returns the size of the chunk payload.
func (c RHello) PayloadLen() int {
	return vluFieldLen(len(c.Tag)) + vluFieldLen(len(c.Cookie)) + len(c.Certificate)
}

// Len returns the encoded size of the chunk, header included.
func (c RHello) Len() int { return ChunkHeaderLen + c.PayloadLen() }

// Append appends the whole chunk to b.
func (c RHello) Append(b []byte) []byte {
	b = AppendChunkHeader(b, ChunkRHello, c.PayloadLen())
	b = appendVLUField(b, c.Tag)
	b = appendVLUField(b, c.Cookie)
	return append(b, c.Certificate...)
}
