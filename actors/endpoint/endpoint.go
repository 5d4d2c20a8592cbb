// Package endpoint is an RTMFP endpoint: one UDP socket, its reader and shard goroutines
// that decrypt and parse datagrams off the actors, the table of sessions, the handshake
// actor (both roles: a server accepts sessions, a client opens them, a P2P peer does both)
// and the supervisor of the session actors.
//
// The path of a datagram: the reader goroutine reads it and picks a shard by session ID
// (startup packets by source address); the shard decrypts it with the session's key,
// verifies checksum or HMAC and sequence number, parses header and chunks, and sends one
// message to the session actor. Nothing on that path blocks on another actor.
package endpoint

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/maphash"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/access"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/ratelimit"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// readBufferSize holds the largest startup packet (rtmfp-cpp sends up to 4,260 bytes)
// with room to spare.
const readBufferSize = 4608

// Config configures an endpoint. Zero values take defaults.
type Config struct {
	// Listen is the UDP address to bind ("host:port"; ":1935" for every interface, IPv4
	// and IPv6; ":0" for an ephemeral port).
	Listen string
	// Shards is the number of decrypt-and-parse goroutines (default 2).
	Shards int
	// ShardQueue is the datagrams each shard may have waiting (default 2048); more are
	// dropped and counted.
	ShardQueue int
	// UDPBuffer sets the socket's receive and send buffers in bytes (0: OS default).
	UDPBuffer int
	// Dump logs packets in hex at debug level: DumpNone, DumpStartup or DumpAll.
	Dump DumpMode
	// Session tunes the sessions of the endpoint.
	Session session.Config
	// MaxSessions bounds the sessions of the endpoint (default 100,000); handshakes
	// beyond it are refused and counted.
	MaxSessions int
	// PendingTimeout frees a session that has not heard from its initiator this long
	// after the handshake (default 5 s).
	PendingTimeout time.Duration
	// PendingPerAddress bounds the sessions not heard from yet of one source address
	// (default 32; an eighth of it once the table is seven-eighths full).
	PendingPerAddress int
	// HelloRate is how many IHellos per second one source address gets answered (a burst
	// of twice that; default 50).
	HelloRate int
	// RecvBudget bounds the receive buffers per source address and in all; one may be
	// shared by several endpoints (nil: per-session bounds only, session.Config).
	RecvBudget *session.Budget
	// CookieTTL is how long a cookie stays valid (default 95 s, RFC 7016 §3.5.1.1.2).
	CookieTTL time.Duration
	// Accept, if set, makes the endpoint a responder: it answers IHellos and accepts
	// sessions. A pure client leaves it nil.
	Accept *Accept
	// Log receives the endpoint's logs.
	Log *zap.Logger
	// SessionMiddleware wraps every session actor's receive function.
	SessionMiddleware []actor.ReceiverMiddleware
	// Dispatcher runs the mailboxes of the session actors and of the handshake actor
	// (nil: protoactor's default, a goroutine per wake-up).
	Dispatcher actor.Dispatcher
	// Clock is the endpoint's time: its sessions' deadlines, handshake retransmissions,
	// cookie lifetimes (nil: the real clock; tests move a clock.Warp forward).
	Clock clock.Clock
	// KernelTimestamps stamps each datagram with the time the kernel received it
	// (SO_TIMESTAMPNS, Linux) instead of the time the endpoint's read returned, so that
	// receive times (Inbound.At, FlowMessage.At) leave out the endpoint's own delay in
	// reading its socket: what a measuring client wants. Where the kernel cannot, the
	// endpoint logs it and keeps read times.
	KernelTimestamps bool
	// Banned, if set, lists addresses whose datagrams are dropped on receipt
	// (Stats.DropBanned).
	Banned *Banlist
	// Access, if set, is the operator's IP deny and allow lists: datagrams of addresses
	// it denies are dropped on receipt, before any decryption or key exchange
	// (Stats.DropDenied).
	Access *access.IPList
}

