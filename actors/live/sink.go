package live

// A publication feeds its subscribers through sinks: the actor that holds a subscriber's
// outgoing queue (an RTMFP session, an RTMP connection, the link that carries a stream to
// another node). It sends a sink one *Media per message — shared by every sink, never
// modified — and the sink applies each of its bindings' Policy where its queue is. A sink
// is any actor that handles the messages of this file; nothing here waits for an answer.
//
// A sink may hold several bindings of one publication (a client playing a stream on two
// NetStreams): the publication sends it each message once, and the sink writes it to every
// binding of the channel — or, when the message is Targeted, to one binding only (what a
// publication replays to a new subscriber).

// Kind says which lane of a binding a message goes to.
type Kind uint8

const (
	KindControl Kind = iota // status and data messages
	KindAudio
	KindVideo
)

// Bind opens a binding of the channel in the sink, before anything else of the channel
// reaches it. Lanes is what the subscriber asked the publication to pass on (Play.Lanes):
// the sink's own description of where the binding's messages go (for an RTMFP session,
// the send flows of the subscriber's NetStream); the publication does not look into it.
type Bind struct {
	Channel uint64
	Binding uint64
	Lanes   any
	// WaitKeyFrame drops video until the first key frame (a subscriber that is not
	// replayed a group of pictures).
	WaitKeyFrame bool
	// AudioOff and VideoOff gate the binding from its first message (what the
	// application set while it decided the play): as Gate, but before any media.
	AudioOff, VideoOff bool
}

// Unbind closes one binding of the channel.
type Unbind struct{ Channel, Binding uint64 }

// Gate turns a binding's audio or video off or on (receiveAudio, receiveVideo, pause).
// Video resumes at the next key frame. The subscriber sends it to its own sink.
type Gate struct {
	Channel, Binding uint64
	Audio, Video     bool
}

// Resync makes the video of every binding of the channel wait for the next key frame
// (the publication lost its state).
type Resync struct{ Channel uint64 }

// Media is one message for every binding of Channel in a sink.
type Media struct {
	Channel uint64
	Kind    Kind
	Data    []byte // the whole Flash message (type, timestamp, body)
	// KeyFrame marks video that starts a group of pictures.
	KeyFrame bool
	// Config marks messages never to drop: codec configuration, metadata, statuses.
	Config bool
	// Targeted limits the message to the binding ToBinding.
	Targeted  bool
	ToBinding uint64
}

// Batch is several messages at once (what a publication had queued in one burst, e.g.
// the audio and video frames of one instant): the sink queues them all, then sends, so
// that they share packets and cost one wake-up.
type Batch struct {
	Msgs []*Media
}
