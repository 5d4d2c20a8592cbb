package rtmfp

import "encoding/binary"

// IIKeying is the Initiator Initial Keying chunk (type 0x38, RFC 7016 §2.3.7):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     0x38      |        chunk length           |               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+               +
//	|              initiator session ID (4 bytes)   |               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+               +
//	| cookieLength VLU | cookie echo                                |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| certLength VLU   | initiator certificate                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| skicLength VLU   | session key initiator component (SKIC)     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| signature (the rest of the chunk; Flash profile: 0x58 'X')    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// InitiatorSessionID is the 4 session-ID bytes read as a big-endian integer. The other end
// treats them as opaque (rtmfp-cpp writes its IDs in host byte order, e.g. 02 00 00 00), and
// big-endian round-trips them exactly: write the value back with binary.BigEndian to get the
// same bytes for the SSID. The byte fields refer into the parsed payload.
type IIKeying struct {
	InitiatorSessionID uint32
	Cookie             []byte
	Certificate        []byte
	SKIC               []byte
	Signature          []byte
}

// ParseIIKeying decodes an IIKeying chunk payload.
func ParseIIKeying(payload []byte) (IIKeying, error) {
	if len(payload) < 4 {
		return IIKeying{}, ErrShort
	}
	c := IIKeying{InitiatorSessionID: binary.BigEndian.Uint32(payload)}
	off := 4
	var n int
	var err error
	if c.Cookie, n, err = readVLUField(payload[off:]); err != nil {
		return IIKeying{}, err
	}
	off += n
	if c.Certificate, n, err = readVLUField(payload[off:]); err != nil {
		return IIKeying{}, err
	}
	off += n
	if c.SKIC, n, err = readVLUField(payload[off:]); err != nil {
		return IIKeying{}, err
	}
	c.Signature = payload[off+n:]
	return c, nil
}

// PayloadLen returns the size of the chunk payload.
func (c IIKeying) PayloadLen() int {
	return 4 + vluFieldLen(len(c.Cookie)) + vluFieldLen(len(c.Certificate)) +
		vluFieldLen(len(c.SKIC)) + len(c.Signature)
}

// Len returns the encoded size of the chunk, header included.
func (c IIKeying) Len() int { return ChunkHeaderLen + c.PayloadLen() }

// Append appends the whole chunk to b.
func (c IIKeying) Append(b []byte) []byte {
	b = AppendChunkHeader(b, ChunkIIKeying, c.PayloadLen())
	b = binary.BigEndian.AppendUint32(b, c.InitiatorSessionID)
	b = appendVLUField(b, c.Cookie)
	b = appendVLUField(b, c.Certificate)
	b = appendVLUField(b, c.SKIC)
	return append(b, c.Signature...)
}
