package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/messages"
)

// startServer is newFixture with every option open: opts.Apps defaults to the fixture's
// testApp on "live", opts.Log to the test logger, opts.Clock to a clock.Warp the test may
// skip forward (fixture.clock); mut may change the configuration.
func startServer(t testing.TB, opts server.Options, mut func(*server.Config)) *fixture {
	t.Helper()
	sys := actors.NewActorSystem(logger(t))
	warp := clock.NewWarp()
	if opts.Clock == nil {
		opts.Clock = warp
	}
	cfg := server.Defaults()
	cfg.Listen = []string{"127.0.0.1:0"}
	cfg.RTMP = "127.0.0.1:0"
	cfg.Media = t.TempDir()
	cfg.Shards = 2
	// Every client of a test comes from 127.0.0.1, where real clients come from addresses
	// of their own: the IHello rate and the sessions not heard from per address would
	// make a test's hundred clients queue. Tests of those limits set them back
	// (security_test.go).
	cfg.HelloRate, cfg.PendingPerAddress = 100000, 100000
	if mut != nil {
		mut(&cfg)
	}
	ta := &testApp{}
	if opts.Apps == nil {
		opts.Apps = app.Static{Apps: map[string]app.Application{"live": ta}}
	}
	if opts.Log == nil {
		opts.Log = logger(t)
	}
	srv, err := server.Start(sys.Root, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
		sys.Shutdown()
	})
	return &fixture{sys: sys, srv: srv, app: ta, clock: warp, url: fmt.Sprintf("rtmfp://%s/live", srv.Addrs()[0])}
}

// newClientEndpoint opens a client endpoint on loopback, closed with the test.
func newClientEndpoint(t *testing.T, f *fixture, cfg client.EndpointConfig) *client.Endpoint {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Log == nil {
		cfg.Log = logger(t)
	}
	e, err := client.NewEndpoint(f.sys, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Close(ctx)
	})
	return e
}

// echoOnce calls echo with a value unique to the caller and checks the answer.
func echoOnce(ctx context.Context, c *client.Conn, token string) error {
	got, err := c.Call(ctx, "echo", token)
	if err != nil {
		return fmt.Errorf("echo %q: %w", token, err)
	}
	if len(got) != 1 || got[0] != token {
		return fmt.Errorf("echo %q answered %v", token, got)
	}
	return nil
}

// settledGoroutines returns the fewest goroutines seen over a short while, so that a
// baseline does not count goroutines that were about to end (actor dispatches, timers).
func settledGoroutines() int {
	n := countGoroutines()
	for range 15 {
		time.Sleep(20 * time.Millisecond)
		n = min(n, countGoroutines())
	}
	return n
}

// countGoroutines counts the process's goroutines except protoactor's dead-letter
// throttle: the actor system starts one when a message reaches a stopped actor (as
// messages to a closing session may) and it ends by itself a throttle interval (1 s)
// later — a second the leak check would otherwise wait for.
func countGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		if n := runtime.Stack(buf, true); n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	n := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if len(bytes.TrimSpace(g)) > 0 && !(bytes.Contains(g, []byte("protoactor-go/actor.")) && bytes.Contains(g, []byte("NewThrottle"))) {
			n++
		}
	}
	return n
}

