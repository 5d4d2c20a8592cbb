package session

import (
	"net/netip"

	"github.com/asynkron/protoactor-go/actor"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
)

// Inbound is one decrypted and parsed datagram for a session, built by an endpoint reader
// shard. Its chunks refer into a pooled buffer: the session calls Release when done and
// copies whatever it keeps.
type Inbound struct {
	From   netip.AddrPort
	At     time.Duration // receive time on the endpoint clock
	Header rtmfp.Header
	Chunks []InChunk

	buf     []byte
	pool    *InboundPool
	counter *atomic.Int32 // Count's, until Release
}

// InChunk is one chunk of an Inbound packet. For User Data and Next User Data chunks UD is
// the chunk resolved against the one before it (flow, sequence number, FSN).
type InChunk struct {
	Type    byte
	Payload []byte
	UD      rtmfp.UserData
}

// Buffer returns the inbound's buffer, for the reader that fills it.
func (in *Inbound) Buffer() []byte { return in.buf }

// SetBuffer keeps b (the datagram buffer the chunks refer into) with the inbound.
func (in *Inbound) SetBuffer(b []byte) { in.buf = b }

// Count counts the inbound in c until it is released: the endpoint bounds how many
// datagrams wait for one session.
func (in *Inbound) Count(c *atomic.Int32) {
	c.Add(1)
	in.counter = c
}

// Release returns the inbound and its buffer to their pool.
func (in *Inbound) Release() {
	if in.counter != nil {
		in.counter.Add(-1)
		in.counter = nil
	}
	if in.pool != nil {
		in.pool.put(in)
	}
}

// InboundPool recycles Inbound values and their datagram buffers.
type InboundPool struct {
	p       sync.Pool
	bufSize int
}

// NewInboundPool returns a pool whose buffers hold bufSize bytes.
func NewInboundPool(bufSize int) *InboundPool {
	ip := &InboundPool{bufSize: bufSize}
	ip.p.New = func() any {
		return &Inbound{buf: make([]byte, bufSize), Chunks: make([]InChunk, 0, 16), pool: ip}
	}
	return ip
}

// Get returns an Inbound with a full-size buffer and no chunks.
func (ip *InboundPool) Get() *Inbound {
	in := ip.p.Get().(*Inbound)
	in.buf = in.buf[:cap(in.buf)]
	return in
}

func (ip *InboundPool) put(in *Inbound) {
	for i := range in.Chunks {
		in.Chunks[i] = InChunk{}
	}
	in.Chunks = in.Chunks[:0]
	in.From = netip.AddrPort{}
	ip.p.Put(in)
}

// Messages from a session to its upper actor (the Flash layer: a server connection or a
// client). They arrive in the order the session produced them.

// FlowOpened announces a new receive flow. The upper actor answers AcceptFlow, naming the
// actor (itself or a flow actor it spawned) that receives the flow's messages, or
// RejectFlow. Until then the session holds the flow's messages (they count against its
// receive window).
type FlowOpened struct {
	FlowID   uint64
	Metadata []byte
	Assoc    uint64 // the send flow (ours) this flow answers, if HasAssoc
	HasAssoc bool
	// AssocKey is the key our answered send flow was opened with (when HasAssoc).
	AssocKey FlowKey
}

// FlowMessage is one complete message of a receive flow, delivered in order (or as soon
// as complete, for flows that asked for network order).
type FlowMessage struct {
	FlowID uint64
	Data   []byte // the receiver's own: the session keeps no reference to it
	// At is when the datagram that completed the message arrived (Inbound.At, on the
	// endpoint clock), also for a message held until its flow was accepted.
	At time.Duration
}

// FlowFinished says a receive flow ended: the far end closed it and every message was
// delivered, or the session rejected it because its sender broke a limit (a message too
// large, a stall, a receive budget; docs/security.md). No message follows it.
type FlowFinished struct {
	FlowID uint64
}

// SendFlowRejected says the far end refused one of our send flows with a Flow Exception
// Report (e.g. a player closed its stream).
type SendFlowRejected struct {
	Key  FlowKey
	Code uint64
}

// AddressChanged says the session's far address moved (RFC 7016 §3.5.4 mobility).
type AddressChanged struct {
	From, To netip.AddrPort
}

// RTTChanged tells the smoothed round-trip time of the session, when it has moved
// noticeably since last told.
type RTTChanged struct {
	Smoothed time.Duration
}

// QueryTraffic asks a session (or an RTMP connection, which answers it too) for its
// Traffic, answered to the sender (a request).
type QueryTraffic struct{}

// Traffic is what a session has carried: the bytes of its datagrams (an RTMP
// connection: of its TCP stream) in and out, and its smoothed round-trip time (0 if
// unknown).
type Traffic struct {
	In, Out uint64
	RTT     time.Duration
}

// Closing says the session is ending; the upper actor is stopped right after.
type Closing struct {
	Reason  CloseReason
	Traffic Traffic // what the session carried until then
}

// Messages from the upper actor (or any actor holding the session's PID) to the session.

