package session

import (
	"sort"

	"github.com/asynkron/protoactor-go/actor"
)

// Priority orders send flows when the congestion window is short: control messages
// first, then audio, then video, then bulk data (RFC 7016 §3.6.2.2 leaves the scheduling
// to the implementation; RFC 7425 asks that time-critical media not wait behind bulk data).
type Priority uint8

const (
	PriorityData Priority = iota
	PriorityVideo
	PriorityAudio
	PriorityControl
	numPriorities
)

// timeCritical reports whether packets carrying this priority set the TC header flag.
func (p Priority) timeCritical() bool { return p == PriorityAudio || p == PriorityVideo }

// flowOwner is told the fate of a send flow's messages that asked for a receipt.
type flowOwner interface {
	settled(f *sendFlow, r *Receipt, delivered bool)
}

// sendMsg is one message written to a send flow.
type sendMsg struct {
	deadline   int64 // session clock (ns) after which the message is abandoned; 0 = never
	retransmit bool  // lost fragments are resent; if false they are abandoned instead
	abandoned  bool
	idx        uint32 // the frame's place in grp (its key frame 0)
	left       int    // fragments neither acknowledged nor dropped
	receipt    *Receipt
	born       int64  // session clock (ns) when written
	grp        *group // the group of pictures of a video frame (Write.Frame); nil otherwise
}

// group is a group of pictures of a send flow (Write.Frame): once one of its frames is
// given up, those written after it are no use and are given up too.
type group struct {
	key *sendMsg // the key frame that starts it
	n   uint32   // frames written in it
	cut uint32   // idx of its first frame given up; noCut while none was
}

const noCut = ^uint32(0)

// Receipt asks for the fate of a message: the session tells To whether every fragment
// was acknowledged (Delivered) or the message was given up (Abandoned).
type Receipt struct {
	To  *actor.PID
	Tag uint64
}

// settle records that one fragment of m is resolved, and reports the message's fate once
// all are.
func (m *sendMsg) settle(f *sendFlow) {
	m.left--
	if m.left == 0 && m.receipt != nil && f.owner != nil {
		f.owner.settled(f, m.receipt, !m.abandoned)
		m.receipt = nil
	}
}

// expired reports whether the message should be given up at time now: its lifetime
// passed, or a frame of its group written before it was given up. A message whose
// fragments are all settled (delivered) is not given up any more.
func (m *sendMsg) expired(now int64) bool {
	if !m.abandoned && m.left > 0 && (m.deadline != 0 && now >= m.deadline || m.grp != nil && m.grp.cut < m.idx) {
		m.giveUp()
	}
	return m.abandoned
}

// giveUp abandons the message and, when it is a video frame, the frames of its group
// written after it (expired gives them up when it next looks at them).
func (m *sendMsg) giveUp() {
	m.abandoned = true
	if m.grp != nil && m.idx < m.grp.cut {
		m.grp.cut = m.idx
	}
}

// sendFrag is one fragment of a message, with its fixed sequence number.
type sendFrag struct {
	flow *sendFlow
	msg  *sendMsg
	seq  uint64
	fra  byte
	data []byte

	inFlight      bool // sent and neither acknowledged nor declared lost
	everSent      bool
	sentAbandoned bool // the last transmission carried the abandon flag
	acked         bool
	nakCount      uint8
	lostEp        uint32 // loss episode in which it was last declared lost (0: not lost)
	sentAt        int64  // session clock (ns) of the last transmission
	tsn           uint64 // session transmission sequence number of the last transmission
	wireSize      int    // bytes the last transmission occupied
}

// sendFlowState is the life cycle of the send side of a flow.
type sendFlowState uint8

const (
	sfOpen     sendFlowState = iota
	sfClosing                // final sequence number chosen; waiting for it to be acknowledged
	sfComplete               // everything acknowledged after close
)

