package session

import "time"

// assembly is what a receive flow keeps only once it buffers something: the message
// being put together at the head of the flow, and when the flow last made progress.
// Most flows carry whole messages in order and never make one.
//
// The message at the head is the one whose pieces have arrived in order up to the
// cumulative acknowledgement while its last piece has not: it grows one piece at a
// time, at the pace of the sender, up to the largest message the flow accepts
// (recvLimits.maxMessage). It is kept apart from the fragments buffered out of order,
// which the advertised window bounds: the window limits what is buffered ahead of a
// hole, not the size of a message — otherwise a message larger than the window could
// never complete and its flow would stall.
type assembly struct {
	pieces [][]byte // the head message's non-empty pieces, in order (each the flow's own copy)
	size   int      // their bytes
	next   uint64   // the sequence number of the head message's next piece
	active bool     // a head message is being assembled

	// progressAt is when the flow last made progress (its cumulative acknowledgement
	// moved, or it started holding fragments), on the session clock; the session rejects
	// a flow that holds fragments and makes no progress for Config.FlowStallTimeout.
	progressAt time.Duration
}

// footprint is what the head message counts against the buffers: its bytes and the
// bookkeeping of each piece (like a buffered fragment's).
func (a *assembly) footprint() int { return a.size + len(a.pieces)*fragOverhead }

// start begins a head message with its first piece (the flow's own copy).
func (a *assembly) start(seq uint64, data []byte) {
	a.active, a.next = true, seq
	a.add(data)
}

// add appends the next piece (the flow's own copy).
func (a *assembly) add(data []byte) {
	a.next++
	if len(data) > 0 {
		a.pieces = append(a.pieces, data)
		a.size += len(data)
	}
}

// take returns the complete message and forgets it.
func (a *assembly) take() []byte {
	var msg []byte
	if len(a.pieces) == 1 {
		msg = a.pieces[0]
	} else {
		msg = make([]byte, 0, a.size)
		for _, p := range a.pieces {
			msg = append(msg, p...)
		}
	}
	a.drop()
	return msg
}

// drop forgets the head message.
func (a *assembly) drop() {
	clear(a.pieces)
	a.pieces = a.pieces[:0]
	if cap(a.pieces) > 64 {
		a.pieces = nil // a large message's list is not kept for the next one
	}
	a.size, a.next, a.active = 0, 0, false
}
