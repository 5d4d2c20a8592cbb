package session

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/ratelimit"
)

// Budget bounds the memory that receive flows hold for their senders — fragments
// buffered out of order, messages being assembled, messages waiting for their flow to be
// accepted — beyond each session's own bound (Config.RecvBudget): for every source
// address together (ratelimit.Source: an IPv4 address, an IPv6 /64), and for every session
// together. One Budget is shared by the sessions of all the endpoints of a server; it is
// safe for concurrent use.
//
// What happens at each bound: a session or an address over its bound loses the flow that
// grew past it (ExceptionSessionBudget, ExceptionAddressBudget) — the client that sent too
// much, nobody else; with every session together at the bound, fragments that would hold
// more memory are refused unacknowledged (their senders retransmit) until flows deliver
// or are rejected (a flow without progress, after Config.FlowStallTimeout).
type Budget struct {
	perAddress, total int64 // 0: no bound
	used              atomic.Int64

	mu    sync.Mutex
	addrs map[netip.Prefix]*addrShare
}

// addrShare is what the sessions of one source address hold.
type addrShare struct {
	used atomic.Int64
	refs int // sessions that hold the share (under Budget.mu)
}

// NewBudget returns a budget of perAddress bytes for each source address and total for
// every session together (0: no bound).
func NewBudget(perAddress, total int64) *Budget {
	return &Budget{perAddress: perAddress, total: total, addrs: map[netip.Prefix]*addrShare{}}
}

// Used returns the bytes the receive flows of every session hold.
func (b *Budget) Used() int64 { return b.used.Load() }

// AddressUsed returns the bytes the receive flows of a's source address hold.
func (b *Budget) AddressUsed(a netip.Addr) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if sh := b.addrs[ratelimit.Source(a)]; sh != nil {
		return sh.used.Load()
	}
	return 0
}

// full reports whether every session together holds the total.
func (b *Budget) full() bool { return b.total > 0 && b.used.Load() >= b.total }

// share returns the share of a source address, held until release.
func (b *Budget) share(key netip.Prefix) *addrShare {
	b.mu.Lock()
	defer b.mu.Unlock()
	sh := b.addrs[key]
	if sh == nil {
		sh = &addrShare{}
		b.addrs[key] = sh
	}
	sh.refs++
	return sh
}

// release gives a share back; the last session of an address forgets it.
func (b *Budget) release(key netip.Prefix, sh *addrShare) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if sh.refs--; sh.refs == 0 {
		delete(b.addrs, key)
	}
}

// recvAccount is a session's part of the receive budgets, made when it first holds
// receive data (most sessions never do: whole messages in order are not held).
type recvAccount struct {
	bytes int // what the session's receive flows hold (their footprints)
	key   netip.Prefix
	share *addrShare
	// stallAt is when the session next looks for stalled flows (0: none waits).
	stallAt time.Duration
}

// charge adds d bytes (negative: frees) to the session's account and to the shared
// budget, and returns the exception code of the bound the session, or its address, went
// beyond (0: none).
func (s *Session) charge(d int) uint64 {
	if d == 0 {
		return 0
	}
	rx := s.account()
	rx.bytes += d
	s.p.Budget.used.Add(int64(d))
	addr := rx.share.used.Add(int64(d))
	switch {
	case d < 0:
		return 0
	case rx.bytes > s.p.Config.RecvBudget:
		return ExceptionSessionBudget
	case s.p.Budget.perAddress > 0 && addr > s.p.Budget.perAddress:
		return ExceptionAddressBudget
	}
	return 0
}

// account returns the session's receive account, made at its first use. Its address is
// the session's address then (a session that moves keeps charging the address it had).
func (s *Session) account() *recvAccount {
	if s.rx == nil {
		s.rx = &recvAccount{key: ratelimit.Source(s.addr.Addr())}
		s.rx.share = s.p.Budget.share(s.rx.key)
	}
	return s.rx
}

// releaseAccount gives back whatever the session still holds, when it stops.
func (s *Session) releaseAccount() {
	rx := s.rx
	if rx == nil {
		return
	}
	s.p.Budget.used.Add(-int64(rx.bytes))
	rx.share.used.Add(-int64(rx.bytes))
	s.p.Budget.release(rx.key, rx.share)
	s.rx = nil
}