// sendFlow is the send side of one flow (RFC 7016 §3.6.2): messages cut into fragments
// with consecutive sequence numbers, the queue of fragments not yet acknowledged, the
// forward sequence number, the flow's startup options (metadata, return association)
// repeated until the first acknowledgement, and the receiver's advertised window.
type sendFlow struct {
	id      uint64
	key     FlowKey
	options []byte // startup options incl. the end marker; nil once acknowledged

	// queue holds the fragments neither acknowledged nor dropped, in increasing sequence
	// order; the numbers need not be consecutive (a selective acknowledgement takes
	// fragments out of the middle). With a full 4 MiB queue it holds thousands, so the
	// work per acknowledgement and per packet is kept to what changes: fragments leave
	// from the head by reslicing (dropHead), indexOf finds a sequence number's place
	// without a walk, and the two hints below say where the walks for a send and for the
	// oldest live message start.
	queue     []*sendFrag
	nextSN    uint64
	finalSN   uint64
	priority  Priority
	state     sendFlowState
	exception bool

	// sendAt is a place in queue before which every fragment is in flight or acknowledged:
	// the first fragment waiting to be sent is at sendAt or after. firstWaiting moves it up
	// past the fragments in flight; onLoss, the only way a fragment leaves flight without
	// being acknowledged, moves it down to that fragment; dropHead moves it down by the
	// fragments removed (a lower bound stays one whichever fragments leave).
	sendAt uint32
	// liveAt is a place in queue before which every fragment is acknowledged or of an
	// abandoned message; both are for good, so only firstLive moves it up (and dropHead
	// down, as sendAt).
	liveAt uint32

	rxWindow    int // receiver's free buffer, bytes
	outstanding int // bytes in flight
	queued      int // bytes of data in queue
	maxQueued   int

	// owner is told when a message with a receipt is settled (delivered or not): the
	// session (an interface value, not a closure per flow).
	owner flowOwner

	// grp is the group of pictures of the flow's last key frame (nil before one).
	grp *group
}

// maxFragment is the largest data fragment, chosen so that a fragment with its chunk
// header, three VLUs and startup options fits a 1,200-byte packet after the packet
// header, a session sequence number and the checksum.
const maxFragment = 1200 - 16 - 5 - 3 - 1 - 3*5 - 64

func newSendFlow(id uint64, key FlowKey, prio Priority, maxQueued int) *sendFlow {
	f := &sendFlow{id: id, key: key, priority: prio, nextSN: 1, rxWindow: 64 << 10, maxQueued: maxQueued}
	f.options = key.appendOptions(nil)
	return f
}

// write cuts a message into fragments and queues them. It returns false, queuing nothing,
// when the flow is closed, its queue is full or its startup options leave no room for data
// (metadata longer than MaxFlowMetadata, refused before a flow is made for it).
func (f *sendFlow) write(data []byte, now, deadline int64, retransmit bool, receipt *Receipt) bool {
	return f.writeFrame(data, now, deadline, retransmit, FrameNone, receipt)
}

// writeFrame is write for a message that may be a video frame (Write.Frame).
func (f *sendFlow) writeFrame(data []byte, now, deadline int64, retransmit bool, frame Frame, receipt *Receipt) bool {
	size := maxFragment - len(f.options)
	if f.state != sfOpen || f.exception || size <= 0 {
		return false
	}
	if f.queued+len(data) > f.maxQueued && f.queued > 0 {
		return false
	}
	m := &sendMsg{deadline: deadline, retransmit: retransmit, receipt: receipt, born: now}
	switch frame {
	case FrameKey:
		f.grp = &group{key: m, n: 1, cut: noCut}
		m.grp = f.grp
	case FrameInter:
		if g := f.grp; g != nil {
			m.grp, m.idx = g, g.n
			g.n++
		}
	}
	fra := byte(fraWhole)
	for first := true; first || len(data) > 0; first = false {
		n := len(data)
		if n > size {
			n = size
			if fra == fraWhole {
				fra = fraBegin
			} else {
				fra = fraMiddle
			}
		} else if fra != fraWhole {
			fra = fraEnd
		}
		f.queue = append(f.queue, &sendFrag{flow: f, msg: m, seq: f.nextSN, fra: fra, data: data[:n:n]})
		m.left++
		f.queued += n
		f.nextSN++
		data = data[n:]
	}
	return true
}

// dropHead removes the first n fragments of the queue (dropFront).
func (f *sendFlow) dropHead(n int) {
	if n == 0 {
		return
	}
	f.queue = dropFront(f.queue, n)
	f.sendAt -= min(f.sendAt, place(n))
	f.liveAt -= min(f.liveAt, place(n))
}

// keepInPlace is the most elements dropFront moves to the array's start rather than
// slide the slice (a few cache lines of pointers).
const keepInPlace = 64

// dropFront removes the first n elements of q, a queue that elements leave at the head.
// When what stays is short (or no longer than what goes) it moves to the array's start,
// so a queue that drains keeps its array; otherwise the head moves past the room freed,
// and the append that next finds the array's end moves the queue to a new array. Either
// way the work is proportional to what goes, not to what stays.
func dropFront[T any](q []*T, n int) []*T {
	if rest := len(q) - n; rest <= max(n, keepInPlace) {
		copy(q, q[n:])
		clear(q[rest:])
		return q[:rest]
	}
	clear(q[:n])
	return q[n:]
}

