package apphost

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
)

// Connect asks the application of Client.Path() whether the client may connect. Send it
// to the host; the answer, a *ConnectResult, goes to ReplyTo.
type Connect struct {
	Client  app.Client
	Args    []any // the connect command's extra arguments
	ReplyTo *actor.PID
}

// ConnectResult is an application's decision on a connect. App is the application's actor,
// where the client's later events go; Err is ErrNoApplication when no application serves
// the path.
type ConnectResult struct {
	App        *actor.PID
	Props      []amf.Property // added to the NetConnection.Connect.Success info object
	Err        error
	WantsMedia bool // the application implements app.MediaHandler
}

// Call is a client's call of an application method; the *CallResult goes to ReplyTo.
type Call struct {
	Client  app.Client
	Txn     float64
	AMF3    bool
	Method  string
	Args    []any
	ReplyTo *actor.PID
}

// CallResult answers a Call (Txn, AMF3, Method and Args are the call's: a connection
// serves relay itself with them when the application has no such method).
type CallResult struct {
	Txn     float64
	AMF3    bool
	Method  string
	Args    []any
	Results []any
	Err     error
}

// Disconnect tells the application a connected client left; Failure, if not empty, says
// why its session failed (app.Failer).
type Disconnect struct {
	Client  app.Client
	Failure string
}

// Start makes the application of Path start (app.Preloader) if it has not yet. Send it to
// the host. Done, if set, is closed once the application has started (or found to have
// no application at Path), so that a node opens its sockets only after its preloaded
// applications can see their first handshake.
type Start struct {
	Path string
	Done chan struct{}
}

// Stream asks whether the client may publish (or play) Name, or with Stop tells that it
// stopped. The decision, a *StreamResult, goes to ReplyTo (none for Stop).
type Stream struct {
	Client  app.Client
	Name    string
	Publish bool // publish, else play
	Stop    bool
	ReplyTo *actor.PID
	// Handle is the stream as an app.StreamHandler sees it (nil: the application is
	// told through app.PublishHandler or app.SubscribeHandler only).
	Handle app.Stream
}

// StreamResult is the decision on a Stream. WantsMedia says that the application wants
// the media of an accepted publish (app.MediaHandler, app.MediaFilter).
type StreamResult struct {
	Publish    bool
	Err        error
	WantsMedia bool
}

// Group asks whether the client may join a NetGroup, or with Leave tells that it left; the
// decision, a *GroupResult, goes to ReplyTo (none for Leave).
type Group struct {
	Client  app.Client
	Group   app.GroupID
	Leave   bool
	ReplyTo *actor.PID
}

// GroupResult is the decision on a Group.
type GroupResult struct{ Err error }

// Media is one message of a publication for the application's app.MediaHandler.
type Media struct {
	Client    app.Client
	Name      string
	Type      byte
	Timestamp uint32
	Data      []byte // the message body
	Values    []any  // data messages, decoded
}
