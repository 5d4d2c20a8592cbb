package p2p

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/endpoint"
	"github.com/actorrtmfp/actorrtmfp/actors/ratelimit"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/messages"
)

// RendezvousStats counts the introductions of the server.
type RendezvousStats struct {
	Lookups       atomic.Uint64 // IHellos naming another peer
	Introductions atomic.Uint64 // answered with a redirect and a forwarded IHello
	Remote        atomic.Uint64 // of them, to a peer served by another node of the cluster
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
	cfg      RendezvousConfig
	limit    *ratelimit.PerAddress
	attempts boundedCounts
	pending  map[uint64]*introduction
	nextID   uint64
}

// RendezvousConfig configures the introduction service of a node.
type RendezvousConfig struct {
	Directory *actor.PID // where peers are looked up
	// Cluster, if set, is asked to forward the IHello to a peer served by another node
	// (ToNode with a *messages.ForwardHello): the directory knows such peers from their
	// node.
	Cluster *actor.PID
	// Unknown, if set, is asked about introductions to peers that are not here; Resolver,
	// if set, instead (asynchronously).
	Unknown  app.RendezvousHandler
	Resolver app.RendezvousResolver
	// LookupsPerSecond bounds the lookups of one source address (burst twice that).
	LookupsPerSecond float64
	Clock            clock.Clock
	Log              *zap.Logger
	Stats            *RendezvousStats
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

// ToNode is a message for another node of the cluster, from this node's actors to its
// cluster actor (RendezvousConfig.Cluster): a *messages.ForwardHello or a
// *messages.RelayTo, whose ToNode names the node.
type ToNode struct{ Msg any }

// Introduce asks for an introduction; an endpoint's handshake actor sends it (HelloHandler).
type Introduce struct {
	Endpoint *endpoint.Endpoint // where the IHello came in (and the redirect goes out)
	From     netip.AddrPort
	Target   cryptoutil.PeerID
	EPD, Tag []byte
}

// DefaultLookupsPerSecond is the default bound of lookups per source address.
const DefaultLookupsPerSecond = 20

const maxPending = 4096

// RendezvousProps returns the props of a node's introduction service.
func RendezvousProps(cfg RendezvousConfig, opts ...actor.PropsOption) *actor.Props {
	cfg.Clock = clock.Or(cfg.Clock)
	if cfg.LookupsPerSecond <= 0 {
		cfg.LookupsPerSecond = DefaultLookupsPerSecond
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	return actor.PropsFromProducer(func() actor.Actor {
		return &rendezvous{
			cfg:      cfg,
			limit:    ratelimit.NewPerAddress(cfg.LookupsPerSecond, 2*cfg.LookupsPerSecond, 1<<14),
			attempts: newBoundedCounts(1 << 14), pending: map[uint64]*introduction{},
		}
	}, opts...)
}

func (r *rendezvous) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *Introduce:
		r.onIntroduce(ctx, m)
	case *messages.LookupPeerResult:
		r.onResult(ctx, m)
	}
}

func (r *rendezvous) onIntroduce(ctx actor.Context, m *Introduce) {
	r.cfg.Stats.Lookups.Add(1)
	now := r.cfg.Clock.Now()
	if !r.limit.Allow(m.From.Addr(), now) {
		r.cfg.Stats.Limited.Add(1)
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
			r.cfg.Stats.Limited.Add(1)
			return
		}
	}
	in := &introduction{ep: m.Endpoint, from: m.From, target: m.Target, epd: m.EPD, tag: m.Tag, attempt: r.attempts.inc(string(m.Tag)), at: now}
	r.nextID++
	id := r.nextID
	r.pending[id] = in
	ctx.Send(r.cfg.Directory, &messages.LookupPeer{PeerId: m.Target[:], RequestId: id, ReplyTo: ctx.Self()})
	ctx.Send(r.cfg.Directory, &messages.LookupAddress{Address: m.From.String(), RequestId: id, ReplyTo: ctx.Self()})
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
	remote := in.peer != nil && in.peer.Origin != "" && r.cfg.Cluster != nil
	if in.peer == nil || in.peer.Session == nil && !remote {
		r.unknown(in)
		return
	}
	r.cfg.Stats.Introductions.Add(1)
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
	if remote {
		// The target's node forwards it: the IHello goes where the target's session is.
		r.cfg.Stats.Remote.Add(1)
		ctx.Send(r.cfg.Cluster, &ToNode{Msg: &messages.ForwardHello{ToNode: in.peer.Origin, TargetPeerId: in.peer.PeerId,
			TargetSessionId: in.peer.SessionId, Epd: in.epd, Tag: in.tag, ReplyAddress: reply.String(), ReplyOrigin: uint32(origin)}})
	} else {
		ctx.Send(in.peer.Session, &session.SendFIHello{EPD: in.epd, Reply: rtmfp.Address{AddrPort: reply, Origin: origin}, Tag: in.tag})
	}
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
	if r.cfg.Resolver != nil {
		r.resolve(in)
		return
	}
	if r.cfg.Unknown == nil {
		r.cfg.Stats.Unknown.Add(1)
		return
	}
	var addrs []netip.AddrPort
	func() {
		defer func() {
			if p := recover(); p != nil {
				r.cfg.Log.Error("rendezvous handler panicked", zap.String("panic", fmt.Sprint(p)), zap.Stack("stack"))
				addrs = nil
			}
		}()
		addrs = r.cfg.Unknown.OnRendezvousUnknown(in.target)
	}()
	redirectUnknown(in.ep, in.from, in.tag, addrs, r.cfg.Stats)
}

