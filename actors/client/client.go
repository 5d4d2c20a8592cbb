// Package client is a Go RTMFP client: NetConnection connect, calls in both directions
// and close, over sessions of either dialect — Flash-style (DH group 2, one static key,
// HMAC and sequence numbers offered but not required, objectEncoding 3) or RFC
// 7425-style (keys for groups 14 and 2 in the certificate, HMAC and sequence numbers
// required, objectEncoding 0).
//
// A client is an actor like the server's parts: each Conn is a session actor of a client
// endpoint with a client connection actor as its Flash layer. One Endpoint (one UDP
// socket) carries any number of Conns; Dial makes a private endpoint for one Conn.
package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/endpoint"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// Dialect selects how the client speaks RTMFP.
type Dialect uint8

const (
	// Flash speaks like Flash Player: group 2, HMAC/sequence numbers only on request,
	// objectEncoding 3, setPeerInfo as an AMF3 command (0x11).
	Flash Dialect = iota
	// RFC7425 speaks like rtmfp-cpp's tcconn: groups 14 and 2, HMAC and sequence numbers
	// required, objectEncoding 0.
	RFC7425
)

func (d Dialect) String() string {
	if d == RFC7425 {
		return "rfc7425"
	}
	return "flash"
}

// Policy is the HMAC / sequence-number policy the dialect's initiator offers.
func (d Dialect) Policy() cryptoutil.Policy {
	if d == RFC7425 {
		return cryptoutil.StrictPolicy()
	}
	return cryptoutil.FlashInitiatorPolicy()
}

