package session

// A deterministic simulation of two sessions joined by a lossy link, in virtual time and
// without actors or sockets: the session code (Receive, flush, timers) runs for real, on a
// fake actor context that records what it sends, a virtual clock, and a link that drops,
// duplicates, reorders, delays and rate-limits the sealed datagrams. The same seed gives
// the same run, which makes transport bugs reproducible and lets tests measure in
// virtual seconds what would take minutes of wall time.

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/internal/netsim"
	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// fakeCtx is the actor context a session sees in the simulation. Methods it does not
// override belong to the nil embedded interface and panic if called.
type fakeCtx struct {
	actor.Context
	node *simNode
	msg  any
	sent []simSend
	stop bool
	// stopUpper: the session stopped its upper actor, which the simulation plays; it
	// answers with the Terminated protoactor would send.
	stopUpper bool
}

type simSend struct {
	to  *actor.PID
	msg any
}

func (c *fakeCtx) Message() any                 { return c.msg }
func (c *fakeCtx) Self() *actor.PID             { return c.node.self }
func (c *fakeCtx) Send(pid *actor.PID, msg any) { c.sent = append(c.sent, simSend{pid, msg}) }
func (c *fakeCtx) Watch(*actor.PID)             {}
func (c *fakeCtx) Stop(pid *actor.PID) {
	c.stop = c.stop || pid.Equal(c.node.self)
	c.stopUpper = c.stopUpper || pid.Equal(c.node.upper)
}
func (c *fakeCtx) Spawn(*actor.Props) *actor.PID { panic("spawn in simulation") }

type simClock struct{ now time.Duration }

func (c *simClock) Now() time.Duration { return c.now }

// simLink is one direction of the simulated path.
type simLink struct {
	Loss, Duplicate, Reorder float64
	Delay, Jitter            time.Duration
	ReorderDelay             time.Duration // default 3 × Delay + 5 ms
	Rate                     int           // bytes per second of the bottleneck, 0 = unlimited
	Queue                    int           // bytes the bottleneck queues before dropping, default 64 KiB
	Cut                      bool

	busyUntil                                   time.Duration
	queued                                      []simQueued
	sent, dropped, duplicated, reordered, tails int
}

type simQueued struct {
	leaves time.Duration
	size   int
}

type simEvent struct {
	at  time.Duration
	seq uint64
	fn  func()
}

type simEvents []simEvent

func (q simEvents) Len() int { return len(q) }
func (q simEvents) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q simEvents) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simEvents) Push(x any)   { *q = append(*q, x.(simEvent)) }
func (q *simEvents) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

type sim struct {
	t      testing.TB
	clock  simClock
	rng    *rand.Rand
	events simEvents
	seq    uint64
	nodes  []*simNode
	stats  Stats
}

// simNode is one session and the upper layer around it.
type simNode struct {
	name      string
	sim       *sim
	s         *Session
	ctx       *fakeCtx
	dec       *cryptoutil.Decrypter
	addr      netip.AddrPort
	peer      *simNode
	link      *simLink // toward peer
	self      *actor.PID
	upper     *actor.PID
	receiptTo *actor.PID
	stopped   bool
	reason    CloseReason

	// Upper-layer behaviour: accept flows after acceptDelay (negative: never, the test
	// accepts or rejects by hand).
	acceptDelay time.Duration
	onMessage   func(flowID uint64, data []byte)
	onArrival   func(m *FlowMessage) // with onMessage, for tests of the message's fields
	onReceipt   func(msg any)

	opened   []*FlowOpened
	msgs     map[uint64][][]byte
	finished map[uint64]bool
	rejected []*SendFlowRejected
	closing  *Closing
	inbound  map[byte]int // chunks received, by type
}

