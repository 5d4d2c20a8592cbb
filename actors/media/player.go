package media

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/live"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/codec/flv"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// PlayParams describe the play of a recording.
type PlayParams struct {
	Key live.Key
	// Start is where to start, in ms into the file (at the key frame at or before it);
	// Length how much to play, in ms: negative for all of it, 0 for the frame at Start.
	Start, Length float64
	// The subscriber's sink, with the binding the player opens in it (as a publication
	// would: live.Bind, live.Media…) on Channel (Media.Channel).
	Sink     *actor.PID
	Channel  uint64
	Binding  uint64
	Lanes    *session.Lanes
	StreamID uint32          // of the user control events (Stream Is Recorded, EOF, Begin)
	Control  session.FlowKey // where they are written: the NetConnection's flow
	// Gates are the player's audio and video switches (receiveAudio, receiveVideo, or the
	// application's) and SampleAccess its |RtmpSampleAccess, as they stand at the start.
	Gates, SampleAccess [2]bool
}

// Play spawns the player of a recording as a child of ctx (the playing stream actor),
// which is sent NotFound or PlayFailed if the file cannot be played, and PlayComplete when
// it has been sent; the stream stops the player when it is done with it.
func (m *Media) Play(ctx actor.Context, p PlayParams) *actor.PID {
	return ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return &player{m: m, p: p} },
		actor.WithReceiverMiddleware(supervision.Middleware)))
}

// lead is how far ahead of its time a player sends a tag, so that a player's buffer
// fills as it would from a live stream.
const lead = time.Second

// maxBatch bounds the tags sent in one live.Batch.
const maxBatch = 64

// player plays one recording into a subscriber's sink: statuses, the file's metadata and
// the codec configuration in force, then the tags from a key frame, each when it is due
// on the node's clock.
type player struct {
	m      *Media
	p      PlayParams
	parent *actor.PID
	self   *actor.PID
	root   *actor.RootContext

	f     *os.File
	ix    *index
	r     *bufio.Reader
	pos   int64       // offset of the next tag to read
	next  *live.Media // read, not yet due
	nextT uint32      // its timestamp

	t0     uint32    // the media time played at w0
	w0     time.Time //
	stopAt int64     // last timestamp to play; -1: to the end
	sent   int64     // bytes of tags sent
	paused bool
	at     float64 // where a pause stopped the play (media ms)
	// skipScript: script tags before this offset are not sent (a play that goes back to
	// the start sent the metadata already).
	skipScript int64
	bound      bool
	done       bool
	timer      clock.Timer
}

type tick struct{}

func (p *player) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		p.parent, p.self, p.root = ctx.Parent(), ctx.Self(), ctx.ActorSystem().Root
		p.open(ctx)
	case *tick:
		p.pump(ctx)
	case *Seek:
		p.onSeek(ctx, m.Ms)
	case *Pause:
		p.onPause(ctx, m.Paused)
	case *actor.Stopping:
		p.stop(ctx)
	}
}

// open opens and scans the file, then starts playing.
func (p *player) open(ctx actor.Context) {
	st := p.m.cfg.Stats
	path, err := p.m.File(p.p.Key.App, p.p.Key.Name)
	if err == nil {
		p.f, err = os.Open(path)
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrName) || errors.Is(err, ErrNoFolder) {
		st.NotFound.Add(1)
		ctx.Send(p.parent, &NotFound{Name: p.p.Key.Name})
		return
	}
	var size int64
	if err == nil {
		var fi os.FileInfo
		if fi, err = p.f.Stat(); err == nil {
			size = fi.Size()
			p.ix, err = scanFile(p.f, size)
		}
	}
	if err != nil {
		bad := errors.Is(err, ErrMalformed)
		if bad {
			st.BadFiles.Add(1)
		} else {
			st.PlayFailures.Add(1)
		}
		p.m.cfg.Log.Warn("cannot play a recording", zap.String("app", p.p.Key.App), zap.String("name", p.p.Key.Name), zap.Error(err))
		ctx.Send(p.parent, &PlayFailed{Name: p.p.Key.Name, Err: err, Malformed: bad})
		return
	}
	st.Plays.Add(1)
	p.bound = true
	ctx.Send(p.p.Sink, &live.Bind{Channel: p.p.Channel, Binding: p.p.Binding, Lanes: p.p.Lanes,
		AudioOff: !p.p.Gates[0], VideoOff: !p.p.Gates[1]})
	p.control(ctx, flash.StreamIsRecorded(p.p.StreamID))
	p.status(ctx, flash.PlayReset(p.p.Key.Name))
	p.status(ctx, flash.PlayStart(p.p.Key.Name))
	access, _ := flash.AppendData(nil, flash.Data{Values: []any{"|RtmpSampleAccess", p.p.SampleAccess[0], p.p.SampleAccess[1]}})
	p.send(ctx, &live.Media{Kind: live.KindControl, Data: access, Config: true})
	p.stopAt = -1
	if p.p.Length >= 0 {
		p.stopAt = int64(max(p.p.Start, 0) + p.p.Length)
	}
	p.startAt(ctx, max(p.p.Start, 0), true)
}

