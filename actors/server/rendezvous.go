package server

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/endpoint"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/messages"
)

// RendezvousStats counts the introductions of the server.
type RendezvousStats struct {
	Lookups       atomic.Uint64 // IHellos naming another peer
	Introductions atomic.Uint64 // answered with a redirect and a forwarded IHello
	Unknown       atomic.Uint64 // target not connected here, nothing sent
	Redirected    atomic.Uint64 // unknown target redirected by the application
	Limited       atomic.Uint64 // dropped by the per-address lookup limit
}

// rendezvous is one endpoint's introduction service (RFC 7016 §3.5.1.5/6; Cumulus and
// Cirrus behaviour). For an IHello whose EPD names another peer it looks up both the
// target and the initiator (by its public address) in the directory, then:
//   - sends the target, in its session, a Forwarded IHello carrying one of the
//     initiator's addresses (rotating through its public and private addresses on
//     repeated attempts of the same tag, private first when both peers share a public IP),
//     so that the target answers toward the initiator and opens its NAT;
//   - answers the initiator with a Responder Redirect listing the target's addresses
//     (public then private; private first when both share a public IP).
//
// An unknown target goes to the RendezvousHandler, if any, which may name addresses to
// redirect to; otherwise nothing is sent, as Flash expects.
type rendezvous struct {
	sh       *shared
	handler  app.RendezvousHandler
	stats    *RendezvousStats
	limit    limiter
	attempts boundedCounts
	pending  map[uint64]*introduction
	nextID   uint64
}

type introduction struct {
	ep        *endpoint.Endpoint
	from      netip.AddrPort
	target    cryptoutil.PeerID
	epd, tag  []byte
	attempt   int
	answers   int
	peer      *messages.Peer // the target, if found
	initiator *messages.Peer // the initiator's own record, if it is connected here
	at        time.Time
}

// introduce is sent by the endpoint's handshake actor (through helloHandler).
type introduce struct {
	ep       *endpoint.Endpoint
	from     netip.AddrPort
	target   cryptoutil.PeerID
	epd, tag []byte
}

const (
	lookupsPerSecond = 20 // per source IP, burst twice that
	maxPending       = 4096
)

func newRendezvous(sh *shared, h app.RendezvousHandler, stats *RendezvousStats) *rendezvous {
	return &rendezvous{
		sh: sh, handler: h, stats: stats,
		limit:    newLimiter(lookupsPerSecond, 2*lookupsPerSecond, 1<<14),
		attempts: newBoundedCounts(1 << 14), pending: map[uint64]*introduction{},
	}
}

func (r *rendezvous) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *introduce:
		r.onIntroduce(ctx, m)
	case *messages.LookupPeerResult:
		r.onResult(ctx, m)
	}
}

func (r *rendezvous) onIntroduce(ctx actor.Context, m *introduce) {
	r.stats.Lookups.Add(1)
	now := time.Now()
	if !r.limit.allow(m.from.Addr(), now) {
		r.stats.Limited.Add(1)
		return
	}
	if len(r.pending) >= maxPending {
		// The directory is not answering fast enough: forget the oldest.
		for id, in := range r.pending {
			if now.Sub(in.at) > 5*time.Second {
				delete(r.pending, id)
			}
		}
		if len(r.pending) >= maxPending {
			r.stats.Limited.Add(1)
			return
		}
	}
	in := &introduction{ep: m.ep, from: m.from, target: m.target, epd: m.epd, tag: m.tag, attempt: r.attempts.inc(string(m.tag)), at: now}
	r.nextID++
	id := r.nextID
	r.pending[id] = in
	ctx.Send(r.sh.directory, &messages.LookupPeer{PeerId: m.target[:], RequestId: id, ReplyTo: ctx.Self()})
	ctx.Send(r.sh.directory, &messages.LookupAddress{Address: m.from.String(), RequestId: id, ReplyTo: ctx.Self()})
}

