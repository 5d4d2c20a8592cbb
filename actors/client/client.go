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
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/endpoint"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/supervision"
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
}

// Endpoint is a client-side RTMFP endpoint: one UDP socket for many connections.
type Endpoint struct {
	sys *actor.ActorSystem
	ep  *endpoint.Endpoint
	log *zap.Logger
}

// EndpointConfig configures a client endpoint.
type EndpointConfig struct {
	Listen  string // default "0.0.0.0:0" (":0" would also work for IPv6 servers)
	Shards  int
	Session session.Config
	Log     *zap.Logger
}

// NewEndpoint opens a client endpoint.
func NewEndpoint(sys *actor.ActorSystem, cfg EndpointConfig) (*Endpoint, error) {
	if cfg.Listen == "" {
		cfg.Listen = ":0"
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	ep, err := endpoint.Start(sys, endpoint.Config{Listen: cfg.Listen, Shards: cfg.Shards, Session: cfg.Session, Log: cfg.Log})
	if err != nil {
		return nil, err
	}
	return &Endpoint{sys: sys, ep: ep, log: cfg.Log}, nil
}

// Addr returns the endpoint's local address.
func (e *Endpoint) Addr() netip.AddrPort { return e.ep.Addr() }

// Endpoint returns the underlying RTMFP endpoint.
func (e *Endpoint) Endpoint() *endpoint.Endpoint { return e.ep }

// Close closes every connection of the endpoint and its socket.
func (e *Endpoint) Close(ctx context.Context) error { return e.ep.Stop(ctx) }

// Dial connects to rawURL on a private endpoint that closes with the connection.
func Dial(ctx context.Context, sys *actor.ActorSystem, rawURL string, opts Options) (*Conn, error) {
	e, err := NewEndpoint(sys, EndpointConfig{})
	if err != nil {
		return nil, err
	}
	c, err := e.Connect(ctx, rawURL, opts)
	if err != nil {
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
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "rtmfp" || u.Host == "" {
		return nil, fmt.Errorf("rtmfp: bad URL %q", rawURL)
	}
	addr, err := resolve(ctx, u)
	if err != nil {
		return nil, err
	}
	keys, err := keysFor(opts.Dialect)
	if err != nil {
		return nil, err
	}
	policy := cryptoutil.FlashInitiatorPolicy()
	if opts.Dialect == RFC7425 {
		policy = cryptoutil.StrictPolicy()
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 10 * time.Second
	}
	if opts.PeerInfo == nil && !opts.SkipPeerInfo {
		opts.PeerInfo = []netip.AddrPort{e.ep.Addr()}
	}
	c := &Conn{
		root: e.sys.Root, url: rawURL, opts: opts, keys: keys,
		connected: make(chan error, 1), done: make(chan struct{}), keepalive: make(chan [2]uint32, 1),
	}
	dialed := make(chan endpoint.DialResult, 1)
	e.ep.Dial(endpoint.DialOptions{
		URL: rawURL, Addrs: []netip.AddrPort{addr}, Keys: keys, Policy: policy, Timeout: opts.HandshakeTimeout,
		Upper: func(info endpoint.SessionInfo) *actor.Props {
			c.info = info
			return actor.PropsFromProducer(func() actor.Actor { return newConnActor(c) },
				actor.WithReceiverMiddleware(supervision.Middleware))
		},
	}, func(r endpoint.DialResult) { dialed <- r })
	select {
	case r := <-dialed:
		if r.Err != nil {
			return nil, r.Err
		}
		c.session = r.PID
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case err := <-c.connected:
		if err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
		c.Close()
		return nil, ctx.Err()
	}
}

func resolve(ctx context.Context, u *url.URL) (netip.AddrPort, error) {
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

// keysFor generates the static DH keys of a new connection (its peer ID derives from them).
func keysFor(d Dialect) ([]*cryptoutil.DHKey, error) {
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
