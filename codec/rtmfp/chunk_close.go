package rtmfp

// Close is the Session Close Request chunk (type 0x0C, RFC 7016 §2.3.17). It has no payload:
//
//	 0                   1                   2
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     0x0C      |       chunk length = 0        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type Close struct{}

// ParseClose decodes a Close chunk payload. Bytes in the payload are ignored.
func ParseClose(payload []byte) (Close, error) { return Close{}, nil }

// Len returns the encoded size of the chunk, header included.
func (Close) Len() int { return ChunkHeaderLen }

// Append appends the whole chunk to b.
func (Close) Append(b []byte) []byte { return AppendChunkHeader(b, ChunkClose, 0) }