// place converts a place in queue to a hint (sendAt, liveAt), which may only err low.
func place(i int) uint32 { return uint32(min(i, 1<<32-1)) }

// indexOf returns the place in queue of the first fragment numbered seq or more.
func (f *sendFlow) indexOf(seq uint64) int {
	q := f.queue
	if len(q) == 0 || seq <= q[0].seq {
		return 0
	}
	// Sequence numbers grow by one or more a place, so seq is at place d at the latest,
	// and exactly there while no fragment before it left the middle (the usual case).
	d := seq - q[0].seq
	n := len(q)
	if d < uint64(n) {
		if q[d].seq == seq {
			return int(d)
		}
		n = int(d)
	}
	return sort.Search(n, func(i int) bool { return q[i].seq >= seq })
}

// firstWaiting returns the place in queue of the first fragment waiting to be sent
// (neither in flight nor acknowledged), len(queue) if none, and moves sendAt to it.
func (f *sendFlow) firstWaiting() int {
	i := min(int(f.sendAt), len(f.queue))
	for i < len(f.queue) && (f.queue[i].inFlight || f.queue[i].acked) {
		i++
	}
	f.sendAt = place(i)
	return i
}

// firstLive returns the place in queue of the first fragment neither acknowledged nor of
// an abandoned message, len(queue) if none, and moves liveAt to it. (A message whose
// lifetime passed that nothing gave up yet is live here: expired decides.)
func (f *sendFlow) firstLive() int {
	i := min(int(f.liveAt), len(f.queue))
	for i < len(f.queue) && (f.queue[i].acked || f.queue[i].msg.abandoned) {
		i++
	}
	f.liveAt = place(i)
	return i
}

// close ends the flow: its last fragment carries the final flag. A flow that never wrote
// anything completes at once.
func (f *sendFlow) close() {
	if f.state != sfOpen {
		return
	}
	if f.nextSN == 1 || f.exception {
		f.state = sfComplete
		return
	}
	if n := len(f.queue); n == 0 || f.queue[n-1].everSent || f.queue[n-1].seq != f.nextSN-1 {
		// The last fragment already left without the flag: send an empty message to carry it.
		f.queue = append(f.queue, &sendFrag{flow: f, msg: &sendMsg{retransmit: true, left: 1}, seq: f.nextSN, fra: fraWhole})
		f.nextSN++
	}
	f.finalSN = f.nextSN - 1
	f.state = sfClosing
}

// abandonQueued gives up every queued message that has not started to leave (and, with
// inFlightToo, every unacknowledged one), e.g. stale video when a new key frame arrives.
func (f *sendFlow) abandonQueued(inFlightToo bool) {
	from := f.firstLive() // the ones before are given up already
	if !inFlightToo {
		from = max(from, f.firstWaiting()) // the ones before left already
	}
	for _, fr := range f.queue[from:] {
		if !fr.msg.abandoned && (inFlightToo || !fr.everSent) {
			fr.msg.giveUp()
		}
	}
}

// abandonWaiting gives up, when the flow's oldest waiting message that has a lifetime
// (media) has waited at least age, every waiting message that has one, in flight or not:
// the rest of a stale group of pictures when its next key frame is written to a receiver
// that fell behind. All of it goes — what is left of a group is no use without its start,
// and a receiver given the younger half of a group shows it broken. Messages without a
// lifetime (codec configuration, commands, data) are never given up this way.
func (f *sendFlow) abandonWaiting(now, age int64) (n int) {
	stale := false
	live := f.queue[f.firstLive():] // the ones before are given up or acknowledged
	for _, fr := range live {
		if m := fr.msg; !m.abandoned && !fr.acked && m.deadline != 0 {
			stale = now-m.born >= age
			break
		}
	}
	if !stale {
		return 0
	}
	for _, fr := range live {
		if m := fr.msg; !m.abandoned && !fr.acked && m.deadline != 0 {
			m.giveUp()
			n++
		}
	}
	return n
}

// groupLost reports whether the flow's current group of pictures (that of its last key
// frame) lost a frame: an inter frame written now would be given up. The key frame's own
// lifetime is looked at here, so that the group is known lost as soon as the key frame
// expires, even while the window keeps the flow from being written.
func (f *sendFlow) groupLost(now int64) bool {
	g := f.grp
	if g == nil {
		return false
	}
	if g.cut == noCut {
		g.key.expired(now)
	}
	return g.cut != noCut
}