// startAt moves to the seek point at or before ms and sends what a player needs before
// the tags from there: the metadata (with meta) and the codec configuration in force. At
// the first seek point it plays the file from its first tag instead, as it is: audio often
// comes before the first key frame.
func (p *player) startAt(ctx actor.Context, ms float64, meta bool) {
	sp, ok := p.ix.seek(uint32(min(ms, float64(^uint32(0)))))
	p.skipScript = 0
	var heads []tagRef
	switch {
	case !ok || sp.off == p.ix.seeks[0].off:
		if !meta {
			p.skipScript = sp.off // the metadata was sent at the start of the play
		}
		sp = seekPoint{off: p.ix.first, ts: min(p.ix.start, sp.ts)}
		if !ok {
			sp.ts = p.ix.start
		}
	default:
		if meta && p.ix.meta.off >= 0 {
			heads = append(heads, p.ix.meta)
		}
		audio, video := p.ix.configsBefore(sp.off)
		for _, c := range []tagRef{audio, video} {
			if c.off >= 0 {
				heads = append(heads, c)
			}
		}
	}
	p.pos, p.next, p.t0, p.w0 = sp.off, nil, sp.ts, p.m.cfg.Clock.Now()
	p.r = bufio.NewReaderSize(io.NewSectionReader(p.f, sp.off, p.ix.end-sp.off), 64<<10)
	for _, h := range heads {
		tag, err := readTag(p.f, h.off)
		if err != nil {
			continue // the tags themselves are read with their checks below
		}
		tag.Timestamp = sp.ts
		p.send(ctx, tagMedia(tag))
	}
	p.pump(ctx)
}

// pump sends the tags that are due and arms the timer for the next one.
func (p *player) pump(ctx actor.Context) {
	if p.paused || p.done || p.f == nil {
		return
	}
	now := p.m.cfg.Clock.Now()
	var batch []*live.Media
	for {
		if p.next == nil {
			if p.pos >= p.ix.end {
				p.flush(ctx, batch)
				p.complete(ctx)
				return
			}
			at := p.pos
			tag, n, err := p.readNext()
			if err != nil {
				p.flush(ctx, batch)
				p.failed(ctx, err)
				return
			}
			p.pos += n
			if tag.Type == flv.TagScript && at < p.skipScript {
				continue
			}
			p.next, p.nextT = tagMedia(tag), tag.Timestamp
		}
		if p.stopAt >= 0 && int64(p.nextT) > p.stopAt {
			p.flush(ctx, batch)
			p.complete(ctx)
			return
		}
		due := p.w0.Add(time.Duration(int64(p.nextT)-int64(p.t0))*time.Millisecond - lead)
		if wait := due.Sub(now); wait > 0 {
			p.arm(ctx, wait)
			break
		}
		batch = append(batch, p.next)
		p.sent += int64(len(p.next.Data))
		p.next = nil
		if len(batch) == maxBatch {
			p.flush(ctx, batch)
			batch = nil
		}
	}
	p.flush(ctx, batch)
}

// readNext reads the tag at p.pos (with its PreviousTagSize check).
func (p *player) readNext() (flv.Tag, int64, error) {
	var hdr [flv.TagHeaderLen]byte
	if _, err := io.ReadFull(p.r, hdr[:]); err != nil {
		return flv.Tag{}, 0, err
	}
	th, err := flv.ParseTagHeader(hdr[:])
	if err != nil {
		return flv.Tag{}, 0, errors.Join(ErrMalformed, err)
	}
	body := make([]byte, th.DataSize+flv.PrevSizeLen)
	if _, err := io.ReadFull(p.r, body); err != nil {
		return flv.Tag{}, 0, err
	}
	if err := flv.CheckPrevSize(th, body[th.DataSize:]); err != nil {
		return flv.Tag{}, 0, errors.Join(ErrMalformed, err)
	}
	return flv.Tag{Type: th.Type, Timestamp: th.Timestamp, Body: body[:th.DataSize]}, th.Size(), nil
}

// tagMedia makes the sink message of a tag.
func tagMedia(t flv.Tag) *live.Media {
	m := &live.Media{Data: t.Message().Append(make([]byte, 0, flash.HeaderLen+len(t.Body)))}
	switch t.Type {
	case flv.TagAudio:
		m.Kind, m.Config = live.KindAudio, flash.IsAudioSequenceHeader(t.Body)
	case flv.TagVideo:
		m.Kind, m.Config = live.KindVideo, flash.IsVideoSequenceHeader(t.Body)
		m.KeyFrame = !m.Config && flash.IsKeyFrame(t.Body)
	default:
		m.Kind, m.Config = live.KindControl, true
	}
	return m
}

func (p *player) arm(ctx actor.Context, d time.Duration) {
	if p.timer != nil {
		p.timer.Reset(d)
		return
	}
	self, root := p.self, p.root
	p.timer = p.m.cfg.Clock.AfterFunc(d, func() { root.Send(self, &tick{}) })
}

