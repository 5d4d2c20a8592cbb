package session

import "github.com/asynkron/protoactor-go/actor"

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

	queue     []*sendFrag // unacknowledged fragments, in sequence order
	nextSN    uint64
	finalSN   uint64
	priority  Priority
	state     sendFlowState
	exception bool

	rxWindow    int // receiver's free buffer, bytes
	outstanding int // bytes in flight
	queued      int // bytes of data in queue
	maxQueued   int

	// owner is told when a message with a receipt is settled (delivered or not): the
	// session (an interface value, not a closure per flow).
	owner flowOwner

	// grp is the group of pictures of the flow's last key frame (nil before one).
	grp *group

	written uint64 // messages written (a statistic)
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
	f.written++
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
	for _, fr := range f.queue {
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
	for _, fr := range f.queue {
		if m := fr.msg; !m.abandoned && !fr.acked && m.deadline != 0 {
			stale = now-m.born >= age
			break
		}
	}
	if !stale {
		return 0
	}
	for _, fr := range f.queue {
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
		f.queue[n] = nil
		n++
	}
	if n > 0 {
		f.queue = f.queue[n:]
	}
}

// ready reports whether the flow has something it may send now.
func (f *sendFlow) ready() bool {
	if f.exception || f.state == sfComplete {
		return false
	}
	for _, fr := range f.queue {
		if !fr.inFlight {
			return f.outstanding < f.rxWindow || fr.msg.abandoned
		}
	}
	return false
}

// lossCheck tells onAckRange how to recognise spurious losses: an acknowledgement of a
// fragment declared lost that arrives before its retransmission left, or less than window
// after it, acknowledges the original transmission.
type lossCheck struct {
	cc          *congestion
	now, window int64
}

// onAckRange removes the fragments in [from, to] from the queue and returns the bytes that
// were in flight and the highest transmission sequence number among them. With lc, a
// fragment declared lost that is found to have arrived is reported as a spurious loss.
func (f *sendFlow) onAckRange(from, to uint64, lc *lossCheck) (ackedBytes int, maxTSN uint64) {
	for _, fr := range f.queue {
		if fr.seq < from || fr.acked {
			continue
		}
		if fr.seq > to {
			break
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
func (f *sendFlow) compact() {
	j := 0
	for _, fr := range f.queue {
		if !fr.acked {
			f.queue[j] = fr
			j++
		}
	}
	for k := j; k < len(f.queue); k++ {
		f.queue[k] = nil
	}
	f.queue = f.queue[:j]
	if f.state == sfClosing && len(f.queue) == 0 {
		f.state = sfComplete
	}
}

// onLoss returns a fragment declared lost to the queue of things to (re)send.
func (fr *sendFrag) onLoss() {
	fr.inFlight = false
	fr.flow.outstanding -= fr.wireSize
	if !fr.msg.retransmit {
		fr.msg.giveUp()
	}
}
