package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// Media is one message of a stream: audio (flash.TypeAudio), video (flash.TypeVideo) or
// data (flash.TypeDataAMF0, e.g. @setDataFrame/onMetaData), with its timestamp in ms.
type Media struct {
	Type      byte
	Timestamp uint32
	Data      []byte
	// Arrived, on a received message, is when the datagram that completed it reached the
	// endpoint: the kernel's receive time with EndpointConfig.KernelTimestamps, else when
	// the endpoint read it; zero on a message written, not received.
	Arrived time.Time
	// Reliable, on a message written, sends audio or video without a lifetime: it is
	// delivered however late (a publisher whose every frame must arrive, e.g. to be
	// recorded), instead of being given up as live media is once it is stale.
	Reliable bool
}

// Lanes of a NetStream's send flows: commands and data, audio, video.
const (
	laneControl uint8 = iota
	laneAudio
	laneVideo
)

// Media lifetimes (partial reliability): audio is useless after a short while; video is
// abandoned when the next key frame is written, or after a few seconds at most.
const (
	audioLifetime = 2 * time.Second
	videoLifetime = 5 * time.Second
)

// streamMetadata is the TC metadata of NetStream id.
func streamMetadata(id uint32) string {
	return string(flash.Metadata{Kind: flash.KindNetStream, StreamID: uint64(id)}.Append(nil))
}

// mediaWrite turns a media message into the Write of its lane: audio and video are sent
// with lifetimes, key frames abandon the older video.
// closeStreamFlows closes the send flows of the stream whose control flow is key: the
// control, audio and video lanes.
func closeStreamFlows(send func(*session.CloseFlow), key session.FlowKey) {
	for lane := laneControl; lane <= laneVideo; lane++ {
		k := key
		k.Lane = lane
		send(&session.CloseFlow{Key: k})
	}
}

func mediaWrite(key session.FlowKey, m Media) *session.Write {
	msg := flash.Message{Type: m.Type, Timestamp: m.Timestamp, Body: m.Data}
	w := &session.Write{Key: key, Data: msg.Append(nil), Priority: session.PriorityControl}
	switch m.Type {
	case flash.TypeAudio:
		w.Key.Lane, w.Priority, w.Lifetime = laneAudio, session.PriorityAudio, audioLifetime
	case flash.TypeVideo:
		w.Key.Lane, w.Priority, w.Lifetime = laneVideo, session.PriorityVideo, videoLifetime
		switch {
		case flash.IsVideoSequenceHeader(m.Data):
		case flash.IsKeyFrame(m.Data):
			// The previous group is stale once its oldest frame still waiting has waited a
			// second: all of it is given up (session.Write.AbandonWaiting).
			w.AbandonWaiting, w.Frame = time.Second, session.FrameKey
		default:
			// Given up with its key frame, or any frame before it (session.Frame).
			w.Frame = session.FrameInter
		}
	}
	if m.Reliable {
		w.Lifetime, w.AbandonWaiting, w.Frame = 0, 0, session.FrameNone
	}
	return w
}

// Player receives a stream. Media arrive on C in order per kind (or are handed to the
// function given to PlayFunc); Status carries the stream's onStatus events
// (NetStream.Play.Start, PublishNotify, UnpublishNotify, …).
type Player struct {
	Name   string
	C      <-chan Media
	Status <-chan flash.Status

	c       chan Media
	fn      func(Media) // PlayFunc: called instead of queuing to c
	status  chan flash.Status
	dropped atomic.Uint64
	closeFn func()
	cmdFn   func(name string, args ...any) error // a command on the stream (nil: not supported)
	once    sync.Once
	started chan error
	// start is play's start argument, when hasStart (PlayFrom).
	start    float64
	hasStart bool
}

func newPlayer(name string, fn func(Media)) *Player {
	p := &Player{Name: name, fn: fn, status: make(chan flash.Status, 64), started: make(chan error, 1)}
	if fn == nil {
		p.c = make(chan Media, 8192)
	}
	p.C, p.Status = p.c, p.status
	return p
}

// Dropped counts media this player discarded because C was not read in time.
func (p *Player) Dropped() uint64 { return p.dropped.Load() }

// Close stops playing.
func (p *Player) Close() {
	p.once.Do(func() {
		if p.closeFn != nil {
			p.closeFn()
		}
	})
}

// ReceiveAudio asks the server to stop (false) or resume (true) sending the stream's audio
// to this player (NetStream.receiveAudio).
func (p *Player) ReceiveAudio(on bool) error { return p.command(flash.CommandReceiveAudio, on) }

// ReceiveVideo asks the server to stop (false) or resume (true) sending the stream's video
// to this player (NetStream.receiveVideo); video resumes at the next key frame.
func (p *Player) ReceiveVideo(on bool) error { return p.command(flash.CommandReceiveVideo, on) }

// Pause pauses (true) or resumes (false) a live stream (NetStream.pause): the server stops
// sending its audio and video and answers NetStream.Pause.Notify, or resumes them (video
// at the next key frame) and answers NetStream.Unpause.Notify.
func (p *Player) Pause(paused bool) error { return p.command(flash.CommandPause, paused, 0.0) }

