package netconn

import (
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/apphost"
	"github.com/actorrtmfp/actorrtmfp/actors/live"
	"github.com/actorrtmfp/actorrtmfp/actors/media"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

type streamRole uint8

const (
	roleIdle streamRole = iota
	rolePublishPending
	rolePublishing
	rolePlayPending // waiting for the application, then for the publication
	rolePlaying     // a live stream
	roleRecorded    // a recording, through its player
)

// playMode is what a play asked for, from its start argument (Flash's NetStream.play).
type playMode uint8

const (
	playAny      playMode = iota // -2 (default): live if published, else a recording, else wait for live
	playLive                     // -1: live only; wait for it
	playRecorded                 // ≥ 0: a recording only, from start ms
)

// recordMode is what a publish asked for, from its type argument.
type recordMode uint8

const (
	recordNone   recordMode = iota // "live"
	recordNew                      // "record": replace the file
	recordAppend                   // "append", "appendWithGap"
)

// netStream is the actor of one NetStream of a connection (a child of the connection
// actor, and the flow actor of every flow the client opens for that stream ID): publish
// (recording it if asked), play (live, or a recording), seek, closeStream,
// receiveAudio/receiveVideo, pause, and the media of a publisher. Its recorder or player,
// when it has one, is its child.
type netStream struct {
	cfg        *Config
	id         uint32
	session    *actor.PID
	client     *client
	appPID     *actor.PID
	wantsMedia bool
	ncKey      session.FlowKey
	keys       [3]session.FlowKey // server → client: control and data, audio, video

	role       streamRole
	name       string
	handle     *streamHandle // the stream as the application sees it, from publish or play to stop
	pub        *actor.PID
	retries    int
	gates      [2]bool  // receiveAudio, receiveVideo
	boundGates [2]bool  // the gates the play was bound with (live.Play)
	access     *[2]bool // |RtmpSampleAccess the application set while the play was decided
	chanID     uint64   // the channel of the publication or recording being played

	record        recordMode
	rec           *media.Recording // publishing: the recorder
	mode          playMode
	start, length float64    // play: from and how long, ms
	ifPublished   bool       // the live play asked for is IfPublished (then a recording)
	player        *actor.PID // playing a recording: its player
}

func newNetStream(c *connection, id uint32) *netStream {
	meta := string(flash.Metadata{Kind: flash.KindNetStream, StreamID: uint64(id)}.Append(nil))
	s := &netStream{cfg: c.cfg, id: id, session: c.session, client: c.client, appPID: c.appPID, ncKey: c.ncKey}
	for lane := range s.keys {
		s.keys[lane] = session.FlowKey{Metadata: meta, Assoc: c.ncFlow, HasAssoc: true, Lane: uint8(lane)}
	}
	return s
}

// joinTimeout bounds how long a publish or play waits for its publication's answer before
// asking again (the publication may have crashed on it).
const joinTimeout = 3 * time.Second

type joinTimedOut struct{ role streamRole }

func (s *netStream) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *session.FlowMessage:
		s.onMessage(ctx, m.Data)
	case *apphost.StreamResult:
		s.onDecision(ctx, m)
	case *live.Published:
		s.onPublished(ctx, m)
	case *live.Playing:
		s.onPlaying(ctx, m)
	case *gateStream:
		s.onGate(ctx, m)
	case *sampleAccess:
		s.onSampleAccess(ctx, m)
	case *closeByApp:
		if s.handle == m.handle && (s.role == rolePublishing || s.role == rolePlaying || s.role == roleRecorded) {
			s.status(ctx, flash.Status{Level: flash.LevelStatus, Code: m.code, Description: m.description})
			s.stop(ctx, true)
		}
	case *media.RecordStarted:
		s.status(ctx, flash.Status{Level: flash.LevelStatus, Code: flash.CodeRecordStart, Description: "Recording " + m.Name})
	case *media.RecordFailed:
		s.onRecordFailed(ctx, m)
	case *media.NotFound:
		s.onNotFound(ctx)
	case *media.PlayFailed:
		s.onPlayFailed(ctx, m)
	case *media.PlayComplete:
		s.endRecorded(ctx)
	case *joinTimedOut:
		if s.role == m.role && s.retries < 3 {
			s.retries++
			s.join(ctx)
		}
	case *actor.Terminated:
		s.onChildEnded(ctx, m.Who)
	case *actor.Started:
		s.cfg.Stats.Streams.Add(1)
	case *actor.Stopping:
		s.stop(ctx, false)
	case *actor.Stopped:
		s.cfg.Stats.Streams.Add(-1)
	}
}

