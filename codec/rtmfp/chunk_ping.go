package rtmfp

// Ping is the Ping chunk (type 0x01, RFC 7016 §2.3.9), a keepalive and round-trip probe. The
// receiver answers with a PingReply carrying the same bytes:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     0x01      |        chunk length           | message ...   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Payload (often empty; rtmfp-cpp's mobility check starts with 'M') refers into the parsed
// chunk.
type Ping struct {
	Payload []byte
}

// ParsePing decodes a Ping chunk payload; it cannot fail.
func ParsePing(payload []byte) (Ping, error) { return Ping{Payload: payload}, nil }

// Len returns the encoded size of the chunk, header included.
func (c Ping) Len() int { return ChunkHeaderLen + len(c.Payload) }

// Append appends the whole chunk to b.
func (c Ping) Append(b []byte) []byte {
	b = AppendChunkHeader(b, ChunkPing, len(c.Payload))
	return append(b, c.Payload...)
}

// Reply returns the PingReply that answers c.
func (c Ping) Reply() PingReply { return PingReply(c) }