// onSeek moves the play: what is queued for the subscriber is given up, and the tags go
// on from the key frame at or before ms (Flash Media Server's order of statuses).
func (p *player) onSeek(ctx actor.Context, ms float64) {
	if p.f == nil || p.done {
		return
	}
	if ms < 0 || ms > float64(p.ix.last) {
		s := flash.SeekInvalidTime("Seeking to an invalid time")
		s.Extra = append(s.Extra, amf.Property{Key: "details", Value: float64(p.ix.last)})
		p.status(ctx, s)
		return
	}
	p.abandonQueued(ctx)
	p.control(ctx, flash.StreamEOF(p.p.StreamID))
	p.status(ctx, flash.Status{Level: flash.LevelStatus, Code: "NetStream.Seek.Notify", Description: "Seeking " + p.p.Key.Name,
		Extra: []amf.Property{{Key: "details", Value: p.p.Key.Name}}})
	p.control(ctx, flash.StreamBegin(p.p.StreamID))
	p.status(ctx, flash.PlayStart(p.p.Key.Name))
	p.stopAt = -1
	if p.paused {
		p.at = ms // it goes on from there when it resumes
		return
	}
	p.startAt(ctx, ms, false)
}

// onPause stops sending, or resumes from the key frame at or before where the play
// stood (Flash Media Server's way): the subscriber's video resumes at a key frame.
func (p *player) onPause(ctx actor.Context, paused bool) {
	if p.f == nil || p.done || paused == p.paused {
		return
	}
	if paused {
		p.paused = true
		if p.timer != nil {
			p.timer.Stop()
		}
		p.at = float64(p.t0) + float64(p.m.cfg.Clock.Now().Sub(p.w0)/time.Millisecond)
		if p.next != nil {
			p.at = min(p.at, float64(p.nextT))
		}
		return
	}
	p.paused = false
	p.abandonQueued(ctx)
	p.startAt(ctx, p.at, false)
}

// abandonQueued gives up the audio and video still queued for the subscriber.
func (p *player) abandonQueued(ctx actor.Context) {
	if p.p.Lanes == nil {
		return
	}
	for _, k := range p.p.Lanes.Flows[live.KindAudio:] {
		ctx.Send(p.p.Sink, &session.AbandonQueued{Key: k})
	}
}

// complete ends the play: Stream EOF, onPlayStatus NetStream.Play.Complete, then
// NetStream.Play.Stop (what ffmpeg and Flash end a play on).
func (p *player) complete(ctx actor.Context) {
	p.done = true
	p.control(ctx, flash.StreamEOF(p.p.StreamID))
	ps, _ := flash.AppendData(nil, flash.Data{Timestamp: p.ix.last, Values: []any{"onPlayStatus", amf.NewObject(
		amf.Property{Key: "level", Value: flash.LevelStatus}, amf.Property{Key: "code", Value: "NetStream.Play.Complete"},
		amf.Property{Key: "duration", Value: float64(p.ix.last) / 1000}, amf.Property{Key: "bytes", Value: float64(p.sent)})}})
	p.send(ctx, &live.Media{Kind: live.KindControl, Data: ps, Config: true})
	p.status(ctx, flash.PlayStop(p.p.Key.Name))
	ctx.Send(p.parent, &PlayComplete{Name: p.p.Key.Name})
}

// failed ends a play whose file could not be read further.
func (p *player) failed(ctx actor.Context, err error) {
	p.done = true
	bad := errors.Is(err, ErrMalformed)
	if bad {
		p.m.cfg.Stats.BadFiles.Add(1)
	} else {
		p.m.cfg.Stats.PlayFailures.Add(1)
	}
	p.status(ctx, flash.PlayFailed(p.p.Key.Name+": "+err.Error()))
	ctx.Send(p.parent, &PlayFailed{Name: p.p.Key.Name, Err: err, Malformed: bad, Bound: true})
}

func (p *player) stop(ctx actor.Context) {
	if p.timer != nil {
		p.timer.Stop()
	}
	if p.bound {
		ctx.Send(p.p.Sink, &live.Unbind{Channel: p.p.Channel, Binding: p.p.Binding})
		p.bound = false
	}
	if p.f != nil {
		_ = p.f.Close()
		p.f = nil
	}
}

// send sends one message of the binding.
func (p *player) send(ctx actor.Context, m *live.Media) {
	m.Channel = p.p.Channel
	ctx.Send(p.p.Sink, m)
}

// flush sends a batch of tags.
func (p *player) flush(ctx actor.Context, batch []*live.Media) {
	switch len(batch) {
	case 0:
	case 1:
		p.send(ctx, batch[0])
	default:
		for _, m := range batch {
			m.Channel = p.p.Channel
		}
		ctx.Send(p.p.Sink, &live.Batch{Msgs: batch})
	}
}

func (p *player) status(ctx actor.Context, s flash.Status) {
	b, _ := flash.AppendOnStatus(nil, s)
	p.send(ctx, &live.Media{Kind: live.KindControl, Data: b, Config: true})
}

// control writes a user control event on the NetConnection's flow.
func (p *player) control(ctx actor.Context, u flash.UserControl) {
	ctx.Send(p.p.Sink, &session.Write{Key: p.p.Control, Data: u.Append(nil), Priority: session.PriorityControl})
}
