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
// package (for example Disconnecter) to receive more events, and a Registry may implement
// the optional registry interfaces (HandshakeHandler, RendezvousResolver, Preloader). The
// server discovers them by type assertion. Starter, Manager and every other application
// method are called on the application's actor like the rest; the registry interfaces are
// called from the server's own actors and must be safe for concurrent use.
package app

import (
	"encoding/hex"
	"errors"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// Protocols a client may come by (Client.Protocol).
const (
	ProtocolRTMFP = "rtmfp"
	ProtocolRTMP  = "rtmp"  // RTMP over TCP
	ProtocolRTMPS = "rtmps" // RTMP over TLS
)

// Client is the server's view of one connected client. Its methods are safe for
// concurrent use and never block on the network.
type Client interface {
	// Protocol is what the client came by: ProtocolRTMFP, ProtocolRTMP or ProtocolRTMPS.
	// RTMP clients share the applications, streams and rules of RTMFP clients, but they
	// are not peers: no other client can be introduced to them or relay to them.
	Protocol() string
	// SessionID is the server's RTMFP session ID for the client, unique while it lives
	// (for an RTMP client, an ID of its TCP connection, unique among those of the node).
	SessionID() uint32
	// PeerID is the client's peer ID (SHA-256 of its certificate), Flash's nearID. An
	// RTMP client has none: it is given a random one, so that clients stay apart.
	PeerID() cryptoutil.PeerID
	// Address is the client's public address as the server sees it.
	Address() netip.AddrPort
	// PrivateAddresses are the addresses the client announced with setPeerInfo (none
	// for RTMP).
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
	// text as description. Return ErrMethodNotFound for names it does not know. Cirrus'
	// relay(peerID, …) comes here first too: ErrMethodNotFound leaves it to the server's
	// own relay.
	OnCall(c Client, method string, args []any) ([]any, error)
}

// Disconnecter is implemented by applications that want to know when a connected client
// goes away (close, timeout or failure).
type Disconnecter interface {
	OnDisconnect(c Client)
}

// Failer is implemented by applications that want to know why a client was lost when its
// session failed (silent beyond the idle timeout, data unacknowledged, a crash) rather than
// closed: OnFailed comes first, then OnDisconnect as for any departure.
type Failer interface {
	OnFailed(c Client, reason string)
}

// Pinger is implemented by clients whose round-trip time is known (an RTMFP session's
// smoothed RTT; zero until measured).
type Pinger interface {
	Ping() time.Duration
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

// Starter is implemented by applications that start and stop with their actor: OnStart
// comes before any other event, with the host that lets the application reach the server;
// OnStop is the last call (the server stops, or the application is retired).
type Starter interface {
	OnStart(h Host)
	OnStop()
}

// ManagePeriod is how often Manager.OnManage is called (Cumulus' manage cycle).
const ManagePeriod = 2 * time.Second

// Manager is implemented by applications that want a call every ManagePeriod on the node's
// clock, for housekeeping.
type Manager interface {
	OnManage()
}

// Host is what an application reaches of the server from its actor (Starter.OnStart). Its
// methods are safe for concurrent use.
type Host interface {
	// Path is the application's path ("" for the root application).
	Path() string
	// Clock is the node's clock: the time of every timer of the server.
	Clock() clock.Clock
	// Log is the server's logger, naming the application.
	Log() *zap.Logger
	// Post runs f on the application's actor, after the events already queued: how work
	// finished elsewhere (a timer, a goroutine) comes back to the application's state.
	Post(f func())
	// Publish starts a publication of the application that the server itself publishes:
	// what the returned Publisher pushes reaches every player of name. It fails if name
	// is being published.
	Publish(name string) (Publisher, error)
	// Ban drops every datagram from ip before it is decrypted (the server-wide blacklist);
	// Unban lifts it.
	Ban(ip netip.Addr)
	Unban(ip netip.Addr)
}

// GroupHost is what a Host also offers when the server can be a NetGroup member
// (docs/multicast.md): assert it on the Host given to Starter.OnStart.
type GroupHost interface {
	// JoinGroup makes the server a member of the group of spec ("G:…") if it is not yet,
	// and sends the application the group's posts (GroupPostHandler).
	JoinGroup(spec string) (GroupID, error)
	// PostToGroup posts value (encoded as AMF0: a string, number, bool, map, …) to the
	// group of spec, joining it first if needed; every member receives it.
	PostToGroup(spec string, value any) error
	// Multicast injects the application's live stream name (published over RTMFP or RTMP)
	// into the multicast of the group of spec, under the same name.
	Multicast(name, spec string) error
}

// GroupPostHandler is implemented by applications that receive the posts of the groups
// they joined (GroupHost.JoinGroup): value is the post's AMF0 value, decoded.
type GroupPostHandler interface {
	OnGroupPost(group GroupID, value any)
}

// Publisher is a publication the server publishes (Host.Publish). Its methods never block
// and are safe for concurrent use; after Close, or once the name turned out to be taken,
// they do nothing and Closed reports why.
type Publisher interface {
	// Audio and Video push one message: body is the FLV tag body, timestamp in ms.
	Audio(timestamp uint32, body []byte)
	Video(timestamp uint32, body []byte)
	// Data pushes a data message: amf0 is the AMF0 encoding of its values (the handler
	// name first, e.g. "onMetaData" or "@setDataFrame").
	Data(timestamp uint32, amf0 []byte)
	Close()
	Closed() error
}

// Stream is a client's publishing or playing NetStream as an application sees it. Its
// methods are safe for concurrent use and never block.
type Stream interface {
	Client() Client
	// ID is the NetStream's ID within its connection.
	ID() uint32
	Name() string
	// Receive turns the audio and video a player receives on or off (receiveAudio and
	// receiveVideo from the server's side).
	Receive(audio, video bool)
	// SampleAccess tells a player whether it may read the audio and video data
	// (|RtmpSampleAccess).
	SampleAccess(audio, video bool)
	// Close ends the publishing or playing with a status of this code and description
	// (the publisher or player is then told NetStream.Unpublish.Success or
	// NetStream.Play.Stop).
	Close(code, description string)
}

// StreamHandler is the richer form of PublishHandler and SubscribeHandler, for
// applications that keep the streams (to close them or gate a player); the server uses it
// instead of those when an application implements it. A non-nil error refuses the publish
// (NetStream.Publish.BadName) or play (NetStream.Play.Failed) with its text.
type StreamHandler interface {
	OnPublishStream(s Stream) error
	OnUnpublishStream(s Stream)
	OnPlayStream(s Stream) error
	OnStopStream(s Stream)
}

// MediaFilter is implemented by MediaHandlers that do not want every publisher's media at
// every moment: WantsMedia is asked when a publish is accepted, and the media of that
// publish reaches the application only if it answered true.
type MediaFilter interface {
	WantsMedia() bool
}

// Handshake describes a client's first packet (an IHello with a URL), for
// HandshakeHandler.
type Handshake struct {
	Address netip.AddrPort
	URL     string
	Path    string              // the application path of the URL
	Query   map[string][]string // the URL's query
	Attempt int                 // 1 for the first IHello of a handshake, 2 for its first retry…
}

// HandshakeHandler is implemented by registries whose applications may send a client
// elsewhere before it has a session (Cumulus' onHandshake: load balancing). Wants is asked
// for every IHello with a URL and must answer at once; OnHandshake then decides and calls
// answer once, from any goroutine: nil lets the handshake go on, addresses redirect the
// client there (RTMFP Responder Redirect).
type HandshakeHandler interface {
	WantsHandshake(path string) bool
	OnHandshake(h Handshake, answer func(redirect []netip.AddrPort))
}

// RendezvousResolver is the asynchronous form of RendezvousHandler, for registries whose
// applications answer from their own actors (Cumulus' onRendezVousUnknown): it must not
// block, and calls answer once, from any goroutine, with the addresses to redirect the
// client to (none: no answer at all).
type RendezvousResolver interface {
	ResolveRendezvous(peer cryptoutil.PeerID, answer func([]netip.AddrPort))
}

// Preloader is implemented by registries whose applications start with the server rather
// than at their first client (Cumulus starts its root application so).
type Preloader interface {
	Preload() []string // application paths
}

// ErrInvalidApp is returned by OnConnect when the application no longer exists (its files
// were removed): the client receives NetConnection.Connect.InvalidApp, as for a path no
// application serves.
var ErrInvalidApp = errors.New("application does not exist")

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
