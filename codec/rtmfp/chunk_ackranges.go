package rtmfp

import "errors"

// ErrAckRange means an acknowledgement range cannot be represented: a count of zero or one
// that overflows, or absolute sequence numbers past 2^64-1 or out of order.
var ErrAckRange = errors.New("rtmfp: invalid acknowledgement range")

// MaxAckRanges is the most ranges ParseAckRanges keeps. Later ranges are dropped, which is
// harmless: an ack may leave out trailing ranges (a sender just learns less from it). A full
// 1200-byte packet holds at most about 600 ranges.
const MaxAckRanges = 1024

// AckRange is one range of a Data Acknowledgement Ranges chunk in decoded form: after the
// previous range (or the cumulative ack) come Holes missing sequence numbers, then Received
// received ones. Both counts are at least 1; the wire carries each minus one.
type AckRange struct {
	Holes    uint64
	Received uint64
}

// SeqRange is an inclusive range [From, To] of sequence numbers.
type SeqRange struct {
	From, To uint64
}

// Absolute returns the sequence numbers r covers when the previous range ended at cursor
// (the cumulative ack for the first range):
//
//	From = cursor + Holes + 1, To = From + Received - 1
//
// which is RFC 7016's rule from = cursor + 1 + holesMinusOne + 1, to = from +
// receivedMinusOne. ok is false if a count is zero or the range passes 2^64-1.
func (r AckRange) Absolute(cursor uint64) (s SeqRange, ok bool) {
	const max = ^uint64(0)
	if r.Holes == 0 || r.Received == 0 || cursor > max-r.Holes-1 {
		return SeqRange{}, false
	}
	from := cursor + r.Holes + 1
	if from > max-(r.Received-1) {
		return SeqRange{}, false
	}
	return SeqRange{From: from, To: from + r.Received - 1}, true
}

// MakeAckRange returns the range that acknowledges s after cursor (the cumulative ack or the
// To of the previous range). ok is false unless cursor+1 < s.From <= s.To: there must be at
// least one hole, or s would belong to the previous range.
func MakeAckRange(cursor uint64, s SeqRange) (r AckRange, ok bool) {
	if s.From <= cursor || s.From-cursor < 2 || s.To < s.From || s.To-s.From == ^uint64(0) {
		return AckRange{}, false
	}
	return AckRange{Holes: s.From - cursor - 1, Received: s.To - s.From + 1}, true
}

// AckRangesToSeqRanges converts ranges that follow cumulativeAck into absolute ranges,
// appended to dst.
func AckRangesToSeqRanges(cumulativeAck uint64, ranges []AckRange, dst []SeqRange) ([]SeqRange, error) {
	cursor := cumulativeAck
	for _, r := range ranges {
		s, ok := r.Absolute(cursor)
		if !ok {
			return dst, ErrAckRange
		}
		dst = append(dst, s)
		cursor = s.To
	}
	return dst, nil
}

// SeqRangesToAckRanges converts absolute ranges, sorted, disjoint, not adjacent to each other
// and starting above cumulativeAck+1, into wire ranges appended to dst.
func SeqRangesToAckRanges(cumulativeAck uint64, seqs []SeqRange, dst []AckRange) ([]AckRange, error) {
	cursor := cumulativeAck
	for _, s := range seqs {
		r, ok := MakeAckRange(cursor, s)
		if !ok {
			return dst, ErrAckRange
		}
		dst = append(dst, r)
		cursor = s.To
	}
	return dst, nil
}

// AckRanges is the Data Acknowledgement Ranges chunk (type 0x51, RFC 7016 §2.3.14), the ack
// every implementation sends:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     0x51      |        chunk length           | flowID VLU    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| bufferBlocksAvailable VLU | cumulativeAck VLU |               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| holesMinusOne VLU | receivedMinusOne VLU |  ... repeated      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// FlowID is the acknowledged flow in its sender's numbering; BufferBlocks is the receive
// window in 1024-byte blocks; every sequence number up to CumulativeAck has arrived (or is
// covered by the FSN). Flash's ack of flow 1 up to 1 with 16383 blocks: 51 0004 01 FF7F 01.
type AckRanges struct {
	FlowID        uint64
	BufferBlocks  uint64
	CumulativeAck uint64
	Ranges        []AckRange
}

// BufferBytes returns the advertised window in bytes (BufferBlocks × 1024, saturating).
func (c AckRanges) BufferBytes() uint64 { return blocksToBytes(c.BufferBlocks) }