func (r *rendezvous) onResult(ctx actor.Context, res *messages.LookupPeerResult) {
	in := r.pending[res.RequestId]
	if in == nil {
		return
	}
	if res.Found {
		if id, _ := cryptoutil.PeerIDFromBytes(res.PeerId); id == in.target {
			in.peer = res.Peer
		} else {
			in.initiator = res.Peer
		}
	}
	in.answers++
	if in.answers < 2 {
		return
	}
	delete(r.pending, res.RequestId)
	if in.peer == nil || in.peer.Session == nil {
		r.unknown(in)
		return
	}
	r.stats.Introductions.Add(1)
	targetAddrs := addressesOf(in.peer)
	initiatorAddrs := []netip.AddrPort{in.from}
	if in.initiator != nil {
		initiatorAddrs = append(initiatorAddrs, privateOf(in.initiator)...)
	}
	sameLAN := len(targetAddrs) > 0 && targetAddrs[0].Addr() == in.from.Addr()
	// Forwarded IHello to the target with one of the initiator's addresses.
	times := in.attempt - 1
	if sameLAN && len(initiatorAddrs) > 1 {
		times++ // behind one NAT: try a private address first
	}
	reply := initiatorAddrs[times%len(initiatorAddrs)]
	origin := byte(rtmfp.OriginLocal)
	if reply == in.from {
		origin = rtmfp.OriginPublic
	}
	ctx.Send(in.peer.Session, &session.SendFIHello{EPD: in.epd, Reply: rtmfp.Address{AddrPort: reply, Origin: origin}, Tag: in.tag})
	// Redirect to the initiator with the target's addresses.
	redirect := make([]rtmfp.Address, 0, len(targetAddrs))
	for i, a := range targetAddrs {
		o := byte(rtmfp.OriginLocal)
		if i == 0 {
			o = rtmfp.OriginPublic
		}
		redirect = append(redirect, rtmfp.Address{AddrPort: a, Origin: o})
	}
	if sameLAN && len(redirect) > 1 {
		redirect = append(redirect[1:], redirect[0])
	}
	in.ep.Redirect(in.from, in.tag, redirect)
}

// unknown asks the application about a peer that is not here.
func (r *rendezvous) unknown(in *introduction) {
	if r.handler == nil {
		r.stats.Unknown.Add(1)
		return
	}
	var addrs []netip.AddrPort
	func() {
		defer func() {
			if p := recover(); p != nil {
				r.sh.log.Error("rendezvous handler panicked", zap.String("panic", fmt.Sprint(p)), zap.Stack("stack"))
				addrs = nil
			}
		}()
		addrs = r.handler.OnRendezvousUnknown(in.target)
	}()
	if len(addrs) == 0 {
		r.stats.Unknown.Add(1)
		return
	}
	r.stats.Redirected.Add(1)
	redirect := make([]rtmfp.Address, len(addrs))
	for i, a := range addrs {
		redirect[i] = rtmfp.Address{AddrPort: a, Origin: rtmfp.OriginRelay} // as Mona marks them
	}
	in.ep.Redirect(in.from, in.tag, redirect)
}

// addressesOf lists a peer's public address, then its private ones.
func addressesOf(p *messages.Peer) []netip.AddrPort {
	var out []netip.AddrPort
	if a, err := netip.ParseAddrPort(p.PublicAddress); err == nil {
		out = append(out, a)
	}
	for _, a := range privateOf(p) {
		if len(out) == 0 || a != out[0] {
			out = append(out, a)
		}
	}
	return out
}

func privateOf(p *messages.Peer) []netip.AddrPort {
	var out []netip.AddrPort
	for _, s := range p.PrivateAddresses {
		if a, err := netip.ParseAddrPort(s); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// helloHandler connects an endpoint's handshake actor to the rendezvous actor.
type helloHandler struct {
	root       *actor.RootContext
	rendezvous *actor.PID
}

func (h *helloHandler) OnRendezvous(e *endpoint.Endpoint, from netip.AddrPort, target cryptoutil.PeerID, epd, tag []byte) {
	h.root.Send(h.rendezvous, &introduce{ep: e, from: from, target: target,
		epd: append([]byte(nil), epd...), tag: append([]byte(nil), tag...)})
}

// limiter is a token bucket per key, with a bounded number of keys.
type limiter struct {
	rate, burst float64
	max         int
	buckets     map[netip.Addr]*bucket
}

func newLimiter(rate, burst float64, max int) limiter {
	return limiter{rate: rate, burst: burst, max: max, buckets: map[netip.Addr]*bucket{}}
}

func (l *limiter) allow(k netip.Addr, now time.Time) bool {
	b := l.buckets[k]
	if b == nil {
		if len(l.buckets) >= l.max {
			for key, old := range l.buckets { // drop full (idle) buckets
				if old.tokens+l.rate*now.Sub(old.last).Seconds() >= l.burst {
					delete(l.buckets, key)
				}
			}
			if len(l.buckets) >= l.max {
				return false
			}
		}
		b = &bucket{}
		l.buckets[k] = b
	}
	return b.take(l.rate, l.burst, now)
}

// boundedCounts counts occurrences of keys, forgetting the oldest beyond a bound.
type boundedCounts struct {
	n     map[string]int
	order []string
	max   int
}

func newBoundedCounts(max int) boundedCounts {
	return boundedCounts{n: map[string]int{}, max: max}
}

func (b *boundedCounts) inc(k string) int {
	if _, ok := b.n[k]; !ok {
		if len(b.order) >= b.max {
			delete(b.n, b.order[0])
			b.order = b.order[1:]
		}
		b.order = append(b.order, k)
	}
	b.n[k]++
	return b.n[k]
}