func (s *netStream) onMessage(ctx actor.Context, data []byte) {
	msg, err := flash.ParseMessage(data)
	if err != nil {
		s.cfg.Stats.BadMessages.Add(1)
		return
	}
	switch msg.Type {
	case flash.TypeCommandAMF0, flash.TypeCommandAMF3:
		cmd, err := parseCommand(msg)
		if err != nil {
			s.cfg.Stats.BadMessages.Add(1)
			return
		}
		s.onCommand(ctx, cmd)
	case flash.TypeAudio, flash.TypeVideo, flash.TypeDataAMF0, flash.TypeDataAMF3:
		if s.role == rolePublishing {
			in := &live.Ingest{Stream: ctx.Self(), Msg: msg, Data: data}
			ctx.Send(s.pub, in)
			if s.rec != nil {
				s.rec.Write(ctx, in)
			}
		}
	}
}

func (s *netStream) onCommand(ctx actor.Context, cmd flash.Command) {
	arg := func(i int) any {
		if i < len(cmd.Args) {
			return cmd.Args[i]
		}
		return nil
	}
	switch cmd.Name {
	case flash.CommandPublish:
		name, _ := arg(0).(string)
		if s.role != roleIdle || name == "" {
			s.status(ctx, flash.PublishBadName("cannot publish "+name+" on this stream"))
			return
		}
		switch typ, _ := arg(1).(string); typ {
		case "record":
			s.record = recordNew
		case "append", "appendWithGap":
			s.record = recordAppend
		default:
			s.record = recordNone
		}
		s.begin(ctx, rolePublishPending, name)
	case flash.CommandPlay:
		name, _ := arg(0).(string)
		if s.role != roleIdle || name == "" {
			s.status(ctx, flash.PlayFailed("cannot play "+name+" on this stream"))
			return
		}
		s.mode, s.start, s.length = playArgs(arg(1), arg(2))
		s.begin(ctx, rolePlayPending, name)
	case flash.CommandSeek:
		ms, _ := amf.AsNumber(arg(0))
		switch s.role {
		case roleRecorded:
			ctx.Send(s.player, &media.Seek{Ms: ms})
		case rolePlaying:
			s.status(ctx, flash.Status{Level: flash.LevelError, Code: flash.CodeSeekFailed, Description: s.name + " is live: seeking is for recordings"})
		}
	case flash.CommandCloseStream:
		s.stop(ctx, true)
	case flash.CommandReceiveAudio, flash.CommandReceiveVideo:
		on, _ := arg(0).(bool)
		if s.role == rolePlaying || s.role == roleRecorded {
			if cmd.Name == flash.CommandReceiveAudio {
				s.gates[0] = on
			} else {
				s.gates[1] = on
			}
			s.gate(ctx)
		}
	case flash.CommandPause:
		paused, _ := arg(0).(bool)
		if s.role == rolePlaying || s.role == roleRecorded {
			ctx.Send(s.session, &live.Gate{Channel: s.chanID, Binding: uint64(s.id), Audio: !paused && s.gates[0], Video: !paused && s.gates[1]})
			if s.role == roleRecorded {
				ctx.Send(s.player, &media.Pause{Paused: paused})
			}
			if paused {
				s.status(ctx, flash.Status{Level: flash.LevelStatus, Code: "NetStream.Pause.Notify", Description: "Pausing " + s.name})
			} else {
				s.status(ctx, flash.Status{Level: flash.LevelStatus, Code: "NetStream.Unpause.Notify", Description: "Unpausing " + s.name})
			}
		}
	}
}

