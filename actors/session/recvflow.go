package session

import (
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Fragment control values of a User Data chunk (RFC 7016 §2.3.11), bits 0x30 of its flags.
const (
	fraWhole  = 0x00
	fraBegin  = 0x10
	fraEnd    = 0x20
	fraMiddle = 0x30
	fraMask   = 0x30

	flagOptions = 0x80
	flagAbandon = 0x02
	flagFinal   = 0x01
)

// Why a fragment was refused by a receive flow. Each is counted by the session; none harms
// the session or the flow.
var (
	errFragBadFSN        = errors.New("forward sequence number above the sequence number")
	errFragTooFarAhead   = errors.New("sequence number too far beyond the cumulative acknowledgement")
	errFragWindow        = errors.New("fragment exceeds the advertised receive window")
	errFragTooFragmented = errors.New("too many disjoint sequence ranges")
	errFragAfterFinal    = errors.New("sequence number after the final one")
)

// recvFlowState is the life cycle of the receive side of a flow.
type recvFlowState uint8

const (
	rfOpen     recvFlowState = iota
	rfRejected               // the upper layer refused or closed it: data is acked and discarded, exception reported
	rfComplete               // every sequence number up to the final one has arrived; lingering for retransmissions
)

// recvLimits bound what one receive flow may hold, whatever its peer sends.
type recvLimits struct {
	capacity  int    // receive buffer in bytes (advertised window when empty)
	maxAhead  uint64 // sequence numbers accepted beyond the cumulative acknowledgement
	maxRanges int    // disjoint received ranges tracked
	// hardLimit is the most bytes the flow buffers before it refuses fragments (0: four
	// times capacity). The advertised window keeps a well-behaved sender near capacity;
	// beyond it the flow still takes what it needs to make progress — the piece that
	// fills a hole, the rest of a message larger than the window — at the trickle of one
	// block per acknowledgement, up to this bound.
	hardLimit int
}

// maxBuffered returns the bound on buffered bytes beyond which fragments are refused.
func (l *recvLimits) maxBuffered() int {
	if l.hardLimit > 0 {
		return l.hardLimit
	}
	return 4 * l.capacity
}

var defaultRecvLimits = recvLimits{capacity: 256 << 10, maxAhead: 1 << 14, maxRanges: 128}

// fragOverhead is what each buffered fragment or held message counts against the buffer
// beyond its data (its bookkeeping), so that a flood of empty fragments — an endless
// message of empty middle pieces, empty messages before the flow is accepted — is bounded
// like data is (rtmfp-cpp counts 64 bytes too).
const fragOverhead = 64

// recvFrag is a buffered fragment, with its own copy of the data.
type recvFrag struct {
	seq  uint64
	fra  byte
	data []byte
}

// recvFlow is the receive side of one flow (RFC 7016 §3.6.3): duplicate suppression,
// reassembly of fragmented messages, delivery in sequence order (or as soon as complete
// when the flow asks for network order), the forward sequence number that lets a sender
// abandon messages, and what to acknowledge.
type recvFlow struct {
	id     uint64
	meta   []byte
	assoc  uint64
	limits *recvLimits // shared by the flows of an endpoint's sessions (Shared)

	// The small fields are kept together: padding between them cost a size class for
	// every flow of every held session.
	hasAssoc     bool
	state        recvFlowState
	networkOrder bool
	finalSeen    bool
	needAck      bool // an acknowledgement is owed
	ackNow       bool // … and should not wait for the delayed-ack timer
	finished     bool // complete, and its actor was told (FlowFinished)

	exceptionCode uint64
	// target receives the flow's messages once the upper layer accepted the flow; until
	// then they wait in held (their bytes count as buffered).
	target *actor.PID
	held   []heldMsg

	seqs     seqSet     // received or skipped (≤ forward sequence number)
	frags    []recvFrag // buffered, sorted by sequence number, none yet delivered
	buffered int        // bytes in frags
	finalSN  uint64

	prevBlocks uint64
	doneAt     time.Duration // when the flow was first seen done and owing nothing, for the linger

	// Statistics.
	delivered, dropped uint64
}

func newRecvFlow(id uint64, meta []byte, assoc uint64, hasAssoc bool, limits *recvLimits) *recvFlow {
	f := &recvFlow{id: id, meta: meta, assoc: assoc, hasAssoc: hasAssoc, limits: limits}
	f.seqs.Add(0, 0) // sequence numbers start at 1
	f.prevBlocks = f.windowBlocks()
	return f
}

// cumulative is the cumulative acknowledgement: every sequence number up to it is settled.
func (f *recvFlow) cumulative() uint64 {
	c, _ := f.seqs.Cumulative()
	return c
}

// windowBlocks is the receive window advertised in acknowledgements, in 1,024-byte blocks.
//
// A full buffer advertises a zero window only when complete messages wait for the upper
// layer (held before the flow is accepted): then only the upper layer can free room, and
// the sender probes. When the buffer is full of fragments that wait for other fragments
// (a hole, or a message larger than the buffer) only more data can free it, so at least
// one block is advertised: a zero window would deadlock the flow (rtmfp-cpp does the same).
func (f *recvFlow) windowBlocks() uint64 {
	if f.state != rfOpen {
		return 0
	}
	free := f.limits.capacity - f.buffered
	if free < 1024 {
		if len(f.held) == 0 && f.limits.capacity > 0 {
			return 1
		}
		return 0
	}
	return uint64(free / 1024)
}

// onData takes one User Data fragment. Complete messages that become deliverable are
// appended to out (each a fresh slice the caller owns). A returned error means the
// fragment was refused and not acknowledged, so a well-behaved sender retransmits it.
func (f *recvFlow) onData(flags byte, seq, fsn uint64, data []byte, out [][]byte) ([][]byte, error) {
	if fsn > seq {
		return out, errFragBadFSN
	}
	cum := f.cumulative()
	if seq > cum && seq-cum > f.limits.maxAhead {
		return out, errFragTooFarAhead
	}
	if f.finalSeen && seq > f.finalSN {
		return out, errFragAfterFinal
	}
	fresh := !f.seqs.Contains(seq)
	abandoned := flags&flagAbandon != 0
	keep := fresh && !abandoned && f.state == rfOpen && seq > fsn
	if keep && f.buffered+len(data)+fragOverhead > f.limits.maxBuffered()+1024 {
		f.needAck, f.ackNow = true, true // tell the sender the window again
		return out, errFragWindow
	}
	rangesBefore := f.seqs.Len()
	if fresh && rangesBefore >= f.limits.maxRanges && !f.wouldMerge(seq, fsn) {
		return out, errFragTooFragmented
	}

	f.needAck = true
	if f.prevBlocks < 2 || abandoned || rangesBefore != 1 || !fresh || f.state != rfOpen {
		f.ackNow = true
	}
	if fresh && flags&flagFinal != 0 && !f.finalSeen {
		f.finalSN, f.finalSeen = seq, true
		f.ackNow = true
	}
	if fsn > 0 {
		f.seqs.Add(0, fsn)
	}
	f.seqs.Add(seq, seq)
	if f.seqs.Len() != rangesBefore {
		f.ackNow = true
	}
	switch {
	case keep && len(f.frags) == 0 && flags&fraMask == fraWhole && seq <= f.cumulative():
		// A whole message in order with nothing buffered before it (the usual case):
		// delivered at once, without a buffer every idle flow would then keep.
		out = append(out, append([]byte(nil), data...))
		f.delivered++
	case keep:
		f.insert(recvFrag{seq: seq, fra: flags & fraMask, data: append([]byte(nil), data...)})
	}
	out = f.deliver(out)
	if f.finalSeen && f.state != rfComplete && f.seqs.Len() == 1 && f.cumulative() >= f.finalSN {
		f.state = rfComplete
		f.ackNow = true
		// Every message was delivered (or abandoned): only orphan pieces remain. Messages
		// held for an upper layer that has not accepted the flow yet stay held.
		f.dropFrags()
	}
	return out, nil
}

// wouldMerge reports whether adding seq (and [0, fsn]) keeps the number of ranges from
// growing: true when seq touches an existing range or the forward sequence number swallows
// ranges.
func (f *recvFlow) wouldMerge(seq, fsn uint64) bool {
	if f.seqs.Len() > 1 && fsn+1 >= f.seqs.Range(1).from {
		return true
	}
	return f.seqs.Contains(seq-1) || f.seqs.Contains(seq+1)
}

// insert places a fragment in sequence order.
func (f *recvFlow) insert(fr recvFrag) {
	i := len(f.frags)
	for i > 0 && f.frags[i-1].seq > fr.seq {
		i--
	}
	f.frags = append(f.frags, recvFrag{})
	copy(f.frags[i+1:], f.frags[i:])
	f.frags[i] = fr
	f.buffered += len(fr.data) + fragOverhead
}

// deliver hands over every message that may be delivered now: in sequence order, the
// messages whose fragments are all at or below the cumulative acknowledgement; with
// network order, also complete messages above it. Fragments of messages that can never
// complete (a piece was abandoned) are discarded.
func (f *recvFlow) deliver(out [][]byte) [][]byte {
	if f.state != rfOpen {
		return out
	}
	cum := f.cumulative()
	for len(f.frags) > 0 && f.frags[0].seq <= cum {
		first := f.frags[0]
		switch first.fra {
		case fraWhole:
			out = append(out, first.data)
			f.delivered++
			f.pop(1)
		case fraBegin:
			n, complete := f.run(0)
			switch {
			case complete:
				out = append(out, f.join(0, n))
				f.delivered++
				f.pop(n)
			case f.frags[0].seq+uint64(n) <= cum:
				// The next piece is settled but missing: it was abandoned.
				f.dropped++
				f.pop(n)
			default:
				return f.deliverNetworkOrder(out)
			}
		default:
			// A middle or last piece whose beginning was abandoned.
			f.dropped++
			f.pop(1)
		}
	}
	return f.deliverNetworkOrder(out)
}

// deliverNetworkOrder delivers complete messages above the cumulative acknowledgement when
// the flow asked for network-order delivery.
func (f *recvFlow) deliverNetworkOrder(out [][]byte) [][]byte {
	if !f.networkOrder {
		return out
	}
	for i := 0; i < len(f.frags); {
		switch f.frags[i].fra {
		case fraWhole:
			out = append(out, f.frags[i].data)
			f.delivered++
			f.remove(i, 1)
			continue
		case fraBegin:
			if n, complete := f.run(i); complete {
				out = append(out, f.join(i, n))
				f.delivered++
				f.remove(i, n)
				continue
			}
		}
		i++
	}
	return out
}

// run measures the fragments starting at frags[i] (a first piece) with consecutive sequence
// numbers, and whether they end with a last piece.
func (f *recvFlow) run(i int) (n int, complete bool) {
	seq := f.frags[i].seq
	for j := i + 1; j < len(f.frags); j++ {
		fr := f.frags[j]
		if fr.seq != seq+uint64(j-i) {
			return j - i, false
		}
		switch fr.fra {
		case fraEnd:
			return j - i + 1, true
		case fraMiddle:
		default: // a new message starts: this one lost its end
			return j - i, false
		}
	}
	return len(f.frags) - i, false
}

// join concatenates n fragments starting at frags[i].
func (f *recvFlow) join(i, n int) []byte {
	size := 0
	for _, fr := range f.frags[i : i+n] {
		size += len(fr.data)
	}
	msg := make([]byte, 0, size)
	for _, fr := range f.frags[i : i+n] {
		msg = append(msg, fr.data...)
	}
	return msg
}

func (f *recvFlow) pop(n int) { f.remove(0, n) }

func (f *recvFlow) remove(i, n int) {
	for _, fr := range f.frags[i : i+n] {
		f.buffered -= len(fr.data) + fragOverhead
	}
	copy(f.frags[i:], f.frags[i+n:])
	for j := len(f.frags) - n; j < len(f.frags); j++ {
		f.frags[j] = recvFrag{}
	}
	f.frags = f.frags[:len(f.frags)-n]
}

// dropFrags discards the buffered fragments (not the held messages).
func (f *recvFlow) dropFrags() {
	for i := range f.frags {
		f.buffered -= len(f.frags[i].data) + fragOverhead
		f.frags[i] = recvFrag{}
	}
	f.frags = f.frags[:0]
}

// dropBuffered discards the buffered fragments and the held messages.
func (f *recvFlow) dropBuffered() {
	f.dropFrags()
	clear(f.held)
	f.held = f.held[:0]
	f.buffered = 0
}

// hold keeps delivered messages until the flow is accepted.
func (f *recvFlow) hold(msg []byte, at time.Duration) {
	f.held = append(f.held, heldMsg{data: msg, at: at})
	f.buffered += len(msg) + fragOverhead
}

// heldMsg is a complete message waiting for its flow to be accepted, and when the
// datagram that completed it arrived.
type heldMsg struct {
	data []byte
	at   time.Duration
}

// release returns the held messages and frees their room in the window.
func (f *recvFlow) release() []heldMsg {
	held := f.held
	f.held = nil
	for _, m := range held {
		f.buffered -= len(m.data) + fragOverhead
	}
	if f.prevBlocks < 2 && f.windowBlocks() >= 2 {
		f.needAck, f.ackNow = true, true // the window reopened: tell the sender
	}
	return held
}

// recvFlowLinger is how long a finished or rejected receive flow is remembered, to
// acknowledge retransmissions of its last fragments (RFC 7016 §3.6.3.5).
const recvFlowLinger = 120 * time.Second

// done reports whether nothing more is expected of the flow but to answer late
// fragments: handed over complete, or rejected.
func (f *recvFlow) done() bool {
	return f.state == rfRejected || f.state == rfComplete && f.finished
}

// reject refuses the flow: buffered data is discarded, further data is acknowledged with a
// zero window and answered with a flow exception carrying code.
func (f *recvFlow) reject(code uint64) {
	if f.state == rfOpen {
		f.state = rfRejected
		f.exceptionCode = code
	}
	f.dropBuffered()
	f.needAck, f.ackNow = true, true
}

// ackTaken records that an acknowledgement reflecting the current state was sent.
func (f *recvFlow) ackTaken() {
	f.needAck, f.ackNow = false, false
	f.prevBlocks = f.windowBlocks()
}
