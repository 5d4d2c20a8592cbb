// Package ratelimit holds the token buckets that bound what one client or one address may
// ask of the server per second: relay calls per client, rendezvous lookups per address.
// Callers pass the time in, so their own clock drives the buckets.
package ratelimit

import (
	"net/netip"
	"time"
)

// Bucket is a token bucket: Take succeeds rate times a second on average, burst times in
// a row when it was idle. The zero value is full at its first Take.
type Bucket struct {
	tokens float64
	last   time.Time
	used   bool
}

// Take takes a token at now if there is one.
func (b *Bucket) Take(rate, burst float64, now time.Time) bool {
	if !b.used {
		b.tokens, b.last, b.used = burst, now, true
	}
	b.tokens = min(burst, b.tokens+rate*now.Sub(b.last).Seconds())
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// full reports whether the bucket would be full at now (it has been idle long enough
// to be forgotten).
func (b *Bucket) full(rate, burst float64, now time.Time) bool {
	return b.tokens+rate*now.Sub(b.last).Seconds() >= burst
}

// PerAddress is a token bucket per IP address, with a bounded number of addresses: when
// the table is full, the buckets of idle addresses are forgotten, and if none is idle
// new addresses are refused.
type PerAddress struct {
	rate, burst float64
	max         int
	buckets     map[netip.Addr]*Bucket
}

// NewPerAddress returns buckets of rate and burst for at most max addresses.
func NewPerAddress(rate, burst float64, max int) *PerAddress {
	return &PerAddress{rate: rate, burst: burst, max: max, buckets: map[netip.Addr]*Bucket{}}
}

// Allow takes a token of a's bucket at now.
func (l *PerAddress) Allow(a netip.Addr, now time.Time) bool {
	b := l.buckets[a]
	if b == nil {
		if len(l.buckets) >= l.max {
			for key, old := range l.buckets {
				if old.full(l.rate, l.burst, now) {
					delete(l.buckets, key)
				}
			}
			if len(l.buckets) >= l.max {
				return false
			}
		}
		b = &Bucket{}
		l.buckets[a] = b
	}
	return b.Take(l.rate, l.burst, now)
}

// Len returns the number of addresses with a bucket.
func (l *PerAddress) Len() int { return len(l.buckets) }

// Source is the unit that per-address limits count: an IPv4 address, or the /64 prefix
// of an IPv6 address (one host or one home network usually holds a whole /64, and can
// pick any address in it). IPv4-mapped IPv6 addresses count as their IPv4 address.
func Source(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}
