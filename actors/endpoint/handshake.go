package endpoint

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// HelloHandler lets the layer above an accepting endpoint answer IHellos that are not
// for this endpoint. It runs on the handshake actor and must not block.
type HelloHandler interface {
	// OnRendezvous is called for an IHello whose EPD names another endpoint's peer ID
	// (P2P introduction). The handler answers through Endpoint.Redirect and the target
	// session's SendFIHello, or not at all.
	OnRendezvous(e *Endpoint, from netip.AddrPort, target cryptoutil.PeerID, epd, tag []byte)
}

// URLHelloHandler is a HelloHandler that may also take over IHellos that carry a URL (a
// client's first packet to this server), to send the client elsewhere before it has a
// session. OnURLHello runs on the handshake actor and must answer at once: false lets the
// endpoint answer with its RHello now; true means the handler took the IHello and answers
// later, from any goroutine, with Endpoint.Redirect or Endpoint.AcceptHello (or not at
// all: the client retries).
type URLHelloHandler interface {
	HelloHandler
	OnURLHello(e *Endpoint, from netip.AddrPort, url string, tag []byte) bool
}

// usedCookie is a cookie that an IIKeying spent on a session, kept for the cookie's
// lifetime so that a replay of the IIKeying opens no second session.
type usedCookie struct {
	at      time.Duration
	localID uint32 // the session it opened; its answer is in answers until it is heard
}

// answer is the RIKeying sent for one IIKeying, kept until the session hears from the
// initiator (which proves that the RIKeying arrived): a retransmitted IIKeying before
// then gets the same answer, one with another address, session ID or key gets nothing.
type answer struct {
	cookie      [16]byte
	from        netip.AddrPort
	initiatorID uint32
	skic        [16]byte
	rikeying    []byte // the whole datagram
}

// sessionHeard tells the handshake actor that a session received its first packet.
type sessionHeard struct{ id uint32 }

const (
	maxKeyed   = 1 << 16
	tickPeriod = 100 * time.Millisecond
)

// handshake is the endpoint's handshake actor: it answers IHello and IIKeying (responder)
// and runs the dials of the endpoint (initiator). It is the only user of its startup
// encrypter and of its caches.
type handshake struct {
	e    *Endpoint
	log  *zap.Logger
	boot *cryptoutil.Encrypter
	// keyed holds every cookie spent for a cookie lifetime (a few dozen bytes each);
	// answers only the RIKeyings of sessions not yet heard from (a few hundred bytes each,
	// for a round trip or so: a server opening a thousand sessions a second kept ~100,000
	// of them for the cookie lifetime before).
	keyed   map[[16]byte]usedCookie
	answers map[uint32]*answer
	order   [][16]byte // insertion order of keyed, for eviction

	keys map[cryptoutil.DHGroup]*ephemeralKey // the responder's current key per group

	dials   map[string]*dial // by tag
	pending map[uint32]*dial // by our initiator session ID once IIKeying was sent
	adm     admission        // per source address: answers, rates, sessions not heard from
	ticker  clock.Timer
	// refusals is log limited to a line per second per message: what hostile initiators
	// cause at will.
	refusals *zap.Logger
	ctx      actor.Context // while in Receive: sessions are spawned as its children
	buf      []byte
	out      []byte
}

type tick struct{}

func newHandshake(e *Endpoint) *handshake {
	return &handshake{
		e: e, log: e.log.Named("handshake"), boot: cryptoutil.NewStartupEncrypter(),
		keyed: map[[16]byte]usedCookie{}, answers: map[uint32]*answer{},
		dials: map[string]*dial{}, pending: map[uint32]*dial{}, keys: map[cryptoutil.DHGroup]*ephemeralKey{},
		adm: newAdmission(), refusals: actors.Sampled(e.log.Named("handshake")),
	}
}

// A responder's ephemeral DH key is reused across handshakes for a short while: the
// modular exponentiation that makes a key costs as much as the one that computes the
// shared secret, and each session's keys stay unique (they also depend on the initiator's
// key and both sides' nonces). Forward secrecy then covers windows of keyLifetime.
const (
	keyLifetime = 10 * time.Second
	keyUses     = 1000
)