func blocksToBytes(blocks uint64) uint64 {
	if blocks > ^uint64(0)/1024 {
		return ^uint64(0)
	}
	return blocks * 1024
}

// readAckHead reads the three VLUs that start both acknowledgement chunks.
func readAckHead(payload []byte) (flow, blocks, cum uint64, n int, err error) {
	var m int
	if flow, m, err = ReadVLU(payload); err != nil {
		return 0, 0, 0, 0, err
	}
	n = m
	if blocks, m, err = ReadVLU(payload[n:]); err != nil {
		return 0, 0, 0, 0, err
	}
	n += m
	if cum, m, err = ReadVLU(payload[n:]); err != nil {
		return 0, 0, 0, 0, err
	}
	return flow, blocks, cum, n + m, nil
}

// ParseAckRanges decodes an Ack Ranges chunk payload. The ranges are appended to dst[:0], so
// with a dst of enough capacity (MaxAckRanges at most) it does not allocate. As in rtmfp-cpp,
// a range cut off at the end of the chunk is ignored, and so are ranges beyond MaxAckRanges.
// A range whose count would be 2^64 fails with ErrAckRange.
func ParseAckRanges(payload []byte, dst []AckRange) (AckRanges, error) {
	flow, blocks, cum, off, err := readAckHead(payload)
	if err != nil {
		return AckRanges{}, err
	}
	ranges := dst[:0]
	for off < len(payload) && len(ranges) < MaxAckRanges {
		h, n, err := ReadVLU(payload[off:])
		if err != nil {
			break
		}
		r, m, err := ReadVLU(payload[off+n:])
		if err != nil {
			break
		}
		if h == ^uint64(0) || r == ^uint64(0) {
			return AckRanges{}, ErrAckRange
		}
		ranges = append(ranges, AckRange{Holes: h + 1, Received: r + 1})
		off += n + m
	}
	return AckRanges{FlowID: flow, BufferBlocks: blocks, CumulativeAck: cum, Ranges: ranges}, nil
}

func (c AckRanges) headLen() int {
	return VLULen(c.FlowID) + VLULen(c.BufferBlocks) + VLULen(c.CumulativeAck)
}

func (r AckRange) wireLen() int { return VLULen(r.Holes-1) + VLULen(r.Received-1) }

// PayloadLen returns the size of the chunk payload.
func (c AckRanges) PayloadLen() int {
	n := c.headLen()
	for _, r := range c.Ranges {
		n += r.wireLen()
	}
	return n
}

// Len returns the encoded size of the chunk, header included.
func (c AckRanges) Len() int { return ChunkHeaderLen + c.PayloadLen() }

// Append appends the whole chunk with every range to b. Holes and Received must be at least 1
// in every range.
func (c AckRanges) Append(b []byte) []byte {
	b = AppendChunkHeader(b, ChunkAckRanges, c.PayloadLen())
	return c.appendBody(b, c.Ranges)
}

func (c AckRanges) appendBody(b []byte, ranges []AckRange) []byte {
	b = AppendVLU(b, c.FlowID)
	b = AppendVLU(b, c.BufferBlocks)
	b = AppendVLU(b, c.CumulativeAck)
	for _, r := range ranges {
		b = AppendVLU(b, r.Holes-1)
		b = AppendVLU(b, r.Received-1)
	}
	return b
}

// AppendAckRanges appends c as a chunk of at most budget bytes (header included), leaving out
// as many trailing ranges as needed: an ack must fit in the packet, and a truncated ack is
// still correct. It returns the extended buffer and the number of ranges written, or b
// unchanged and ok false if not even the chunk without ranges fits.
func AppendAckRanges(b []byte, c AckRanges, budget int) (out []byte, ranges int, ok bool) {
	if budget > ChunkHeaderLen+MaxChunkPayload {
		budget = ChunkHeaderLen + MaxChunkPayload
	}
	n := ChunkHeaderLen + c.headLen()
	if n > budget {
		return b, 0, false
	}
	k := 0
	for ; k < len(c.Ranges); k++ {
		l := c.Ranges[k].wireLen()
		if n+l > budget {
			break
		}
		n += l
	}
	b = AppendChunkHeader(b, ChunkAckRanges, n-ChunkHeaderLen)
	return c.appendBody(b, c.Ranges[:k]), k, true
}
