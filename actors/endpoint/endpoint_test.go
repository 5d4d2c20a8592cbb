package endpoint

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/ratelimit"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// echoUpper answers every message of every receive flow on a return flow.
type echoUpper struct{}

func (echoUpper) Receive(ctx actor.Context) {
	if m, ok := ctx.Message().(*session.FlowOpened); ok {
		ctx.Send(ctx.Parent(), &session.AcceptFlow{FlowID: m.FlowID, PID: ctx.Self()})
	}
	if m, ok := ctx.Message().(*session.FlowMessage); ok {
		ctx.Send(ctx.Parent(), &session.Write{
			Key:      session.FlowKey{Metadata: "echo", Assoc: m.FlowID, HasAssoc: true},
			Data:     m.Data,
			Priority: session.PriorityControl,
		})
	}
}

// collector forwards what its session delivers to a channel.
type collector struct{ out chan any }

func (c *collector) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *session.FlowOpened:
		ctx.Send(ctx.Parent(), &session.AcceptFlow{FlowID: m.FlowID, PID: ctx.Self()})
		c.out <- m
	case *session.FlowMessage, *session.Closing:
		c.out <- m
	}
}

func testLogger(t *testing.T) *zap.Logger {
	return zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
}

func startServer(t *testing.T, sys *actor.ActorSystem, mut func(*Config)) *Endpoint {
	t.Helper()
	cfg := Config{
		Listen: "127.0.0.1:0",
		Log:    testLogger(t),
		Accept: &Accept{Upper: func(SessionInfo) actor.Actor {
			return echoUpper{}
		}},
	}
	if mut != nil {
		mut(&cfg)
	}
	e, err := Start(sys.Root, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
	})
	return e
}

func startClient(t *testing.T, sys *actor.ActorSystem) *Endpoint {
	t.Helper()
	return startClientWith(t, sys, nil)
}

func startClientWith(t *testing.T, sys *actor.ActorSystem, mut func(*Config)) *Endpoint {
	t.Helper()
	cfg := Config{Listen: "127.0.0.1:0", Log: testLogger(t)}
	if mut != nil {
		mut(&cfg)
	}
	e, err := Start(sys.Root, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
	})
	return e
}

type dialect struct {
	name   string
	groups []cryptoutil.DHGroup
	policy cryptoutil.Policy
	want   cryptoutil.Mode // the client's encrypt mode after negotiation
}

var dialects = []dialect{
	{"flash", []cryptoutil.DHGroup{cryptoutil.Group2}, cryptoutil.FlashInitiatorPolicy(), cryptoutil.Mode{}},
	{"rfc7425", []cryptoutil.DHGroup{cryptoutil.Group14, cryptoutil.Group2}, cryptoutil.StrictPolicy(), cryptoutil.Mode{SequenceNumbers: true, HMACLength: 16}},
}

func dialOnce(t *testing.T, client, server *Endpoint, d dialect, out chan any) DialResult {
	t.Helper()
	var keys []*cryptoutil.DHKey
	for _, g := range d.groups {
		k, err := cryptoutil.GenerateDHKey(g, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	res := make(chan DialResult, 1)
	client.Dial(DialOptions{
		URL: fmt.Sprintf("rtmfp://%s/app", server.Addr()), Addrs: []netip.AddrPort{server.Addr()},
		Keys: keys, Policy: d.policy, Timeout: 10 * time.Second,
		Upper: func(SessionInfo) actor.Actor {
			return &collector{out: out}
		},
	}, func(r DialResult) { res <- r })
	select {
	case r := <-res:
		if r.Err != nil {
			t.Fatalf("dial: %v", r.Err)
		}
		return r
	case <-time.After(15 * time.Second):
		t.Fatal("dial never finished")
	}
	return DialResult{}
}

// awaitEcho waits for the next message a collector's session delivers and fails unless
// it is want.
func awaitEcho(t *testing.T, out <-chan any, want []byte) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-out:
			if fm, ok := m.(*session.FlowMessage); ok {
				if !bytes.Equal(fm.Data, want) {
					t.Fatalf("echo of %d bytes %.40q, want %d bytes %.40q", len(fm.Data), fm.Data, len(want), want)
				}
				return
			}
		case <-deadline:
			t.Fatalf("no echo of the %d bytes %.40q", len(want), want)
		}
	}
}