type ephemeralKey struct {
	key  *cryptoutil.DHKey
	born time.Duration
	uses int
}

// ephemeral returns the current responder key of group g, renewing it when it is too old
// or too used.
func (h *handshake) ephemeral(g cryptoutil.DHGroup) (*cryptoutil.DHKey, error) {
	now := h.e.Now()
	k := h.keys[g]
	if k == nil || k.uses >= keyUses || now-k.born >= keyLifetime {
		dh, err := cryptoutil.GenerateDHKey(g, rand.Reader)
		if err != nil {
			return nil, err
		}
		k = &ephemeralKey{key: dh, born: now}
		h.keys[g] = k
	}
	k.uses++
	return k.key, nil
}

func (h *handshake) Receive(ctx actor.Context) {
	h.ctx = ctx
	defer func() { h.ctx = nil }()
	switch m := ctx.Message().(type) {
	case *startupMsg:
		h.guard(func() { h.onStartup(ctx, m) })
		if m.waiting != nil {
			m.waiting.Add(-1)
			h.e.startupWaiting.Add(-1)
		}
	case *dialRequest:
		h.startDial(ctx, m)
	case *redirectRequest:
		h.sendRedirect(m.to, m.tag, m.addrs)
	case *acceptHello:
		h.sendRHello(m.to, m.tag, false)
	case *tick:
		h.onTick(ctx)
		h.ticker.Reset(tickPeriod)
	case *sessionHeard:
		h.heard(m.id)
	case *actor.Started:
		self, root := ctx.Self(), ctx.ActorSystem().Root
		h.ticker = h.e.clock.AfterFunc(tickPeriod, func() { root.Send(self, &tick{}) })
	case *actor.Stopping:
		h.ticker.Stop()
		for _, d := range h.dials {
			h.failDial(d, errors.New("endpoint stopped"))
		}
	case *actor.Stopped:
		// Every session, its child, has stopped too.
		h.e.shutdown()
	}
}

// guard runs the handling of one datagram, recovering a panic there: the handshake actor
// is the parent of every session of its endpoint, and a restart would stop them all.
func (h *handshake) guard(f func()) {
	defer func() {
		if r := recover(); r != nil {
			h.e.Stats.HandshakePanics.Add(1)
			h.log.Error("handshake handler panicked", zap.String("panic", fmt.Sprint(r)), zap.Stack("stack"))
		}
	}()
	f()
}

func (h *handshake) onStartup(ctx actor.Context, m *startupMsg) {
	if !m.forwarded {
		h.received(m.from.From, m.size)
	}
	switch m.typ {
	case rtmfp.ChunkIHello:
		h.onIHello(m)
	case rtmfp.ChunkIIKeying:
		h.onIIKeying(m)
	case rtmfp.ChunkRHello:
		h.onRHello(m)
	case rtmfp.ChunkRedirect:
		h.onRedirect(m)
	case rtmfp.ChunkRIKeying:
		h.onRIKeying(ctx, m)
	case rtmfp.ChunkCookieChange:
		h.onCookieChange(m)
	}
}

// sendStartup sends one handshake chunk in a startup packet (default key, flags 0x0B).
func (h *handshake) sendStartup(to netip.AddrPort, farID uint32, c rtmfp.ChunkEncoder) {
	h.write(h.prepare(to, farID, c), to)
}

// answer sends one handshake chunk to an address that has not proved it receives what
// is sent there (an RHello, a Cookie Change, a Redirect), if the reflection bound allows
// it (mayAnswer). A forwarded IHello's initiator is answered whatever it sent us: the
// rendezvous server vouches for the introduction, and the answer opens our NAT to it.
func (h *handshake) answer(to netip.AddrPort, farID uint32, c rtmfp.ChunkEncoder, forwarded bool) {
	d := h.prepare(to, farID, c)
	if forwarded || h.mayAnswer(to, len(d)) {
		h.write(d, to)
	}
}