// Write sends one message on the send flow named by Key, opening the flow if needed.
type Write struct {
	Key      FlowKey
	Data     []byte   // not modified by the session; may be shared between sessions
	Priority Priority // of the flow, fixed by its first write
	// Lifetime, if non-zero, is how long the message may take to be delivered before it is
	// abandoned (partial reliability for live media). Zero means fully reliable.
	Lifetime time.Duration
	// NoRetransmit abandons lost fragments instead of resending them.
	NoRetransmit bool
	// AbandonWaiting, if positive, first gives up the flow's older messages that have a
	// lifetime — all of them — if the oldest has waited at least this long (e.g. the
	// stale frames of a group of pictures when its next key frame is written and the
	// receiver is behind). Messages without a lifetime are never given up this way.
	AbandonWaiting time.Duration
	// Frame says whether the message is a video frame that the flow's next ones refer to
	// (see Frame). A frame given up takes with it the rest of its group, queued or
	// written later, until the next FrameKey.
	Frame Frame
	// Receipt, if set, asks for a Delivered or Abandoned message about this one (and for
	// Refused if the flow's queue is full).
	Receipt *Receipt
}

// Frame places a message of a send flow in a group of pictures: a key frame starts a
// group, each inter frame refers to the frames of its group before it. A receiver given
// a frame without one it refers to shows it broken, so when the flow gives a frame up
// (its lifetime passed, lost without retransmission, abandoned), it gives up with it the
// frames of its group written after it, those still queued and those written later: they
// are abandoned (receipts say Abandoned) until the next key frame. A key frame whose
// lifetime passes while it waits behind a collapsed window is so given up with its whole
// group, where the younger inter frames, not yet expired, would otherwise still be sent.
type Frame uint8

const (
	FrameNone  Frame = iota // not part of a group: audio, data, codec configuration
	FrameKey                // starts a group of pictures
	FrameInter              // refers to the frames of its group before it
)

// Delivered says every fragment of the message with Receipt tag Tag was acknowledged.
type Delivered struct {
	Key FlowKey
	Tag uint64
}

// Abandoned says the message with receipt tag Tag was given up (lifetime expired, lost
// without retransmission, abandoned by a newer one, a frame of its group before it given
// up, or its flow was rejected); some of its fragments may have arrived.
type Abandoned struct {
	Key FlowKey
	Tag uint64
}

// Refused says the message with receipt tag Tag was not queued: the flow's or the
// session's send buffer is full, or the flow or session is closing.
type Refused struct {
	Key FlowKey
	Tag uint64
}

// CloseFlow ends the send flow named by Key once its queued messages are delivered.
type CloseFlow struct{ Key FlowKey }

// AbandonQueued gives up the messages of a send flow that have not started to leave
// (and, with InFlight, those not yet acknowledged).
type AbandonQueued struct {
	Key      FlowKey
	InFlight bool
}

// AcceptFlow accepts a receive flow: its messages (FlowMessage, then FlowFinished) go to
// PID, which the session watches; if PID stops (a flow actor that crashed and was stopped
// by its supervisor), the flow is rejected with a Flow Exception Report — a crash in one
// flow ends that flow only.
type AcceptFlow struct {
	FlowID uint64
	PID    *actor.PID
}

// RejectFlow refuses a receive flow: its data is discarded and the far end is sent a Flow
// Exception Report with Code.
type RejectFlow struct {
	FlowID uint64
	Code   uint64
}

// Flow exception codes the transport rejects a receive flow with when its sender broke a
// limit (RFC 7016 §2.3.16 leaves the codes to the application; Flash-era software sends 0
// and ignores them). docs/security.md lists them with the limits.
const (
	ExceptionRejected        uint64 = 0  // refused or closed by the upper layer
	ExceptionMessageTooLarge uint64 = 10 // a message beyond Config.MaxMessage
	ExceptionStalled         uint64 = 11 // fragments held with no progress for Config.FlowStallTimeout
	ExceptionSessionBudget   uint64 = 12 // the session's receive buffers beyond Config.RecvBudget
	ExceptionAddressBudget   uint64 = 13 // its source address's receive buffers beyond Budget's share
)

// Close ends the session in an orderly way (Session Close Request to the far end).
type Close struct{ Reason CloseReason }

// SetKeepalive changes the session's keepalive period (a client learns it from the
// server's Set Keepalive Timers event).
type SetKeepalive struct{ Period time.Duration }

// SendFIHello forwards an initiator's IHello to the far end of this session (RFC 7016
// §3.5.1.5): the P2P introduction of a rendezvous server.
type SendFIHello struct {
	EPD   []byte
	Reply rtmfp.Address
	Tag   []byte
}

// CloseReason says why a session ended.
type CloseReason uint8

const (
	ReasonNone          CloseReason = iota
	ReasonLocal                     // closed by this side's application or upper layer
	ReasonRemote                    // the far end sent a Session Close Request or Ack
	ReasonIdle                      // nothing received for the idle timeout
	ReasonRetransmit                // data unacknowledged for the retransmit limit
	ReasonShutdown                  // the endpoint is stopping
	ReasonFailure                   // this session's actor (or its upper actor) crashed
	ReasonFlowViolation             // the far end broke flow rules beyond tolerance
	// ReasonUnheard: nothing came from the far end after the handshake. Close with it
	// ends a session that has heard nothing, without sending a close; one that has heard
	// from its far end ignores it.
	ReasonUnheard
)

var reasonNames = [...]string{"none", "local", "remote", "idle", "retransmit-limit", "shutdown", "failure", "flow-violation", "unheard"}

func (r CloseReason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}