// Accept configures the responder side of an endpoint.
type Accept struct {
	// Upper returns the Flash-layer actor of an accepted session (nil: none), spawned as
	// the session's child with UpperOptions.
	Upper func(info SessionInfo) actor.Actor
	// UpperOptions configure the props of the upper actors (dispatcher, mailbox,
	// supervision of their own children…); one props value serves them all.
	UpperOptions []actor.PropsOption
	// Policy is the responder's HMAC / sequence-number policy. The zero value requires
	// nothing and declines with the classic prefix unless the initiator requires them.
	Policy cryptoutil.Policy
	// Hello, if set, is consulted for IHellos before the RHello (redirects, rendezvous).
	Hello HelloHandler
	// Certificate is the responder's certificate; nil generates the 77-byte server
	// certificate (ephemeral DH, groups 2, 16 and 14) — or, with StaticKeys, the static
	// certificate of those keys.
	Certificate []byte
	// StaticKeys makes the responder a static-key one, as a Flash peer accepting P2P
	// sessions is: its certificate carries these keys (and its peer ID derives from them),
	// its RIKeying carries no key, and the shared secret uses the key of the group the
	// initiator selects.
	StaticKeys []*cryptoutil.DHKey
}

// SessionInfo describes a session to the Flash layer.
type SessionInfo struct {
	Role    cryptoutil.Role
	LocalID uint32
	PeerID  cryptoutil.PeerID // the far end's peer ID
	Addr    netip.AddrPort    // the far end's address when the session opened
	// Mode is the packet protection negotiated for the session (HMAC, sequence numbers).
	Mode cryptoutil.Mode
	// NearNonce and FarNonce are the session's nonces (cryptoutil.Nonce of the shared
	// secret with our key component, and with the far end's): NetGroup members prove with
	// them that they know the group specifier.
	NearNonce, FarNonce [32]byte
}

// DumpMode selects packet dumps.
type DumpMode uint8

const (
	DumpNone    DumpMode = iota
	DumpStartup          // handshake packets only
	DumpAll              // every packet, decrypted
)

// ParseDumpMode parses "none", "startup" or "all".
func ParseDumpMode(s string) (DumpMode, error) {
	switch s {
	case "", "none":
		return DumpNone, nil
	case "startup":
		return DumpStartup, nil
	case "all":
		return DumpAll, nil
	}
	return DumpNone, fmt.Errorf("unknown dump mode %q (none, startup or all)", s)
}