func newSim(t testing.TB, seed uint64, up, down simLink, cfg Config) (*sim, *simNode, *simNode) {
	m := &sim{t: t, rng: rand.New(rand.NewPCG(seed, seed^0xabcdef))}
	m.clock.now = time.Second // the session clock starts well above zero
	a := m.newNode("client", cryptoutil.Initiator, 0x11111111, 0x22222222, netip.MustParseAddrPort("10.0.0.1:1000"), cfg)
	b := m.newNode("server", cryptoutil.Responder, 0x22222222, 0x11111111, netip.MustParseAddrPort("10.0.0.2:1935"), cfg)
	a.peer, b.peer = b, a
	a.link, b.link = &up, &down
	a.s.addr, b.s.addr = b.addr, a.addr
	for _, n := range m.nodes {
		n.deliver(&actor.Started{})
	}
	return m, a, b
}

func (m *sim) newNode(name string, role cryptoutil.Role, local, far uint32, addr netip.AddrPort, cfg Config) *simNode {
	n := &simNode{
		name: name, sim: m, dec: cryptoutil.NewStartupDecrypter(), addr: addr,
		self:      actor.NewPID("sim", name),
		upper:     actor.NewPID("sim", name+"/upper"),
		receiptTo: actor.NewPID("sim", name+"/receipts"),
		msgs:      map[uint64][][]byte{}, finished: map[uint64]bool{}, inbound: map[byte]int{},
	}
	n.ctx = &fakeCtx{node: n}
	n.s = newSession(Params{
		Shared: NewShared(Shared{
			// The simulation fires the session's timer itself, at s.timerAt.
			Writer: n, Clock: &m.clock, Scheduler: nopScheduler{}, Config: cfg, Log: zap.NewNop(), Stats: &m.stats,
			OnClosed: func(_ uint32, why CloseReason) { n.reason = why },
		}),
		Role: role, LocalID: local, FarID: far, Encrypt: cryptoutil.NewStartupEncrypter(),
	})
	m.nodes = append(m.nodes, n)
	return n
}

// deliver runs the session's receive function on one message, then the upper layer's
// reactions to what it sent.
func (n *simNode) deliver(msg any) {
	if n.stopped {
		return
	}
	if _, ok := msg.(*actor.Started); ok {
		n.s.upper = n.upper // no Upper props: the simulation plays the upper actor
	}
	n.ctx.msg = msg
	n.s.Receive(n.ctx)
	if n.ctx.stopUpper {
		n.ctx.stopUpper = false
		n.ctx.msg = &actor.Terminated{Who: n.upper}
		n.s.Receive(n.ctx)
	}
	sent := n.ctx.sent
	n.ctx.sent = nil
	if n.ctx.stop {
		n.ctx.stop = false
		n.ctx.msg = &actor.Stopping{}
		n.s.Receive(n.ctx)
		n.stopped = true
		sent = append(sent, n.ctx.sent...)
		n.ctx.sent = nil
	}
	for _, sm := range sent {
		n.react(sm)
	}
}

// react is the upper layer and the receipt holder.
func (n *simNode) react(sm simSend) {
	switch m := sm.msg.(type) {
	case *FlowOpened:
		n.opened = append(n.opened, m)
		if n.acceptDelay >= 0 {
			id := m.FlowID
			n.sim.after(n.acceptDelay, func() { n.deliver(&AcceptFlow{FlowID: id, PID: n.upper}) })
		}
	case *FlowMessage:
		n.msgs[m.FlowID] = append(n.msgs[m.FlowID], m.Data)
		if n.onMessage != nil {
			n.onMessage(m.FlowID, m.Data)
		}
		if n.onArrival != nil {
			n.onArrival(m)
		}
	case *FlowFinished:
		n.finished[m.FlowID] = true
	case *SendFlowRejected:
		n.rejected = append(n.rejected, m)
	case *Closing:
		n.closing = m
	case *Delivered, *Abandoned, *Refused:
		if n.onReceipt != nil {
			n.onReceipt(m)
		}
	}
}

