package live

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// Key names a publication: a stream name within an application.
type Key struct{ App, Name string }

// Publish asks to publish Key. Send it to the registry (Props); the publication answers
// Stream with *Published.
type Publish struct {
	Key    Key
	Stream *actor.PID // the publisher's stream actor, which the publication watches
	Client app.Client
	// App, if set, is the application's actor, sent every message of the stream
	// (apphost.Media) because it wants them.
	App *actor.PID
	// Edge marks the publisher of a stream whose origin is another node of the cluster
	// (package cluster): a publisher of this node's own takes its place when it publishes
	// the name (the stream moved here).
	Edge bool
}

// Published answers Publish; OK is false if the name is already published.
type Published struct {
	Publication *actor.PID
	OK          bool
}

// Unpublish ends the publishing of Stream. Send it to the publication.
type Unpublish struct{ Stream *actor.PID }

// Ingest is one message of the publisher, as it arrived (type, timestamp, body), sent by
// its stream actor to the publication.
type Ingest struct {
	Stream *actor.PID
	Msg    flash.Message
	Data   []byte // the whole message
}

// Play subscribes to Key. Send it to the registry (Props); the publication binds the
// subscriber's sink (Bind with Lanes and Binding), writes it the play statuses and what a
// late subscriber needs, then answers Stream with *Playing.
type Play struct {
	Key     Key
	Stream  *actor.PID // the subscriber's stream actor, which the publication watches
	Client  app.Client
	Sink    *actor.PID // where the media goes (an RTMFP session, an RTMP connection…)
	Binding uint64     // tells this subscription apart in its sink and its stream actor
	Lanes   any        // passed on to the sink in Bind
	// IfPublished subscribes only if the stream is published now: otherwise the
	// publication binds nothing and answers Playing with Published false (a play that
	// falls back to a recording when the name is not live).
	IfPublished bool
	// AudioOff and VideoOff are passed on to the sink in Bind: the subscriber's gates as
	// the application set them while it decided the play.
	AudioOff, VideoOff bool
	// Edge marks the subscriber that carries the stream to another node of the cluster:
	// it is not counted among the players in State.
	Edge bool
}

// Playing answers Play: Channel is the publication's channel in the sink (for Gate);
// Published says whether the stream was published when the play arrived.
type Playing struct {
	Publication *actor.PID
	Channel     uint64
	Published   bool
}

// Stop ends the subscription of Stream's Binding. Send it to the publication.
type Stop struct {
	Stream  *actor.PID
	Binding uint64
}

// State tells Config.Observer how a publication stands, whenever its publisher comes or
// goes or its players go from none to some or back: the cluster's view of which streams
// this node publishes and which it needs from elsewhere.
type State struct {
	Key         Key
	Publication *actor.PID
	Publisher   *actor.PID // nil: none
	Edge        bool       // the publisher carries the stream from another node
	Players     int        // subscribers other than edges (0, or how many when last told)
}
