package netconn

import (
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/apphost"
	"github.com/actorrtmfp/actorrtmfp/actors/live"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

type streamRole uint8

const (
	roleIdle streamRole = iota
	rolePublishPending
	rolePublishing
	rolePlayPending
	rolePlaying
)

// netStream is the actor of one NetStream of a connection (a child of the connection
// actor, and the flow actor of every flow the client opens for that stream ID): publish,
// play, closeStream, receiveAudio/receiveVideo, pause, and the media of a publisher.
type netStream struct {
	cfg        *Config
	id         uint32
	session    *actor.PID
	client     *client
	appPID     *actor.PID
	wantsMedia bool
	ncKey      session.FlowKey
	keys       [3]session.FlowKey // server → client: control and data, audio, video

	role    streamRole
	name    string
	handle  *streamHandle // the stream as the application sees it, from publish or play to stop
	pub     *actor.PID
	retries int
	gates   [2]bool  // receiveAudio, receiveVideo
	access  *[2]bool // |RtmpSampleAccess the application set while the play was decided
	chanID  uint64   // the channel of the publication being played
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
		if s.handle == m.handle && (s.role == rolePublishing || s.role == rolePlaying) {
			s.status(ctx, flash.Status{Level: flash.LevelStatus, Code: m.code, Description: m.description})
			s.stop(ctx, true)
		}
	case *joinTimedOut:
		if s.role == m.role && s.retries < 3 {
			s.retries++
			s.join(ctx)
		}
	case *actor.Stopping:
		s.stop(ctx, false)
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
			ctx.Send(s.pub, &live.Ingest{Stream: ctx.Self(), Msg: msg, Data: data})
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
		s.begin(ctx, rolePublishPending, name)
	case flash.CommandPlay:
		name, _ := arg(0).(string)
		if s.role != roleIdle || name == "" {
			s.status(ctx, flash.PlayFailed("cannot play "+name+" on this stream"))
			return
		}
		s.begin(ctx, rolePlayPending, name)
	case flash.CommandCloseStream:
		s.stop(ctx, true)
	case flash.CommandReceiveAudio, flash.CommandReceiveVideo:
		on, _ := arg(0).(bool)
		if s.role == rolePlaying {
			if cmd.Name == flash.CommandReceiveAudio {
				s.gates[0] = on
			} else {
				s.gates[1] = on
			}
			s.gate(ctx)
		}
	case flash.CommandPause:
		paused, _ := arg(0).(bool)
		if s.role == rolePlaying {
			ctx.Send(s.session, &live.Gate{Channel: s.chanID, Binding: uint64(s.id), Audio: !paused && s.gates[0], Video: !paused && s.gates[1]})
			if paused {
				s.status(ctx, flash.Status{Level: flash.LevelStatus, Code: "NetStream.Pause.Notify", Description: "Pausing " + s.name})
			} else {
				s.status(ctx, flash.Status{Level: flash.LevelStatus, Code: "NetStream.Unpause.Notify", Description: "Unpausing " + s.name})
			}
		}
	}
}

// begin asks the application whether the client may publish or play name.
func (s *netStream) begin(ctx actor.Context, role streamRole, name string) {
	if i := strings.IndexByte(name, '?'); i >= 0 {
		name = name[:i] // query parameters of a stream name are not part of it (Mona)
	}
	s.role, s.name, s.retries = role, name, 0
	s.gates = [2]bool{true, true}
	s.handle = &streamHandle{root: ctx.ActorSystem().Root, pid: ctx.Self(), client: s.client, id: s.id, name: name}
	ctx.Send(s.appPID, &apphost.Stream{Client: s.client, Name: name, Publish: role == rolePublishPending, ReplyTo: ctx.Self(), Handle: s.handle})
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
		begin := &session.Write{Key: s.ncKey, Data: flash.StreamBegin(s.id).Append(nil), Priority: session.PriorityControl}
		ctx.Send(s.cfg.Publications, &live.Play{Key: key, Stream: ctx.Self(), Client: s.client, Sink: s.session,
			Binding: uint64(s.id), Lanes: &session.Lanes{Flows: s.keys, First: begin}})
	}
	self, root, role := ctx.Self(), ctx.ActorSystem().Root, s.role
	s.cfg.Clock.AfterFunc(joinTimeout, func() { root.Send(self, &joinTimedOut{role: role}) })
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
	s.status(ctx, flash.PublishStart(s.name))
}

func (s *netStream) onPlaying(ctx actor.Context, m *live.Playing) {
	switch {
	case s.role == rolePlayPending:
		s.role, s.chanID, s.pub = rolePlaying, m.Channel, m.Publication
		if s.gates != [2]bool{true, true} {
			s.gate(ctx) // set by the application while it decided
		}
		if s.access != nil {
			s.sendSampleAccess(ctx)
		}
	case s.role == rolePlaying && s.pub.Equal(m.Publication):
		// The answer to a repeated play.
	default:
		// The stream was closed while its play was on its way.
		ctx.Send(m.Publication, &live.Stop{Stream: ctx.Self(), Binding: uint64(s.id)})
	}
}

// stop ends publishing or playing (closeStream, or the stream actor stopping).
func (s *netStream) stop(ctx actor.Context, answer bool) {
	switch s.role {
	case rolePublishing:
		ctx.Send(s.pub, &live.Unpublish{Stream: ctx.Self()})
		ctx.Send(s.appPID, &apphost.Stream{Client: s.client, Name: s.name, Publish: true, Stop: true, Handle: s.handle})
		if answer {
			s.status(ctx, flash.UnpublishSuccess(s.name))
		}
	case rolePlaying:
		ctx.Send(s.pub, &live.Stop{Stream: ctx.Self(), Binding: uint64(s.id)})
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
	if s.handle != m.handle || s.role != rolePlaying && s.role != rolePlayPending {
		return
	}
	s.gates = [2]bool{m.audio, m.video}
	if s.role == rolePlaying {
		s.gate(ctx)
	}
}

// onSampleAccess sends the player |RtmpSampleAccess: at once while playing, once
// playing starts (after the publication's own) if set while deciding the play.
func (s *netStream) onSampleAccess(ctx actor.Context, m *sampleAccess) {
	if s.handle != m.handle || s.role != rolePlaying && s.role != rolePlayPending {
		return
	}
	s.access = &[2]bool{m.audio, m.video}
	if s.role == rolePlaying {
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
