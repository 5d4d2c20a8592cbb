package rtmfp

// CloseAck is the Session Close Acknowledgement chunk (type 0x4C, RFC 7016 §2.3.18). It has
// no payload:
//
//	 0                   1                   2
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     0x4C      |       chunk length = 0        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type CloseAck struct{}

// ParseCloseAck decodes a Close Ack chunk payload. Bytes in the payload are ignored.
func ParseCloseAck(payload []byte) (CloseAck, error) { return CloseAck{}, nil }

// Len returns the encoded size of the chunk, header included.
func (CloseAck) Len() int { return ChunkHeaderLen }

// Append appends the whole chunk to b.
func (CloseAck) Append(b []byte) []byte { return AppendChunkHeader(b, ChunkCloseAck, 0) }
