package server_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/endpoint"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

func readCapture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "flash-session", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// floodKinds are the kinds of hostile datagram the flood cycles through.
const (
	floodGarbageZero    = iota // random bytes, random length 1-1500, session ID 0
	floodGarbage               // random bytes, random length 1-1500, random session ID
	floodUnknownSession        // 4+16k bytes (a plausible packet), random non-zero session ID
	floodShort                 // 1-19 bytes
	floodIHello                // the captured Flash IHello, replayed
	floodIIKeying              // the captured Flash IIKeying: a cookie this server never minted
	floodOversize              // 4,609-9,000 random bytes: more than the server reads per datagram
	floodKinds
)

// flood sends hostile datagrams to the server until stop closes, at about rate
// datagrams per second, and counts what it sent of each kind.
func flood(p *rawPeer, to netip.AddrPort, seed uint64, ihello, iikeying []byte, rate int, stop <-chan struct{}, sent *[floodKinds]atomic.Uint64) {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	buf := make([]byte, 9000)
	const burst = 10
	tick := time.NewTicker(time.Second * burst / time.Duration(rate))
	defer tick.Stop()
	for i := 0; ; i++ {
		if i%burst == 0 {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
		kind := i % floodKinds
		var d []byte
		switch kind {
		case floodGarbageZero, floodGarbage:
			d = buf[:1+rng.IntN(1500)]
			fillRandom(rng, d)
			if kind == floodGarbageZero {
				cryptoutil.ScrambleSessionID(d, 0)
			}
		case floodUnknownSession:
			d = buf[:4+16*(1+rng.IntN(70))]
			fillRandom(rng, d)
			cryptoutil.ScrambleSessionID(d, rng.Uint32()|1)
		case floodShort:
			d = buf[:1+rng.IntN(19)]
			fillRandom(rng, d)
		case floodIHello:
			d = ihello
		case floodIIKeying:
			d = iikeying
		case floodOversize:
			d = buf[:4609+rng.IntN(9000-4609)]
			fillRandom(rng, d)
			cryptoutil.ScrambleSessionID(d, rng.Uint32()|1)
		}
		_ = p.send(to, d)
		sent[kind].Add(1)
	}
}

func fillRandom(rng *rand.Rand, b []byte) {
	for i := 0; i < len(b); i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], rng.Uint64())
		copy(b[i:], w[:])
	}
}

