package endpoint

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// DialOptions describe a session to open (this endpoint as initiator).
type DialOptions struct {
	// URL selects a server by its connection URL (ancillary-data EPD) …
	URL string
	// … or Peer selects an endpoint by its peer ID (fingerprint EPD), for P2P.
	Peer cryptoutil.PeerID
	// Addrs are where the IHello goes first (a server, or the rendezvous server that
	// introduces us to Peer). Redirects add more.
	Addrs []netip.AddrPort
	// Keys are our static DH keys, strongest group first; the certificate carries them
	// and the group is the first one the responder supports.
	Keys []*cryptoutil.DHKey
	// Policy is our HMAC / sequence-number policy (cryptoutil.FlashInitiatorPolicy for
	// Flash style, cryptoutil.StrictPolicy for RFC 7425 style).
	Policy cryptoutil.Policy
	// Upper returns the session's Flash-layer actor (nil: none), spawned as the
	// session's child with UpperOptions.
	Upper        func(SessionInfo) actor.Actor
	UpperOptions []actor.PropsOption
	// Timeout gives up the dial (default 95 s, RFC 7016's ultimate session timeout).
	Timeout time.Duration
}

// DialResult is the outcome of a dial: the session actor, or why there is none.
type DialResult struct {
	PID  *actor.PID
	Info SessionInfo
	Err  error
}

// ErrDialTimeout means no responder completed the handshake in time.
var ErrDialTimeout = errors.New("rtmfp: handshake timed out")

type dialRequest struct {
	o    DialOptions
	done func(DialResult)
}

// Dial opens a session. done is called exactly once, from an actor goroutine, with the
// session or the error.
func (e *Endpoint) Dial(o DialOptions, done func(DialResult)) {
	if e.stopping.Load() {
		done(DialResult{Err: errors.New("endpoint stopped")})
		return
	}
	e.sys.Root.Send(e.handshake, &dialRequest{o: o, done: done})
}

type dialState uint8

const (
	dialHello dialState = iota
	dialKeying
)

type dial struct {
	o        DialOptions
	done     func(DialResult)
	epd      []byte
	tag      []byte
	targets  []netip.AddrPort
	state    dialState
	started  time.Duration
	lastSend time.Duration
	interval time.Duration

	responder     netip.AddrPort
	cookie        []byte
	cert          cryptoutil.Certificate
	key           *cryptoutil.DHKey
	skic          []byte
	ourCert       []byte
	localID       uint32
	cookieChanged bool
}

const (
	dialInitialRTX = time.Second
	dialBackoff    = 1500 * time.Millisecond
	maxDialTargets = 24
)

func (h *handshake) startDial(ctx actor.Context, r *dialRequest) {
	o := r.o
	if o.Timeout <= 0 {
		o.Timeout = 95 * time.Second
	}
	d := &dial{o: o, done: r.done, tag: make([]byte, 16), started: h.e.Now(), interval: dialInitialRTX}
	_, _ = rand.Read(d.tag)
	switch {
	case !o.Peer.IsZero():
		d.epd = rtmfp.AppendEPDFingerprint(nil, o.Peer[:])
	case o.URL != "":
		d.epd = rtmfp.AppendEPDURL(nil, o.URL)
	default:
		r.done(DialResult{Err: errors.New("rtmfp: dial needs a URL or a peer ID")})
		return
	}
	if len(o.Keys) == 0 || len(o.Addrs) == 0 || o.Upper == nil {
		r.done(DialResult{Err: errors.New("rtmfp: dial needs keys, addresses and an upper layer")})
		return
	}
	d.ourCert = cryptoutil.AppendStaticCertificate(nil, o.Keys...)
	d.targets = slices.Clone(o.Addrs)
	h.dials[string(d.tag)] = d
	h.sendHellos(d, d.targets)
}

func (h *handshake) sendHellos(d *dial, to []netip.AddrPort) {
	d.lastSend = h.e.Now()
	for _, a := range to {
		h.sendStartup(a, 0, rtmfp.IHello{EPD: d.epd, Tag: d.tag})
	}
}

func (h *handshake) sendIIKeying(d *dial) {
	d.lastSend = h.e.Now()
	h.sendStartup(d.responder, 0, rtmfp.IIKeying{
		InitiatorSessionID: d.localID, Cookie: d.cookie, Certificate: d.ourCert, SKIC: d.skic, Signature: []byte{'X'},
	})
}

// dialTick retransmits IHello or IIKeying with back-off and gives up after the timeout.
func (h *handshake) dialTick(d *dial, now time.Duration) {
	if now-d.started >= d.o.Timeout {
		h.failDial(d, ErrDialTimeout)
		return
	}
	if now-d.lastSend < d.interval {
		return
	}
	d.interval += dialBackoff
	if d.state == dialHello {
		h.sendHellos(d, d.targets)
	} else {
		h.sendIIKeying(d)
	}
}

func (h *handshake) failDial(d *dial, err error) {
	delete(h.dials, string(d.tag))
	if d.localID != 0 {
		delete(h.pending, d.localID)
		h.e.unregister(d.localID)
	}
	d.done(DialResult{Err: err})
}