// NewKeys generates the static DH keys of a new initiator of the dialect (its certificate,
// hence its peer ID, derives from them): group 2, or groups 14 and 2 for RFC 7425.
func (d Dialect) NewKeys() ([]*cryptoutil.DHKey, error) {
	groups := []cryptoutil.DHGroup{cryptoutil.Group2}
	if d == RFC7425 {
		groups = []cryptoutil.DHGroup{cryptoutil.Group14, cryptoutil.Group2}
	}
	keys := make([]*cryptoutil.DHKey, len(groups))
	for i, g := range groups {
		k, err := cryptoutil.GenerateDHKey(g, rand.Reader)
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	return keys, nil
}

// Options configure a connection.
type Options struct {
	Dialect Dialect
	// Args are the extra arguments of NetConnection.connect.
	Args []any
	// ConnectObject adds properties to the connect command object (flashVer, swfUrl, …).
	ConnectObject []amf.Property
	// PeerInfo are the addresses announced with setPeerInfo after connecting; nil
	// announces the endpoint's local address.
	PeerInfo []netip.AddrPort
	// SkipPeerInfo sends no setPeerInfo at all.
	SkipPeerInfo bool
	// Handler receives the server's calls (NetConnection.client methods). It runs on the
	// connection's actor and must not block.
	Handler func(method string, args []any)
	// HandshakeTimeout bounds the handshake (default 10 s).
	HandshakeTimeout time.Duration
	// AcceptPeers lets peers open direct (P2P) sessions to this connection's endpoint,
	// to play what it publishes with PublishDirect. Only with Dial (own endpoint).
	AcceptPeers bool
}

// Endpoint is a client-side RTMFP endpoint: one UDP socket for many connections.
type Endpoint struct {
	sys *actor.ActorSystem
	ep  *endpoint.Endpoint
	log *zap.Logger
	// uppers are the props options of the connection actors (dispatcher, mailbox).
	uppers []actor.PropsOption
	clock  clock.Clock

	mu    sync.Mutex
	conns map[*Conn]struct{} // connections whose actor has not ended (Close waits for them)
}

// EndpointConfig configures a client endpoint.
type EndpointConfig struct {
	Listen  string // default ":0"
	Shards  int
	Session session.Config
	Log     *zap.Logger
	// UDPBuffer sets the socket's receive and send buffers in bytes (0: the OS default);
	// a socket carrying many sessions' media needs more than the default.
	UDPBuffer int
	// Dispatcher runs the endpoint's session and connection actors (nil: protoactor's
	// default, a goroutine per mailbox wake-up). A program holding many sessions shares
	// one pool (actors.NewPoolDispatcher) among its endpoints, as the server does.
	Dispatcher actor.Dispatcher
	// KernelTimestamps stamps received media (Media.Arrived) with the kernel's receive
	// time (Linux), leaving out the endpoint's own delay in reading its socket: what a
	// measuring client wants.
	KernelTimestamps bool
	// Clock drives the endpoint's timers and its connections' (nil: the real clock).
	Clock clock.Clock

	accept *endpoint.Accept // P2P responder identity (Dial with AcceptPeers)
}

// NewEndpoint opens a client endpoint.
func NewEndpoint(sys *actor.ActorSystem, cfg EndpointConfig) (*Endpoint, error) {
	if cfg.Listen == "" {
		cfg.Listen = ":0"
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	uppers := upperOptions(cfg.Dispatcher)
	if cfg.accept != nil {
		cfg.accept.UpperOptions = uppers
	}
	ep, err := endpoint.Start(sys.Root, endpoint.Config{
		Listen: cfg.Listen, Shards: cfg.Shards, UDPBuffer: cfg.UDPBuffer, Session: cfg.Session, Log: cfg.Log,
		Accept: cfg.accept, Dispatcher: cfg.Dispatcher, KernelTimestamps: cfg.KernelTimestamps, Clock: cfg.Clock,
	})
	if err != nil {
		return nil, err
	}
	return &Endpoint{sys: sys, ep: ep, log: cfg.Log, uppers: uppers, clock: clock.Or(cfg.Clock)}, nil
}

// upperOptions are the props options of an endpoint's connection and peer actors: a
// compact mailbox, and d if given. They capture their panics themselves
// (supervision.Repanic), without a receiver middleware that would wrap every message.
func upperOptions(d actor.Dispatcher) []actor.PropsOption {
	opts := []actor.PropsOption{actor.WithMailbox(actors.CompactMailbox())}
	if d != nil {
		opts = append(opts, actor.WithDispatcher(d))
	}
	return opts
}

// Addr returns the endpoint's local address.
func (e *Endpoint) Addr() netip.AddrPort { return e.ep.Addr() }

// Endpoint returns the underlying RTMFP endpoint.
func (e *Endpoint) Endpoint() *endpoint.Endpoint { return e.ep }

// Close closes every connection of the endpoint and its socket. When it returns without
// an error, every connection of the endpoint is done (Conn.Done).
func (e *Endpoint) Close(ctx context.Context) error {
	err := e.ep.Stop(ctx)
	// A session the endpoint stopped ends its connection's actor after itself, without
	// waiting for it: wait here, so that a connection is done once Close returns.
	e.mu.Lock()
	conns := make([]*Conn, 0, len(e.conns))
	for c := range e.conns {
		conns = append(conns, c)
	}
	e.mu.Unlock()
	for _, c := range conns {
		select {
		case <-c.done:
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return err
		}
	}
	return err
}

// track notes a connection whose session (and actor) exists, until it ends (forget).
func (e *Endpoint) track(c *Conn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-c.done: // ended already
	default:
		if e.conns == nil {
			e.conns = map[*Conn]struct{}{}
		}
		e.conns[c] = struct{}{}
	}
}

// forget drops a connection that ended.
func (e *Endpoint) forget(c *Conn) {
	e.mu.Lock()
	delete(e.conns, c)
	e.mu.Unlock()
}

// Dial connects to rawURL on a private endpoint that closes with the connection. With
// Options.AcceptPeers the endpoint also accepts direct (P2P) sessions from peers that
// the server introduces, for PublishDirect.
func Dial(ctx context.Context, sys *actor.ActorSystem, rawURL string, opts Options) (*Conn, error) {
	keys, err := opts.Dialect.NewKeys()
	if err != nil {
		return nil, err
	}
	c := newConn(sys, rawURL, opts, keys)
	cfg := EndpointConfig{}
	if opts.AcceptPeers {
		cfg.accept = &endpoint.Accept{
			StaticKeys: keys,
			Upper:      func(info endpoint.SessionInfo) actor.Actor { return newPeerActor(c, info, "", nil) },
		}
	}
	e, err := NewEndpoint(sys, cfg)
	if err != nil {
		return nil, err
	}
	if err := e.connect(ctx, c); err != nil {
		_ = e.Close(context.Background())
		return nil, err
	}
	c.owned = e
	return c, nil
}

// ConnectError is a refused connect: the server's _error status.
type ConnectError struct{ Status flash.Status }

func (e *ConnectError) Error() string {
	return fmt.Sprintf("connect refused: %s (%s)", e.Status.Code, e.Status.Description)
}

// CallError is a call answered with _error.
type CallError struct{ Status flash.Status }

func (e *CallError) Error() string {
	return fmt.Sprintf("call failed: %s (%s)", e.Status.Code, e.Status.Description)
}

// ErrClosed means the connection is closed.
var ErrClosed = errors.New("rtmfp: connection closed")

// Connect opens a connection to rawURL ("rtmfp://host:port/app?query") and waits for
// NetConnection.Connect.Success, a refusal (*ConnectError), or ctx.
func (e *Endpoint) Connect(ctx context.Context, rawURL string, opts Options) (*Conn, error) {
	if opts.AcceptPeers {
		return nil, errors.New("rtmfp: AcceptPeers needs a connection's own endpoint (use Dial)")
	}
	keys, err := opts.Dialect.NewKeys()
	if err != nil {
		return nil, err
	}
	c := newConn(e.sys, rawURL, opts, keys)
	if err := e.connect(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// arrived converts a receive time of the connection's endpoint clock (FlowMessage.At,
// which every received message has) to a time.Time.
func (c *Conn) arrived(at time.Duration) time.Time { return c.ep.ep.Time(at) }

func newConn(sys *actor.ActorSystem, rawURL string, opts Options, keys []*cryptoutil.DHKey) *Conn {
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 10 * time.Second
	}
	return &Conn{
		root: sys.Root, url: rawURL, opts: opts, keys: keys,
		connected: make(chan error, 1), done: make(chan struct{}), keepalive: make(chan [2]uint32, 1),
	}
}

// connect runs the handshake and the NetConnection connect of c on e.
func (e *Endpoint) connect(ctx context.Context, c *Conn) error {
	addr, err := ServerAddr(ctx, c.url)
	if err != nil {
		return err
	}
	c.ep, c.server = e, addr
	if c.opts.PeerInfo == nil && !c.opts.SkipPeerInfo {
		c.opts.PeerInfo = localAddresses(e.ep.Addr())
	}
	dw := newDialWait(c.root)
	e.ep.Dial(endpoint.DialOptions{
		URL: c.url, Addrs: []netip.AddrPort{addr}, Keys: c.keys, Policy: c.opts.Dialect.Policy(), Timeout: c.opts.HandshakeTimeout,
		Upper: func(info endpoint.SessionInfo) actor.Actor {
			c.info = info
			return newConnActor(c)
		},
		UpperOptions: e.uppers,
	}, dw.done)
	r, err := dw.wait(ctx)
	if err != nil {
		return err
	}
	c.session = r.PID
	select {
	case err := <-c.connected:
		e.track(c) // its actor answered: it exists, and ends with its session
		if err != nil {
			c.Close()
			return err
		}
		return nil
	case <-ctx.Done():
		c.Close()
		return ctx.Err()
	}
}

// dialWait hands a dial's result to the one caller waiting for it. A caller that gives
// up (its context ends) before the dial finishes leaves nothing behind: the session the
// dial opens anyway is closed.
type dialWait struct {
	root *actor.RootContext
	ch   chan endpoint.DialResult
	mu   sync.Mutex
	quit bool
}

func newDialWait(root *actor.RootContext) *dialWait {
	return &dialWait{root: root, ch: make(chan endpoint.DialResult, 1)}
}

// done is the dial's callback.
func (w *dialWait) done(r endpoint.DialResult) {
	w.mu.Lock()
	quit := w.quit
	w.mu.Unlock()
	if quit {
		w.abandon(r)
		return
	}
	w.ch <- r
}

// wait returns the dial's result, or ctx's error.
func (w *dialWait) wait(ctx context.Context) (endpoint.DialResult, error) {
	select {
	case r := <-w.ch:
		return r, r.Err
	case <-ctx.Done():
		w.mu.Lock()
		w.quit = true
		w.mu.Unlock()
		select {
		case r := <-w.ch: // it finished meanwhile
			w.abandon(r)
		default:
		}
		return endpoint.DialResult{}, ctx.Err()
	}
}

func (w *dialWait) abandon(r endpoint.DialResult) {
	if r.Err == nil {
		w.root.Send(r.PID, &session.Close{Reason: session.ReasonLocal})
	}
}

// ServerAddr resolves the server address of an rtmfp:// URL (port 1935 by default).
func ServerAddr(ctx context.Context, rawURL string) (netip.AddrPort, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "rtmfp" || u.Host == "" {
		return netip.AddrPort{}, fmt.Errorf("rtmfp: bad URL %q", rawURL)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "1935"
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("rtmfp: bad port %q", port)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a, uint16(p)), nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("rtmfp: resolve %s: %w", host, err)
	}
	return netip.AddrPortFrom(addrs[0].Unmap(), uint16(p)), nil
}

// Conn is a client's NetConnection. Its methods are safe for concurrent use.
type Conn struct {
	root    *actor.RootContext
	url     string
	opts    Options
	keys    []*cryptoutil.DHKey
	info    endpoint.SessionInfo
	session *actor.PID
	conn    *actor.PID // the connection actor
	owned   *Endpoint

	connected chan error
	keepalive chan [2]uint32
	done      chan struct{}
	closeOnce sync.Once

	mu      sync.Mutex
	result  flash.Status
	closeBy session.CloseReason

	sessionPID atomic.Pointer[actor.PID]
	ep         *Endpoint      // the endpoint the connection lives on
	server     netip.AddrPort // the server's address (rendezvous for P2P)
	direct     directPublishers
	members    groupMembers // NetGroup members (JoinGroupSpec), by group ID
}

// Play plays a stream published on the server and waits for NetStream.Play.Start (or
// Reset) — or a refusal (*StreamError).
func (c *Conn) Play(ctx context.Context, name string) (*Player, error) {
	return c.play(ctx, newPlayer(name, nil))
}

// PlayFunc plays like Play, but hands every frame to fn instead of queuing it to the
// player's C (which is then nil): fn runs on the connection's actor, in the stream's
// order, so it must return quickly and not call the connection; a panic in fn fails that
// actor, which ends the connection. A consumer that handles each frame at once saves the
// queue and the wake-up of a reading goroutine per frame. Media.Data is fn's to keep.
func (c *Conn) PlayFunc(ctx context.Context, name string, fn func(Media)) (*Player, error) {
	if fn == nil {
		return nil, errors.New("rtmfp: PlayFunc needs a function")
	}
	return c.play(ctx, newPlayer(name, fn))
}

// PlayFrom plays like PlayFunc (fn nil: like Play) with play's start argument: -2000
// for live if published, else a recording, else wait for live (the default); -1000 for
// live only; ms ≥ 0 for a recording from that point.
func (c *Conn) PlayFrom(ctx context.Context, name string, start float64, fn func(Media)) (*Player, error) {
	p := newPlayer(name, fn)
	p.start, p.hasStart = start, true
	return c.play(ctx, p)
}

func (c *Conn) play(ctx context.Context, p *Player) (*Player, error) {
	c.root.Send(c.conn, &streamRequest{player: p})
	if err := waitStarted(ctx, p.started, c.done); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// Publish publishes a live stream on the server and waits for NetStream.Publish.Start —
// or a refusal (*StreamError, e.g. NetStream.Publish.BadName).
func (c *Conn) Publish(ctx context.Context, name string) (*Publisher, error) {
	return c.PublishAs(ctx, name, "live")
}

// PublishAs publishes like Publish with publish's type argument: "live", "record" (the
// server records the stream to a file, replacing it) or "append" (to the end of the file).
func (c *Conn) PublishAs(ctx context.Context, name, typ string) (*Publisher, error) {
	p := &Publisher{Name: name, typ: typ, started: make(chan error, 1)}
	c.root.Send(c.conn, &streamRequest{publisher: p})
	if err := waitStarted(ctx, p.started, c.done); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// PeerID returns this connection's peer ID (Flash's nearID).
func (c *Conn) PeerID() cryptoutil.PeerID {
	return cryptoutil.PeerIDFromCertificate(cryptoutil.AppendStaticCertificate(nil, c.keys...))
}

// ServerPeerID returns the server's peer ID (Flash's farID).
func (c *Conn) ServerPeerID() cryptoutil.PeerID { return c.info.PeerID }

// Result returns the info object of the successful connect.
func (c *Conn) Result() flash.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.result
}

// Keepalive waits for the server's Set Keepalive Timers (the answer to setPeerInfo) and
// returns the server and peer intervals in milliseconds.
func (c *Conn) Keepalive(ctx context.Context) (server, peer uint32, err error) {
	select {
	case k := <-c.keepalive:
		c.keepalive <- k
		return k[0], k[1], nil
	case <-c.done:
		return 0, 0, ErrClosed
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
}

// Call invokes a server method and waits for its _result values or _error (*CallError).
func (c *Conn) Call(ctx context.Context, method string, args ...any) ([]any, error) {
	reply := make(chan callReply, 1)
	c.root.Send(c.conn, &callRequest{method: method, args: args, reply: reply})
	select {
	case r := <-reply:
		return r.values, r.err
	case <-c.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// CallRaw sends the message msg returns for the transaction ID the connection gives it,
// as it is, on the NetConnection flow, and waits for the answer to that transaction: a
// test's way of sending a server what no well-behaved client sends (malformed AMF).
func (c *Conn) CallRaw(ctx context.Context, msg func(txn float64) []byte) ([]any, error) {
	reply := make(chan callReply, 1)
	c.root.Send(c.conn, &callRequest{raw: msg, reply: reply})
	select {
	case r := <-reply:
		return r.values, r.err
	case <-c.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Send invokes a server method without waiting for an answer (transaction 0).
func (c *Conn) Send(method string, args ...any) {
	c.root.Send(c.conn, &callRequest{method: method, args: args})
}

// Close closes the session (Session Close Request) and, for a Dial'ed connection, its
// endpoint.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		if c.session != nil {
			c.root.Send(c.session, &session.Close{Reason: session.ReasonLocal})
		}
		if c.owned != nil {
			go func() {
				select {
				case <-c.done:
				case <-time.After(5 * time.Second):
				}
				_ = c.owned.Close(context.Background())
			}()
		}
	})
	return nil
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// CloseReason says why the connection ended (valid after Done).
func (c *Conn) CloseReason() session.CloseReason {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeBy
}

// Session returns the connection's session actor.
func (c *Conn) Session() *actor.PID { return c.session }

// splitPath returns the application path of a connection URL.
func splitPath(raw string) (string, url.Values) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", nil
	}
	p := u.Path
	for len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p, u.Query()
}

// Endpoint returns the RTMFP endpoint the connection lives on.
func (c *Conn) Endpoint() *endpoint.Endpoint { return c.ep.ep }

// localAddresses lists the addresses peers may reach a socket bound to bound at: the bound
// address itself, or for a wildcard bind the unicast addresses of the interfaces that are
// up (link-local ones excluded), as Flash Player announces with setPeerInfo.
func localAddresses(bound netip.AddrPort) []netip.AddrPort {
	if !bound.Addr().IsUnspecified() {
		return []netip.AddrPort{bound}
	}
	var out []netip.AddrPort
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			pfx, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			ip := pfx.Addr().Unmap()
			if ip.IsLinkLocalUnicast() || ip.IsMulticast() || (ip.Is6() && bound.Addr().Is4()) {
				continue
			}
			out = append(out, netip.AddrPortFrom(ip, bound.Port()))
			if len(out) == 8 {
				return out
			}
		}
	}
	return out
}
