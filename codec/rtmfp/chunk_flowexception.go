package rtmfp

// FlowException is the Flow Exception Report chunk (type 0x5E, RFC 7016 §2.3.16): the
// receiver of a flow tells its sender to stop sending on it (a rejected flow):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     0x5E      |        chunk length           | flowID VLU    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| exception code VLU (0 in every known implementation)          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type FlowException struct {
	FlowID uint64
	Code   uint64
}

// ParseFlowException decodes a Flow Exception Report chunk payload. Bytes after the code are
// ignored.
func ParseFlowException(payload []byte) (FlowException, error) {
	id, n, err := ReadVLU(payload)
	if err != nil {
		return FlowException{}, err
	}
	code, _, err := ReadVLU(payload[n:])
	if err != nil {
		return FlowException{}, err
	}
	return FlowException{FlowID: id, Code: code}, nil
}

// PayloadLen returns the size of the chunk payload.
func (c FlowException) PayloadLen() int { return VLULen(c.FlowID) + VLULen(c.Code) }

// Len returns the encoded size of the chunk, header included.
func (c FlowException) Len() int { return ChunkHeaderLen + c.PayloadLen() }

// Append appends the whole chunk to b.
func (c FlowException) Append(b []byte) []byte {
	b = AppendChunkHeader(b, ChunkFlowException, c.PayloadLen())
	b = AppendVLU(b, c.FlowID)
	return AppendVLU(b, c.Code)
}