// TestHostileTrafficWhileClientsConnect floods the server, from an address of its own,
// with garbage, packets for sessions that do not exist, replayed captured handshakes, a
// stale cookie and a cookie replayed from another address while 50 clients connect:
// every client must be served,
// every kind of hostile datagram must be counted where it was dropped, and none may
// create a session.
func TestHostileTrafficWhileClientsConnect(t *testing.T) {
	// Parallel: the flood is paced (5,000 datagrams a second), and the test takes a tenth
	// of a core for its 2.5 s.
	t.Parallel()
	const clients = 50
	// The cookies live their default 95 s: the stale cookie is made stale by skipping the
	// server's clock, not by a short lifetime, which a client's own handshake outlived on a
	// busy machine (its IIKeying answered nothing: "handshake timed out", issue 26).
	f := startServer(t, server.Options{}, nil)
	srvAddr := f.srv.Addrs()[0]
	st := &f.srv.Endpoints()[0].Stats
	eps := []*client.Endpoint{newClientEndpoint(t, f, client.EndpointConfig{}), newClientEndpoint(t, f, client.EndpointConfig{})}

	// A real cookie for the stale-cookie attack, minted now and used after it expired.
	stalePeer := newRawPeer(t)
	_, _, staleIIKeying, err := stalePeer.helloAndKeying(srvAddr, f.url)
	if err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var sent [floodKinds]atomic.Uint64
	var floodDone sync.WaitGroup
	floodDone.Add(1)
	go func() {
		defer floodDone.Done()
		// From an address of its own: the server limits IHellos per source address, and
		// clients behind the flooder's address would share its limit.
		flood(newRawPeerAt(t, "127.0.0.2"), srvAddr, 42, readCapture(t, "IHello.dat"), readCapture(t, "IIKeying.dat"), 5000, stop, &sent)
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		floodDone.Wait()
	}()

	// The stale cookie is sent while the clients connect (with the 25th).
	staleErr := make(chan error, 1)
	// A genuine, fresh cookie minted for one address, replayed in an IIKeying from
	// another: the server must answer with a Cookie Change for the new address.
	owner, thief := newRawPeer(t), newRawPeer(t)
	rh, err := owner.hello(srvAddr, f.url)
	if err != nil {
		t.Fatal(err)
	}
	k, err := newInitiatorKeying(cryptoutil.FlashInitiatorPolicy())
	if err != nil {
		t.Fatal(err)
	}
	if err := thief.send(srvAddr, owner.iikeying(k, rh.Cookie)); err != nil {
		t.Fatal(err)
	}
	typ, payload, err := thief.readStartup(5 * time.Second)
	if err != nil {
		t.Fatalf("no answer to an IIKeying with a cookie from another address: %v", err)
	}
	if typ != rtmfp.ChunkCookieChange {
		t.Fatalf("answer to an IIKeying with a cookie from another address is chunk %#x, want Cookie Change", typ)
	}
	if cc, err := rtmfp.ParseCookieChange(payload); err != nil || !bytes.Equal(cc.OldCookie, rh.Cookie) || bytes.Equal(cc.NewCookie, rh.Cookie) {
		t.Fatalf("cookie change %+v, %v: want the old cookie echoed and a new one", cc, err)
	}

	// The cookie of the stale-cookie attack expires (a cookie is stale once its mint second is
	// more than the TTL behind); the clients' cookies, minted from now on, do not.
	f.clock.Skip(97 * time.Second)

	// The clients, started over 2.5 s so that the flood and the stale cookie overlap them.
	ctx := ctxT(t, 40*time.Second)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 50 * time.Millisecond)
			if i == clients/2 {
				staleErr <- stalePeer.send(srvAddr, staleIIKeying)
			}
			d := client.Flash
			if i%2 == 1 {
				d = client.RFC7425
			}
			c, err := eps[i%len(eps)].Connect(ctx, f.url, client.Options{Dialect: d})
			if err != nil {
				errs[i] = fmt.Errorf("client %d (%s): connect: %w", i, d, err)
				return
			}
			if err := echoOnce(ctx, c, fmt.Sprintf("client %d", i)); err != nil {
				errs[i] = fmt.Errorf("client %d (%s): %w", i, d, err)
			}
		}()
	}
	wg.Wait()
	if err := <-staleErr; err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the stale cookie to be refused", 5*time.Second, func() bool { return st.StaleCookie.Load() > 0 })
	if n := st.StaleCookie.Load(); n != 1 {
		t.Errorf("%d stale cookies for the one sent stale: a client's cookie expired during its handshake", n)
	}
	close(stop)
	floodDone.Wait()

	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		t.Fatalf("clients failed under hostile traffic; endpoint stats: %s", statsString(st))
	}
	if n := f.srv.Sessions(); n != clients {
		t.Fatalf("server has %d sessions for %d clients: hostile traffic opened sessions (stats %s)", n, clients, statsString(st))
	}
	var kinds []string
	for kind := range floodKinds {
		if sent[kind].Load() == 0 {
			t.Fatalf("the flood sent no datagram of kind %d", kind)
		}
		kinds = append(kinds, fmt.Sprint(sent[kind].Load()))
	}
	for _, c := range []struct {
		name string
		n    *atomic.Uint64
	}{
		{"DropShort", &st.DropShort},
		{"DropOversize", &st.DropOversize},
		{"DropBadLength", &st.DropBadLength},
		{"DropBadChecksum", &st.DropBadChecksum},
		{"DropUnknownSession", &st.DropUnknownSession},
		{"BadCookie", &st.BadCookie},
		{"StaleCookie", &st.StaleCookie},
		{"CookieAddress", &st.CookieAddress},
	} {
		if c.n.Load() == 0 {
			t.Errorf("endpoint counted no %s (stats %s)", c.name, statsString(st))
		}
	}
	// The replayed captured IHellos reached the handshake actor (each is a well-formed
	// IHello), or were dropped, counted, for a backlog of their address.
	if h := st.Handshakes.Load() + st.DropHandshakeBacklog.Load(); h < sent[floodIHello].Load() {
		t.Errorf("handshake chunks counted or dropped %d, fewer than the %d IHellos replayed", h, sent[floodIHello].Load())
	}
	t.Logf("flood sent %v datagrams by kind; endpoint stats %s", kinds, statsString(st))
}