// WriteDatagram is the node's socket: the datagram enters the link toward the peer.
func (n *simNode) WriteDatagram(b []byte, to netip.AddrPort) error {
	m, l := n.sim, n.link
	if to != n.peer.addr {
		return fmt.Errorf("datagram to %v, peer is %v", to, n.peer.addr)
	}
	if l.Cut || m.rng.Float64() < l.Loss {
		l.dropped++
		return nil
	}
	copies := 1
	if m.rng.Float64() < l.Duplicate {
		copies = 2
		l.duplicated++
	}
	now := m.clock.now
	for range copies {
		depart := now
		if l.Rate > 0 {
			// Drop-tail bottleneck queue, then serialisation at Rate.
			for len(l.queued) > 0 && l.queued[0].leaves <= now {
				l.queued = l.queued[1:]
			}
			q := 0
			for _, e := range l.queued {
				q += e.size
			}
			limit := l.Queue
			if limit == 0 {
				limit = 64 << 10
			}
			if q+len(b) > limit {
				l.tails++
				continue
			}
			start := max(now, l.busyUntil)
			l.busyUntil = start + time.Duration(int64(len(b))*int64(time.Second)/int64(l.Rate))
			l.queued = append(l.queued, simQueued{leaves: l.busyUntil, size: len(b)})
			depart = l.busyUntil
		}
		transit, reordered := netsim.Link{Delay: l.Delay, Jitter: l.Jitter, Reorder: l.Reorder, ReorderDelay: l.ReorderDelay}.Transit(m.rng)
		d := depart - now + transit
		if reordered {
			l.reordered++
		}
		l.sent++
		data := append([]byte(nil), b...)
		peer := n.peer
		m.after(d, func() { peer.receive(data) })
	}
	return nil
}

// receive decrypts and parses a datagram as an endpoint shard does, and gives it to the
// session.
func (n *simNode) receive(datagram []byte) {
	if n.stopped {
		return
	}
	packet, _, err := n.dec.Open(nil, datagram)
	if err != nil {
		n.sim.t.Fatalf("%s: undecryptable datagram: %v", n.name, err)
	}
	n.receivePacket(packet)
}

// receivePacket parses a decrypted packet as an endpoint shard does and gives it to the
// session.
func (n *simNode) receivePacket(packet []byte) {
	r, err := rtmfp.NewPacketReader(packet)
	if err != nil {
		n.sim.t.Fatalf("%s: bad packet: %v", n.name, err)
	}
	in := &Inbound{From: n.peer.addr, At: n.sim.clock.now, Header: r.Header()}
	for r.Next() {
		c := r.Chunk()
		ic := InChunk{Type: c.Type, Payload: c.Payload}
		if c.Type == rtmfp.ChunkUserData || c.Type == rtmfp.ChunkNextUserData {
			ud, err := r.UserData()
			if err != nil {
				n.sim.t.Fatalf("%s: bad user data: %v", n.name, err)
			}
			ic.UD = ud
		}
		n.inbound[c.Type]++
		in.Chunks = append(in.Chunks, ic)
	}
	if r.Err() != nil {
		n.sim.t.Fatalf("%s: bad chunks: %v", n.name, r.Err())
	}
	n.deliver(in)
}

func (m *sim) after(d time.Duration, fn func()) {
	m.seq++
	heap.Push(&m.events, simEvent{at: m.clock.now + d, seq: m.seq, fn: fn})
}

// run advances virtual time until done returns true (checked after every event) or the
// clock passes limit (absolute session time). It reports whether done became true.
func (m *sim) run(limit time.Duration, done func() bool) bool {
	for {
		if done != nil && done() {
			return true
		}
		next := limit + 1
		if len(m.events) > 0 {
			next = m.events[0].at
		}
		var timerNode *simNode
		for _, n := range m.nodes {
			if !n.stopped && n.s.timerAt != 0 && n.s.timerAt < next {
				next, timerNode = n.s.timerAt, n
			}
		}
		if next > limit {
			m.clock.now = max(m.clock.now, limit)
			return done != nil && done()
		}
		m.clock.now = max(m.clock.now, next)
		if timerNode != nil {
			timerNode.deliver(&timerFired{})
			continue
		}
		e := heap.Pop(&m.events).(simEvent)
		e.fn()
	}
}

// write sends a Write to the node's session now.
func (n *simNode) write(w *Write) { n.deliver(w) }
