package endpoint

import (
	"net/netip"
	"sync"
	"sync/atomic"
)

// Banlist is a set of IP addresses whose datagrams endpoints drop on receipt, before any
// decryption (Cumulus' blacklist, which its scripts edit). Reading it is one atomic load
// while it is empty, so an endpoint can check every datagram; changes copy the set.
type Banlist struct {
	mu  sync.Mutex
	set atomic.Pointer[map[netip.Addr]struct{}] // nil while empty
}

// Ban adds ip (an IPv4-mapped address counts as IPv4).
func (b *Banlist) Ban(ip netip.Addr) { b.edit(ip.Unmap(), true) }

// Unban removes ip.
func (b *Banlist) Unban(ip netip.Addr) { b.edit(ip.Unmap(), false) }

func (b *Banlist) edit(ip netip.Addr, banned bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	next := map[netip.Addr]struct{}{}
	if cur := b.set.Load(); cur != nil {
		for a := range *cur {
			next[a] = struct{}{}
		}
	}
	if banned {
		next[ip] = struct{}{}
	} else {
		delete(next, ip)
	}
	if len(next) == 0 {
		b.set.Store(nil)
		return
	}
	b.set.Store(&next)
}

// Banned reports whether ip is banned. A nil Banlist bans nobody.
func (b *Banlist) Banned(ip netip.Addr) bool {
	if b == nil {
		return false
	}
	set := b.set.Load()
	if set == nil {
		return false
	}
	_, ok := (*set)[ip]
	return ok
}
