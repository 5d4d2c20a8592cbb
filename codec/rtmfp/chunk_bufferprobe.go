package rtmfp

// BufferProbe is the Buffer Probe chunk (type 0x18, RFC 7016 §2.3.15). A flow's sender sends
// it while the receiver advertises no buffer space; the receiver answers with a fresh ack for
// the flow:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     0x18      |        chunk length           | flowID VLU    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type BufferProbe struct {
	FlowID uint64
}

// ParseBufferProbe decodes a Buffer Probe chunk payload. Bytes after the flow ID are ignored.
func ParseBufferProbe(payload []byte) (BufferProbe, error) {
	id, _, err := ReadVLU(payload)
	if err != nil {
		return BufferProbe{}, err
	}
	return BufferProbe{FlowID: id}, nil
}

// Len returns the encoded size of the chunk, header included.
func (c BufferProbe) Len() int { return ChunkHeaderLen + VLULen(c.FlowID) }

// Append appends the whole chunk to b.
func (c BufferProbe) Append(b []byte) []byte {
	b = AppendChunkHeader(b, ChunkBufferProbe, VLULen(c.FlowID))
	return AppendVLU(b, c.FlowID)
}
