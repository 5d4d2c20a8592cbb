// Package app is the seam between the RTMFP server and the applications it serves: the
// interfaces an embedding program implements, the server's view of a client, and the
// default application (accept everyone, Cirrus behaviour).
//
// The server calls an application from that application's own actor, one call at a time
// (like a Cumulus Lua application), so an application needs no locking of its own state.
// A handler that panics is answered to its client as an error; the panic goes no further.
// A handler must not block for long: every client of the application waits behind it.
// Long work belongs on a goroutine that answers later through Client methods, which are
// safe to call from anywhere.
//
// Beyond Application, an application may implement the optional interfaces of this
// package (for example Disconnecter) to receive more events.
package app

import (
	"encoding/hex"
	"errors"
	"net/netip"

	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// Client is the server's view of one connected client. Its methods are safe for
// concurrent use and never block on the network.
type Client interface {
	// SessionID is the server's RTMFP session ID for the client, unique while it lives.
	SessionID() uint32
	// PeerID is the client's peer ID (SHA-256 of its certificate), Flash's nearID.
	PeerID() cryptoutil.PeerID
	// Address is the client's public address as the server sees it.
	Address() netip.AddrPort
	// PrivateAddresses are the addresses the client announced with setPeerInfo.
	PrivateAddresses() []netip.AddrPort
	// Path is the application path from the connection URL ("" for the root application).
	Path() string
	// Query holds the URL query parameters ("rtmfp://host/app?k=v").
	Query() map[string][]string
	// ConnectObject is the command object of the client's connect (app, flashVer, tcUrl,
	// swfUrl, pageUrl, objectEncoding, …), a copy of its own for each call.
	ConnectObject() *amf.Object
	// Call invokes a method on the client's NetConnection.client object (no answer).
	Call(method string, args ...any) error
	// Close asks the client to close its connection and ends the session.
	Close()
}

// Application is what a server application implements.
type Application interface {
	// OnConnect decides whether a client may connect. args are the extra arguments of
	// NetConnection.connect. Returning a non-nil error rejects the connection with
	// NetConnection.Connect.Rejected, the error's text as description. The returned
	// properties are added to the NetConnection.Connect.Success info object.
	OnConnect(c Client, args []any) ([]amf.Property, error)

	// OnCall handles a call from the client (NetConnection.call). Its results are sent
	// with _result; an error is sent as _error NetConnection.Call.Failed with the error's
	// text as description. Return ErrMethodNotFound for names it does not know.
	OnCall(c Client, method string, args []any) ([]any, error)
}

// Disconnecter is implemented by applications that want to know when a connected client
// goes away (close, timeout or failure).
type Disconnecter interface {
	OnDisconnect(c Client)
}

// PublishHandler is implemented by applications that decide who may publish. A non-nil
// error refuses the publish: the client gets NetStream.Publish.BadName with its text.
type PublishHandler interface {
	OnPublish(c Client, name string) error
	OnUnpublish(c Client, name string)
}

// SubscribeHandler is implemented by applications that decide who may play. A non-nil
// error refuses the play: the client gets NetStream.Play.Failed with its text.
type SubscribeHandler interface {
	OnSubscribe(c Client, name string) error
	OnUnsubscribe(c Client, name string)
}

// MediaHandler is implemented by applications that want every packet a publisher sends
// (after it was forwarded to the subscribers). Packets reach the application actor
// asynchronously; a slow handler delays only later packets to itself. data is the
// message body (FLV tag body for audio and video) and must not be kept beyond the call
// unless copied.
type MediaHandler interface {
	OnAudio(c Client, stream string, timestamp uint32, data []byte)
	OnVideo(c Client, stream string, timestamp uint32, data []byte)
	OnData(c Client, stream string, values []any)
}

// GroupID identifies a NetGroup: the SHA-256 digest of its group specifier, as Flash sends it.
type GroupID [32]byte

// String returns the ID in hex.
func (g GroupID) String() string { return hex.EncodeToString(g[:]) }

// GroupHandler is implemented by applications that decide who may join a NetGroup. A
// non-nil error refuses the join (the client's group flow is rejected).
type GroupHandler interface {
	OnJoinGroup(c Client, group GroupID) error
	OnLeaveGroup(c Client, group GroupID)
}

// RendezvousHandler is consulted when a client asks to be introduced to a peer ID that is
// not connected here (Cumulus' onRendezVousUnknown). It may return addresses for the
// client to try (other servers, relays); none means no answer at all, as Flash expects.
// It is called from the server's rendezvous actor, one call at a time, and must not block.
type RendezvousHandler interface {
	OnRendezvousUnknown(peer cryptoutil.PeerID) []netip.AddrPort
}

// ErrMethodNotFound is returned by OnCall for a method the application does not have.
// The client receives "Method '<name>' not found".
var ErrMethodNotFound = errors.New("method not found")

// Registry maps an application path to its application.
type Registry interface {
	// Lookup returns the application for path, or false (the client then receives
	// NetConnection.Connect.InvalidApp).
	Lookup(path string) (Application, bool)
}

// Default is the application that accepts every client and has no methods: a Cirrus-style
// rendezvous service.
type Default struct{}

// OnConnect accepts.
func (Default) OnConnect(Client, []any) ([]amf.Property, error) { return nil, nil }

// OnCall knows no method.
func (Default) OnCall(Client, string, []any) ([]any, error) { return nil, ErrMethodNotFound }

// Static is a Registry with a fixed set of applications and an optional fallback for
// every other path.
type Static struct {
	Apps     map[string]Application
	Fallback Application
}

// Lookup implements Registry.
func (s Static) Lookup(path string) (Application, bool) {
	if a, ok := s.Apps[path]; ok {
		return a, true
	}
	return s.Fallback, s.Fallback != nil
}

// Everyone is the default registry: every path is served by Default.
func Everyone() Registry { return Static{Fallback: Default{}} }