func (c *Config) defaults() {
	if c.Listen == "" {
		c.Listen = ":1935"
	}
	if c.Shards <= 0 {
		c.Shards = 2
	}
	if c.ShardQueue <= 0 {
		c.ShardQueue = 2048
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = 100000
	}
	if c.CookieTTL <= 0 {
		c.CookieTTL = 95 * time.Second
	}
	if c.PendingTimeout <= 0 {
		c.PendingTimeout = 5 * time.Second
	}
	if c.PendingPerAddress <= 0 {
		c.PendingPerAddress = 32
	}
	if c.HelloRate <= 0 {
		c.HelloRate = 50
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	c.Clock = clock.Or(c.Clock)
}

// Endpoint is a running RTMFP endpoint.
type Endpoint struct {
	cfg    Config
	sys    *actor.ActorSystem
	log    *zap.Logger
	conn   *net.UDPConn
	addr   netip.AddrPort
	epoch  time.Time
	stamps bool // the socket records kernel receive times (Config.KernelTimestamps)
	shards []*shard
	seed   maphash.Seed
	pool   *session.InboundPool

	clock     clock.Clock
	handshake *actor.PID
	// sessions is the props of every session: the handshake actor spawns them as its
	// children, and its strategy stops a session that panics (the session's Stopping
	// handler tells the far end and unregisters). Stopping the handshake actor stops them
	// all.
	sessions *actors.Kind
	// uppers is the props of the upper actors of accepted sessions (Accept.UpperOptions).
	uppers *actors.Kind
	// sessionShared is what every session of the endpoint shares (made once).
	sessionShared *session.Shared

	cert    []byte
	ours    cryptoutil.Certificate // cert, parsed once
	certID  cryptoutil.PeerID
	cookies *cryptoutil.CookieService

	writer  *batchWriter
	wmu     sync.RWMutex // writes hold it shared; stopping the writer holds it
	wclosed bool
	live    atomic.Int64 // sessions in the table (open or lingering after a close)
	// startupWaiting counts the handshake packets the handshake actor has yet to handle.
	startupWaiting atomic.Int32
	open           atomic.Int64 // open sessions
	stopping       atomic.Bool
	drained        chan struct{} // closed when no session is open after a Stop began
	drain          sync.Once
	wg             sync.WaitGroup
	closed         chan struct{} // closed when the endpoint is down (socket closed)

	Stats        Stats
	SessionStats session.Stats
}

// Now returns the endpoint clock (monotonic time since the endpoint started).
func (e *Endpoint) Now() time.Duration { return e.clock.Now().Sub(e.epoch) }

// AfterFunc runs f after d on the endpoint's clock (session.Clock).
func (e *Endpoint) AfterFunc(d time.Duration, f func()) clock.Timer { return e.clock.AfterFunc(d, f) }

// Time converts a reading of the endpoint clock (such as Inbound.At or FlowMessage.At)
// to a time.Time, whose monotonic reading other clocks of the process can be compared
// with.
func (e *Endpoint) Time(at time.Duration) time.Time { return e.epoch.Add(at) }

// Start binds the socket and starts the endpoint's goroutines and its handshake actor,
// spawned from parent: the actor system's root, or an actor whose child the endpoint
// becomes (called from that actor's Receive). The handshake actor is the parent of the
// endpoint's sessions; stopping it (or its parent) stops them and closes the socket.
func Start(parent actor.SpawnerContext, cfg Config) (*Endpoint, error) {
	cfg.defaults()
	sys := parent.ActorSystem()
	laddr, err := net.ResolveUDPAddr("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", cfg.Listen, err)
	}
	conn, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, err
	}
	if cfg.UDPBuffer > 0 {
		_ = conn.SetReadBuffer(cfg.UDPBuffer)
		_ = conn.SetWriteBuffer(cfg.UDPBuffer)
	}
	e := &Endpoint{
		cfg: cfg, sys: sys, log: cfg.Log, conn: conn, clock: cfg.Clock, epoch: cfg.Clock.Now(),
		seed: maphash.MakeSeed(), pool: session.NewInboundPool(readBufferSize),
		drained: make(chan struct{}), closed: make(chan struct{}),
	}
	if cfg.KernelTimestamps {
		if err := enableStamps(conn); err != nil {
			cfg.Log.Warn("kernel receive timestamps unavailable; receive times are read times", zap.Error(err))
		} else {
			e.stamps = true
		}
	}
	e.addr = conn.LocalAddr().(*net.UDPAddr).AddrPort()
	e.writer = newBatchWriter(conn, &e.Stats, cfg.Log)
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		conn.Close()
		return nil, err
	}
	if e.cookies, err = cryptoutil.NewCookieService(secret, cfg.CookieTTL); err != nil {
		conn.Close()
		return nil, err
	}
	if cfg.Accept != nil {
		e.cert = cfg.Accept.Certificate
		switch {
		case e.cert != nil:
		case len(cfg.Accept.StaticKeys) > 0:
			e.cert = cryptoutil.AppendStaticCertificate(nil, cfg.Accept.StaticKeys...)
		default:
			if e.cert, err = cryptoutil.NewServerCertificate(rand.Reader); err != nil {
				conn.Close()
				return nil, err
			}
		}
		if e.ours, err = cryptoutil.ParseCertificate(e.cert); err != nil {
			conn.Close()
			return nil, fmt.Errorf("endpoint: our certificate: %w", err)
		}
		e.certID = cryptoutil.PeerIDFromCertificate(e.cert)
	}
	e.sessions = session.NewKind(session.KindOptions{Log: e.log, Middleware: cfg.SessionMiddleware, Dispatcher: cfg.Dispatcher})
	if cfg.Accept != nil {
		e.uppers = actors.NewKind(cfg.Accept.UpperOptions...)
	}
	e.sessionShared = session.NewShared(session.Shared{
		Writer: e, Clock: e, Scheduler: session.NewTimers(e, sys.Root), Config: cfg.Session, Log: e.log, Stats: &e.SessionStats,
		Budget: cfg.RecvBudget,
		OnClosing: func(uint32) {
			if e.open.Add(-1) == 0 && e.stopping.Load() {
				e.drain.Do(func() { close(e.drained) })
			}
		},
		OnClosed:  func(id uint32, _ session.CloseReason) { e.unregister(id) },
		OnFIHello: e.onFIHello, Dump: cfg.Dump == DumpAll,
	})
	hsOpts := []actor.PropsOption{actor.WithReceiverMiddleware(supervision.Middleware),
		actor.WithSupervisor(supervision.StopOnPanic(e.log, "session", &e.Stats.SessionFailures))}
	if cfg.Dispatcher != nil {
		hsOpts = append(hsOpts, actor.WithDispatcher(cfg.Dispatcher))
	}
	e.handshake = parent.Spawn(actor.PropsFromProducer(func() actor.Actor { return newHandshake(e) }, hsOpts...))
	e.shards = make([]*shard, cfg.Shards)
	for i := range e.shards {
		e.shards[i] = newShard(e, i)
		e.wg.Add(1)
		go e.shards[i].run()
	}
	e.wg.Add(1)
	go e.readLoop()
	e.log.Info("endpoint listening", zap.Stringer("addr", e.addr), zap.Int("shards", cfg.Shards), zap.Bool("accepts", cfg.Accept != nil))
	return e, nil
}

