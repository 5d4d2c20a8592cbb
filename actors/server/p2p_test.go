package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/internal/netsim"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/messages"
)

func dial(t *testing.T, f *fixture, url string, o client.Options) *client.Conn {
	t.Helper()
	c, err := client.Dial(ctxT(t, 15*time.Second), f.sys, url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// lookup asks the server's directory about a peer.
func lookup(t *testing.T, f *fixture, id cryptoutil.PeerID) *messages.LookupPeerResult {
	t.Helper()
	r, err := f.sys.Root.RequestFuture(f.srv.Directory(), &messages.LookupPeer{PeerId: id[:]}, 5*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	return r.(*messages.LookupPeerResult)
}

// playUntil plays "x" from peer until done reports what the test waits for (or 10 s
// passed), then gives the play up; it returns the play's error.
func playUntil(t *testing.T, c *client.Conn, peer cryptoutil.PeerID, done func() bool) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan error, 1)
	go func() {
		p, err := c.PlayPeer(ctx, peer, "x")
		if err == nil {
			p.Close()
		}
		errs <- err
	}()
	waitUntil(t, "the server to handle the lookup", 10*time.Second, done)
	cancel()
	return <-errs
}

func TestDirectStreamBetweenPeersThroughRendezvous(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Config{})
	b := dial(t, f, f.url, client.Options{AcceptPeers: true})
	a := dial(t, f, f.url, client.Options{})
	c := dial(t, f, f.url, client.Options{Dialect: client.RFC7425}) // a bystander
	pub := b.PublishDirect("cam")
	defer pub.Close()

	srvEP := f.srv.Endpoints()[0]
	before := f.srv.RendezvousStats().Introductions.Load()
	player, err := a.PlayPeer(ctxT(t, 15*time.Second), b.PeerID(), "cam")
	if err != nil {
		t.Fatalf("A could not play B's direct stream: %v", err)
	}
	defer player.Close()
	if n := f.srv.RendezvousStats().Introductions.Load() - before; n < 1 {
		t.Fatalf("the server made %d introductions", n)
	}
	// The server forwards A's IHello to B over B's session with it while it redirects A to
	// B's addresses: two paths, and A's own handshake with B may be done before B's
	// session with the server has read the forwarded one. Wait for it: it comes.
	waitUntil(t, "B to receive the server's forwarded IHello", 5*time.Second, func() bool {
		return b.Endpoint().Stats.ForwardedHellos.Load() >= 1
	})
	waitUntil(t, "B to see A as a subscriber", 5*time.Second, func() bool { return b.Subscribers("cam") == 1 })

	// Media flows B → A over the direct session; the server sees none of it.
	serverIn := srvEP.Stats.DatagramsIn.Load()
	const n = 300
	sent := make([][]byte, n)
	for i := range sent {
		payload := make([]byte, 200+i%800)
		_, _ = rand.Read(payload)
		payload[0] = 0xAF // AAC audio
		sent[i] = payload
		// Reliable: every message must arrive, and the direct publisher's audio lifetime
		// is wall-clock (300 written at once wait behind each other on a busy machine).
		if err := pub.Write(client.Media{Type: flash.TypeAudio, Timestamp: uint32(i * 20), Data: payload, Reliable: true}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		select {
		case m := <-player.C:
			if m.Type != flash.TypeAudio || m.Timestamp != uint32(i*20) || !bytes.Equal(m.Data, sent[i]) {
				t.Fatalf("message %d arrived as type %d ts %d (%d bytes)", i, m.Type, m.Timestamp, len(m.Data))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d direct messages arrived", i, n)
		}
	}
	if extra := srvEP.Stats.DatagramsIn.Load() - serverIn; extra > 20 {
		t.Fatalf("the server received %d datagrams while %d media messages went peer to peer", extra, n)
	}
	// The bystander is unaffected.
	if got, err := c.Call(ctxT(t, 5*time.Second), "echo", "ok"); err != nil || got[0] != "ok" {
		t.Fatalf("bystander: %v %v", got, err)
	}
}

func TestRelayReachesTheTargetAsOnRelay(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Config{})
	relayed := make(chan []any, 1)
	b := dial(t, f, f.url, client.Options{Handler: func(method string, args []any) {
		if method == "onRelay" {
			relayed <- args
		}
	}})
	a := dial(t, f, f.url, client.Options{Dialect: client.RFC7425})
	if _, err := a.Call(ctxT(t, 5*time.Second), "relay", b.PeerID().String(), "hello", 42.0); err != nil {
		t.Fatal(err)
	}
	select {
	case args := <-relayed:
		if len(args) != 3 || args[0] != a.PeerID().String() || args[1] != "hello" || args[2] != 42.0 {
			t.Fatalf("onRelay args %v, want [%s hello 42]", args, a.PeerID())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("relay never reached B")
	}
	var unknown cryptoutil.PeerID
	_, _ = rand.Read(unknown[:])
	var ce *client.CallError
	if _, err := a.Call(ctxT(t, 5*time.Second), "relay", unknown.String(), "x"); !errors.As(err, &ce) || ce.Status.Code != flash.CodeCallFailed {
		t.Fatalf("relay to an unknown peer: %v", err)
	}
	if _, err := a.Call(ctxT(t, 5*time.Second), "relay", "not-a-peer-id"); !errors.As(err, &ce) {
		t.Fatalf("relay with a malformed peer ID: %v", err)
	}
	if f.srv.Stats().Relay.RelaysUnknown.Load() != 1 {
		t.Fatalf("unknown relays counted: %d", f.srv.Stats().Relay.RelaysUnknown.Load())
	}
}

func TestRelayLimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Config{})
	b := dial(t, f, f.url, client.Options{})
	a := dial(t, f, f.url, client.Options{})
	var ce *client.CallError
	if _, err := a.Call(ctxT(t, 5*time.Second), "relay", b.PeerID().String(), string(make([]byte, 70<<10))); !errors.As(err, &ce) {
		t.Fatalf("oversized relay: %v", err)
	}
	// A burst beyond the rate: some calls are refused and counted, none crash anything.
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	for i := 0; i < 300; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := a.Call(ctxT(t, 10*time.Second), "relay", b.PeerID().String(), "burst"); errors.As(err, new(*client.CallError)) {
				mu.Lock()
				refused++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if refused == 0 || f.srv.Stats().Relay.RelaysLimited.Load() < 2 {
		t.Fatalf("no relay was limited (refused %d, counted %d)", refused, f.srv.Stats().Relay.RelaysLimited.Load())
	}
	if _, err := b.Call(ctxT(t, 5*time.Second), "echo", "fine"); err != nil {
		t.Fatalf("target after the burst: %v", err)
	}
}

// rendezvousHandler answers unknown peers with fixed addresses.
type rendezvousHandler struct {
	mu    sync.Mutex
	asked []cryptoutil.PeerID
	addrs []netip.AddrPort
}

func (h *rendezvousHandler) OnRendezvousUnknown(p cryptoutil.PeerID) []netip.AddrPort {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.asked = append(h.asked, p)
	return h.addrs
}

func TestUnknownPeerGoesToTheApplicationOrNowhere(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Config{})
	a := dial(t, f, f.url, client.Options{})
	var nobody cryptoutil.PeerID
	_, _ = rand.Read(nobody[:])
	// Nothing answers a lookup of a peer that is nowhere: the play fails once the lookup
	// is counted as unknown (and the test stops waiting).
	if err := playUntil(t, a, nobody, func() bool { return f.srv.RendezvousStats().Unknown.Load() > 0 }); err == nil {
		t.Fatal("playing from a peer that is nowhere succeeded")
	}

	// With a handler, the server redirects to what the application names.
	h := &rendezvousHandler{addrs: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9")}}
	sys := actors.NewActorSystem(logger(t))
	cfg := server.Defaults()
	cfg.Listen = []string{"127.0.0.1:0"}
	cfg.RTMP, cfg.Media = server.Off, server.Off
	srv, err := server.Start(sys.Root, cfg, server.Options{Log: logger(t), Rendezvous: h})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop(context.Background()); sys.Shutdown() }()
	c, err := client.Dial(ctxT(t, 10*time.Second), sys, fmt.Sprintf("rtmfp://%s/x", srv.Addrs()[0]), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = playUntil(t, c, nobody, func() bool { return srv.RendezvousStats().Redirected.Load() > 0 })
	h.mu.Lock()
	asked := len(h.asked) > 0 && h.asked[0] == nobody
	h.mu.Unlock()
	if !asked || srv.RendezvousStats().Redirected.Load() == 0 {
		t.Fatalf("handler asked %v, redirected %d", asked, srv.RendezvousStats().Redirected.Load())
	}
}

// ACTORRTMFP_RENDEZVOUS_RATE bounds the lookups of one address (here one a second, in
// bursts of two): of 80 lookups at once, some are refused.
//
// The lookups are given until the server has counted them all (issue 26): each used to
// end after 300 ms, and on a busy machine only 14 of the 80 reached the server by then,
// within the burst. The rate is the lowest so that the burst is the same whatever the
// machine's speed: 80 lookups spread over less than 78 s exceed it.
func TestLookupsPerAddressAreLimited(t *testing.T) {
	t.Parallel()
	const lookups = 80
	f := startServer(t, server.Options{}, func(c *server.Config) { c.RendezvousRate = 1 })
	a := dial(t, f, f.url, client.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range lookups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var id cryptoutil.PeerID
			_, _ = rand.Read(id[:])
			_, _ = a.PlayPeer(ctx, id, "x") // nobody has the id: it never succeeds
		}()
	}
	st := f.srv.RendezvousStats()
	waitUntil(t, "every lookup at the server", 30*time.Second, func() bool { return st.Lookups.Load() >= lookups })
	cancel()
	wg.Wait()
	if st.Limited.Load() == 0 {
		t.Fatalf("%d lookups in a burst from one address, none limited (lookups %d)", lookups, st.Lookups.Load())
	}
}