func TestEchoOverLoopbackBothDialects(t *testing.T) {
	sys := actors.NewActorSystem(testLogger(t))
	server := startServer(t, sys, nil)
	client := startClient(t, sys)
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			out := make(chan any, 64)
			r := dialOnce(t, client, server, d, out)
			if r.Info.PeerID != server.PeerID() {
				t.Fatalf("server peer ID %s, want %s", r.Info.PeerID, server.PeerID())
			}
			if r.Info.Mode != d.want {
				t.Fatalf("negotiated %+v, want %+v", r.Info.Mode, d.want)
			}
			// One small and one fragmented message.
			big := bytes.Repeat([]byte("0123456789"), 1000)
			for _, msg := range [][]byte{[]byte("ping"), big} {
				sys.Root.Send(r.PID, &session.Write{Key: session.FlowKey{Metadata: "hello"}, Data: msg, Priority: session.PriorityControl})
				awaitEcho(t, out, msg)
			}
			if server.Sessions() < 1 {
				t.Fatalf("server has %d sessions", server.Sessions())
			}
		})
	}
}

// TestPeerOfferingOnlyGroup16Connects: an RFC 7425 initiator whose certificate holds only
// a group-16 key (no 14, no 2) finds group 16 in the server certificate and opens a
// session; its messages cross both ways.
func TestPeerOfferingOnlyGroup16Connects(t *testing.T) {
	sys := actors.NewActorSystem(testLogger(t))
	server := startServer(t, sys, nil)
	client := startClient(t, sys)
	out := make(chan any, 64)
	d := dialect{"group16", []cryptoutil.DHGroup{cryptoutil.Group16}, cryptoutil.StrictPolicy(), cryptoutil.Mode{SequenceNumbers: true, HMACLength: 16}}
	r := dialOnce(t, client, server, d, out)
	if r.Info.PeerID != server.PeerID() || r.Info.Mode != d.want {
		t.Fatalf("session %+v", r.Info)
	}
	sys.Root.Send(r.PID, &session.Write{Key: session.FlowKey{Metadata: "hello"}, Data: []byte("ping"), Priority: session.PriorityControl})
	awaitEcho(t, out, []byte("ping"))
}

// TestReaderHandlesLoneDatagrams: at light load (one datagram per read, its shard idle)
// the reader decrypts and dispatches the datagram itself; a burst goes through the
// shards. Both paths take turns on the same sessions' decrypters (the race detector
// watches them), and every message of a burst then of a ping-pong comes back, with no
// datagram refused as a replay or a bad sequence number.
func TestReaderHandlesLoneDatagrams(t *testing.T) {
	t.Parallel() // waits on loopback round trips and sleeps; its endpoints and sockets are its own
	sys := actors.NewActorSystem(testLogger(t))
	server := startServer(t, sys, nil)
	client := startClient(t, sys)
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			out := make(chan any, 1024)
			r := dialOnce(t, client, server, d, out)
			inline0 := server.Stats.ReadInline.Load()
			for round := range 3 {
				for i := range 200 {
					sys.Root.Send(r.PID, &session.Write{Key: session.FlowKey{Metadata: "burst"}, Data: fmt.Appendf(nil, "b%d-%d", round, i), Priority: session.PriorityControl})
				}
				for i := range 200 {
					awaitEcho(t, out, fmt.Appendf(nil, "b%d-%d", round, i))
				}
				for i := range 10 {
					msg := fmt.Sprintf("p%d-%d", round, i)
					sys.Root.Send(r.PID, &session.Write{Key: session.FlowKey{Metadata: "ping"}, Data: []byte(msg), Priority: session.PriorityControl})
					awaitEcho(t, out, []byte(msg))
				}
			}
			if server.Stats.ReadInline.Load() == inline0 {
				t.Error("no datagram of 30 ping-pongs was handled on the reader")
			}
			if n := server.Stats.DropReplay.Load() + server.Stats.DropBadSequence.Load() + server.Stats.DropBadChecksum.Load() + server.Stats.DropBadHMAC.Load(); n > 0 {
				t.Errorf("%d datagrams refused by their decrypter", n)
			}
		})
	}
}

// TestStartupPacketsOfASourceShareAShard: the startup packets of one source
// (ratelimit.Source) go to one shard whatever their port, or their host within an IPv6
// /64, so that the shard's count of the source's waiting handshake packets is the
// source's whole count (maxStartupWaiting per source, not per shard); session packets go
// by their session ID.
func TestStartupPacketsOfASourceShareAShard(t *testing.T) {
	sys := actors.NewActorSystem(testLogger(t))
	e := startServer(t, sys, func(c *Config) { c.Shards = 8 })
	for i := range 32 {
		v4 := netip.AddrFrom4([4]byte{10, 0, byte(i), 1})
		v6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(i), 15: 1})
		v6host := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(i), 8: 0xab, 15: 2})
		for _, same := range [][2]netip.AddrPort{
			{netip.AddrPortFrom(v4, 1000), netip.AddrPortFrom(v4, 2000)},
			{netip.AddrPortFrom(v4, 1000), netip.AddrPortFrom(netip.AddrFrom16(v4.As16()), 3000)}, // IPv4-mapped
			{netip.AddrPortFrom(v6, 1000), netip.AddrPortFrom(v6host, 2000)},
		} {
			if a, b := e.shardOf(0, same[0]), e.shardOf(0, same[1]); a != b {
				t.Fatalf("startup packets of %s and %s, one source, go to shards %d and %d", same[0], same[1], a.index, b.index)
			}
		}
	}
	if s := e.shardOf(13, netip.MustParseAddrPort("10.0.0.1:1000")); s.index != 13%8 {
		t.Fatalf("session 13 in shard %d of 8", s.index)
	}
}

