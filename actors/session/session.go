// Package session is the RTMFP session actor: one actor per session, holding everything
// that has to be decided per packet — timestamps and echo, acknowledgements, the receive
// flows (reassembly, ordering), the send flows (fragmentation, retransmission,
// abandonment), round-trip estimation, congestion control and pacing, keepalive, address
// mobility, close — and the encryption of outgoing packets.
//
// Datagrams reach it already decrypted and parsed (Inbound, built by an endpoint reader
// shard). Complete messages leave it to its upper actor — the Flash layer, a child of the
// session — and messages to send arrive from the upper actor or from any other actor
// (publications write straight to their subscribers' sessions) as Write.
//
// Transport state stays in the session rather than in one actor per flow: congestion
// control and packet assembly span every flow of the session and must see all send queues
// synchronously. The Flash meaning of flows lives in the upper actor and its children.
package session

import (
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/live"
	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// Writer sends datagrams; an endpoint's socket implements it.
type Writer interface {
	WriteDatagram(b []byte, to netip.AddrPort) error
}

// Clock is the endpoint's monotonic clock, shared by its sessions.
type Clock interface {
	Now() time.Duration
}

// Config holds a session's tunables. Zero values take defaults.
type Config struct {
	// Keepalive is how long the session may be silent in both directions before it
	// pings the far end (default 15 s).
	Keepalive time.Duration
	// IdleTimeout ends a session from which nothing was received for this long
	// (default 120 s).
	IdleTimeout time.Duration
	// RetransmitLimit ends a session whose data stays unacknowledged this long (default 60 s).
	RetransmitLimit time.Duration
	// CloseLinger is how long a session answers a far close before it is forgotten
	// (RFC 7016 uses 19 s; default 19 s).
	CloseLinger time.Duration
	// NearCloseTimeout bounds how long a session waits for its close to be acknowledged
	// (default 5 s; RFC 7016 allows 90 s).
	NearCloseTimeout time.Duration
	// FlowBuffer is each receive flow's buffer (advertised window), default 256 KiB.
	FlowBuffer int
	// SendQueue bounds the bytes queued on one send flow, default 4 MiB.
	SendQueue int
	// SessionSendBuffer bounds the bytes queued on all send flows of a session together,
	// default 16 MiB.
	SessionSendBuffer int
	// MaxRecvFlows bounds the receive flows of a session, default 64.
	MaxRecvFlows int
	// MaxMessage is the largest message a receive flow delivers, default 4 MiB: the
	// flow of a larger one is rejected (ExceptionMessageTooLarge). Messages larger than
	// FlowBuffer are delivered: the window bounds what is buffered out of order.
	MaxMessage int
	// RecvBudget bounds what the receive flows of one session hold together (fragments,
	// the messages being assembled, messages waiting for their flow to be accepted, with
	// their bookkeeping), default 5 MiB: the flow that grows beyond it is rejected
	// (ExceptionSessionBudget). See Budget for the bounds per address and in all.
	RecvBudget int
	// FlowStallTimeout rejects a receive flow that holds fragments and makes no progress
	// (its cumulative acknowledgement does not move) for this long, default 30 s
	// (ExceptionStalled).
	FlowStallTimeout time.Duration
	// LosslessMedia gives the live media of every binding a lossless policy
	// (live.Policy.Lossless): nothing given up for its age, only for the backlog bounds.
	LosslessMedia bool
}

func (c *Config) defaults() {
	if c.Keepalive <= 0 {
		c.Keepalive = 15 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 120 * time.Second
	}
	if c.RetransmitLimit <= 0 {
		c.RetransmitLimit = 60 * time.Second
	}
	if c.CloseLinger <= 0 {
		c.CloseLinger = 19 * time.Second
	}
	if c.NearCloseTimeout <= 0 {
		c.NearCloseTimeout = 5 * time.Second
	}
	if c.FlowBuffer <= 0 {
		c.FlowBuffer = 256 << 10
	}
	if c.SendQueue <= 0 {
		c.SendQueue = 4 << 20
	}
	if c.SessionSendBuffer <= 0 {
		c.SessionSendBuffer = 16 << 20
	}
	if c.MaxRecvFlows <= 0 {
		c.MaxRecvFlows = 64
	}
	if c.MaxMessage <= 0 {
		c.MaxMessage = 4 << 20
	}
	if c.RecvBudget <= 0 {
		c.RecvBudget = 5 << 20
	}
	if c.FlowStallTimeout <= 0 {
		c.FlowStallTimeout = 30 * time.Second
	}
}

// Shared is what every session of an endpoint has in common. The endpoint builds it once
// (NewShared) and hands the same pointer to each session: a server holds tens of
// thousands of sessions, and a copy in each would cost them all.
type Shared struct {
	Writer Writer
	Clock  Clock
	// Scheduler wakes the sessions at their deadlines (NewTimers; required).
	Scheduler Scheduler
	Config    Config
	Log       *zap.Logger
	Stats     *Stats
	// OnClosing is called once when a session stops being open (it may linger, closed,
	// to answer the far end's close); OnClosed when its actor stops.
	OnClosing func(localID uint32)
	OnClosed  func(localID uint32, reason CloseReason)
	// OnFIHello receives a session's Forwarded IHellos (its far end, a rendezvous server,
	// introduces an initiator that wants to reach us). Arguments are copies.
	OnFIHello func(epd []byte, reply netip.AddrPort, tag []byte)
	// Dump logs every packet sent, in hex, at debug level.
	Dump bool
	// Budget bounds the receive buffers per source address and in all, shared by every
	// endpoint of a server (nil: NewShared makes one without those bounds; each session
	// keeps its own, Config.RecvBudget).
	Budget *Budget

	recvLimits recvLimits  // of every receive flow (NewShared)
	refusals   *zap.Logger // Log, at most one line per second per message: what a hostile peer causes
	made       bool        // by NewShared
}

// NewShared returns a copy of sh with the configuration's defaults filled in (and
// statistics of its own if sh has none), for the sessions' Params.
func NewShared(sh Shared) *Shared {
	if sh.Scheduler == nil {
		panic("session: Shared.Scheduler is required (NewTimers)")
	}
	sh.Config.defaults()
	sh.recvLimits = defaultRecvLimits
	sh.recvLimits.capacity = sh.Config.FlowBuffer
	sh.recvLimits.maxMessage = sh.Config.MaxMessage
	if sh.Stats == nil {
		sh.Stats = &Stats{}
	}
	if sh.Log == nil {
		sh.Log = zap.NewNop()
	}
	if sh.Budget == nil {
		sh.Budget = NewBudget(0, 0)
	}
	sh.refusals = actors.Sampled(sh.Log)
	sh.made = true
	return &sh
}

// Params is everything a session actor is created with.
type Params struct {
	*Shared                 // built by NewShared, the same for every session of an endpoint
	Role    cryptoutil.Role // Responder for sessions a server accepted
	LocalID uint32          // our session ID (what the far end puts in its packets)
	FarID   uint32          // the far end's session ID (what we put in ours)
	Addr    netip.AddrPort
	PeerID  cryptoutil.PeerID // the far end's peer ID
	Encrypt *cryptoutil.Encrypter
	// Upper is the Flash layer, spawned with UpperKind as the session's child (nil: none).
	Upper     actor.Actor
	UpperKind *actors.Kind
	// FirstTimestamp, if HasFirstTimestamp, is the far end's last handshake timestamp,
	// so the first packets already carry an echo.
	FirstTimestamp    uint16
	HasFirstTimestamp bool
	FirstTimestampAt  time.Duration
}

// KeyScheduleIdle is how long a session may send nothing before its encrypter's AES key
// schedule is released (the endpoint's shard does the same for its decrypter after as
// long without a datagram): ~500 bytes each that a held, idle session does not need. The
// next packet rebuilds it (~0.15 µs and one allocation).
const KeyScheduleIdle = 2 * time.Second

type state uint8

const (
	stOpen state = iota
	stNearClose
	stFarCloseLinger
	stClosed
)

// sessionParams is what a session keeps of its Params once built: a server holds tens of
// thousands of sessions, and the rest is only needed to build one.
type sessionParams struct {
	*Shared
	Role    cryptoutil.Role
	LocalID uint32
	FarID   uint32
	Encrypt *cryptoutil.Encrypter
	spawn   *upperSpawn // the upper actor to spawn when started; nil once spawned
}

// upperSpawn is the Flash layer a session spawns when it starts: held behind a pointer,
// since a session needs it only until then.
type upperSpawn struct {
	upper actor.Actor
	kind  *actors.Kind
}

// Session is the session actor.
type Session struct {
	p         sessionParams
	keepalive time.Duration // Config.Keepalive until the upper layer sets another
	self      *actor.PID
	upper     *actor.PID
	// The small fields are kept together: a server holds tens of thousands of sessions,
	// and padding between them would cost a larger allocation size class.
	st                      state
	why                     CloseReason
	haveTsRx, haveEchoRx    bool
	pingOutstanding         bool
	sendClose, sendCloseAck bool
	heard                   bool   // a packet came from the far end (a pending session is one not heard from)
	tsRx, tsEchoRx          uint16 // timestamps
	rttShown                uint16 // 1 + the smoothed RTT in ms last told the upper actor; 0: never

	addr     netip.AddrPort
	mobility *mobilityCheck // the far end's new address being checked, nil if none

	// Timestamps.
	tsRxAt                 time.Duration
	lastRecv, lastSend     time.Duration
	tcrRecvAt              time.Duration
	lastKeepalivePing      time.Duration
	pendingPings           [][]byte // ping payloads to answer
	closeSentAt, closeFrom time.Duration

	// Flows.
	recv        flowMap[uint64, *recvFlow]
	send        flowMap[uint64, *sendFlow]
	sendByKey   flowMap[FlowKey, *sendFlow]
	byPrio      []*sendFlow // send flows, highest priority first, in creation order within one
	nextFlowID  uint64
	rr          [numPriorities]uint32 // round-robin cursors within each priority
	ackDeadline time.Duration         // delayed-ack deadline, 0 if none
	fihellos    []SendFIHello
	channels    *channel // bindings of channels (BindChannel), a list

	// Loss detection and congestion.
	rtt          rttEstimator
	cc           congestion
	pace         pacer
	flight       []*sendFrag // fragments in flight, transmission order
	outstanding  int
	nextTSN      uint64
	rtoDeadline  time.Duration
	unackedSince time.Duration // when the oldest unacknowledged data was first sent, 0 if none
	persistAt    time.Duration

	// Bytes of the datagrams received and sent (QueryTraffic: the operator's view of a
	// client); plain counters, written by the actor alone.
	bytesIn, bytesOut uint64

	timer       TimerSlot // in p.Scheduler
	dataPackets uint32    // data packets received since the last ack
	timerAt     time.Duration
	sc          *scratch     // buffers lent for the message being processed
	rx          *recvAccount // the session's part of the receive budgets (nil until it holds data)
}

// KindOptions are what every session of an endpoint shares.
type KindOptions struct {
	Log *zap.Logger
	// Middleware wraps the session actor's receive function (instrumentation, fault
	// injection in tests); it runs inside the panic capture.
	Middleware []actor.ReceiverMiddleware
	// Dispatcher runs the session actors' mailboxes (nil: protoactor's default).
	Dispatcher actor.Dispatcher
}

// NewKind returns the props every session of an endpoint is spawned with (Spawn): a
// compact mailbox, the dispatcher, and the strategy that stops an upper actor that
// panics. Their parent's strategy must stop a session that failed, never restart it. Panics in a session are captured (supervision.Repanic) for the
// supervisor's log.
func NewKind(o KindOptions) *actors.Kind {
	// A compact mailbox (actors.CompactMailbox): no queue memory while idle, for every
	// session a server holds.
	opts := []actor.PropsOption{actor.WithMailbox(actors.CompactMailbox())}
	if len(o.Middleware) > 0 {
		// Receive captures its own panics (supervision.Repanic); the middleware of tests
		// and instrumentation gets the same capture around it.
		mw := append([]actor.ReceiverMiddleware{supervision.Middleware}, o.Middleware...)
		opts = append(opts, actor.WithReceiverMiddleware(mw...))
	}
	if o.Dispatcher != nil {
		opts = append(opts, actor.WithDispatcher(o.Dispatcher))
	}
	opts = append(opts, actor.WithSupervisor(supervision.StopOnPanic(o.Log, "flash-layer", nil)))
	return actors.NewKind(opts...)
}

// Spawn starts the session of p, of kind k (NewKind), as a child of parent (an endpoint's
// handshake actor, from its Receive). Sessions are never restarted: their supervisor
// stops one that failed.
func Spawn(k *actors.Kind, parent actor.SpawnerContext, p Params) *actor.PID {
	return k.Spawn(newSession(p), parent.Spawn)
}

func newSession(p Params) *Session {
	if p.Shared == nil || !p.Shared.made {
		panic("session: Params.Shared must come from NewShared")
	}
	s := &Session{
		p: sessionParams{
			Shared: p.Shared, Role: p.Role, LocalID: p.LocalID, FarID: p.FarID, Encrypt: p.Encrypt,
		},
		keepalive: p.Config.Keepalive, addr: p.Addr,
		nextFlowID: 1, rtt: newRTTEstimator(), cc: newCongestion(),
	}
	if p.Upper != nil {
		s.p.spawn = &upperSpawn{upper: p.Upper, kind: p.UpperKind}
	}
	if p.HasFirstTimestamp {
		s.tsRx, s.tsRxAt, s.haveTsRx = p.FirstTimestamp, p.FirstTimestampAt, true
	}
	return s
}

// timerFired is sent by the session's timer.
type timerFired struct{}

// Receive implements actor.Actor.
func (s *Session) Receive(ctx actor.Context) {
	defer supervision.Repanic()
	s.sc = getScratch()
	s.sc.ctx = ctx
	defer func() { putScratch(s.sc); s.sc = nil }()
	switch m := ctx.Message().(type) {
	case *Inbound:
		s.onInbound(ctx, m)
		m.Release()
	case *Write:
		s.onWrite(ctx, m)
	case *live.Media:
		s.onMedia(ctx, m)
	case *live.Batch:
		s.onBatch(ctx, m)
	case *live.Bind:
		s.onBind(ctx, m)
	case *live.Unbind:
		s.onUnbind(ctx, m)
	case *live.Gate:
		s.onGate(m)
	case *live.Resync:
		s.onResync(m)
	case *timerFired:
		s.timerAt = 0
		s.onTimer(ctx)
	case *CloseFlow:
		if f := s.sendByKey.get(m.Key); f != nil {
			f.close()
			s.sendByKey.del(m.Key)
			s.flush(ctx)
		}
	case *AbandonQueued:
		if f := s.sendByKey.get(m.Key); f != nil {
			f.abandonQueued(m.InFlight)
			s.flush(ctx)
		}
	case *AcceptFlow:
		s.onAcceptFlow(ctx, m)
	case *RejectFlow:
		if f := s.recv.get(m.FlowID); f != nil {
			before := f.footprint()
			f.reject(m.Code)
			s.charge(f.footprint() - before)
			s.scheduleAck(f)
			s.flush(ctx)
		}
	case *Close:
		if m.Reason == ReasonUnheard {
			s.onUnheard(ctx)
			return
		}
		s.beginClose(ctx, m.Reason)
	case *SetKeepalive:
		if m.Period > 0 {
			s.keepalive = m.Period
			s.schedule()
		}
	case *QueryTraffic:
		ctx.Respond(&Traffic{In: s.bytesIn, Out: s.bytesOut, RTT: s.rtt.srtt})
	case *SendFIHello:
		s.fihellos = append(s.fihellos, *m)
		s.flush(ctx)
	case *actor.Started:
		s.self = ctx.Self()
		now := s.now()
		s.lastRecv, s.lastSend = now, now
		if sp := s.p.spawn; sp != nil {
			s.upper = spawnUpper(ctx, sp.kind, sp.upper)
			s.p.spawn = nil
		}
		s.p.Stats.Opened.Add(1)
		s.flush(ctx)
	case *actor.Terminated:
		if s.upper != nil && m.Who.Equal(s.upper) {
			s.upper = nil
			switch s.st {
			case stOpen:
				// The Flash layer crashed or stopped: the session has no purpose left.
				s.beginClose(ctx, ReasonFailure)
			case stClosed:
				ctx.Stop(ctx.Self()) // finish was waiting for it
			}
			return
		}
		s.onFlowActorGone(ctx, m.Who)
	case *actor.Stopping:
		s.onStopping(ctx)
	case *actor.Restarting:
		// A session is never restarted (its strategy stops it); nothing to keep.
	}
}

// now returns the endpoint clock's reading. Within one message (Receive) the clock is
// read once: a batch of media asks for the time for every message it queues, then to
// schedule and to flush, and each reading is a clock read through the vDSO, which
// showed in a fan-out's profile (docs/benchmarks.md). The steps of one message take
// microseconds; an event loop such as rtmfp-cpp's reads its clock once per turn too.
func (s *Session) now() time.Duration {
	if sc := s.sc; sc != nil && sc.ctx != nil {
		if !sc.hasNow {
			sc.now, sc.hasNow = s.p.Clock.Now(), true
		}
		return sc.now
	}
	return s.p.Clock.Now()
}

// reportRTT tells the upper actor the smoothed round-trip time when it has moved by more
// than an eighth (at least 1 ms) since it was last told: what an application shows as the
// client's ping, without a message per packet.
func (s *Session) reportRTT(ctx actor.Context) {
	if s.upper == nil {
		return
	}
	ms := int(min(s.rtt.srtt/time.Millisecond, 65000))
	if s.rttShown != 0 {
		shown := int(s.rttShown) - 1
		if d := ms - shown; d <= max(1, shown/8) && -d <= max(1, shown/8) {
			return
		}
	}
	s.rttShown = uint16(ms + 1)
	ctx.Send(s.upper, &RTTChanged{Smoothed: s.rtt.srtt})
}

// ticks converts the session clock to RTMFP's 4-ms timestamp.
func ticks(d time.Duration) uint16 { return uint16(d / timestampTick) }

// onInbound processes one packet.
func (s *Session) onInbound(ctx actor.Context, in *Inbound) {
	if s.st == stClosed {
		return
	}
	now := s.now()
	h := in.Header
	mode := h.Mode()
	if mode == rtmfp.ModeStartup || mode == byte(s.ownMode()) {
		s.p.Stats.DropBadMode.Add(1)
		return
	}
	s.lastRecv, s.heard = now, true
	s.pingOutstanding = false
	s.bytesIn += uint64(len(in.buf))
	if h.HasTimestamp() && (!s.haveTsRx || h.Timestamp != s.tsRx) {
		s.tsRx, s.tsRxAt, s.haveTsRx = h.Timestamp, in.At, true
	}
	if h.HasEcho() && (!s.haveEchoRx || h.TimestampEcho != s.tsEchoRx) {
		s.tsEchoRx, s.haveEchoRx = h.TimestampEcho, true
		if d := ticks(now) - h.TimestampEcho; d < 32768 {
			s.rtt.sample(time.Duration(d) * timestampTick)
			s.reportRTT(ctx)
		}
	}
	if h.Flags&rtmfp.FlagTC != 0 {
		s.tcrRecvAt = now
	}
	if in.From != s.addr && s.st == stOpen {
		s.checkMobility(in.From, now)
	}

	preOutstanding := s.outstanding
	var maxTSN uint64
	ackedBytes, anyAck, seenData := 0, false, false
	exceptionsEnd := 0 // the packet's exception reports read are in Chunks[:exceptionsEnd]
	for i := range in.Chunks {
		c := &in.Chunks[i]
		if s.st == stFarCloseLinger && c.Type != rtmfp.ChunkClose {
			continue
		}
		switch c.Type {
		case rtmfp.ChunkUserData, rtmfp.ChunkNextUserData:
			seenData = true
			s.onUserData(ctx, &c.UD, in.At)
		case rtmfp.ChunkAckRanges:
			a, err := rtmfp.ParseAckRanges(c.Payload, s.scr().acks)
			if err != nil {
				s.p.Stats.DropMalformedChunk.Add(1)
				continue
			}
			b, t := s.onAck(a, now)
			ackedBytes += b
			maxTSN = max(maxTSN, t)
			anyAck = true
		case rtmfp.ChunkAckBitmap:
			bm, err := rtmfp.ParseAckBitmap(c.Payload)
			if err != nil {
				s.p.Stats.DropMalformedChunk.Add(1)
				continue
			}
			b, t := s.onAck(bm.AsRanges(s.scr().acks), now)
			ackedBytes += b
			maxTSN = max(maxTSN, t)
			anyAck = true
		case rtmfp.ChunkPing:
			if len(s.pendingPings) < 4 {
				s.pendingPings = append(s.pendingPings, append([]byte(nil), c.Payload...))
			}
		case rtmfp.ChunkPingReply:
			s.onPingReply(ctx, c.Payload, in.From, now)
		case rtmfp.ChunkBufferProbe:
			p, err := rtmfp.ParseBufferProbe(c.Payload)
			if err != nil {
				s.p.Stats.DropMalformedChunk.Add(1)
			} else if f := s.recv.get(p.FlowID); f != nil {
				f.needAck, f.ackNow = true, true
				s.scheduleAck(f)
			}
		case rtmfp.ChunkFlowException:
			exceptionsEnd = i + 1 // applied after the packet's acknowledgements, below
		case rtmfp.ChunkFIHello:
			fh, err := rtmfp.ParseFIHello(c.Payload)
			if err != nil {
				s.p.Stats.DropMalformedChunk.Add(1)
			} else if s.p.OnFIHello != nil && s.st == stOpen {
				s.p.OnFIHello(append([]byte(nil), fh.EPD...), fh.ReplyAddress.AddrPort, append([]byte(nil), fh.Tag...))
			}
		case rtmfp.ChunkClose:
			s.onCloseRequest(ctx, now)
		case rtmfp.ChunkCloseAck:
			s.onCloseAck(ctx)
			return
		default:
			// 0xEC ECN reports and unknown chunk types are ignored (RFC 7016 §2.3).
		}
	}
	if seenData {
		s.dataPackets++
	}
	if anyAck {
		s.afterAcks(ackedBytes, maxTSN, preOutstanding, now)
	}
	if exceptionsEnd > 0 {
		// A receiver that rejects a flow acknowledges what it took in the same packet,
		// before or after the report (rtmfp-cpp puts the report first): settle
		// that as delivered before the rest of the flow is abandoned. (Reports the loop
		// above skipped, after a close, stay unread.)
		for i := range in.Chunks[:exceptionsEnd] {
			if c := &in.Chunks[i]; c.Type == rtmfp.ChunkFlowException {
				x, err := rtmfp.ParseFlowException(c.Payload)
				if err != nil {
					s.p.Stats.DropMalformedChunk.Add(1)
				} else {
					s.onFlowException(ctx, x)
				}
			}
		}
	}
	if s.st == stClosed {
		return
	}
	s.flush(ctx)
}

func (s *Session) ownMode() int {
	if s.p.Role == cryptoutil.Responder {
		return rtmfp.ModeResponder
	}
	return rtmfp.ModeInitiator
}

// onUserData feeds one fragment, which arrived at at, to its receive flow, creating the
// flow on first sight, and keeps the receive budgets: what the flow holds afterwards is
// charged to the session, its address and the server (Budget).
func (s *Session) onUserData(ctx actor.Context, ud *rtmfp.UserData, at time.Duration) {
	if ud.FlowID == 0 && ud.Flags == 0 && ud.SequenceNumber == 0 && ud.Data == nil {
		// Malformed chunk: the shard left UD zero.
		s.p.Stats.DropMalformedChunk.Add(1)
		return
	}
	f := s.recv.get(ud.FlowID)
	if f == nil {
		f = s.openRecvFlow(ctx, ud)
		if f == nil {
			return
		}
	}
	if s.p.Budget.full() && f.wouldGrow(ud.Flags, ud.SequenceNumber) {
		// Every session together holds the server's budget: nothing more is held until
		// flows deliver or are rejected; the sender retransmits.
		s.p.Stats.DropFragment.Add(1)
		if s.p.Stats.BudgetServer.Add(1)%64 == 1 {
			s.p.refusals.Warn("receive fragments refused: the server's receive budget is used up",
				zap.Int64("bytes", s.p.Budget.Used()), zap.Uint64("refused", s.p.Stats.BudgetServer.Load()))
		}
		f.needAck, f.ackNow = true, true // the window again
		s.scheduleAck(f)
		return
	}
	before, cum, waited := f.footprint(), f.cumulative(), f.waiting()
	var err error
	s.scr().msgs, err = f.onData(ud.Flags, ud.SequenceNumber, ud.FSN(), ud.Data, s.scr().msgs[:0])
	for i, m := range s.scr().msgs {
		switch {
		case f.target != nil:
			ctx.Send(f.target, &FlowMessage{FlowID: f.id, Data: m, At: at})
		case f.state != rfRejected:
			// Not accepted yet (the flow may already be complete): kept for AcceptFlow.
			f.hold(m, at)
		}
		s.scr().msgs[i] = nil
	}
	switch {
	case errors.Is(err, errMessageTooLarge):
		s.p.Stats.RejectedTooLarge.Add(1)
		s.p.refusals.Warn("receive flow rejected: a message beyond the largest accepted", zap.Uint32("session", s.p.LocalID),
			zap.Stringer("addr", s.addr), zap.Int("max_message", s.p.Config.MaxMessage), zap.Uint64("rejected", s.p.Stats.RejectedTooLarge.Load()))
		s.rejectFlow(ctx, f, ExceptionMessageTooLarge, before)
		return
	case err != nil:
		s.p.Stats.DropFragment.Add(1)
	}
	if over := s.charge(f.footprint() - before); over != 0 {
		s.rejectOverBudget(ctx, f, over)
		return
	}
	if f.waiting() {
		if !waited || f.cumulative() != cum {
			f.progressed(s.now())
		}
		s.armStallCheck(f)
	}
	s.scheduleAck(f)
	if f.state == rfComplete && !f.finished && f.target != nil {
		f.finished = true
		ctx.Send(f.target, &FlowFinished{FlowID: f.id})
	}
}

// rejectFlow rejects a receive flow for a limit its sender broke: what it held is freed
// (charged is what the budgets count of it: its footprint, or its footprint before the
// fragment being handled if that was not charged), the sender gets a flow exception
// with code, and the flow's actor, if any, is told the flow finished.
func (s *Session) rejectFlow(ctx actor.Context, f *recvFlow, code uint64, charged int) {
	s.p.Stats.RejectedFlows.Add(1)
	f.reject(code)
	s.charge(f.footprint() - charged)
	s.scheduleAck(f)
	if f.target != nil && !f.finished {
		f.finished = true
		ctx.Send(f.target, &FlowFinished{FlowID: f.id})
	}
}

// rejectOverBudget rejects the flow that took the session, or its source address, past
// its receive budget.
func (s *Session) rejectOverBudget(ctx actor.Context, f *recvFlow, code uint64) {
	switch code {
	case ExceptionSessionBudget:
		s.p.Stats.BudgetSession.Add(1)
		s.p.refusals.Warn("receive flow rejected: the session holds its receive budget", zap.Uint32("session", s.p.LocalID),
			zap.Stringer("addr", s.addr), zap.Int("budget", s.p.Config.RecvBudget), zap.Uint64("rejected", s.p.Stats.BudgetSession.Load()))
	case ExceptionAddressBudget:
		s.p.Stats.BudgetAddress.Add(1)
		s.p.refusals.Warn("receive flow rejected: the sessions of its address hold their receive budget", zap.Uint32("session", s.p.LocalID),
			zap.Stringer("addr", s.addr), zap.Int64("budget", s.p.Budget.perAddress), zap.Uint64("rejected", s.p.Stats.BudgetAddress.Load()))
	}
	s.rejectFlow(ctx, f, code, f.footprint())
}

// armStallCheck makes sure the session looks at f for a stall in time.
func (s *Session) armStallCheck(f *recvFlow) {
	at := f.asm.progressAt + s.p.Config.FlowStallTimeout
	if rx := s.account(); rx.stallAt == 0 || at < rx.stallAt {
		rx.stallAt = at
	}
}

// checkStalls rejects the receive flows that hold fragments and made no progress for
// FlowStallTimeout (ExceptionStalled), and sets the next check.
func (s *Session) checkStalls(ctx actor.Context, now time.Duration) {
	next := time.Duration(0)
	for f := range s.recv.values() {
		if f.state != rfOpen || !f.waiting() {
			continue
		}
		at := f.asm.progressAt + s.p.Config.FlowStallTimeout
		if now >= at {
			s.p.Stats.RejectedStalled.Add(1)
			s.p.refusals.Warn("receive flow rejected: no progress", zap.Uint32("session", s.p.LocalID), zap.Stringer("addr", s.addr),
				zap.Uint64("flow", f.id), zap.Duration("for", now-f.asm.progressAt), zap.Uint64("rejected", s.p.Stats.RejectedStalled.Load()))
			s.rejectFlow(ctx, f, ExceptionStalled, f.footprint())
			continue
		}
		if next == 0 || at < next {
			next = at
		}
	}
	s.rx.stallAt = next
}

// scheduleAck arranges for the acknowledgement f owes: with the next packet if it is
// urgent, after the delayed-ack time otherwise.
func (s *Session) scheduleAck(f *recvFlow) {
	if f.ackNow {
		s.ackDeadline = s.now()
	} else if f.needAck && s.ackDeadline == 0 {
		s.ackDeadline = s.now() + delayedAckTime
	}
}

// openRecvFlow creates the receive flow of a fragment with an unknown flow ID. A flow
// whose first fragment we see has no options, has unknown mandatory options or would
// exceed the flow limit is rejected at once (RFC 7016 §3.6.3.1).
func (s *Session) openRecvFlow(ctx actor.Context, ud *rtmfp.UserData) *recvFlow {
	limits := &s.p.recvLimits
	var opts rtmfp.FlowOptions
	var err error
	if ud.HasOptions() {
		opts, err = rtmfp.ParseFlowOptions(ud.Options)
	}
	if s.recv.len() >= s.p.Config.MaxRecvFlows {
		s.p.Stats.RejectedFlows.Add(1)
		if s.recv.len() >= 2*s.p.Config.MaxRecvFlows {
			return nil // not even worth remembering: no ack, no exception
		}
		f := newRecvFlow(ud.FlowID, nil, 0, false, limits)
		f.reject(0)
		s.recv.set(ud.FlowID, f)
		return f
	}
	f := newRecvFlow(ud.FlowID, append([]byte(nil), opts.Metadata...), opts.ReturnFlowID, opts.HasReturnFlow, limits)
	s.recv.set(ud.FlowID, f)
	if !ud.HasOptions() || err != nil || !opts.Acceptable() || (opts.HasReturnFlow && s.send.get(opts.ReturnFlowID) == nil) {
		s.p.Stats.RejectedFlows.Add(1)
		f.reject(0)
		return f
	}
	if len(opts.Metadata) >= 3 && opts.Metadata[0] == 'T' && opts.Metadata[1] == 'C' && opts.Metadata[2]&0x01 != 0 {
		f.networkOrder = true // TC metadata receive intent: network order (RFC 7425 §5.1.1)
	}
	if s.upper != nil {
		fo := &FlowOpened{FlowID: f.id, Metadata: f.meta, Assoc: f.assoc, HasAssoc: f.hasAssoc}
		if af := s.send.get(f.assoc); f.hasAssoc && af != nil {
			fo.AssocKey = af.key
		}
		ctx.Send(s.upper, fo)
	} else {
		f.reject(0)
	}
	return f
}

// onAcceptFlow hands a flow (and the messages held for it) to its actor.
func (s *Session) onAcceptFlow(ctx actor.Context, m *AcceptFlow) {
	f := s.recv.get(m.FlowID)
	if f == nil || f.target != nil || f.state == rfRejected || m.PID == nil {
		return
	}
	f.target = m.PID
	if s.upper == nil || !m.PID.Equal(s.upper) {
		ctx.Watch(m.PID)
	}
	before := f.footprint()
	for _, msg := range f.release() {
		ctx.Send(f.target, &FlowMessage{FlowID: f.id, Data: msg.data, At: msg.at})
	}
	s.charge(f.footprint() - before)
	s.scheduleAck(f) // the window may have reopened
	if f.state == rfComplete && !f.finished {
		f.finished = true
		ctx.Send(f.target, &FlowFinished{FlowID: f.id})
	}
	s.flush(ctx)
}

// onFlowActorGone rejects the flows of a flow actor that stopped (RFC 7016 flow
// exception): a crash in one flow ends that flow only.
func (s *Session) onFlowActorGone(ctx actor.Context, who *actor.PID) {
	any := false
	for f := range s.recv.values() {
		if f.target != nil && f.target.Equal(who) && f.state == rfOpen {
			before := f.footprint()
			f.reject(0)
			s.charge(f.footprint() - before)
			s.scheduleAck(f)
			f.target = nil
			s.p.Stats.FlowActorFailures.Add(1)
			any = true
		}
	}
	if any {
		s.flush(ctx)
	}
}

// onAck applies an Ack Ranges chunk to its send flow.
func (s *Session) onAck(a rtmfp.AckRanges, now time.Duration) (int, uint64) {
	f := s.send.get(a.FlowID)
	if f == nil {
		return 0, 0
	}
	f.options = nil // the far end knows the flow now
	f.rxWindow = int(min(a.BufferBytes(), 1<<30))
	lc := s.lossCheck(now)
	ackedBytes, maxTSN := f.onAckRange(0, a.CumulativeAck, &lc)
	cursor := a.CumulativeAck
	for _, r := range a.Ranges {
		sr, ok := r.Absolute(cursor)
		if !ok {
			break
		}
		b, t := f.onAckRange(sr.From, sr.To, &lc)
		ackedBytes += b
		maxTSN = max(maxTSN, t)
		cursor = sr.To
	}
	s.afterFlowAck(f, ackedBytes, cursor)
	return ackedBytes, maxTSN
}

// afterFlowAck follows an acknowledgement chunk of f that covered sequence numbers up to
// through.
func (s *Session) afterFlowAck(f *sendFlow, ackedBytes int, through uint64) {
	s.outstanding -= ackedBytes
	f.compactThrough(through)
	if f.rxWindow > 0 {
		s.persistAt = 0
	}
	if f.state == sfComplete {
		s.removeSendFlow(f)
	}
}

// removeSendFlow forgets a send flow.
func (s *Session) removeSendFlow(f *sendFlow) {
	s.send.del(f.id)
	if s.sendByKey.get(f.key) == f {
		s.sendByKey.del(f.key)
	}
	if i := slices.Index(s.byPrio, f); i >= 0 {
		s.byPrio = slices.Delete(s.byPrio, i, i+1)
	}
}

// lossCheck returns what onAckRange needs to recognise spurious losses at now: an
// acknowledgement less than half the smallest round trip after a retransmission cannot
// be the retransmission's.
func (s *Session) lossCheck(now time.Duration) lossCheck {
	w := s.rtt.smoothed()
	if s.rtt.samples > 0 {
		w = min(w, s.rtt.min)
	}
	return lossCheck{cc: &s.cc, now: int64(now), window: int64(w / 2)}
}

// afterAcks runs loss detection and updates the congestion window once per packet. A
// fragment is lost after three negative acknowledgements (RFC 7016 §3.6.2.4) — or more,
// once reordering has been seen (congestion.nakThreshold), unless it was sent more than
// 1.25 round trips ago: reordering delays a fragment by a fraction of a round trip.
func (s *Session) afterAcks(ackedBytes int, maxTSN uint64, preOutstanding int, now time.Duration) {
	lost, lostFrags, anyLoss, anyNAK := 0, 0, false, false
	ep := s.cc.lossEpisode()
	srtt := s.rtt.smoothed()
	old := int64(now) - int64(srtt+srtt/4)
	// flight is in transmission order, so only its fragments sent up to the newest one
	// acknowledged (maxTSN) were acknowledged now or take a negative acknowledgement: the
	// walk ends there, and is the fragments acknowledged and the holes among them, not the
	// window. Those that stay move up against the rest and the head moves past the room
	// freed. (A fragment out of flight for another reason, its flow's exception, goes when
	// a later walk passes it or when nothing is in flight.)
	k := 0
	for k < len(s.flight) && s.flight[k].tsn <= maxTSN {
		k++
	}
	j := k
	for i := k - 1; i >= 0; i-- {
		fr := s.flight[i]
		if !fr.inFlight {
			continue // acknowledged or already lost
		}
		if fr.tsn < maxTSN {
			fr.nakCount = min(fr.nakCount, 254) + 1
			if !fr.sentAbandoned {
				anyNAK = true
			}
			if fr.nakCount >= s.cc.nakThreshold || fr.nakCount >= initialNakThreshold && fr.sentAt <= old {
				if !fr.sentAbandoned {
					anyLoss = true
					lostFrags++
					fr.lostEp = ep
				}
				lost += fr.wireSize
				s.outstanding -= fr.wireSize
				fr.onLoss()
				s.p.Stats.Retransmissions.Add(1)
				continue
			}
		}
		j--
		s.flight[j] = fr
	}
	if s.outstanding == 0 {
		j = len(s.flight) // nothing in flight: what is left is out of flight
	}
	s.flight = dropFront(s.flight, j)
	if lost > 0 || ackedBytes > 0 {
		s.cc.onAck(ackedBytes, lost, lostFrags, anyLoss, anyNAK, preOutstanding, s.outstanding)
	}
	if s.outstanding == 0 {
		s.rtoDeadline, s.unackedSince = 0, 0
	} else if ackedBytes > 0 {
		s.rtoDeadline = now + s.rtt.erto
		s.unackedSince = now
	}
}

func (s *Session) onFlowException(ctx actor.Context, x rtmfp.FlowException) {
	f := s.send.get(x.FlowID)
	if f == nil {
		return
	}
	for _, fr := range f.queue {
		if fr.inFlight {
			fr.inFlight = false
			s.outstanding -= fr.wireSize
			f.outstanding -= fr.wireSize
		}
	}
	f.onException()
	f.queue = nil
	s.removeSendFlow(f)
	if s.upper != nil {
		ctx.Send(s.upper, &SendFlowRejected{Key: f.key, Code: x.Code})
	}
}

// checkMobility starts verifying a new far address (RFC 7016 §3.5.4): a ping with a
// fresh payload is sent there, and the session moves when the reply comes back from it.
func (s *Session) checkMobility(from netip.AddrPort, now time.Duration) {
	m := s.mobility
	if m == nil {
		// Rare (a client behind a NAT that remapped it): kept out of every session's struct.
		m = &mobilityCheck{}
		s.mobility = m
	} else if from == m.to && now-m.at < time.Second {
		return
	}
	m.to, m.at = from, now
	m.tag[0] = 'M'
	putUint64(m.tag[1:], uint64(now)^uint64(s.p.LocalID)<<32)
	m.pending = true
}

// mobilityCheck is a far address being verified: the ping payload sent there and when.
type mobilityCheck struct {
	to      netip.AddrPort
	at      time.Duration
	tag     [9]byte
	pending bool // the ping is still to be sent
}

func (s *Session) onPingReply(ctx actor.Context, payload []byte, from netip.AddrPort, now time.Duration) {
	if m := s.mobility; m != nil && string(payload) == string(m.tag[:]) && from == m.to {
		old := s.addr
		s.addr, s.mobility = from, nil
		s.p.Stats.AddressChanges.Add(1)
		s.p.Log.Debug("session address changed", zap.Uint32("session", s.p.LocalID), zap.Stringer("from", old), zap.Stringer("to", from))
		if s.upper != nil {
			ctx.Send(s.upper, &AddressChanged{From: old, To: from})
		}
	}
}

func putUint64(b []byte, v uint64) {
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

// onWrite queues a message on its send flow.
func (s *Session) onWrite(ctx actor.Context, w *Write) {
	if s.queue(ctx, w) {
		s.flush(ctx)
	}
}

// queue puts a message on its send flow (opening the flow if needed) without sending
// anything yet; it reports whether the message was queued.
func (s *Session) queue(ctx actor.Context, w *Write) bool {
	return s.queueOn(ctx, s.sendByKey.get(w.Key), w)
}

// queueOn is queue with the flow of w.Key looked up already (f, nil if there is none).
func (s *Session) queueOn(ctx actor.Context, f *sendFlow, w *Write) bool {
	// Refused before any flow is made for it: a flow whose first write is refused would
	// linger, empty, until the session ends.
	if s.st != stOpen || s.queuedBytes()+len(w.Data) > s.p.Config.SessionSendBuffer {
		s.refuse(ctx, w)
		return false
	}
	if f == nil {
		if len(w.Key.Metadata) > MaxFlowMetadata {
			s.refuse(ctx, w)
			return false
		}
		if w.Priority >= numPriorities {
			w.Priority = PriorityData
		}
		f = newSendFlow(s.nextFlowID, w.Key, w.Priority, s.p.Config.SendQueue)
		f.owner = s
		s.nextFlowID++
		s.send.set(f.id, f)
		s.sendByKey.set(w.Key, f)
		// After the last flow of the same or a higher priority.
		at := len(s.byPrio)
		for at > 0 && s.byPrio[at-1].priority < f.priority {
			at--
		}
		s.byPrio = slices.Insert(s.byPrio, at, f)
	}
	now := s.now()
	if w.Frame == FrameInter && f.groupLost(int64(now)) {
		// A frame of its group was given up: it is no use (Write.Frame).
		if w.Receipt != nil && w.Receipt.To != nil {
			ctx.Send(w.Receipt.To, &Abandoned{Key: w.Key, Tag: w.Receipt.Tag})
		}
		return false
	}
	if w.AbandonWaiting > 0 {
		f.abandonWaiting(int64(now), int64(w.AbandonWaiting))
	}
	var deadline int64
	if w.Lifetime > 0 {
		deadline = int64(now + w.Lifetime)
	}
	if !f.writeFrame(w.Data, int64(now), deadline, !w.NoRetransmit, w.Frame, w.Receipt) {
		s.refuse(ctx, w)
		return false
	}
	return true
}

// refuse counts a write that was not queued and answers its receipt.
func (s *Session) refuse(ctx actor.Context, w *Write) {
	s.p.Stats.WritesRefused.Add(1)
	if w.Receipt != nil && w.Receipt.To != nil {
		ctx.Send(w.Receipt.To, &Refused{Key: w.Key, Tag: w.Receipt.Tag})
	}
}

// settled reports the fate of a message that asked for a receipt (flowOwner).
func (s *Session) settled(f *sendFlow, r *Receipt, delivered bool) {
	if r.To == nil {
		return
	}
	// Settling happens while a message is processed (acknowledgement, expiry, close), so
	// the scratch holds the actor context.
	if delivered {
		s.sc.ctx.Send(r.To, &Delivered{Key: f.key, Tag: r.Tag})
	} else {
		s.sc.ctx.Send(r.To, &Abandoned{Key: f.key, Tag: r.Tag})
	}
}

// queuedBytes is the data queued on every send flow of the session.
func (s *Session) queuedBytes() int {
	n := 0
	for f := range s.send.values() {
		n += f.queued
	}
	return n
}

func (s *Session) onCloseRequest(ctx actor.Context, now time.Duration) {
	switch s.st {
	case stOpen:
		s.why = ReasonRemote
		s.setState(stFarCloseLinger)
		s.closeFrom = now
		s.abortFlows(ctx)
	case stNearClose:
		// Both ends closed at once: acknowledge theirs and end; there is nothing left to
		// linger for, since ours is answered by their close too.
		s.sendCloseAck = true
		s.flushControlOnly()
		s.finish(ctx)
		return
	}
	s.sendCloseAck = true
}

func (s *Session) onCloseAck(ctx actor.Context) {
	if s.why == ReasonNone {
		s.why = ReasonRemote
	}
	if s.st == stOpen {
		// An abrupt close from the far end (rtmfp-cpp on interrupt): acknowledge it.
		s.sendCloseAck = true
		s.flush(ctx)
	}
	s.finish(ctx)
}

// onUnheard ends a session that never heard from its far end since the handshake (its
// endpoint gave up waiting), without a word: nothing says anybody listens there, and a
// close would be one more datagram to whoever the initiator claimed to be. A session that
// heard from its far end meanwhile goes on.
func (s *Session) onUnheard(ctx actor.Context) {
	if s.heard || s.st != stOpen {
		return
	}
	s.why = ReasonUnheard
	s.abortFlows(ctx)
	s.finish(ctx)
}

// beginClose sends a Session Close Request and waits (bounded) for its acknowledgement.
func (s *Session) beginClose(ctx actor.Context, why CloseReason) {
	if s.st != stOpen {
		if why == ReasonShutdown && s.st == stFarCloseLinger {
			s.finish(ctx)
		}
		return
	}
	s.why = why
	s.setState(stNearClose)
	s.closeFrom = s.now()
	s.sendClose = true
	s.abortFlows(ctx)
	s.flush(ctx)
}

// abortFlows drops every flow: nothing more is delivered or sent.
func (s *Session) abortFlows(ctx actor.Context) {
	if s.upper != nil {
		ctx.Send(s.upper, &Closing{Reason: s.why, Traffic: Traffic{In: s.bytesIn, Out: s.bytesOut, RTT: s.rtt.srtt}})
	}
	for f := range s.recv.values() {
		before := f.footprint()
		f.dropBuffered()
		s.charge(f.footprint() - before)
		f.state = rfComplete
		f.needAck, f.ackNow = false, false
	}
	for f := range s.send.values() {
		// Every message not yet acknowledged is given up: its receipt says Abandoned
		// (whoever waits on a receipt must not wait forever for a session that ended).
		f.onException()
	}
	s.send.clear()
	s.sendByKey.clear()
	clear(s.byPrio)
	s.byPrio = s.byPrio[:0]
	clear(s.flight)
	s.flight = s.flight[:0]
	s.outstanding, s.rtoDeadline, s.unackedSince = 0, 0, 0
	s.fihellos = nil
}

// setState moves the session on; leaving the open state is reported once (OnClosing).
func (s *Session) setState(st state) {
	if s.st == stOpen && st != stOpen && s.p.OnClosing != nil {
		s.p.OnClosing(s.p.LocalID)
	}
	s.st = st
}

// finish stops the actor; onStopping does the bookkeeping.
func (s *Session) finish(ctx actor.Context) {
	if s.st == stClosed {
		return
	}
	s.setState(stClosed)
	if s.upper != nil {
		// The upper actor is not in protoactor's children set (spawnUpper), so stopping
		// the session would not stop it first: stop it, and end on its Terminated.
		ctx.Stop(s.upper)
		return
	}
	ctx.Stop(ctx.Self())
}

// spawnUpper spawns the session's Flash-layer actor as its child in protoactor's sense
// (its Parent is the session, its failures go to the session's supervisor strategy, its
// Terminated comes to the session) without entering it in the session's children set:
// that set is a context-extras block and a PID set with a map, about 800 bytes per
// session, for the one child every session has. The session stops it itself (finish,
// onStopping).
func spawnUpper(ctx actor.Context, k *actors.Kind, upper actor.Actor) *actor.PID {
	sys := ctx.ActorSystem()
	return k.Spawn(upper, func(props *actor.Props) *actor.PID {
		pid, err := actor.DefaultSpawner(sys, sys.ProcessRegistry.NextId(), props, ctx)
		if err != nil {
			panic(err) // cannot happen: a fresh ID is never taken
		}
		return pid
	})
}

func (s *Session) onStopping(ctx actor.Context) {
	s.p.Scheduler.Cancel(s.p.LocalID, &s.timer)
	if s.upper != nil {
		// Stopped from outside before finish: the upper actor ends after the session.
		ctx.Stop(s.upper)
		s.upper = nil
	}
	if s.st != stClosed {
		// Stopped from outside: by our supervisor after a crash, or by a shutdown.
		if s.why == ReasonNone {
			s.why = ReasonFailure
		}
		if s.st == stOpen {
			s.sendClose = true
			s.flushControlOnly()
		}
		s.setState(stClosed)
	}
	s.releaseAccount()
	s.p.Stats.Closed.Add(1)
	if s.p.OnClosed != nil {
		s.p.OnClosed(s.p.LocalID, s.why)
	}
	s.p.Log.Debug("session closed", zap.Uint32("session", s.p.LocalID), zap.Stringer("reason", s.why))
}

// onTimer handles every deadline: retransmission timeout, delayed ack, keepalive, idle,
// close timers, zero-window probe, pacing.
func (s *Session) onTimer(ctx actor.Context) {
	now := s.now()
	switch s.st {
	case stFarCloseLinger:
		if now-s.closeFrom >= s.p.Config.CloseLinger {
			s.finish(ctx)
			return
		}
	case stNearClose:
		if now-s.closeFrom >= s.p.Config.NearCloseTimeout {
			s.finish(ctx)
			return
		}
		if now-s.closeSentAt >= time.Second {
			s.sendClose = true
		}
	case stOpen:
		if now-s.lastRecv >= s.p.Config.IdleTimeout {
			s.p.Stats.IdleTimeouts.Add(1)
			s.why = ReasonIdle
			s.setState(stNearClose)
			s.closeFrom = now
			s.sendClose = true
			s.abortFlows(ctx)
			break
		}
		if s.rtoDeadline != 0 && now >= s.rtoDeadline {
			s.onRTO(ctx, now)
			if s.st != stOpen {
				// Gave up: the flush below sends the close request and arms the
				// near-close timer (returning here left the session with no timer).
				break
			}
		}
		if now-max(s.lastRecv, s.lastKeepalivePing) >= s.keepalive {
			s.lastKeepalivePing = now
			s.pingOutstanding = true
		}
		if s.persistAt != 0 && now >= s.persistAt {
			s.persistAt = 0 // flush sends the probe
		}
		if s.rx != nil && s.rx.stallAt != 0 && now >= s.rx.stallAt {
			s.checkStalls(ctx, now)
		}
		if s.p.Encrypt.HoldsKeySchedule() && now-s.lastSend >= KeyScheduleIdle {
			// Idle: give the AES key schedule back (~500 B per session) until the next packet.
			s.p.Encrypt.ReleaseKeySchedule()
			s.p.Stats.KeyReleases.Add(1)
		}
	}
	s.flush(ctx)
}

// onRTO handles a retransmission timeout: everything in flight is presumed lost.
func (s *Session) onRTO(ctx actor.Context, now time.Duration) {
	if s.unackedSince != 0 && now-s.unackedSince >= s.p.Config.RetransmitLimit {
		s.p.Stats.RetransmitTimeouts.Add(1)
		s.why = ReasonRetransmit
		s.setState(stNearClose)
		s.closeFrom = now
		s.sendClose = true
		s.abortFlows(ctx)
		return
	}
	idle := s.outstanding == 0
	s.cc.onTimeout(idle, s.outstanding)
	for _, fr := range s.flight {
		if fr.inFlight {
			s.outstanding -= fr.wireSize
			fr.onLoss()
			s.p.Stats.Retransmissions.Add(1)
		}
	}
	clear(s.flight)
	s.flight = s.flight[:0]
	s.rtt.backoff()
	s.rtoDeadline = 0
	if s.outstanding != 0 {
		s.p.Log.Warn("outstanding bytes out of balance after timeout", zap.Int("outstanding", s.outstanding))
		s.outstanding = 0
	}
}

// schedule arms the timer for the earliest deadline.
func (s *Session) schedule() {
	if s.st == stClosed {
		return
	}
	now := s.now()
	next := s.lastRecv + s.p.Config.IdleTimeout
	switch s.st {
	case stOpen:
		next = min(next, max(s.lastRecv, s.lastKeepalivePing)+s.keepalive)
		if s.rtoDeadline != 0 {
			next = min(next, s.rtoDeadline)
		}
		if s.ackDeadline != 0 {
			next = min(next, s.ackDeadline)
		}
		if s.persistAt != 0 {
			next = min(next, s.persistAt)
		}
		if s.rx != nil && s.rx.stallAt != 0 {
			next = min(next, s.rx.stallAt)
		}
		if s.p.Encrypt.HoldsKeySchedule() {
			next = min(next, s.lastSend+KeyScheduleIdle)
		}
	case stNearClose:
		next = min(s.closeFrom+s.p.Config.NearCloseTimeout, s.closeSentAt+time.Second)
	case stFarCloseLinger:
		next = s.closeFrom + s.p.Config.CloseLinger
	}
	if w := s.paceWait(); w > 0 {
		next = min(next, now+w)
	}
	if next < now {
		next = now
	}
	if s.timerAt != 0 && s.timerAt <= next {
		return // an earlier firing will reschedule
	}
	s.timerAt = next
	s.p.Scheduler.Arm(s.p.LocalID, &s.timer, s.self, next)
}