// Addr returns the bound address.
func (e *Endpoint) Addr() netip.AddrPort { return e.addr }

// PeerID returns the endpoint's own peer ID (fingerprint of its responder certificate).
func (e *Endpoint) PeerID() cryptoutil.PeerID { return e.certID }

// Sessions returns the number of open sessions.
func (e *Endpoint) Sessions() int { return int(e.open.Load()) }

// TableSize returns the number of sessions whose actors still exist: the open ones and
// the closed ones lingering to answer their far end's close (RFC 7016 §3.5.5).
func (e *Endpoint) TableSize() int { return int(e.live.Load()) }

// WriteDatagram sends one datagram (session.Writer): it is copied and queued for the
// endpoint's batch writer, so b may be reused at once.
func (e *Endpoint) WriteDatagram(b []byte, to netip.AddrPort) error {
	e.wmu.RLock()
	defer e.wmu.RUnlock()
	if e.wclosed {
		return net.ErrClosed
	}
	e.writer.write(b, to)
	return nil
}

// readLoop reads datagrams, up to readBatch per system call, and hands each to its shard.
func (e *Endpoint) readLoop() {
	defer e.wg.Done()
	r := newBatchReader(e.conn, e.pool, e.stamps)
	for {
		n, err := r.read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				r.release()
				for _, s := range e.shards {
					close(s.in)
				}
				return
			}
			e.Stats.ReadErrors.Add(1)
			continue
		}
		e.Stats.ReadBatches.Add(1)
		e.Stats.DatagramsIn.Add(uint64(n))
		// The wall clock, which the kernel stamps with, is read before the endpoint
		// clock: a delay between the two readings (the reader losing the CPU) then makes
		// a datagram's age too small and its arrival later than it was, by no more than
		// the delay and never after the read. In the other order it made arrivals earlier
		// than the datagrams were sent.
		var wall int64
		if e.stamps {
			wall = time.Now().UnixNano()
		}
		at := e.Now()
		bytes := 0
		for i := range n {
			ns, stamped := r.stamp(i)
			in, from, ok := r.take(i)
			bytes += len(in.Buffer())
			if !ok {
				e.Stats.DropOversize.Add(1)
				in.Release()
				continue
			}
			if e.cfg.Banned.Banned(from.Addr()) {
				e.Stats.DropBanned.Add(1)
				in.Release()
				continue
			}
			if e.cfg.Access.Denied(from.Addr()) {
				e.Stats.DropDenied.Add(1)
				in.Release()
				continue
			}
			in.From, in.At = from, at
			if stamped {
				in.At = arrivedAt(at, wall, ns)
			}
			e.dispatch(in, n == 1)
		}
		e.Stats.BytesIn.Add(uint64(bytes))
	}
}

// dispatch hands a datagram to the shard of its session ID (startup packets: of its
// source address), or drops it, counted, when it is too short or the shard is full. A
// datagram read alone (light load) whose shard has nothing to do is handled here, on the
// reader: waking the shard's goroutine for it cost a futex wake-up and a scheduling per
// datagram, a good part of the work of a lightly loaded server. The shard's sessions'
// datagrams keep their order: the reader is the only goroutine that gives a shard work,
// and it handles one itself only when the shard has handled all it was given. When
// datagrams come in batches (load) the shards decrypt them in parallel, as before.
func (e *Endpoint) dispatch(in *session.Inbound, alone bool) {
	data := in.Buffer()
	ssid, ok := cryptoutil.SessionID(data)
	if !ok || len(data) < 20 {
		e.Stats.DropShort.Add(1)
		in.Release()
		return
	}
	s := e.shardOf(ssid, in.From)
	if alone && s.queued.Load() == 0 {
		e.Stats.ReadInline.Add(1)
		s.handle(in)
		return
	}
	s.queued.Add(1)
	select {
	case s.in <- in:
	default:
		s.queued.Add(-1)
		e.Stats.DropOverload.Add(1)
		in.Release()
	}
}

// shardOf returns the shard of a datagram: of its session ID, or for a startup packet
// (session ID 0) of its source (ratelimit.Source: not its port, nor its host within an
// IPv6 /64), whose waiting handshake packets that shard alone counts (shard.startupWaiting).
func (e *Endpoint) shardOf(ssid uint32, from netip.AddrPort) *shard {
	n := uint32(len(e.shards))
	if ssid == 0 {
		return e.shards[uint32(maphash.Comparable(e.seed, ratelimit.Source(from.Addr())))%n]
	}
	return e.shards[ssid%n]
}