// TestStartupWaitingForgetsIdleSourcesInBulk: a shard forgets the sources with no
// handshake packet waiting once it counts minSweepWaiting of them, and when most of them
// still have packets waiting (a flood from many sources) it does not look again before
// it counts twice as many: a new source does not cost a scan of all the others.
func TestStartupWaitingForgetsIdleSourcesInBulk(t *testing.T) {
	s := newShard(&Endpoint{cfg: Config{ShardQueue: 1}}, 0)
	source := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 1000)
	}
	for i := range minSweepWaiting {
		s.startupWaiting(source(i)).Add(1) // a packet waits for each
	}
	idle := s.startupWaiting(source(0))
	idle.Add(-1)
	s.startupWaiting(source(minSweepWaiting)) // the map is full: sweeps
	if _, ok := s.waiting[ratelimit.Source(source(0).Addr())]; ok || len(s.waiting) != minSweepWaiting {
		t.Fatalf("after the sweep: %d sources, the idle one kept %v", len(s.waiting), ok)
	}
	s.startupWaiting(source(1)).Add(-1) // idle now, but the next sweep is at twice the size
	for i := minSweepWaiting + 1; i < 2*minSweepWaiting-1; i++ {
		s.startupWaiting(source(i))
	}
	if _, ok := s.waiting[ratelimit.Source(source(1).Addr())]; !ok {
		t.Fatal("the shard swept its sources before it counted twice as many")
	}
	s.startupWaiting(source(2 * minSweepWaiting))
	if _, ok := s.waiting[ratelimit.Source(source(1).Addr())]; ok {
		t.Fatal("the shard did not sweep its sources once it counted twice as many")
	}
}

// BenchmarkShardOfStartupPacket is the choice of a startup packet's shard, which the
// reader makes for every handshake datagram.
func BenchmarkShardOfStartupPacket(b *testing.B) {
	sys := actors.NewActorSystem(zap.NewNop())
	e, err := Start(sys.Root, Config{Listen: "127.0.0.1:0", Accept: &Accept{}})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Stop(context.Background())
	from := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.7:50123"), netip.MustParseAddrPort("[2001:db8::1]:50123")}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = e.shardOf(0, from[i&1])
	}
}

// TestStartRefusesAMalformedCertificate: a certificate given in Accept is parsed once, at
// Start, which refuses one that is not an option list.
func TestStartRefusesAMalformedCertificate(t *testing.T) {
	sys := actors.NewActorSystem(zap.NewNop())
	defer sys.Shutdown()
	ep, err := Start(sys.Root, Config{Listen: "127.0.0.1:0", Log: zap.NewNop(), Accept: &Accept{Certificate: []byte{0x05, 0x0A}}})
	if err == nil {
		_ = ep.Stop(context.Background())
		t.Fatal("Start accepted a truncated certificate")
	}
}