// onException handles the receiver's Flow Exception Report: the flow is dead.
func (f *sendFlow) onException() {
	f.exception = true
	for _, fr := range f.queue {
		fr.msg.giveUp()
		if !fr.acked {
			fr.acked = true
			fr.msg.settle(f)
		}
	}
	f.state = sfComplete
}

// forwardSN is the forward sequence number to advertise: everything at or below it has
// been acknowledged or abandoned.
func (f *sendFlow) forwardSN(now int64) uint64 {
	if len(f.queue) == 0 {
		return f.nextSN - 1
	}
	first := f.queue[0]
	if first.msg.expired(now) && (!first.inFlight || first.sentAbandoned) {
		return first.seq
	}
	return first.seq - 1
}

// trim drops abandoned fragments from the head of the queue that are not in flight. The
// receiver learns of them from the forward sequence number, which rides on the next
// fragment sent: so a fragment is dropped only if the one after it is still to be sent.
// The last abandoned one before a fragment in flight (or at the end of the queue) stays,
// and leaves with the abandon flag carrying the forward sequence number; dropping it too
// would leave the receiver waiting for it — and holding the messages after it, already
// acknowledged — until the flow's next write.
func (f *sendFlow) trim(now int64) {
	n := 0
	for n < len(f.queue)-1 {
		fr := f.queue[n]
		if fr.inFlight || !fr.msg.expired(now) || f.queue[n+1].inFlight {
			break
		}
		f.queued -= len(fr.data)
		fr.acked = true // no longer tracked
		fr.msg.settle(f)
		n++
	}
	f.dropHead(n)
}

// ready reports whether the flow has something it may send now.
func (f *sendFlow) ready() bool {
	if f.exception || f.state == sfComplete {
		return false
	}
	i := f.firstWaiting()
	if i == len(f.queue) {
		return false
	}
	return f.outstanding < f.rxWindow || f.queue[i].msg.abandoned
}

// lossCheck tells onAckRange how to recognise spurious losses: an acknowledgement of a
// fragment declared lost that arrives before its retransmission left, or less than window
// after it, acknowledges the original transmission.
type lossCheck struct {
	cc          *congestion
	now, window int64
}

// onAckRange marks the fragments in [from, to] acknowledged (compact then takes them out
// of the queue) and returns the bytes that were in flight and the highest transmission
// sequence number among them. With lc, a fragment declared lost that is found to have
// arrived is reported as a spurious loss.
func (f *sendFlow) onAckRange(from, to uint64, lc *lossCheck) (ackedBytes int, maxTSN uint64) {
	for _, fr := range f.queue[f.indexOf(from):] {
		if fr.seq > to {
			break
		}
		if fr.acked {
			continue
		}
		fr.acked = true
		if fr.lostEp != 0 {
			if lc != nil && (!fr.inFlight || lc.now-fr.sentAt < lc.window) {
				lc.cc.spurious(fr.lostEp)
			}
			fr.lostEp = 0
		}
		if fr.inFlight {
			fr.inFlight = false
			f.outstanding -= fr.wireSize
			ackedBytes += fr.wireSize
			maxTSN = max(maxTSN, fr.tsn)
		}
		f.queued -= len(fr.data)
		fr.msg.settle(f)
	}
	return ackedBytes, maxTSN
}

// compact removes acknowledged fragments from the queue and completes a closing flow
// whose queue has drained.
func (f *sendFlow) compact() { f.compactThrough(^uint64(0)) }

// compactThrough is compact when no fragment numbered above seq is acknowledged (the
// session passes the last number its acknowledgement chunk covered: none in the queue
// was acknowledged before it, since compact runs after every chunk). The fragments up to
// seq that stay — the holes a selective acknowledgement left — move up against the rest,
// and the head moves past the room freed: the work is the fragments acknowledged and the
// holes below them, never the fragments behind, still to be sent.
func (f *sendFlow) compactThrough(seq uint64) {
	e := len(f.queue)
	if seq < ^uint64(0) {
		e = f.indexOf(seq + 1)
	}
	j := e
	for i := e - 1; i >= 0; i-- {
		if fr := f.queue[i]; !fr.acked {
			j--
			f.queue[j] = fr
		}
	}
	f.dropHead(j)
	if f.state == sfClosing && len(f.queue) == 0 {
		f.state = sfComplete
	}
}

// onLoss returns a fragment declared lost to the queue of things to (re)send.
func (fr *sendFrag) onLoss() {
	fr.inFlight = false
	f := fr.flow
	f.outstanding -= fr.wireSize
	f.sendAt = min(f.sendAt, place(f.indexOf(fr.seq)))
	if !fr.msg.retransmit {
		fr.msg.giveUp()
	}
}
