package rtmfp

// AckBitmap is the Data Acknowledgement Bitmap chunk (type 0x50, RFC 7016 §2.3.13). No known
// implementation sends it (rtmfp-cpp parses the header and ignores the bitmap), but a
// receiver must understand it:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     0x50      |        chunk length           | flowID VLU    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| bufferBlocksAvailable VLU | cumulativeAck VLU |               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|7 6 5 4 3 2 1 0|7 6 5 4 3 2 1 0|  ... bitmap to the chunk end  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Bit i of byte k (bit 0 = least significant) set means sequence number
// CumulativeAck + 2 + 8k + i was received; CumulativeAck + 1 is missing by definition, so
// it has no bit. This is the order of RFC 7016's pseudo-code as recalled (a cursor at
// cumulativeAck + 1, each byte's bits read most significant first as offsets 8 down to 1
// from it). The RFC text could not be consulted when this was written and no capture
// contains the chunk, so the order is unverified.
type AckBitmap struct {
	FlowID        uint64
	BufferBlocks  uint64
	CumulativeAck uint64
	Bitmap        []byte
}

// ParseAckBitmap decodes an Ack Bitmap chunk payload. Bitmap refers into payload.
func ParseAckBitmap(payload []byte) (AckBitmap, error) {
	flow, blocks, cum, n, err := readAckHead(payload)
	if err != nil {
		return AckBitmap{}, err
	}
	return AckBitmap{FlowID: flow, BufferBlocks: blocks, CumulativeAck: cum, Bitmap: payload[n:]}, nil
}

// BufferBytes returns the advertised window in bytes (BufferBlocks × 1024, saturating).
func (c AckBitmap) BufferBytes() uint64 { return blocksToBytes(c.BufferBlocks) }

// Received reports whether the chunk acknowledges seq.
func (c AckBitmap) Received(seq uint64) bool {
	if seq <= c.CumulativeAck {
		return true
	}
	d := seq - c.CumulativeAck
	if d < 2 || (d-2)/8 >= uint64(len(c.Bitmap)) {
		return false
	}
	i := d - 2
	return c.Bitmap[i/8]&(1<<(i%8)) != 0
}

// SetReceived marks seq as received, growing the bitmap as needed. Sequence numbers up to
// CumulativeAck + 1 are ignored: they are acknowledged, or missing, by definition.
func (c *AckBitmap) SetReceived(seq uint64) {
	if seq <= c.CumulativeAck || seq-c.CumulativeAck < 2 {
		return
	}
	i := seq - c.CumulativeAck - 2
	for uint64(len(c.Bitmap)) <= i/8 {
		c.Bitmap = append(c.Bitmap, 0)
	}
	c.Bitmap[i/8] |= 1 << (i % 8)
}

// AsRanges returns the same acknowledgement in Ack Ranges form, its ranges appended to
// dst[:0], so that a session can treat both chunks alike. Like ParseAckRanges it keeps at
// most MaxAckRanges ranges.
func (c AckBitmap) AsRanges(dst []AckRange) AckRanges {
	const max = ^uint64(0)
	ranges := dst[:0]
	cursor := c.CumulativeAck
	var from, prev uint64
	in := false
	bits := uint64(len(c.Bitmap)) * 8
	for i := uint64(0); i < bits && len(ranges) < MaxAckRanges; i++ {
		if c.CumulativeAck > max-2-i {
			break // past 2^64-1
		}
		seq := c.CumulativeAck + 2 + i
		if c.Bitmap[i/8]&(1<<(i%8)) != 0 {
			if !in {
				from, in = seq, true
			}
			prev = seq
		} else if in {
			ranges = append(ranges, AckRange{Holes: from - cursor - 1, Received: prev - from + 1})
			cursor, in = prev, false
		}
	}
	if in && len(ranges) < MaxAckRanges {
		ranges = append(ranges, AckRange{Holes: from - cursor - 1, Received: prev - from + 1})
	}
	return AckRanges{FlowID: c.FlowID, BufferBlocks: c.BufferBlocks, CumulativeAck: c.CumulativeAck, Ranges: ranges}
}

// PayloadLen returns the size of the chunk payload.
func (c AckBitmap) PayloadLen() int {
	return VLULen(c.FlowID) + VLULen(c.BufferBlocks) + VLULen(c.CumulativeAck) + len(c.Bitmap)
}

// Len returns the encoded size of the chunk, header included.
func (c AckBitmap) Len() int { return ChunkHeaderLen + c.PayloadLen() }

// Append appends the whole chunk to b.
func (c AckBitmap) Append(b []byte) []byte {
	b = AppendChunkHeader(b, ChunkAckBitmap, c.PayloadLen())
	b = AppendVLU(b, c.FlowID)
	b = AppendVLU(b, c.BufferBlocks)
	b = AppendVLU(b, c.CumulativeAck)
	return append(b, c.Bitmap...)
}