// register adds a session to the table. It fails if the ID is taken.
func (e *Endpoint) register(id uint32, ent *entry) bool {
	s := e.shards[id%uint32(len(e.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.table[id]; taken {
		return false
	}
	s.table[id] = ent
	if !ent.startup {
		e.live.Add(1)
		e.open.Add(1)
	}
	return true
}

// activate turns a pending (startup) entry into a live session entry.
func (e *Endpoint) activate(id uint32, dec *cryptoutil.Decrypter, pid *actor.PID) {
	s := e.shards[id%uint32(len(e.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()
	if ent := s.table[id]; ent != nil && ent.startup {
		s.table[id] = &entry{pid: pid, dec: dec, lastIn: e.Now()}
		e.live.Add(1)
		e.open.Add(1)
	}
}

// unregister removes a session (or a pending startup entry) from the table.
func (e *Endpoint) unregister(id uint32) {
	s := e.shards[id%uint32(len(e.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()
	if ent, ok := s.table[id]; ok {
		delete(s.table, id)
		if !ent.startup {
			e.live.Add(-1)
		}
	}
}

// heardByShard reports whether the shard of session id has opened a datagram of it.
func (e *Endpoint) heardByShard(id uint32) bool {
	ent := e.shards[id%uint32(len(e.shards))].lookup(id)
	return ent != nil && ent.heard.Load()
}

// newSessionID picks a random unused non-zero session ID and reserves it with ent.
func (e *Endpoint) newSessionID(ent *entry) uint32 {
	var b [4]byte
	for {
		_, _ = rand.Read(b[:])
		id := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		if id != 0 && e.register(id, ent) {
			return id
		}
	}
}

// onFIHello handles a Forwarded IHello received in one of our sessions (a rendezvous
// server introducing an initiator): it is answered like an IHello from the initiator's
// address, which sends our RHello there and opens our NAT toward it.
func (e *Endpoint) onFIHello(epd []byte, reply netip.AddrPort, tag []byte) {
	ih := rtmfp.IHello{EPD: epd, Tag: tag}.Append(nil)
	m := &startupMsg{typ: rtmfp.ChunkIHello, payload: ih[rtmfp.ChunkHeaderLen:], forwarded: true}
	m.from.From, m.from.At = reply, e.Now()
	e.Stats.ForwardedHellos.Add(1)
	e.sys.Root.Send(e.handshake, m)
}

// forEachSession calls f with every live session's PID.
func (e *Endpoint) forEachSession(f func(*actor.PID)) {
	for _, s := range e.shards {
		s.mu.Lock()
		pids := make([]*actor.PID, 0, len(s.table))
		for _, ent := range s.table {
			if !ent.startup && ent.pid != nil {
				pids = append(pids, ent.pid)
			}
		}
		s.mu.Unlock()
		for _, p := range pids {
			f(p)
		}
	}
}

// Stop closes every session (Session Close Request to each far end), waits for them to be
// closed — acknowledged by the far end, or given up — or for ctx, then stops the actors
// (closed sessions lingering to answer a retransmitted close among them) and closes the
// socket.
func (e *Endpoint) Stop(ctx context.Context) error {
	if !e.stopping.CompareAndSwap(false, true) {
		<-e.closed
		return nil
	}
	e.forEachSession(func(pid *actor.PID) { e.sys.Root.Send(pid, &session.Close{Reason: session.ReasonShutdown}) })
	if e.open.Load() == 0 {
		e.drain.Do(func() { close(e.drained) })
	}
	var err error
	select {
	case <-e.drained:
	case <-ctx.Done():
		err = ctx.Err()
	case <-e.closed: // stopped meanwhile by its parent
	}
	// Sessions that did not end in time stop with the handshake actor, their parent.
	_ = e.sys.Root.StopFuture(e.handshake).Wait()
	<-e.closed
	return err
}

// Done is closed when the endpoint is down: its actors stopped and its socket closed.
func (e *Endpoint) Done() <-chan struct{} { return e.closed }

// shutdown closes the socket and waits for the goroutines, once the handshake actor and
// every session have stopped.
func (e *Endpoint) shutdown() {
	e.stopping.Store(true)
	e.wmu.Lock()
	e.wclosed = true
	e.wmu.Unlock()
	e.writer.close()
	e.conn.Close()
	e.wg.Wait()
	close(e.closed)
	e.log.Info("endpoint stopped", zap.Stringer("addr", e.addr))
}
