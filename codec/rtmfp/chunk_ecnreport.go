package rtmfp

// ECNReport is rtmfp-cpp's experimental ECN report chunk (type 0xEC): the running count,
// modulo 256, of received packets that arrived marked Congestion Experienced. rtmfp-cpp puts
// one in front of its acks (EC 0001 00):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     0xEC      |       chunk length = 1        |   CE count    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type ECNReport struct {
	CECount byte
}

// ParseECNReport decodes an ECN report chunk payload. Bytes after the count are ignored.
func ParseECNReport(payload []byte) (ECNReport, error) {
	if len(payload) < 1 {
		return ECNReport{}, ErrShort
	}
	return ECNReport{CECount: payload[0]}, nil
}

// Len returns the encoded size of the chunk, header included.
func (ECNReport) Len() int { return ChunkHeaderLen + 1 }

// Append appends the whole chunk to b.
func (c ECNReport) Append(b []byte) []byte {
	b = AppendChunkHeader(b, ChunkECNReport, 1)
	return append(b, c.CECount)
}