func (h *handshake) write(d []byte, to netip.AddrPort) {
	h.e.Stats.StartupBytesOut.Add(uint64(len(d)))
	if err := h.e.WriteDatagram(d, to); err != nil {
		h.log.Debug("startup write failed", zap.Error(err))
	}
}

// onIHello answers an IHello with an RHello (cookie and certificate), a redirect, or a
// rendezvous.
func (h *handshake) onIHello(m *startupMsg) {
	acc := h.e.cfg.Accept
	if acc == nil {
		h.e.Stats.DropMalformed.Add(1)
		return
	}
	ih, err := rtmfp.ParseIHello(m.payload)
	if err != nil {
		h.e.Stats.DropMalformed.Add(1)
		return
	}
	epd, err := rtmfp.ParseEPD(ih.EPD)
	if err != nil {
		h.e.Stats.DropMalformed.Add(1)
		return
	}
	from := m.from.From
	if !m.forwarded && !h.helloAllowed(from) {
		return
	}
	switch {
	case len(epd.Fingerprint) == cryptoutil.PeerIDLen:
		target, _ := cryptoutil.PeerIDFromBytes(epd.Fingerprint)
		if target != h.e.certID {
			if acc.Hello != nil {
				acc.Hello.OnRendezvous(h.e, from, target, ih.EPD, ih.Tag)
			} else {
				h.e.Stats.UnknownPeer.Add(1)
			}
			return
		}
		// A fingerprint EPD naming us selects us whatever else it holds.
	case epd.HasURL:
		if uh, ok := acc.Hello.(URLHelloHandler); ok && uh.OnURLHello(h.e, from, string(epd.URL), ih.Tag) {
			return
		}
	default:
		h.e.Stats.DropMalformed.Add(1)
		return
	}
	h.sendRHello(from, ih.Tag, m.forwarded)
}

// sendRHello answers an IHello with a cookie and the endpoint's certificate, within the
// reflection bound unless the IHello was forwarded (answer).
func (h *handshake) sendRHello(to netip.AddrPort, tag []byte, forwarded bool) {
	cookie := h.e.cookies.Mint(tag, to, h.e.clock.Now())
	h.answer(to, 0, rtmfp.RHello{Tag: tag, Cookie: cookie[:], Certificate: h.e.cert}, forwarded)
}

// acceptHello asks the handshake actor to answer an IHello a URLHelloHandler took.
type acceptHello struct {
	to  netip.AddrPort
	tag []byte
}

// AcceptHello answers an IHello that a URLHelloHandler took with the endpoint's RHello:
// the handshake goes on as if the handler had not taken it.
func (e *Endpoint) AcceptHello(to netip.AddrPort, tag []byte) {
	e.sys.Root.Send(e.handshake, &acceptHello{to: to, tag: append([]byte(nil), tag...)})
}

// redirectRequest asks the handshake actor to send a Responder Redirect.
type redirectRequest struct {
	to    netip.AddrPort
	tag   []byte
	addrs []rtmfp.Address
}

// Redirect sends a Responder Redirect for tag to an initiator: "try these addresses"
// (a rendezvous answer listing a peer's addresses, or a load-balancing redirect).
func (e *Endpoint) Redirect(to netip.AddrPort, tag []byte, addrs []rtmfp.Address) {
	e.sys.Root.Send(e.handshake, &redirectRequest{to: to, tag: append([]byte(nil), tag...), addrs: addrs})
}

func (h *handshake) sendRedirect(to netip.AddrPort, tag []byte, addrs []rtmfp.Address) {
	if len(addrs) > rtmfp.MaxRedirectAddresses {
		addrs = addrs[:rtmfp.MaxRedirectAddresses]
	}
	h.answer(to, 0, rtmfp.Redirect{Tag: tag, Addresses: addrs}, false)
}