// resolve asks the Resolver about a peer that is not here; its answer redirects the
// initiator from wherever it comes.
func (r *rendezvous) resolve(in *introduction) {
	ep, from, tag, stats := in.ep, in.from, in.tag, r.cfg.Stats
	var once sync.Once
	answer := func(addrs []netip.AddrPort) {
		once.Do(func() { redirectUnknown(ep, from, tag, addrs, stats) })
	}
	defer func() {
		if p := recover(); p != nil {
			r.cfg.Log.Error("rendezvous resolver panicked", zap.String("panic", fmt.Sprint(p)), zap.Stack("stack"))
			answer(nil)
		}
	}()
	r.cfg.Resolver.ResolveRendezvous(in.target, answer)
}

// redirectUnknown redirects an initiator to the addresses an application gave for a peer
// that is not here, or sends nothing when it gave none.
func redirectUnknown(ep *endpoint.Endpoint, from netip.AddrPort, tag []byte, addrs []netip.AddrPort, stats *RendezvousStats) {
	if len(addrs) == 0 {
		stats.Unknown.Add(1)
		return
	}
	stats.Redirected.Add(1)
	redirect := make([]rtmfp.Address, len(addrs))
	for i, a := range addrs {
		redirect[i] = rtmfp.Address{AddrPort: a, Origin: rtmfp.OriginRelay} // as Mona marks them
	}
	ep.Redirect(from, tag, redirect)
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

// HelloHandler connects an endpoint's handshake actor to a node's rendezvous actor, and
// to the applications that want to see handshakes (Handshakes).
type HelloHandler struct {
	Root       *actor.RootContext
	Rendezvous *actor.PID
	// Handshakes, if set, may redirect clients at their IHello (Cumulus' onHandshake).
	Handshakes app.HandshakeHandler
	// LoadRedirect, if set, names where to send new clients instead of serving them here
	// (a cluster node over its share of the load): while it returns addresses, a client's
	// first IHello is answered with a Redirect to them. It runs on the handshake actor and
	// must not block.
	LoadRedirect func() []netip.AddrPort

	mu       sync.Mutex
	attempts boundedCounts // IHellos per tag, for Handshake.Attempt
}

// OnURLHello implements endpoint.URLHelloHandler: an IHello to an application that wants
// to see handshakes goes to it; its answer redirects the client or lets the handshake go
// on.
func (h *HelloHandler) OnURLHello(e *endpoint.Endpoint, from netip.AddrPort, url string, tag []byte) bool {
	if h.LoadRedirect != nil {
		if to := h.LoadRedirect(); len(to) > 0 {
			addrs := make([]rtmfp.Address, len(to))
			for i, a := range to {
				addrs[i] = rtmfp.Address{AddrPort: a, Origin: rtmfp.OriginPublic}
			}
			e.Redirect(from, tag, addrs)
			return true
		}
	}
	if h.Handshakes == nil {
		return false
	}
	path, query := app.SplitURL(url)
	if !h.Handshakes.WantsHandshake(path) {
		return false
	}
	h.mu.Lock()
	if h.attempts.n == nil {
		h.attempts = newBoundedCounts(1 << 14)
	}
	attempt := h.attempts.inc(string(tag))
	h.mu.Unlock()
	tag = append([]byte(nil), tag...)
	var once sync.Once
	answer := func(redirect []netip.AddrPort) {
		once.Do(func() {
			if len(redirect) == 0 {
				e.AcceptHello(from, tag)
				return
			}
			addrs := make([]rtmfp.Address, len(redirect))
			for i, a := range redirect {
				addrs[i] = rtmfp.Address{AddrPort: a, Origin: rtmfp.OriginPublic}
			}
			e.Redirect(from, tag, addrs)
		})
	}
	h.Handshakes.OnHandshake(app.Handshake{Address: from, URL: url, Path: path, Query: query, Attempt: attempt}, answer)
	return true
}

// OnRendezvous implements endpoint.HelloHandler.
func (h *HelloHandler) OnRendezvous(e *endpoint.Endpoint, from netip.AddrPort, target cryptoutil.PeerID, epd, tag []byte) {
	h.Root.Send(h.Rendezvous, &Introduce{Endpoint: e, From: from, Target: target,
		EPD: append([]byte(nil), epd...), Tag: append([]byte(nil), tag...)})
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