func statsString(st *endpoint.Stats) string {
	return fmt.Sprintf("{in %d reads %d packets %d handshakes %d short %d oversize %d overload %d unknown %d badlength %d checksum %d hmac %d malformed %d badcookie %d stale %d cookieaddr %d reused %d badkeying %d failures %d}",
		st.DatagramsIn.Load(), st.ReadBatches.Load(), st.PacketsIn.Load(), st.Handshakes.Load(), st.DropShort.Load(), st.DropOversize.Load(), st.DropOverload.Load(),
		st.DropUnknownSession.Load(), st.DropBadLength.Load(), st.DropBadChecksum.Load(), st.DropBadHMAC.Load(),
		st.DropMalformed.Load(), st.BadCookie.Load(), st.StaleCookie.Load(), st.CookieAddress.Load(), st.CookieReused.Load(),
		st.BadKeying.Load(), st.SessionFailures.Load())
}

// TestRetransmittedIIKeyingIsAnsweredUntilTheSessionIsHeard: the server keeps its
// RIKeying for retransmitted IIKeyings only until the initiator proves it got it (its
// first packet on the session); from then on a copy of the IIKeying, like any replay of
// its cookie, is refused and counted, and never opens a second session.
func TestRetransmittedIIKeyingIsAnsweredUntilTheSessionIsHeard(t *testing.T) {
	t.Parallel()
	f := startServer(t, server.Options{}, nil)
	srvAddr := f.srv.Addrs()[0]
	st := &f.srv.Endpoints()[0].Stats
	p := newRawPeer(t)
	rh, k, iik, err := p.helloAndKeying(srvAddr, f.url)
	if err != nil {
		t.Fatal(err)
	}
	answers := make([][]byte, 2)
	for i := range answers {
		if err := p.send(srvAddr, iik); err != nil {
			t.Fatal(err)
		}
		typ, payload, err := p.readStartup(5 * time.Second)
		if err != nil || typ != rtmfp.ChunkRIKeying {
			t.Fatalf("IIKeying %d: answer chunk %#x, %v; want RIKeying", i+1, typ, err)
		}
		answers[i] = payload
	}
	if !bytes.Equal(answers[0], answers[1]) {
		t.Fatal("a retransmitted IIKeying got another RIKeying than the first")
	}
	// The same cookie with another initiator session ID: refused.
	other, err := newInitiatorKeying(cryptoutil.FlashInitiatorPolicy())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.send(srvAddr, p.iikeying(other, rh.Cookie)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the replayed cookie to be refused", 5*time.Second, func() bool { return st.CookieReused.Load() == 1 })

	// The initiator speaks on its session: the RIKeying is forgotten, copies of the
	// IIKeying are now refused too.
	s, err := p.keyed(srvAddr, k, answers[0], cryptoutil.FlashInitiatorPolicy())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.send(srvAddr, s.seal(nil, rtmfp.Ping{Payload: []byte("hi")})); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a copy of the IIKeying to be refused once the session was heard", 5*time.Second, func() bool {
		_ = p.send(srvAddr, iik)
		time.Sleep(20 * time.Millisecond)
		return st.CookieReused.Load() > 1
	})
	if n := f.srv.Sessions(); n != 1 {
		t.Fatalf("server has %d sessions for one initiator", n)
	}
	_ = p.send(srvAddr, s.seal(nil, rtmfp.Close{})) // so that the server need not wait for it at shutdown
	waitUntil(t, "the session to close", 5*time.Second, func() bool { return f.srv.Sessions() == 0 })
}