// onIIKeying validates the cookie, negotiates, computes the keys and opens the session.
func (h *handshake) onIIKeying(m *startupMsg) {
	acc := h.e.cfg.Accept
	st := &h.e.Stats
	if acc == nil {
		st.DropMalformed.Add(1)
		return
	}
	ik, err := rtmfp.ParseIIKeying(m.payload)
	if err != nil {
		st.BadKeying.Add(1)
		return
	}
	from := m.from.From
	switch err := h.e.cookies.Check(ik.Cookie, from, h.e.clock.Now()); {
	case err == nil:
	case errors.Is(err, cryptoutil.ErrCookieAddress):
		// Genuine cookie, but the initiator's address changed since IHello (NAT rebinding):
		// RFC 7016 §3.5.1.2 — hand it a cookie for its new address.
		st.CookieAddress.Add(1)
		fresh := h.e.cookies.Mint(ik.Cookie[:min(16, len(ik.Cookie))], from, h.e.clock.Now())
		h.answer(from, ik.InitiatorSessionID, rtmfp.CookieChange{OldCookie: ik.Cookie, NewCookie: fresh[:]}, false)
		return
	case errors.Is(err, cryptoutil.ErrCookieExpired):
		st.StaleCookie.Add(1)
		return
	default:
		st.BadCookie.Add(1)
		return
	}
	key := sha256.Sum256(ik.Cookie)
	var ck [16]byte
	copy(ck[:], key[:16])
	skicSum := sha256.Sum256(ik.SKIC)
	var skic [16]byte
	copy(skic[:], skicSum[:16])
	if used, ok := h.keyed[ck]; ok {
		if a := h.answers[used.localID]; a != nil && a.cookie == ck && a.from == from && a.initiatorID == ik.InitiatorSessionID && a.skic == skic {
			h.write(a.rikeying, from) // retransmitted IIKeying: same answer
		} else {
			// Another address, session ID or key; or a copy of the IIKeying that arrived
			// after its session was under way, which the initiator no longer waits for.
			st.CookieReused.Add(1)
		}
		return
	}
	if !h.admit(from, h.e.Now()) {
		return
	}
	ic, err := cryptoutil.ParseInitiatorComponent(ik.SKIC)
	if err != nil {
		st.BadKeying.Add(1)
		return
	}
	agreement, err := cryptoutil.NegotiateResponder(ic, acc.Policy)
	if err != nil {
		st.BadKeying.Add(1)
		h.log.Debug("negotiation failed", zap.Stringer("addr", from), zap.Error(err))
		return
	}
	cert, err := cryptoutil.ParseCertificate(ik.Certificate)
	if err != nil {
		st.BadKeying.Add(1)
		return
	}
	peerKey, err := ic.PeerPublicKey(&cert)
	if err != nil {
		st.BadKeying.Add(1)
		return
	}
	var secret, skrc []byte
	if len(acc.StaticKeys) > 0 {
		// A static-key responder (P2P peer): our key for the selected group, no key in
		// the SKRC, only fresh randomness (Flash peers send 73 bytes).
		var key *cryptoutil.DHKey
		for _, k := range acc.StaticKeys {
			if k.Group() == ic.Group {
				key = k
			}
		}
		if key == nil {
			st.BadKeying.Add(1)
			return
		}
		if secret, err = key.SharedSecret(peerKey); err != nil {
			st.BadKeying.Add(1)
			return
		}
		random := make([]byte, 64)
		_, _ = rand.Read(random)
		skrc = cryptoutil.AppendStaticResponderComponent(nil, agreement, random)
	} else {
		if !h.e.ours.SupportsEphemeral(ic.Group) {
			st.BadKeying.Add(1)
			return
		}
		dh, err := h.ephemeral(ic.Group)
		if err != nil {
			st.BadKeying.Add(1)
			return
		}
		if secret, err = dh.SharedSecret(peerKey); err != nil {
			st.BadKeying.Add(1)
			return
		}
		skrc = cryptoutil.AppendResponderComponent(nil, agreement, dh)
	}
	enc, dec, err := cryptoutil.NewSessionCrypto(cryptoutil.Responder, secret, ik.SKIC, skrc, agreement)
	if err != nil {
		st.BadKeying.Add(1)
		return
	}
	localID := h.e.newSessionID(&entry{startup: true})
	rik := append([]byte(nil), h.prepare(from, ik.InitiatorSessionID, rtmfp.RIKeying{ResponderSessionID: localID, SKRC: skrc, Signature: []byte{'X'}})...)
	h.remember(ck, localID, &answer{cookie: ck, from: from, initiatorID: ik.InitiatorSessionID, skic: skic, rikeying: rik})
	info := SessionInfo{Role: cryptoutil.Responder, LocalID: localID, PeerID: cert.ID, Addr: from, Mode: enc.Mode(),
		NearNonce: cryptoutil.Nonce(secret, skrc), FarNonce: cryptoutil.Nonce(secret, ik.SKIC)}
	var upper actor.Actor
	if acc.Upper != nil {
		upper = acc.Upper(info)
	}
	pid := h.spawn(h.e.sessionParams(info, ik.InitiatorSessionID, enc, upper, h.e.uppers, m))
	h.e.activate(localID, dec, pid)
	h.opened(localID, from, pid, h.e.Now())
	h.write(rik, from)
}

