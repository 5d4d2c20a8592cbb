package netsim_test

import (
	"encoding/binary"
	"errors"
	"math"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/internal/netsim"
)

// echoServer sends every datagram back to where it came from and remembers the source
// addresses it saw. With hold set, it reports each datagram on got and echoes it only
// once release receives a value.
type echoServer struct {
	conn    *net.UDPConn
	hold    bool
	got     chan struct{}
	release chan struct{}

	mu    sync.Mutex
	froms []netip.AddrPort
}

func newEchoServer(t *testing.T, hold bool) *echoServer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{conn: c, hold: hold, got: make(chan struct{}, 16), release: make(chan struct{}, 16)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.froms = append(s.froms, from)
			s.mu.Unlock()
			if s.hold {
				s.got <- struct{}{}
				<-s.release
			}
			_, _ = c.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	t.Cleanup(func() {
		c.Close()
		close(s.release)
		<-done
	})
	return s
}

func (s *echoServer) addr() netip.AddrPort { return s.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (s *echoServer) sources() []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]netip.AddrPort(nil), s.froms...)
}

// peer is the client side: it sends numbered datagrams through the relay and collects
// the echoes in arrival order.
type peer struct {
	conn *net.UDPConn
	to   netip.AddrPort

	mu   sync.Mutex
	recv []uint32
	at   map[uint32]time.Time // first arrival
}

func newPeer(t *testing.T, to netip.AddrPort) *peer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadBuffer(1 << 20)
	p := &peer{conn: c, to: to, at: map[uint32]time.Time{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, _, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if n < 4 {
				continue
			}
			seq := binary.BigEndian.Uint32(buf)
			p.mu.Lock()
			p.recv = append(p.recv, seq)
			if _, ok := p.at[seq]; !ok {
				p.at[seq] = time.Now()
			}
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	return p
}

func (p *peer) send(t *testing.T, seq uint32) {
	t.Helper()
	var b [16]byte
	binary.BigEndian.PutUint32(b[:], seq)
	if _, err := p.conn.WriteToUDPAddrPort(b[:], p.to); err != nil {
		t.Fatal(err)
	}
}

func (p *peer) received() []uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]uint32(nil), p.recv...)
}