// waitGoroutines polls until the number of goroutines is back to at most baseline and
// fails with every goroutine's stack if it does not get there.
func waitGoroutines(t *testing.T, baseline int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		n := countGoroutines()
		if n <= baseline {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutine leak: %d goroutines %s after the test, baseline %d; stacks:\n%s", n, d, baseline, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rawPeer speaks the RTMFP handshake by hand from a plain UDP socket, to send exactly the
// packets a test wants (hostile or replayed ones) and, once keyed, to seal session
// packets itself.
type rawPeer struct {
	conn *net.UDPConn
	boot *cryptoutil.Encrypter
	open *cryptoutil.Decrypter
	buf  []byte
}

func newRawPeer(t testing.TB) *rawPeer {
	t.Helper()
	return newRawPeerAt(t, "127.0.0.1")
}

// newRawPeerAt is a raw peer on another loopback address (127.0.0.0/8 is all loopback on
// Linux): a source address of its own for the server's per-address limits.
func newRawPeerAt(t testing.TB, ip string) *rawPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawPeer{conn: c, boot: cryptoutil.NewStartupEncrypter(), open: cryptoutil.NewStartupDecrypter(), buf: make([]byte, 8192)}
}

func (p *rawPeer) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// startup seals one handshake chunk in a startup packet (default key) to farID.
func (p *rawPeer) startup(farID uint32, c rtmfp.ChunkEncoder) []byte {
	pw := rtmfp.NewPacketWriter(nil, rtmfp.Header{Flags: rtmfp.ModeStartup}.WithTimestamp(uint16(time.Now().UnixMilli()/4)), rtmfp.MaxStartupPacketSize)
	if !pw.WriteChunk(c) {
		panic("handshake chunk does not fit a startup packet")
	}
	return p.boot.Seal(nil, farID, pw.Packet())
}

func (p *rawPeer) send(to netip.AddrPort, datagram []byte) error {
	_, err := p.conn.WriteToUDPAddrPort(datagram, to)
	return err
}

// readStartup waits for a startup packet and returns its first chunk (type and a copy of
// its payload). Datagrams that are not startup packets are skipped.
func (p *rawPeer) readStartup(timeout time.Duration) (byte, []byte, error) {
	deadline := time.Now().Add(timeout)
	for {
		_ = p.conn.SetReadDeadline(deadline)
		n, _, err := p.conn.ReadFromUDPAddrPort(p.buf)
		if err != nil {
			return 0, nil, err
		}
		// Answers to IIKeying are addressed to our initiator session ID, still with the
		// default key: whatever does not open with it is not a startup packet.
		packet, _, err := p.open.Open(nil, p.buf[:n])
		if err != nil {
			continue
		}
		r, err := rtmfp.NewPacketReader(packet)
		if err != nil || r.Header().Mode() != rtmfp.ModeStartup || !r.Next() {
			continue
		}
		c := r.Chunk()
		return c.Type, append([]byte(nil), c.Payload...), nil
	}
}

// hello sends an IHello for url and returns the server's RHello.
func (p *rawPeer) hello(server netip.AddrPort, url string) (rtmfp.RHello, error) {
	tag := make([]byte, 16)
	_, _ = rand.Read(tag)
	ihello := p.startup(0, rtmfp.IHello{EPD: rtmfp.AppendEPDURL(nil, url), Tag: tag})
	for attempt := 0; attempt < 5; attempt++ {
		if err := p.send(server, ihello); err != nil {
			return rtmfp.RHello{}, err
		}
		typ, payload, err := p.readStartup(time.Second)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			continue
		}
		if err != nil {
			return rtmfp.RHello{}, err
		}
		if typ != rtmfp.ChunkRHello {
			return rtmfp.RHello{}, fmt.Errorf("answer to IHello is chunk %#x, want RHello", typ)
		}
		rh, err := rtmfp.ParseRHello(payload)
		if err != nil {
			return rtmfp.RHello{}, err
		}
		if string(rh.Tag) != string(tag) {
			return rtmfp.RHello{}, errors.New("RHello echoes another tag")
		}
		return rh, nil
	}
	return rtmfp.RHello{}, errors.New("no RHello after 5 IHellos")
}

// initiatorKeying is what an initiator sends in IIKeying and keeps to finish the keying.
type initiatorKeying struct {
	localID uint32
	key     *cryptoutil.DHKey
	skic    []byte
	cert    []byte
	policy  cryptoutil.Policy
}

func newInitiatorKeying(policy cryptoutil.Policy) (*initiatorKeying, error) {
	key, err := cryptoutil.GenerateDHKey(cryptoutil.Group2, rand.Reader)
	if err != nil {
		return nil, err
	}
	random := make([]byte, 64)
	_, _ = rand.Read(random)
	var id [4]byte
	_, _ = rand.Read(id[:])
	return &initiatorKeying{
		localID: uint32(id[0])<<24 | uint32(id[1])<<16 | uint32(id[2])<<8 | uint32(id[3]) | 1,
		key:     key, policy: policy,
		skic: cryptoutil.AppendInitiatorComponent(nil, cryptoutil.Group2, random, policy),
		cert: cryptoutil.AppendStaticCertificate(nil, key),
	}, nil
}