// playArgs reads play's start and length. Flash's API counts seconds but the wire
// carries milliseconds (ffmpeg sends -2000 for "any", librtmp -1000 for "live"); both
// scales of the special values are read.
func playArgs(startArg, lengthArg any) (mode playMode, start, length float64) {
	start, length = -2, -1
	if v, ok := amf.AsNumber(startArg); ok {
		start = v
	}
	if v, ok := amf.AsNumber(lengthArg); ok && v >= 0 {
		length = v
	}
	switch {
	case start == -1 || start == -1000:
		return playLive, start, length
	case start >= 0:
		return playRecorded, start, length
	}
	return playAny, start, length
}

// streamName is the name of a stream without the query of a publish or play name (Mona).
func streamName(name string) string {
	if i := strings.IndexByte(name, '?'); i >= 0 {
		return name[:i]
	}
	return name
}

// begin asks the application whether the client may publish or play name.
func (s *netStream) begin(ctx actor.Context, role streamRole, name string) {
	s.role, s.name, s.retries = role, streamName(name), 0
	s.gates = [2]bool{true, true}
	s.handle = &streamHandle{root: ctx.ActorSystem().Root, pid: ctx.Self(), client: s.client, id: s.id, name: s.name}
	ctx.Send(s.appPID, &apphost.Stream{Client: s.client, Name: s.name, Publish: role == rolePublishPending, ReplyTo: ctx.Self(), Handle: s.handle})
}

func (s *netStream) onDecision(ctx actor.Context, r *apphost.StreamResult) {
	switch {
	case r.Publish && s.role == rolePublishPending:
		if r.Err != nil {
			s.role = roleIdle
			s.status(ctx, flash.PublishBadName(r.Err.Error()))
			return
		}
		s.wantsMedia = r.WantsMedia
	case !r.Publish && s.role == rolePlayPending:
		if r.Err != nil {
			s.role = roleIdle
			s.status(ctx, flash.PlayFailed(r.Err.Error()))
			return
		}
		switch {
		case s.mode == playRecorded:
			s.playRecording(ctx)
			return
		case s.mode == playAny && s.cfg.Media.Enabled():
			s.ifPublished = true // live if published, else a recording
		default:
			s.ifPublished = false
		}
	default:
		return
	}
	s.join(ctx)
}

// join asks the registry of publications to publish or play the stream; the publication
// answers with Published or Playing.
func (s *netStream) join(ctx actor.Context) {
	key := live.Key{App: s.client.path, Name: s.name}
	if s.role == rolePublishPending {
		p := &live.Publish{Key: key, Stream: ctx.Self(), Client: s.client}
		if s.wantsMedia {
			p.App = s.appPID
		}
		ctx.Send(s.cfg.Publications, p)
	} else {
		ctx.Send(s.cfg.Publications, &live.Play{Key: key, Stream: ctx.Self(), Client: s.client, Sink: s.session,
			Binding: uint64(s.id), Lanes: s.lanes(), IfPublished: s.ifPublished, AudioOff: !s.gates[0], VideoOff: !s.gates[1]})
		s.boundGates = s.gates
	}
	self, root, role := ctx.Self(), ctx.ActorSystem().Root, s.role
	s.cfg.Clock.AfterFunc(joinTimeout, func() { root.Send(self, &joinTimedOut{role: role}) })
}

// lanes is where a play's messages go: the stream's send flows (for an RTMP client, its
// message stream), after Stream Begin on the NetConnection.
func (s *netStream) lanes() *session.Lanes {
	begin := &session.Write{Key: s.ncKey, Data: flash.StreamBegin(s.id).Append(nil), Priority: session.PriorityControl}
	return &session.Lanes{Flows: s.keys, First: begin}
}

