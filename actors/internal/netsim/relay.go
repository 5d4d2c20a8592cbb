// Package netsim is a UDP relay for tests that puts a simulated network between RTMFP
// clients and a server on loopback: it drops, duplicates, reorders and delays datagrams
// with set probabilities, seeded for repeatability, and can cut a path entirely (a client
// that vanishes) or move a client to a new source port (NAT rebinding).
//
// Clients send to Relay.Addr(); the relay forwards each client's datagrams to the server
// from a socket of its own per client, so the server sees one address per client, and
// sends the server's answers back to the client.
package netsim

import (
	"container/heap"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Link describes one direction of the simulated path.
type Link struct {
	Loss      float64       // probability a datagram is dropped
	Duplicate float64       // probability a datagram is sent twice
	Reorder   float64       // probability a datagram is held back by ReorderDelay extra
	Delay     time.Duration // one-way delay added to every datagram
	Jitter    time.Duration // uniform random extra delay in [0, Jitter)
	// ReorderDelay is the extra delay of reordered datagrams (default 3 × Delay + 5 ms).
	ReorderDelay time.Duration
}

// Transit draws the one-way delay of one copy of a datagram: Delay, plus a uniform
// [0, Jitter), plus ReorderDelay (default 3 × Delay + 5 ms) for the Reorder fraction held
// back. The draws are made from rng in that order, so a seeded path is reproducible; the
// session package's virtual-time simulation uses the same model.
func (l Link) Transit(rng *rand.Rand) (d time.Duration, reordered bool) {
	d = l.Delay
	if l.Jitter > 0 {
		d += time.Duration(rng.Int64N(int64(l.Jitter)))
	}
	if rng.Float64() < l.Reorder {
		extra := l.ReorderDelay
		if extra == 0 {
			extra = 3*l.Delay + 5*time.Millisecond
		}
		d += extra
		reordered = true
	}
	return d, reordered
}

// Counters report what a direction did.
type Counters struct {
	Forwarded, Dropped, Duplicated, Reordered atomic.Uint64
}

// Relay is a running relay.
type Relay struct {
	conn   *net.UDPConn
	server netip.AddrPort

	mu       sync.Mutex
	up, down Link
	rng      *rand.Rand
	clients  map[netip.AddrPort]*path
	cut      bool

	Up, Down Counters // client → server, server → client

	sched  scheduler
	closed chan struct{}
	wg     sync.WaitGroup
}

type path struct {
	client netip.AddrPort
	conn   *net.UDPConn // toward the server
}

// New starts a relay in front of server with the given links (client → server is up).
func New(server netip.AddrPort, up, down Link, seed uint64) (*Relay, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	r := &Relay{
		conn: conn, server: server, up: up, down: down,
		rng:     rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15)),
		clients: map[netip.AddrPort]*path{}, closed: make(chan struct{}),
	}
	r.sched.init()
	r.wg.Add(2)
	go r.readClients()
	go r.sched.run(&r.wg, r.closed)
	return r, nil
}