// Seek moves the play of a recording to the key frame at or before ms (NetStream.seek);
// the server answers NetStream.Seek.Notify.
func (p *Player) Seek(ms float64) error { return p.command(flash.CommandSeek, ms) }

// errNoStreamCommands is returned by the stream commands of a player that cannot send them
// (a direct P2P player: the publishing peer does not implement them).
var errNoStreamCommands = errors.New("rtmfp: this player does not support stream commands")

func (p *Player) command(name string, args ...any) error {
	if p.cmdFn == nil {
		return errNoStreamCommands
	}
	return p.cmdFn(name, args...)
}

// end closes C when the connection ends (a PlayFunc player has none).
func (p *Player) end() {
	if p.c != nil {
		close(p.c)
	}
}

func (p *Player) deliver(m Media) {
	if p.fn != nil {
		p.fn(m)
		return
	}
	select {
	case p.c <- m:
	default:
		p.dropped.Add(1)
	}
}

func (p *Player) onStatus(s flash.Status) {
	select {
	case p.status <- s:
	default:
	}
	switch s.Code {
	case flash.CodePlayStart, flash.CodePlayReset:
		select {
		case p.started <- nil:
		default:
		}
	case flash.CodePlayFailed, flash.CodePlayStreamNotFound:
		select {
		case p.started <- &StreamError{Status: s}:
		default:
		}
	}
}

// StreamError is a refused publish or play.
type StreamError struct{ Status flash.Status }

func (e *StreamError) Error() string {
	return fmt.Sprintf("stream refused: %s (%s)", e.Status.Code, e.Status.Description)
}

// Publisher sends a stream.
type Publisher struct {
	Name    string
	typ     string // publish's type: live, record, append
	write   func(Media) error
	closeFn func()
	once    sync.Once
	closed  atomic.Bool
	started chan error
	// unsettled counts the media written to the session whose fate (acknowledged, given
	// up, refused) the session has not told yet: Close waits for none to be left.
	unsettled atomic.Int64
}

// Write sends one media message. It fails with ErrClosed after Close.
func (p *Publisher) Write(m Media) error {
	if p.closed.Load() {
		return ErrClosed
	}
	return p.write(m)
}

// Close unpublishes, after the media written before it: closeStream goes to the server
// once every message written has been acknowledged or given up (audio and video when their
// lifetimes end, Reliable media only with the session). It does not block: the server
// answers NetStream.Unpublish.Success once it has them.
func (p *Publisher) Close() {
	p.once.Do(func() {
		p.closed.Store(true)
		if p.closeFn != nil {
			p.closeFn()
		}
	})
}

// streamState is one NetStream of a connection actor (server connection or P2P).
type streamState struct {
	id        uint32
	key       session.FlowKey // our send flows (lane 0 is commands and data)
	player    *Player
	publisher *Publisher
	// closing: closeStream was sent; statuses are still delivered (until the server's
	// Play.Stop or Unpublish.Success), media no longer.
	closing bool
	// draining: the publisher closed while media it wrote were unsettled; closeStream
	// waits for them.
	draining bool
}

// onStreamMessage handles one message of a NetStream receive flow and returns the code of
// the status it carried, if it was an onStatus.
func onStreamMessage(st *streamState, data []byte, arrived time.Time, dec *amf.Decoder) (code string) {
	msg, err := flash.ParseMessage(data)
	if err != nil {
		return ""
	}
	switch msg.Type {
	case flash.TypeCommandAMF0, flash.TypeCommandAMF3:
		cmd, err := flash.ParseCommand(msg, dec)
		if err != nil || cmd.Name != flash.CommandOnStatus || len(cmd.Args) == 0 {
			return ""
		}
		s, err := flash.ParseStatus(cmd.Args[0])
		if err != nil {
			return ""
		}
		if st.player != nil {
			st.player.onStatus(s)
		}
		if st.publisher != nil {
			switch s.Code {
			case flash.CodePublishStart:
				select {
				case st.publisher.started <- nil:
				default:
				}
			case flash.CodePublishBadName:
				select {
				case st.publisher.started <- &StreamError{Status: s}:
				default:
				}
			}
		}
		return s.Code
	case flash.TypeAudio, flash.TypeVideo, flash.TypeDataAMF0, flash.TypeDataAMF3:
		if st.player != nil && !st.closing {
			// The session hands over each message in a slice of its own (FlowMessage), so
			// the body needs no copy.
			st.player.deliver(Media{Type: msg.Type, Timestamp: msg.Timestamp, Data: msg.Body, Arrived: arrived})
		}
	}
	return ""
}

// commandBytes encodes a stream command (transaction 0, null object).
func commandBytes(name string, args ...any) []byte {
	b, _ := flash.AppendCommand(nil, flash.Command{Name: name, Args: args})
	return b
}

// waitStarted waits for a stream's start (or refusal), the connection's end or ctx.
func waitStarted(ctx context.Context, started <-chan error, done <-chan struct{}) error {
	select {
	case err := <-started:
		return err
	case <-done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errNotConnected = errors.New("rtmfp: not connected")
