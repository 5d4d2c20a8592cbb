package rtmfp

// PingReply is the Ping Reply chunk (type 0x41, RFC 7016 §2.3.10), the echo of a Ping's
// message:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     0x41      |        chunk length           | message echo  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Payload refers into the parsed chunk.
type PingReply struct {
	Payload []byte
}

// ParsePingReply decodes a Ping Reply chunk payload; it cannot fail.
func ParsePingReply(payload []byte) (PingReply, error) { return PingReply{Payload: payload}, nil }

// Len returns the encoded size of the chunk, header included.
func (c PingReply) Len() int { return ChunkHeaderLen + len(c.Payload) }

// Append appends the whole chunk to b.
func (c PingReply) Append(b []byte) []byte {
	b = AppendChunkHeader(b, ChunkPingReply, len(c.Payload))
	return append(b, c.Payload...)
}
