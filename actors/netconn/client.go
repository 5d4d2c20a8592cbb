package netconn

import (
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
	"unique"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// client implements app.Client for one connection. Fixed fields are set before the
// client is handed to an application; the addresses change under mu.
type client struct {
	root      *actor.RootContext
	conn      *actor.PID // the connection actor
	sessionID uint32
	transport transport // beside sessionID: in its padding
	rfc7425   bool      // an RTMFP client of RFC 7425's dialect (HMAC or sequence numbers), else Flash's
	peerID    cryptoutil.PeerID
	path      string     // interned: the clients of one application share it
	query     url.Values // nil without a query
	// connect is the connect command object in AMF0, decoded on demand (it is seldom
	// read) and interned: the clients of one page send the same object, and a server
	// holding thousands of them keeps one copy.
	connect unique.Handle[string]

	ping atomic.Int64 // the session's smoothed round-trip time (session.RTTChanged)

	mu      sync.Mutex
	addr    netip.AddrPort
	private []netip.AddrPort
}

// Ping implements app.Pinger.
func (c *client) Ping() time.Duration { return time.Duration(c.ping.Load()) }

// transport is what carries a connection (app.Client.Protocol).
type transport uint8

const (
	overRTMFP transport = iota
	overRTMP
	overRTMPS
)

var protocols = [...]string{overRTMFP: app.ProtocolRTMFP, overRTMP: app.ProtocolRTMP, overRTMPS: app.ProtocolRTMPS}

func (c *client) Protocol() string          { return protocols[c.transport] }
func (c *client) SessionID() uint32         { return c.sessionID }
func (c *client) PeerID() cryptoutil.PeerID { return c.peerID }
func (c *client) Path() string              { return c.path }
func (c *client) Query() map[string][]string {
	if c.query == nil {
		return url.Values{}
	}
	return c.query
}

// ConnectObject decodes the connect command object anew at each call: the caller may keep
// or modify the copy it gets.
func (c *client) ConnectObject() *amf.Object {
	if v, err := amf.NewDecoder([]byte(c.connect.Value())).ReadAMF0(); err == nil {
		if o, ok := v.(*amf.Object); ok {
			return o
		}
	}
	return amf.NewObject()
}

func (c *client) Address() netip.AddrPort {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addr
}

func (c *client) PrivateAddresses() []netip.AddrPort {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]netip.AddrPort(nil), c.private...)
}

// peer reports whether the client is a peer of the others: an RTMFP client, which the
// directory knows and others can be introduced or relay to.
func (c *client) peer() bool { return c.transport == overRTMFP }

func (c *client) setAddress(a netip.AddrPort) {
	c.mu.Lock()
	c.addr = a
	c.mu.Unlock()
}

func (c *client) setPrivate(a []netip.AddrPort) {
	c.mu.Lock()
	c.private = a
	c.mu.Unlock()
}

// callClient asks the connection actor to invoke a method on the client.
type callClient struct {
	method string
	args   []any
}

// closeClient asks the connection actor to end the session.
type closeClient struct{}

func (c *client) Call(method string, args ...any) error {
	c.root.Send(c.conn, &callClient{method: method, args: args})
	return nil
}

func (c *client) Close() { c.root.Send(c.conn, &closeClient{}) }