// TestIdleSessionsReleaseKeySchedules: sessions idle for session.KeyScheduleIdle give back
// the AES key schedules of both directions (the session its encrypter, the shard its
// decrypter), and the next messages, in both dialects, still cross both ways intact.
func TestIdleSessionsReleaseKeySchedules(t *testing.T) {
	sys := actors.NewActorSystem(testLogger(t))
	warp := clock.NewWarp() // both endpoints' clock: the test skips the idle time
	server := startServer(t, sys, func(c *Config) { c.Clock = warp })
	client := startClientWith(t, sys, func(c *Config) { c.Clock = warp })
	type conn struct {
		r   DialResult
		out chan any
	}
	var conns []conn
	for _, d := range dialects {
		out := make(chan any, 64)
		conns = append(conns, conn{dialOnce(t, client, server, d, out), out})
	}
	echo := func(c conn, msg []byte) {
		t.Helper()
		sys.Root.Send(c.r.PID, &session.Write{Key: session.FlowKey{Metadata: "hello"}, Data: msg, Priority: session.PriorityControl})
		awaitEcho(t, c.out, msg)
	}
	for _, c := range conns {
		echo(c, []byte("before"))
	}
	// Skipped in steps until the releases are seen: a session that sends once more after
	// the first skip (something it still owed for the echo) is idle only KeyScheduleIdle
	// after that, which a single skip then waited out in real time.
	warp.Skip(session.KeyScheduleIdle + 500*time.Millisecond)
	skipThrough(t, warp, 5*time.Second, "idle sessions to release their encrypters", func() bool {
		return server.SessionStats.KeyReleases.Load() >= 2 && client.SessionStats.KeyReleases.Load() >= 2
	})
	for _, c := range conns {
		echo(c, bytes.Repeat([]byte("after "), 500))
	}
	// Each of the four sessions released its encrypter; each endpoint's shards swept the
	// decrypters of the sessions idle when the first datagram after the pause arrived.
	if n := server.SessionStats.KeyReleases.Load(); n < 2 {
		t.Errorf("server sessions released %d encrypter key schedules, want at least 2", n)
	}
	if n := client.SessionStats.KeyReleases.Load(); n < 2 {
		t.Errorf("client sessions released %d encrypter key schedules, want at least 2", n)
	}
	if n := server.Stats.KeyReleases.Load() + client.Stats.KeyReleases.Load(); n < 2 {
		t.Errorf("shards released %d decrypter key schedules, want at least 2", n)
	}
}

// lifeUpper echoes like echoUpper, panics on "boom", and reports its stop.
type lifeUpper struct{ stopped chan<- struct{} }

func (u lifeUpper) Receive(ctx actor.Context) {
	defer supervision.Repanic()
	switch m := ctx.Message().(type) {
	case *session.FlowMessage:
		if string(m.Data) == "boom" {
			panic("boom")
		}
	case *actor.Stopped:
		u.stopped <- struct{}{}
	}
	echoUpper{}.Receive(ctx)
}

// TestUpperActorEndsWithItsSession: the upper actor, a child of its session without being
// in protoactor's children set, is stopped by its session however the session ends — a
// far close, a forced stop — and a panic in it closes its session (the far end is told).
func TestUpperActorEndsWithItsSession(t *testing.T) {
	sys := actors.NewActorSystem(testLogger(t))
	stopped := make(chan struct{}, 8)
	server := startServer(t, sys, func(c *Config) {
		c.Session.CloseLinger = 50 * time.Millisecond
		c.Log = zap.NewNop() // the panic below is logged as an error
		c.Accept.Upper = func(SessionInfo) actor.Actor { return lifeUpper{stopped: stopped} }
	})
	client := startClient(t, sys)
	waitStopped := func(what string) {
		t.Helper()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the upper actor was not stopped", what)
		}
	}
	waitSessions := func(what string, n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for server.Sessions() != n {
			if time.Now().After(deadline) {
				t.Fatalf("%s: server has %d sessions, want %d", what, server.Sessions(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	send := func(r DialResult, msg string) {
		sys.Root.Send(r.PID, &session.Write{Key: session.FlowKey{Metadata: "m"}, Data: []byte(msg), Priority: session.PriorityControl})
	}

	// The client closes: the server's session lingers, finishes and stops its upper, and
	// ends when the upper has (its Terminated reaches a live session, not dead letters).
	var lateTerminated atomic.Int32
	sub := sys.EventStream.Subscribe(func(ev any) {
		if dl, ok := ev.(*actor.DeadLetterEvent); ok {
			if _, ok := dl.Message.(*actor.Terminated); ok {
				lateTerminated.Add(1)
			}
		}
	})
	defer sys.EventStream.Unsubscribe(sub)
	out := make(chan any, 64)
	r := dialOnce(t, client, server, dialects[0], out)
	send(r, "hello")
	sys.Root.Send(r.PID, &session.Close{Reason: session.ReasonLocal})
	waitStopped("far close")
	waitSessions("far close", 0)
	if n := lateTerminated.Load(); n != 0 {
		t.Fatalf("far close: %d Terminated messages went to dead letters", n)
	}

	// The upper panics: its session closes and tells the client.
	out = make(chan any, 64)
	r = dialOnce(t, client, server, dialects[0], out)
	send(r, "boom")
	waitStopped("panic")
	deadline := time.After(5 * time.Second)
	for closed := false; !closed; {
		select {
		case m := <-out:
			_, closed = m.(*session.Closing)
		case <-deadline:
			t.Fatal("panic: the client's session was not closed")
		}
	}
	waitSessions("panic", 0)

	// A forced stop (the endpoint stops without waiting for closes): the upper stops too.
	out = make(chan any, 64)
	r = dialOnce(t, client, server, dialects[0], out)
	send(r, "hello")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = server.Stop(ctx)
	waitStopped("forced stop")
}