func (s *netStream) onPublished(ctx actor.Context, m *live.Published) {
	if s.role != rolePublishPending {
		if m.OK && !(s.role == rolePublishing && s.pub.Equal(m.Publication)) {
			// The stream was closed while its publish was on its way.
			ctx.Send(m.Publication, &live.Unpublish{Stream: ctx.Self()})
		}
		return
	}
	if !m.OK {
		s.role = roleIdle
		s.status(ctx, flash.PublishBadName(s.name+" is already published"))
		return
	}
	s.role, s.pub = rolePublishing, m.Publication
	s.cfg.Events.Event("published", s.fields()...)
	s.status(ctx, flash.PublishStart(s.name))
	if s.record != recordNone {
		s.startRecording(ctx)
	}
}

// startRecording spawns the recorder of a publish "record" or "append"; the recorder
// says whether it could open its file.
func (s *netStream) startRecording(ctx actor.Context) {
	if !s.cfg.Media.Enabled() {
		s.status(ctx, flash.Status{Level: flash.LevelError, Code: flash.CodeRecordNoAccess, Description: media.ErrNoFolder.Error()})
		return
	}
	s.rec = s.cfg.Media.Record(ctx, media.RecordParams{Key: live.Key{App: s.client.path, Name: s.name}, Append: s.record == recordAppend})
}

func (s *netStream) onRecordFailed(ctx actor.Context, m *media.RecordFailed) {
	if s.rec == nil {
		return
	}
	s.rec.Stop(ctx)
	s.rec = nil
	code := flash.CodeRecordFailed
	if m.NoAccess {
		code = flash.CodeRecordNoAccess
	}
	s.status(ctx, flash.Status{Level: flash.LevelError, Code: code, Description: m.Err.Error()})
}

func (s *netStream) onPlaying(ctx actor.Context, m *live.Playing) {
	switch {
	case s.role == rolePlayPending && s.ifPublished && !m.Published:
		// Not live: the recording of that name, if there is one (the publication bound
		// nothing).
		s.playRecording(ctx)
	case s.role == rolePlayPending:
		s.role, s.chanID, s.pub = rolePlaying, m.Channel, m.Publication
		s.cfg.Events.Event("played", s.fields(zap.String("source", "live"))...)
		if s.gates != s.boundGates {
			s.gate(ctx) // changed by the application after it decided
		}
		if s.access != nil {
			s.sendSampleAccess(ctx)
		}
	case s.role == rolePlaying && s.pub.Equal(m.Publication):
		// The answer to a repeated play.
	case !m.Published && s.ifPublished:
		// The answer to a repeated play that bound nothing.
	default:
		// The stream was closed (or went to a recording) while its play was on its way.
		ctx.Send(m.Publication, &live.Stop{Stream: ctx.Self(), Binding: uint64(s.id)})
	}
}

// playRecording starts the player of the recording of the stream's name.
func (s *netStream) playRecording(ctx actor.Context) {
	if !s.cfg.Media.Enabled() {
		s.onNotFound(ctx)
		return
	}
	s.role, s.chanID = roleRecorded, s.cfg.Media.Channel()
	s.cfg.Events.Event("played", s.fields(zap.String("source", "recording"))...)
	p := media.PlayParams{
		Key: live.Key{App: s.client.path, Name: s.name}, Start: max(s.start, 0), Length: s.length,
		Sink: s.session, Channel: s.chanID, Binding: uint64(s.id), Lanes: s.lanes(), StreamID: s.id, Control: s.ncKey,
		Gates: s.gates, SampleAccess: [2]bool{true, true},
	}
	if s.access != nil { // set by the application while it decided the play
		p.SampleAccess, s.access = *s.access, nil
	}
	s.player = s.cfg.Media.Play(ctx, p)
}

