package rtmfp

import "encoding/binary"

// RIKeying is the Responder Initial Keying chunk (type 0x78, RFC 7016 §2.3.8):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     0x78      |        chunk length           |               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+               +
//	|              responder session ID (4 bytes)   |               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+               +
//	| skrcLength VLU   | session key responder component (SKRC)     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| signature (the rest of the chunk; Flash profile: 0x58 'X')    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// ResponderSessionID is the 4 session-ID bytes read big-endian (see IIKeying). The byte
// fields refer into the parsed payload.
type RIKeying struct {
	ResponderSessionID uint32
	SKRC               []byte
	Signature          []byte
}

// ParseRIKeying decodes an RIKeying chunk payload.
func ParseRIKeying(payload []byte) (RIKeying, error) {
	if len(payload) < 4 {
		return RIKeying{}, ErrShort
	}
	skrc, n, err := readVLUField(payload[4:])
	if err != nil {
		return RIKeying{}, err
	}
	return RIKeying{
		ResponderSessionID: binary.BigEndian.Uint32(payload),
		SKRC:               skrc,
		Signature:          payload[4+n:],
	}, nil
}

// PayloadLen returns the size of the chunk payload.
func (c RIKeying) PayloadLen() int { return 4 + vluFieldLen(len(c.SKRC)) + len(c.Signature) }

// Len returns the encoded size of the chunk, header included.
func (c RIKeying) Len() int { return ChunkHeaderLen + c.PayloadLen() }

// Append appends the whole chunk to b.
func (c RIKeying) Append(b []byte) []byte {
	b = AppendChunkHeader(b, ChunkRIKeying, c.PayloadLen())
	b = binary.BigEndian.AppendUint32(b, c.ResponderSessionID)
	b = appendVLUField(b, c.SKRC)
	return append(b, c.Signature...)
}
