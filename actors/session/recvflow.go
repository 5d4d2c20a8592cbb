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
	// errMessageTooLarge is not a refused fragment but the end of the flow: a message
	// grew beyond recvLimits.maxMessage. The session rejects the flow
	// (ExceptionMessageTooLarge).
	errMessageTooLarge = errors.New("message larger than the largest accepted")
)

// recvFlowState is the life cycle of the receive side of a flow.
type recvFlowState uint8

const (
	rfOpen     recvFlowState = iota
	rfRejected               // the upper layer refused or closed it: data is discarded unacknowledged, exception reported
	rfComplete               // every sequence number up to the final one has arrived; lingering for retransmissions
)

// recvLimits bound what one receive flow may hold, whatever its peer sends.
type recvLimits struct {
	capacity  int    // receive buffer in bytes (advertised window when empty)
	maxAhead  uint64 // sequence numbers accepted beyond the cumulative acknowledgement
	maxRanges int    // disjoint received ranges tracked
	// hardLimit is the most bytes the flow buffers out of order before it refuses
	// fragments (0: four times capacity). The advertised window keeps a well-behaved
	// sender near capacity; the bound is for one that ignores it. The piece that fills
	// the hole is always taken, and so are the in-order pieces of a message larger than
	// the window (assembly), which are bounded by maxMessage instead.
	hardLimit int
	// maxMessage is the largest message the flow delivers, in bytes (0: no limit); a
	// larger one ends the flow (errMessageTooLarge).
	maxMessage int
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
	frags    []recvFrag // buffered out of order (above the cumulative ack), sorted by sequence number
	buffered int        // bytes in frags and held (what the window counts)
	asm      *assembly  // the message at the head and the progress mark; nil until the flow buffers
	finalSN  uint64

	prevBlocks uint64
	doneAt     time.Duration // when the flow was first seen done and owing nothing, for the linger

	// Statistics.
	delivered, dropped uint32
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
// The window counts what is buffered out of order and what waits for the upper layer,
// not the message being assembled at the head (assembly): a message larger than the
// window streams in at the window's pace. A full buffer advertises a zero window only
// when complete messages wait for the upper layer (held before the flow is accepted):
// then only the upper layer can free room, and the sender probes. When the buffer is
// full of fragments that wait for a hole to be filled only more data can free it, so at
// least one block is advertised: a zero window would deadlock the flow (rtmfp-cpp does
// the same).
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
// fragment was refused and not acknowledged, so a well-behaved sender retransmits it —
// except errMessageTooLarge, after which the caller rejects the flow.
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
	if f.state == rfRejected {
		// Discarded, and not acknowledged: the acknowledgement that goes with the flow
		// exception report says what the flow took before it was rejected, and the sender
		// settles exactly that as delivered (Session.onInbound).
		f.needAck, f.ackNow = true, true
		return out, nil
	}
	fresh := !f.seqs.Contains(seq)
	abandoned := flags&flagAbandon != 0
	keep := fresh && !abandoned && f.state == rfOpen && seq > fsn
	// The next piece in order is taken whatever the window (it fills the hole, or
	// continues the message at the head), unless messages wait for the upper layer.
	inOrder := seq == cum+1 && len(f.held) == 0
	if keep && !inOrder && f.buffered+len(data)+fragOverhead > f.limits.maxBuffered()+1024 {
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
	var err error
	switch {
	case keep && len(f.frags) == 0 && flags&fraMask == fraWhole && seq <= f.cumulative() && !f.assembling():
		// A whole message in order with nothing buffered before it (the usual case):
		// delivered at once, without a buffer every idle flow would then keep.
		out = append(out, append([]byte(nil), data...))
		f.delivered++
	case keep && len(f.frags) == 0 && seq <= f.cumulative():
		// A piece in order with nothing buffered before it: straight to the head message.
		out, err = f.takeInOrder(flags&fraMask, seq, append([]byte(nil), data...), out)
	case keep:
		f.insert(recvFrag{seq: seq, fra: flags & fraMask, data: append([]byte(nil), data...)})
	}
	if err == nil {
		out, err = f.deliver(out)
	}
	if err != nil {
		return out, err
	}
	if f.finalSeen && f.state != rfComplete && f.seqs.Len() == 1 && f.cumulative() >= f.finalSN {
		f.state = rfComplete
		f.ackNow = true
		// Every message was delivered (or abandoned): only orphan pieces remain. Messages
		// held for an upper layer that has not accepted the flow yet stay held.
		f.dropFrags()
	}
	return out, nil
}

// assembling reports whether a message is being assembled at the head of the flow.
func (f *recvFlow) assembling() bool { return f.asm != nil && f.asm.active }

// waiting reports whether the flow holds data that waits for more fragments: pieces
// buffered out of order, or a message at the head whose end has not arrived. Only more
// data from the sender can free it, and the stall check watches such flows.
func (f *recvFlow) waiting() bool { return len(f.frags) > 0 || f.assembling() }

// progressed marks that the flow made progress at now (session clock): the stall check
// measures from here.
func (f *recvFlow) progressed(now time.Duration) {
	if f.asm == nil {
		f.asm = &assembly{}
	}
	f.asm.progressAt = now
}

// wouldGrow reports whether taking a fragment could make the flow hold more than it
// does: anything but a duplicate, data for a flow that is not open, a whole message or a
// last piece in order on an accepted flow (which deliver rather than hold), or a piece
// that fills the hole.
func (f *recvFlow) wouldGrow(flags byte, seq uint64) bool {
	if f.state != rfOpen || flags&flagAbandon != 0 || f.seqs.Contains(seq) {
		return false
	}
	if f.target == nil || seq != f.cumulative()+1 {
		return true
	}
	fra := flags & fraMask
	return len(f.frags) == 0 && (fra == fraBegin || fra == fraMiddle)
}

// footprint is every byte the flow holds for its sender, with bookkeeping: what the
// session's, the address's and the server's receive budgets count.
func (f *recvFlow) footprint() int {
	n := f.buffered
	if f.asm != nil {
		n += f.asm.footprint()
	}
	return n
}

// takeInOrder takes the piece at the head of the flow (every sequence number before it
// settled, nothing buffered above it): it completes, continues or starts the message
// at the head, or is a whole message. data is the flow's own copy.
func (f *recvFlow) takeInOrder(fra byte, seq uint64, data []byte, out [][]byte) ([][]byte, error) {
	if f.assembling() {
		if seq == f.asm.next && (fra == fraMiddle || fra == fraEnd) {
			if err := f.grow(len(data)); err != nil {
				return out, err
			}
			f.asm.add(data)
			if fra == fraEnd {
				out = append(out, f.asm.take())
				f.delivered++
			}
			return out, nil
		}
		// A new message, or the head message's next pieces were abandoned (skipped by
		// the forward sequence number): the head message can never complete.
		f.asm.drop()
		f.dropped++
	}
	switch fra {
	case fraWhole:
		out = append(out, data)
		f.delivered++
	case fraBegin:
		if err := f.grow(len(data)); err != nil {
			return out, err
		}
		if f.asm == nil {
			f.asm = &assembly{}
		}
		f.asm.start(seq, data)
	default:
		// A middle or last piece whose beginning was abandoned.
		f.dropped++
	}
	return out, nil
}

// grow checks that the head message may take n more bytes.
func (f *recvFlow) grow(n int) error {
	size := n
	if f.assembling() {
		size += f.asm.size
	}
	if f.limits.maxMessage > 0 && size > f.limits.maxMessage {
		return errMessageTooLarge
	}
	return nil
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
// pieces at or below the cumulative acknowledgement go to the message at the head (or
// are whole messages); with network order, complete messages above it are delivered
// too. Pieces of messages that can never complete (a piece was abandoned) are discarded.
// After it, every buffered fragment is above the cumulative acknowledgement.
func (f *recvFlow) deliver(out [][]byte) ([][]byte, error) {
	if f.state != rfOpen {
		return out, nil
	}
	cum := f.cumulative()
	for len(f.frags) > 0 && f.frags[0].seq <= cum {
		fr := f.frags[0]
		f.pop(1)
		var err error
		if out, err = f.takeInOrder(fr.fra, fr.seq, fr.data, out); err != nil {
			return out, err
		}
	}
	if f.assembling() && f.asm.next <= cum {
		// The head message's next piece is settled but was never buffered: abandoned.
		f.asm.drop()
		f.dropped++
	}
	return f.deliverNetworkOrder(out)
}

// deliverNetworkOrder delivers complete messages above the cumulative acknowledgement when
// the flow asked for network-order delivery.
func (f *recvFlow) deliverNetworkOrder(out [][]byte) ([][]byte, error) {
	if !f.networkOrder {
		return out, nil
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
				msg := f.join(i, n)
				if f.limits.maxMessage > 0 && len(msg) > f.limits.maxMessage {
					return out, errMessageTooLarge
				}
				out = append(out, msg)
				f.delivered++
				f.remove(i, n)
				continue
			}
		}
		i++
	}
	return out, nil
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

// dropFrags discards the buffered fragments and the message at the head (not the held
// messages).
func (f *recvFlow) dropFrags() {
	for i := range f.frags {
		f.buffered -= len(f.frags[i].data) + fragOverhead
		f.frags[i] = recvFrag{}
	}
	f.frags = f.frags[:0]
	if f.asm != nil {
		f.asm.drop()
	}
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