// onNotFound: there is no recording of the name. A play of "any" waits for a live
// publisher; a play of a recording fails.
func (s *netStream) onNotFound(ctx actor.Context) {
	s.endPlayer(ctx)
	if s.mode == playAny && (s.role == roleRecorded || s.role == rolePlayPending) {
		s.endRecordedEvent()
		s.role, s.ifPublished, s.retries = rolePlayPending, false, 0
		s.join(ctx)
		return
	}
	if s.role == roleRecorded || s.role == rolePlayPending {
		s.status(ctx, flash.PlayStreamNotFound(s.name))
		s.endPlay(ctx)
	}
}

// onPlayFailed: the recording could not be played. A file that is not valid FLV ends the
// client's connection after its error (what a client that is sent garbage gets).
func (s *netStream) onPlayFailed(ctx actor.Context, m *media.PlayFailed) {
	if s.role != roleRecorded {
		return
	}
	if !m.Bound {
		s.status(ctx, flash.PlayFailed(s.name+": "+m.Err.Error()))
	}
	s.endPlay(ctx)
	if m.Malformed {
		ctx.Send(ctx.Parent(), &closeLater{})
	}
}

// endRecorded: the player sent the whole recording, with the statuses that end it.
func (s *netStream) endRecorded(ctx actor.Context) {
	if s.role == roleRecorded {
		s.endPlay(ctx)
	}
}

// endPlay ends a play the client did not close (no recording of the name; its recording
// failed or was sent whole): its player stops, and the application hears the play is over.
func (s *netStream) endPlay(ctx actor.Context) {
	s.endRecordedEvent()
	s.endPlayer(ctx)
	s.role = roleIdle
	ctx.Send(s.appPID, &apphost.Stream{Client: s.client, Name: s.name, Stop: true, Handle: s.handle})
	s.handle = nil
}

// endRecordedEvent writes the "stopped" event line of a play of a recording that ends
// without closeStream (whose stop writes it): its "played" line was written.
func (s *netStream) endRecordedEvent() {
	if s.role == roleRecorded {
		s.cfg.Events.Event("stopped", s.fields()...)
	}
}

func (s *netStream) endPlayer(ctx actor.Context) {
	if s.player != nil {
		ctx.Stop(s.player)
		s.player = nil
	}
}

// onChildEnded: a recorder or player stopped without saying why (it crashed).
func (s *netStream) onChildEnded(ctx actor.Context, who *actor.PID) {
	switch {
	case s.rec != nil && s.rec.PID().Equal(who):
		s.rec = nil
		s.status(ctx, flash.Status{Level: flash.LevelError, Code: flash.CodeRecordFailed, Description: "internal server error"})
	case s.player != nil && s.player.Equal(who):
		s.player = nil
		if s.role == roleRecorded {
			s.status(ctx, flash.PlayFailed("internal server error"))
			s.endPlay(ctx)
		}
	}
}

// stop ends publishing or playing (closeStream, or the stream actor stopping).
func (s *netStream) stop(ctx actor.Context, answer bool) {
	switch s.role {
	case rolePublishing:
		s.cfg.Events.Event("unpublished", s.fields()...)
		ctx.Send(s.pub, &live.Unpublish{Stream: ctx.Self()})
		ctx.Send(s.appPID, &apphost.Stream{Client: s.client, Name: s.name, Publish: true, Stop: true, Handle: s.handle})
		if s.rec != nil {
			s.rec.Stop(ctx)
			s.rec = nil
			if answer {
				s.status(ctx, flash.Status{Level: flash.LevelStatus, Code: flash.CodeRecordStop, Description: "Stopped recording " + s.name})
			}
		}
		if answer {
			s.status(ctx, flash.UnpublishSuccess(s.name))
		}
	case rolePlaying, roleRecorded:
		s.cfg.Events.Event("stopped", s.fields()...)
		if s.role == rolePlaying {
			ctx.Send(s.pub, &live.Stop{Stream: ctx.Self(), Binding: uint64(s.id)})
		}
		s.endPlayer(ctx)
		ctx.Send(s.appPID, &apphost.Stream{Client: s.client, Name: s.name, Stop: true, Handle: s.handle})
		if answer {
			s.status(ctx, flash.PlayStop(s.name))
		}
	}
	s.role, s.pub, s.handle, s.access = roleIdle, nil, nil, nil
}