// spawn starts a session actor as a child of the handshake actor; the caller activates it
// before the session can receive anything from the far end.
func (h *handshake) spawn(p session.Params) *actor.PID {
	return session.Spawn(h.e.sessions, h.ctx, p)
}

// prepare builds a startup datagram without sending it.
func (h *handshake) prepare(to netip.AddrPort, farID uint32, c rtmfp.ChunkEncoder) []byte {
	now := h.e.Now()
	pw := rtmfp.NewPacketWriter(h.buf[:0], rtmfp.Header{Flags: rtmfp.ModeStartup}.WithTimestamp(uint16(now/(4*time.Millisecond))), rtmfp.MaxStartupPacketSize)
	if !pw.WriteChunk(c) {
		h.log.Error("handshake chunk does not fit a startup packet")
	}
	h.buf = pw.Bytes()
	if h.e.cfg.Dump != DumpNone {
		h.log.Debug("packet", zap.String("dir", "out"), zap.Stringer("addr", to), zap.Binary("packet", pw.Packet()))
	}
	h.out = h.boot.Seal(h.out[:0], farID, pw.Packet())
	return h.out
}

func (h *handshake) remember(ck [16]byte, localID uint32, a *answer) {
	if len(h.order) >= maxKeyed {
		h.forget(h.order[0])
		h.order = h.order[1:]
	}
	h.keyed[ck] = usedCookie{at: h.e.Now(), localID: localID}
	h.answers[localID] = a
	h.order = append(h.order, ck)
}

// forget drops a spent cookie and, if its session was never heard from, its answer (a
// session ID may have been reused since: then the answer is another cookie's).
func (h *handshake) forget(ck [16]byte) {
	if used, ok := h.keyed[ck]; ok {
		if a := h.answers[used.localID]; a != nil && a.cookie == ck {
			delete(h.answers, used.localID)
		}
		delete(h.keyed, ck)
	}
}

// onTick expires spent cookies and sessions never heard from, and drives the dials'
// retransmissions.
func (h *handshake) onTick(ctx actor.Context) {
	now := h.e.Now()
	h.expireUnheard(now)
	ttl := h.e.cfg.CookieTTL + 10*time.Second
	n := 0
	for n < len(h.order) {
		if used, ok := h.keyed[h.order[n]]; ok && now-used.at < ttl {
			break
		}
		h.forget(h.order[n])
		n++
	}
	if n > 0 {
		h.order = append(h.order[:0], h.order[n:]...)
	}
	for _, d := range h.dials {
		h.dialTick(d, now)
	}
}

// sessionParams assembles a session actor's parameters.
func (e *Endpoint) sessionParams(info SessionInfo, farID uint32, enc *cryptoutil.Encrypter, upper actor.Actor, kind *actors.Kind, m *startupMsg) session.Params {
	return session.Params{
		Shared: e.sessionShared, Role: info.Role, LocalID: info.LocalID, FarID: farID, Addr: info.Addr, PeerID: info.PeerID,
		Encrypt: enc, Upper: upper, UpperKind: kind,
		FirstTimestamp: m.ts, HasFirstTimestamp: m.hasTS, FirstTimestampAt: m.from.At,
	}
}