func TestLookupFollowsAPeerThatChangedAddress(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Config{})
	relay, err := netsim.New(f.srv.Addrs()[0], netsim.Link{}, netsim.Link{}, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	// B reaches the server through a NAT-like relay and announces no private address, so
	// only its public (relay-side) address can be used to reach it.
	b := dial(t, f, fmt.Sprintf("rtmfp://%s/live", relay.Addr()), client.Options{AcceptPeers: true, SkipPeerInfo: true})
	pub := b.PublishDirect("cam")
	defer pub.Close()
	first := lookup(t, f, b.PeerID())
	if !first.Found {
		t.Fatal("B is not in the directory")
	}
	if err := relay.Rebind(); err != nil {
		t.Fatal(err)
	}
	// Traffic from the new port makes the server check and adopt the new address.
	if _, err := b.Call(ctxT(t, 5*time.Second), "echo", "moved"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the directory to learn B's new address", 10*time.Second, func() bool {
		return lookup(t, f, b.PeerID()).Peer.GetPublicAddress() != first.Peer.PublicAddress
	})
	if f.srv.Endpoints()[0].SessionStats.AddressChanges.Load() == 0 {
		t.Fatal("no address change counted")
	}
	// A reaches B at its new address.
	a := dial(t, f, f.url, client.Options{})
	player, err := a.PlayPeer(ctxT(t, 15*time.Second), b.PeerID(), "cam")
	if err != nil {
		t.Fatalf("A could not reach B after B moved: %v", err)
	}
	player.Close()
}

func TestServerPeerIDIsAValidTarget(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Config{})
	a := dial(t, f, f.url, client.Options{})
	if a.ServerPeerID() != f.srv.Endpoints()[0].PeerID() {
		t.Fatalf("farID %s, server peer ID %s", a.ServerPeerID(), f.srv.Endpoints()[0].PeerID())
	}
	// Asking the server for the server's own peer ID is a normal handshake, not a
	// rendezvous: no introduction, a session opens (it has no stream to play).
	before := f.srv.RendezvousStats().Lookups.Load()
	opened := f.srv.Stats().NetConn.Connections.Load()
	_ = playUntil(t, a, a.ServerPeerID(), func() bool { return f.srv.Stats().NetConn.Connections.Load() > opened })
	if f.srv.RendezvousStats().Lookups.Load() != before {
		t.Fatal("a handshake to the server's own peer ID was treated as a rendezvous")
	}
	if f.srv.Stats().NetConn.Connections.Load() <= opened {
		t.Fatal("no session opened for the server's own peer ID")
	}
}