func (p *peer) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.recv)
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func newRelay(t *testing.T, server netip.AddrPort, up, down netsim.Link, seed uint64) *netsim.Relay {
	t.Helper()
	r, err := netsim.New(server, up, down, seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// within fails unless got is within tol of want.
func within(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Fatalf("%s = %.3f, want %.3f ± %.3f", what, got, want, tol)
	}
}

func TestLossRate(t *testing.T) {
	const n, loss = 2000, 0.2
	srv := newEchoServer(t, false)
	r := newRelay(t, srv.addr(), netsim.Link{Loss: loss}, netsim.Link{}, 1)
	p := newPeer(t, r.Addr())
	// In batches, waiting for each to be accounted for, so that no socket buffer
	// overflows and every datagram the relay forwarded comes back.
	for sent := 0; sent < n; {
		for range 100 {
			p.send(t, uint32(sent))
			sent++
		}
		waitUntil(t, "the batch to be dropped or echoed", 5*time.Second, func() bool {
			return int(r.Up.Dropped.Load())+p.count() == sent
		})
	}
	dropped, fwd := r.Up.Dropped.Load(), r.Up.Forwarded.Load()
	if dropped+fwd != n {
		t.Fatalf("up: %d dropped + %d forwarded, want %d in all", dropped, fwd, n)
	}
	// Binomial(2000, 0.2): sd ≈ 0.009; ±0.04 is more than 4 sd.
	within(t, "loss rate", float64(dropped)/n, loss, 0.04)
	if d := r.Down.Dropped.Load(); d != 0 {
		t.Fatalf("down dropped %d with no loss configured", d)
	}
	if got := p.count(); uint64(got) != fwd || r.Down.Forwarded.Load() != fwd {
		t.Fatalf("client got %d echoes, down forwarded %d, up forwarded %d", got, r.Down.Forwarded.Load(), fwd)
	}
}

func TestDuplicateAndReorder(t *testing.T) {
	t.Run("duplicate", func(t *testing.T) {
		const n, dup = 1000, 0.3
		srv := newEchoServer(t, false)
		r := newRelay(t, srv.addr(), netsim.Link{Duplicate: dup}, netsim.Link{}, 2)
		p := newPeer(t, r.Addr())
		for sent := 0; sent < n; {
			for range 100 {
				p.send(t, uint32(sent))
				sent++
			}
			waitUntil(t, "the batch and its duplicates to come back", 5*time.Second, func() bool {
				return p.count() == sent+int(r.Up.Duplicated.Load())
			})
		}
		d := r.Up.Duplicated.Load()
		within(t, "duplication rate", float64(d)/n, dup, 0.06)
		if f := r.Up.Forwarded.Load(); f != n+d {
			t.Fatalf("up forwarded %d, want %d sent + %d duplicates", f, n, d)
		}
		seen := map[uint32]int{}
		for _, s := range p.received() {
			seen[s]++
		}
		twice := 0
		for s := range uint32(n) {
			switch seen[s] {
			case 1:
			case 2:
				twice++
			default:
				t.Fatalf("datagram %d arrived %d times", s, seen[s])
			}
		}
		if uint64(twice) != d {
			t.Fatalf("%d datagrams arrived twice, relay counted %d duplicates", twice, d)
		}
	})
	t.Run("reorder", func(t *testing.T) {
		const n, reorder = 500, 0.2
		srv := newEchoServer(t, false)
		r := newRelay(t, srv.addr(), netsim.Link{Reorder: reorder, ReorderDelay: 30 * time.Millisecond}, netsim.Link{}, 3)
		p := newPeer(t, r.Addr())
		// In batches small enough for the sockets' buffers; within a batch the datagrams
		// held back arrive after later ones.
		for sent := 0; sent < n; {
			for range 50 {
				p.send(t, uint32(sent))
				sent++
			}
			waitUntil(t, "the batch to come back", 5*time.Second, func() bool { return p.count() == sent })
		}
		within(t, "reorder rate", float64(r.Up.Reordered.Load())/n, reorder, 0.08)
		inversions := 0
		got := p.received()
		for i := 1; i < len(got); i++ {
			if got[i] < got[i-1] {
				inversions++
			}
		}
		if inversions == 0 {
			t.Fatalf("no datagram arrived out of order with %d reordered", r.Up.Reordered.Load())
		}
	})
}

func TestDelay(t *testing.T) {
	const up, down = 30 * time.Millisecond, 20 * time.Millisecond
	srv := newEchoServer(t, false)
	r := newRelay(t, srv.addr(), netsim.Link{Delay: up}, netsim.Link{Delay: down, Jitter: 5 * time.Millisecond}, 4)
	p := newPeer(t, r.Addr())
	sentAt := map[uint32]time.Time{}
	for s := range uint32(20) {
		sentAt[s] = time.Now()
		p.send(t, s)
		time.Sleep(2 * time.Millisecond)
	}
	waitUntil(t, "every datagram to come back", 5*time.Second, func() bool { return p.count() == 20 })
	p.mu.Lock()
	defer p.mu.Unlock()
	for s, at := range sentAt {
		if rtt := p.at[s].Sub(at); rtt < up+down {
			t.Fatalf("datagram %d came back after %s, less than the %s configured delay", s, rtt, up+down)
		}
	}
}

func TestCut(t *testing.T) {
	srv := newEchoServer(t, true)
	r := newRelay(t, srv.addr(), netsim.Link{}, netsim.Link{}, 5)
	p := newPeer(t, r.Addr())

	// Up: nothing reaches the server.
	r.Cut(true)
	for s := range uint32(100) {
		p.send(t, s)
	}
	waitUntil(t, "the relay to drop the datagrams", 5*time.Second, func() bool { return r.Up.Dropped.Load() == 100 })
	select {
	case <-srv.got:
		t.Fatal("a datagram crossed a cut path toward the server")
	case <-time.After(100 * time.Millisecond):
	}

	// Restored: the path works again.
	r.Cut(false)
	p.send(t, 1000)
	<-srv.got
	srv.release <- struct{}{}
	waitUntil(t, "the echo through the restored path", 5*time.Second, func() bool { return p.count() == 1 })

	// Down: the server's answer, sent after the cut, does not reach the client.
	p.send(t, 1001)
	<-srv.got
	r.Cut(true)
	srv.release <- struct{}{}
	waitUntil(t, "the relay to drop the answer", 5*time.Second, func() bool { return r.Down.Dropped.Load() == 1 })
	time.Sleep(50 * time.Millisecond) // an answer that slipped through would be here by now
	if n := p.count(); n != 1 {
		t.Fatalf("client got %d echoes, want only the one before the cut", n)
	}
}

func TestRebind(t *testing.T) {
	srv := newEchoServer(t, false)
	r := newRelay(t, srv.addr(), netsim.Link{}, netsim.Link{}, 6)
	p := newPeer(t, r.Addr())
	p.send(t, 1)
	waitUntil(t, "the first echo", 5*time.Second, func() bool { return p.count() == 1 })
	if err := r.Rebind(); err != nil {
		t.Fatal(err)
	}
	p.send(t, 2)
	waitUntil(t, "the echo after the rebinding", 5*time.Second, func() bool { return p.count() == 2 })
	froms := srv.sources()
	if len(froms) != 2 {
		t.Fatalf("server saw %d datagrams, want 2", len(froms))
	}
	if froms[0] == froms[1] {
		t.Fatalf("server saw both datagrams from %s: Rebind did not change the source address", froms[0])
	}
	if froms[1] == r.Addr() || froms[0] == r.Addr() {
		t.Fatal("the relay forwarded from its client-facing socket")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}