// Addr is where clients send.
func (r *Relay) Addr() netip.AddrPort { return r.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// SetLinks changes the simulated conditions.
func (r *Relay) SetLinks(up, down Link) {
	r.mu.Lock()
	r.up, r.down = up, down
	r.mu.Unlock()
}

// Cut drops everything in both directions from now on (true) or restores the path.
func (r *Relay) Cut(cut bool) {
	r.mu.Lock()
	r.cut = cut
	r.mu.Unlock()
}

// Rebind gives every client a new source port toward the server, as a NAT that lost its
// mapping would: the server sees the same sessions arrive from new addresses.
func (r *Relay) Rebind() error {
	r.mu.Lock()
	old := r.clients
	r.clients = map[netip.AddrPort]*path{}
	r.mu.Unlock()
	for c, p := range old {
		np, err := r.newPath(c)
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.clients[c] = np
		r.mu.Unlock()
		p.conn.Close()
	}
	return nil
}

// Close stops the relay.
func (r *Relay) Close() error {
	select {
	case <-r.closed:
		return nil
	default:
	}
	close(r.closed)
	r.conn.Close()
	r.mu.Lock()
	for _, p := range r.clients {
		p.conn.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	return nil
}

func (r *Relay) newPath(client netip.AddrPort) (*path, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	p := &path{client: client, conn: conn}
	r.wg.Add(1)
	go r.readServer(p)
	return p, nil
}

func (r *Relay) readClients() {
	defer r.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		r.mu.Lock()
		p := r.clients[from]
		r.mu.Unlock()
		if p == nil {
			if p, err = r.newPath(from); err != nil {
				continue
			}
			r.mu.Lock()
			r.clients[from] = p
			r.mu.Unlock()
		}
		conn, to := p.conn, r.server
		r.forward(buf[:n], true, func(b []byte) { _, _ = conn.WriteToUDPAddrPort(b, to) })
	}
}

func (r *Relay) readServer(p *path) {
	defer r.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, _, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		to := p.client
		r.forward(buf[:n], false, func(b []byte) { _, _ = r.conn.WriteToUDPAddrPort(b, to) })
	}
}

// forward applies the link of one direction to a datagram.
func (r *Relay) forward(b []byte, up bool, send func([]byte)) {
	r.mu.Lock()
	l, c := r.down, &r.Down
	if up {
		l, c = r.up, &r.Up
	}
	if r.cut || r.rng.Float64() < l.Loss {
		r.mu.Unlock()
		c.Dropped.Add(1)
		return
	}
	copies := 1
	if r.rng.Float64() < l.Duplicate {
		copies = 2
		c.Duplicated.Add(1)
	}
	delays := make([]time.Duration, copies)
	for i := range delays {
		d, reordered := l.Transit(r.rng)
		if reordered {
			c.Reordered.Add(1)
		}
		delays[i] = d
	}
	r.mu.Unlock()
	for _, d := range delays {
		c.Forwarded.Add(1)
		if d <= 0 {
			send(b)
			continue
		}
		r.sched.after(d, append([]byte(nil), b...), send)
	}
}

// scheduler sends delayed datagrams in deadline order from one goroutine.
type scheduler struct {
	mu   sync.Mutex
	q    pending
	wake chan struct{}
}

type item struct {
	at   time.Time
	seq  uint64
	b    []byte
	send func([]byte)
}

type pending []item

func (p pending) Len() int { return len(p) }
func (p pending) Less(i, j int) bool {
	if p[i].at.Equal(p[j].at) {
		return p[i].seq < p[j].seq
	}
	return p[i].at.Before(p[j].at)
}
func (p pending) Swap(i, j int) { p[i], p[j] = p[j], p[i] }
func (p *pending) Push(x any)   { *p = append(*p, x.(item)) }
func (p *pending) Pop() any {
	old := *p
	it := old[len(old)-1]
	*p = old[:len(old)-1]
	return it
}

var seqGen atomic.Uint64

func (s *scheduler) init() { s.wake = make(chan struct{}, 1) }

func (s *scheduler) after(d time.Duration, b []byte, send func([]byte)) {
	s.mu.Lock()
	heap.Push(&s.q, item{at: time.Now().Add(d), seq: seqGen.Add(1), b: b, send: send})
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *scheduler) run(wg *sync.WaitGroup, closed chan struct{}) {
	defer wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		s.mu.Lock()
		now := time.Now()
		var due []item
		for len(s.q) > 0 && !s.q[0].at.After(now) {
			due = append(due, heap.Pop(&s.q).(item))
		}
		next := time.Hour
		if len(s.q) > 0 {
			next = s.q[0].at.Sub(now)
		}
		s.mu.Unlock()
		for _, it := range due {
			it.send(it.b)
		}
		t.Reset(next)
		select {
		case <-closed:
			return
		case <-s.wake:
		case <-t.C:
		}
	}
}