func (s *netStream) status(ctx actor.Context, st flash.Status) {
	b, _ := flash.AppendOnStatus(nil, st)
	ctx.Send(s.session, &session.Write{Key: s.keys[0], Data: b, Priority: session.PriorityControl})
}

// gate applies the audio and video gates of a player (receiveAudio, receiveVideo, or the
// application).
func (s *netStream) gate(ctx actor.Context) {
	ctx.Send(s.session, &live.Gate{Channel: s.chanID, Binding: uint64(s.id), Audio: s.gates[0], Video: s.gates[1]})
}

// onGate applies the application's receiveAudio and receiveVideo: at once while
// playing, once playing starts if the application set them while deciding the play.
func (s *netStream) onGate(ctx actor.Context, m *gateStream) {
	if s.handle != m.handle || s.role != rolePlaying && s.role != rolePlayPending && s.role != roleRecorded {
		return
	}
	s.gates = [2]bool{m.audio, m.video}
	if s.role != rolePlayPending {
		s.gate(ctx)
	}
}

// onSampleAccess sends the player |RtmpSampleAccess: at once while playing, once
// playing starts (after the publication's own) if set while deciding the play.
func (s *netStream) onSampleAccess(ctx actor.Context, m *sampleAccess) {
	if s.handle != m.handle || s.role != rolePlaying && s.role != rolePlayPending && s.role != roleRecorded {
		return
	}
	s.access = &[2]bool{m.audio, m.video}
	if s.role != rolePlayPending {
		s.sendSampleAccess(ctx)
	}
}

func (s *netStream) sendSampleAccess(ctx actor.Context) {
	b, _ := flash.AppendData(nil, flash.Data{Values: []any{"|RtmpSampleAccess", s.access[0], s.access[1]}})
	ctx.Send(s.session, &session.Write{Key: s.keys[0], Data: b, Priority: session.PriorityControl})
	s.access = nil
}

// streamHandle is a NetStream's publish or play as applications see it (app.Stream): its
// methods send the stream actor what the application asks; the actor ignores what comes
// for a publish or play that has ended since.
type streamHandle struct {
	root   *actor.RootContext
	pid    *actor.PID
	client *client
	id     uint32
	name   string
}

type gateStream struct {
	handle       *streamHandle
	audio, video bool
}

type sampleAccess struct {
	handle       *streamHandle
	audio, video bool
}

type closeByApp struct {
	handle            *streamHandle
	code, description string
}

func (h *streamHandle) Client() app.Client { return h.client }
func (h *streamHandle) ID() uint32         { return h.id }
func (h *streamHandle) Name() string       { return h.name }
func (h *streamHandle) Receive(audio, video bool) {
	h.root.Send(h.pid, &gateStream{handle: h, audio: audio, video: video})
}
func (h *streamHandle) SampleAccess(audio, video bool) {
	h.root.Send(h.pid, &sampleAccess{handle: h, audio: audio, video: video})
}
func (h *streamHandle) Close(code, description string) {
	h.root.Send(h.pid, &closeByApp{handle: h, code: code, description: description})
}

// fields name the client and the stream in an event line, then more.
func (s *netStream) fields(more ...zap.Field) []zap.Field {
	return append([]zap.Field{zap.String("protocol", s.client.Protocol()), zap.Stringer("addr", s.client.Address()), zap.String("app", s.client.path),
		zap.String("stream", s.name)}, more...)
}
