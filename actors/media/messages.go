package media

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/live"
)

// Messages from a recorder to its parent (the publishing stream actor).

// RecordStarted says the recorder opened its file; Append says it appends to one.
type RecordStarted struct {
	Name   string
	Append bool
}

// RecordFailed says the recording stopped (or never started): the folder is missing, the
// name cannot name a file, the file to append to is not FLV, the disk failed or fell
// behind. The stream goes on being published.
type RecordFailed struct {
	Name string
	Err  error
	// NoAccess says the recording was refused rather than failed (no media folder, a bad
	// name): Flash's NetStream.Record.NoAccess.
	NoAccess bool
}

// Messages to a player, from the playing stream actor.

// Seek moves a player to the key frame at or before Ms.
type Seek struct{ Ms float64 }

// Pause stops (true) or resumes (false) a player. It resumes at the key frame at or before
// where it paused.
type Pause struct{ Paused bool }

// Messages from a player to its parent.

// NotFound says the file to play does not exist: the stream may wait for a live publisher
// instead.
type NotFound struct{ Name string }

// PlayFailed says the file could not be played (before anything was sent, Bound is false;
// the player then wrote no status) or stopped in the middle (Bound). Malformed says the
// file is not valid FLV.
type PlayFailed struct {
	Name      string
	Err       error
	Malformed bool
	Bound     bool
}

// PlayComplete says the player sent the whole file (or the length asked for) and the
// statuses that end a play.
type PlayComplete struct{ Name string }

// Length asks the library for the duration of a recording; the *LengthResult goes to
// ReplyTo with Txn and AMF3 as they were (getStreamLength).
type Length struct {
	Key     live.Key
	Txn     float64
	AMF3    bool
	ReplyTo *actor.PID
}

// LengthResult answers Length: Seconds is 0 when there is no such recording.
type LengthResult struct {
	Txn     float64
	AMF3    bool
	Seconds float64
}