// onRHello takes the first acceptable RHello for a dial and answers with IIKeying.
func (h *handshake) onRHello(m *startupMsg) {
	rh, err := rtmfp.ParseRHello(m.payload)
	if err != nil {
		h.e.Stats.DropMalformed.Add(1)
		return
	}
	d := h.dials[string(rh.Tag)]
	if d == nil || d.state != dialHello {
		return // not ours, or a later RHello for a dial already keying
	}
	cert, err := cryptoutil.ParseCertificate(slices.Clone(rh.Certificate))
	if err != nil {
		h.e.Stats.BadKeying.Add(1)
		return
	}
	if !d.o.Peer.IsZero() {
		if cert.ID != d.o.Peer {
			return // an endpoint that is not the one we asked for
		}
	} else if !cert.AcceptsAncillaryData {
		return // RFC 7425 §4.4.3: a URL EPD needs a certificate with option 0x0A
	}
	// An ephemeral responder (a server) lists groups; a static one (a P2P peer) carries a
	// key per group. Take our strongest group the responder has.
	var key *cryptoutil.DHKey
	for _, k := range d.o.Keys {
		if _, static := cert.StaticKey(k.Group()); cert.SupportsEphemeral(k.Group()) || static {
			key = k
			break
		}
	}
	if key == nil {
		h.e.Stats.BadKeying.Add(1)
		h.log.Debug("no common DH group with responder", zap.Stringer("addr", m.from.From))
		return
	}
	random := make([]byte, 64)
	_, _ = rand.Read(random)
	d.cert, d.key, d.responder = cert, key, m.from.From
	d.cookie = slices.Clone(rh.Cookie)
	d.skic = cryptoutil.AppendInitiatorComponent(nil, key.Group(), random, d.o.Policy)
	d.localID = h.e.newSessionID(&entry{startup: true})
	h.pending[d.localID] = d
	d.state = dialKeying
	d.interval = dialInitialRTX
	h.sendIIKeying(d)
}

// onRedirect adds the addresses a redirect lists to a dial's IHello targets.
func (h *handshake) onRedirect(m *startupMsg) {
	tag, it, err := rtmfp.RedirectAddresses(m.payload)
	if err != nil {
		h.e.Stats.DropMalformed.Add(1)
		return
	}
	d := h.dials[string(tag)]
	if d == nil || d.state != dialHello {
		return
	}
	var fresh []netip.AddrPort
	any := false
	for it.Next() {
		any = true
		a := it.Address().AddrPort
		if !slices.Contains(d.targets, a) && len(d.targets) < maxDialTargets {
			d.targets = append(d.targets, a)
			fresh = append(fresh, a)
		}
	}
	if !any && !slices.Contains(d.targets, m.from.From) {
		// An empty redirect means "the address this came from" (rtmfp-cpp).
		d.targets = append(d.targets, m.from.From)
		fresh = append(fresh, m.from.From)
	}
	h.sendHellos(d, fresh)
}

// onCookieChange replaces the cookie of a dial once and resends IIKeying.
func (h *handshake) onCookieChange(m *startupMsg) {
	d := h.pending[m.ssid]
	if d == nil || d.cookieChanged {
		return
	}
	cc, err := rtmfp.ParseCookieChange(m.payload)
	if err != nil || !bytes.Equal(cc.OldCookie, d.cookie) {
		return
	}
	d.cookieChanged = true
	d.cookie = slices.Clone(cc.NewCookie)
	h.sendIIKeying(d)
}

// onRIKeying completes a dial: negotiation, keys, and the session actor.
func (h *handshake) onRIKeying(ctx actor.Context, m *startupMsg) {
	d := h.pending[m.ssid]
	if d == nil {
		return
	}
	ri, err := rtmfp.ParseRIKeying(m.payload)
	if err != nil {
		h.e.Stats.BadKeying.Add(1)
		return
	}
	certKey, _ := d.cert.StaticKey(d.key.Group())
	agreement, peerKey, err := cryptoutil.NegotiateInitiatorStatic(d.o.Policy, ri.SKRC, d.key.Group(), certKey)
	if err != nil {
		h.e.Stats.BadKeying.Add(1)
		h.log.Debug("responder keying refused", zap.Stringer("addr", m.from.From), zap.Error(err))
		return // keep retransmitting IIKeying until the timeout, as rtmfp-cpp does
	}
	secret, err := d.key.SharedSecret(peerKey)
	if err != nil {
		h.e.Stats.BadKeying.Add(1)
		return
	}
	enc, dec, err := cryptoutil.NewSessionCrypto(cryptoutil.Initiator, secret, d.skic, ri.SKRC, agreement)
	if err != nil {
		h.failDial(d, fmt.Errorf("rtmfp: session keys: %w", err))
		return
	}
	delete(h.dials, string(d.tag))
	delete(h.pending, d.localID)
	info := SessionInfo{Role: cryptoutil.Initiator, LocalID: d.localID, PeerID: d.cert.ID, Addr: m.from.From, Mode: enc.Mode(),
		NearNonce: cryptoutil.Nonce(secret, d.skic), FarNonce: cryptoutil.Nonce(secret, ri.SKRC)}
	upper := d.o.Upper(info)
	var kind *actors.Kind
	if upper != nil {
		kind = actors.NewKind(d.o.UpperOptions...)
	}
	localID, done := d.localID, d.done
	pid := h.spawn(h.e.sessionParams(info, ri.ResponderSessionID, enc, upper, kind, m))
	h.e.activate(localID, dec, pid)
	done(DialResult{PID: pid, Info: info})
}
