package rtmfp

// CookieChange is the RHello Cookie Change chunk (type 0x79, RFC 7016 §2.3.6). A responder
// whose cookies are bound to the initiator's address sends it in answer to an IIKeying that
// carries a valid cookie from another address; the initiator then repeats its IIKeying with
// the new cookie:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     0x79      |        chunk length           | oldLength VLU |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  old cookie (oldLength bytes)                                 |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  new cookie (the rest of the chunk)                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The fields refer into the parsed payload.
type CookieChange struct {
	OldCookie []byte
	NewCookie []byte
}

// ParseCookieChange decodes a Cookie Change chunk payload.
func ParseCookieChange(payload []byte) (CookieChange, error) {
	old, n, err := readVLUField(payload)
	if err != nil {
		return CookieChange{}, err
	}
	return CookieChange{OldCookie: old, NewCookie: payload[n:]}, nil
}

// PayloadLen returns the size of the chunk payload.
func (c CookieChange) PayloadLen() int { return vluFieldLen(len(c.OldCookie)) + len(c.NewCookie) }

// Len returns the encoded size of the chunk, header included.
func (c CookieChange) Len() int { return ChunkHeaderLen + c.PayloadLen() }

// Append appends the whole chunk to b.
func (c CookieChange) Append(b []byte) []byte {
	b = AppendChunkHeader(b, ChunkCookieChange, c.PayloadLen())
	b = appendVLUField(b, c.OldCookie)
	return append(b, c.NewCookie...)
}