// iikeying is the IIKeying datagram echoing cookie.
func (p *rawPeer) iikeying(k *initiatorKeying, cookie []byte) []byte {
	return p.startup(0, rtmfp.IIKeying{InitiatorSessionID: k.localID, Cookie: cookie, Certificate: k.cert, SKIC: k.skic, Signature: []byte{'X'}})
}

// rawSession is a session keyed by hand: the test seals its packets itself.
type rawSession struct {
	peer   *rawPeer
	server netip.AddrPort
	farID  uint32
	enc    *cryptoutil.Encrypter
	dec    *cryptoutil.Decrypter
}

// handshake completes a whole handshake with server (Flash-style group 2 keys, the given
// policy) and returns the keyed session.
func (p *rawPeer) handshake(server netip.AddrPort, url string, policy cryptoutil.Policy) (*rawSession, error) {
	rh, err := p.hello(server, url)
	if err != nil {
		return nil, err
	}
	k, err := newInitiatorKeying(policy)
	if err != nil {
		return nil, err
	}
	if err := p.send(server, p.iikeying(k, rh.Cookie)); err != nil {
		return nil, err
	}
	typ, payload, err := p.readStartup(5 * time.Second)
	if err != nil {
		return nil, fmt.Errorf("waiting for RIKeying: %w", err)
	}
	if typ != rtmfp.ChunkRIKeying {
		return nil, fmt.Errorf("answer to IIKeying is chunk %#x, want RIKeying", typ)
	}
	return p.keyed(server, k, payload, policy)
}

// helloAndKeying gets a cookie from server and returns it with a fresh Flash-style
// initiator keying and the IIKeying datagram that spends the cookie.
func (p *rawPeer) helloAndKeying(server netip.AddrPort, url string) (rtmfp.RHello, *initiatorKeying, []byte, error) {
	rh, err := p.hello(server, url)
	if err != nil {
		return rh, nil, nil, err
	}
	k, err := newInitiatorKeying(cryptoutil.FlashInitiatorPolicy())
	if err != nil {
		return rh, nil, nil, err
	}
	return rh, k, p.iikeying(k, rh.Cookie), nil
}

// keyed returns the session that the RIKeying payload answers to k's IIKeying.
func (p *rawPeer) keyed(server netip.AddrPort, k *initiatorKeying, rikeying []byte, policy cryptoutil.Policy) (*rawSession, error) {
	ri, err := rtmfp.ParseRIKeying(rikeying)
	if err != nil {
		return nil, err
	}
	agreement, peerKey, err := cryptoutil.NegotiateInitiator(policy, ri.SKRC, cryptoutil.Group2)
	if err != nil {
		return nil, err
	}
	secret, err := k.key.SharedSecret(peerKey)
	if err != nil {
		return nil, err
	}
	enc, dec, err := cryptoutil.NewSessionCrypto(cryptoutil.Initiator, secret, k.skic, ri.SKRC, agreement)
	if err != nil {
		return nil, err
	}
	return &rawSession{peer: p, server: server, farID: ri.ResponderSessionID, enc: enc, dec: dec}, nil
}

// seal returns the datagram carrying chunks (an initiator-mode packet with a timestamp).
func (s *rawSession) seal(dst []byte, chunks ...rtmfp.ChunkEncoder) []byte {
	pw := rtmfp.NewPacketWriter(nil, rtmfp.Header{Flags: rtmfp.ModeInitiator}.WithTimestamp(uint16(time.Now().UnixMilli()/4)), rtmfp.MaxPacketSize)
	for _, c := range chunks {
		if !pw.WriteChunk(c) {
			panic("chunks do not fit a packet")
		}
	}
	return s.enc.Seal(dst, s.farID, pw.Packet())
}

// lookupPeer asks the server's directory about a peer ID.
func lookupPeer(t *testing.T, f *fixture, id cryptoutil.PeerID) *messages.LookupPeerResult {
	t.Helper()
	r, err := f.sys.Root.RequestFuture(f.srv.Directory(), &messages.LookupPeer{PeerId: id[:]}, 5*time.Second).Result()
	if err != nil {
		t.Fatalf("directory lookup: %v", err)
	}
	lr, ok := r.(*messages.LookupPeerResult)
	if !ok {
		t.Fatalf("directory answered a lookup with %T", r)
	}
	return lr
}
