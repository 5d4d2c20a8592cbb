package server

import (
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

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
	sh      *shared
	id      uint32
	session *actor.PID
	client  *client
	appPID  *actor.PID
	ncKey   session.FlowKey
	keys    [3]session.FlowKey // server → client: control and data, audio, video

	role    streamRole
	name    string
	pub     *actor.PID
	pubKey  pubKey
	retries int
	gates   [2]bool // receiveAudio, receiveVideo
	chanID  uint64  // the channel of the publication being played
}

func newNetStream(c *connection, id uint32) *netStream {
	meta := string(flash.Metadata{Kind: flash.KindNetStream, StreamID: uint64(id)}.Append(nil))
	s := &netStream{sh: c.sh, id: id, session: c.session, client: c.client, appPID: c.appPID, ncKey: c.ncKey}
	for lane := range s.keys {
		s.keys[lane] = session.FlowKey{Metadata: meta, Assoc: c.ncFlow, HasAssoc: true, Lane: uint8(lane)}
	}
	return s
}

// joinTimeout bounds how long a publish or play waits for its publication's answer before
// trying again (the publication may have been retiring).
const joinTimeout = 3 * time.Second

type joinTimedOut struct{ role streamRole }

func (s *netStream) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *session.FlowMessage:
		s.onMessage(ctx, m.Data)
	case *appStreamResult:
		s.onDecision(ctx, m)
	case *attachResult:
		if s.role != rolePublishPending {
			return
		}
		if !m.ok {
			s.role = roleIdle
			s.status(ctx, flash.PublishBadName(s.name+" is already published"))
			return
		}
		s.role = rolePublishing
		s.status(ctx, flash.PublishStart(s.name))
	case *subscribed:
		if s.role == rolePlayPending {
			s.role, s.chanID = rolePlaying, m.channel
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
		s.sh.stats.BadMessages.Add(1)
		return
	}
	switch msg.Type {
	case flash.TypeCommandAMF0, flash.TypeCommandAMF3:
		cmd, err := parseCommand(msg)
		if err != nil {
			s.sh.stats.BadMessages.Add(1)
			return
		}
		s.onCommand(ctx, cmd)
	case flash.TypeAudio, flash.TypeVideo, flash.TypeDataAMF0, flash.TypeDataAMF3:
		if s.role == rolePublishing {
			ctx.Send(s.pub, &publishMedia{stream: ctx.Self(), msg: msg, data: data})
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
			g := &session.GateChannel{Channel: s.channel(), Binding: uint64(s.id), Audio: s.gates[0], Video: s.gates[1]}
			if cmd.Name == flash.CommandReceiveAudio {
				g.Audio = on
			} else {
				g.Video = on
			}
			s.gates = [2]bool{g.Audio, g.Video}
			ctx.Send(s.session, g)
		}
	case flash.CommandPause:
		paused, _ := arg(0).(bool)
		if s.role == rolePlaying {
			ctx.Send(s.session, &session.GateChannel{Channel: s.channel(), Binding: uint64(s.id), Audio: !paused && s.gates[0], Video: !paused && s.gates[1]})
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
	ctx.Send(s.appPID, &appStream{client: s.client, name: name, publish: role == rolePublishPending, replyTo: ctx.Self()})
}

func (s *netStream) onDecision(ctx actor.Context, r *appStreamResult) {
	switch {
	case r.publish && s.role == rolePublishPending:
		if r.err != nil {
			s.role = roleIdle
			s.status(ctx, flash.PublishBadName(r.err.Error()))
			return
		}
	case !r.publish && s.role == rolePlayPending:
		if r.err != nil {
			s.role = roleIdle
			s.status(ctx, flash.PlayFailed(r.err.Error()))
			return
		}
	default:
		return
	}
	s.pubKey = pubKey{app: s.client.path, name: s.name}
	s.join(ctx)
}

// join finds (or creates) the publication and attaches or subscribes to it.
func (s *netStream) join(ctx actor.Context) {
	s.pub, _ = s.sh.pubs.join(s.pubKey)
	me := member{stream: ctx.Self(), session: s.session, client: s.client}
	if s.role == rolePublishPending {
		ctx.Send(s.pub, &attachPublisher{member: me, media: s.sh.apps.wantsMedia(s.client.path)})
	} else {
		ctx.Send(s.pub, &subscribe{
			subscriber: subscriber{member: me, binding: uint64(s.id), control: s.keys[0], ncKey: s.ncKey, streamID: s.id},
			audio:      s.keys[1], video: s.keys[2],
		})
	}
	self, root, role := ctx.Self(), ctx.ActorSystem().Root, s.role
	time.AfterFunc(joinTimeout, func() { root.Send(self, &joinTimedOut{role: role}) })
}

// stop ends publishing or playing (closeStream, or the stream actor stopping).
func (s *netStream) stop(ctx actor.Context, answer bool) {
	switch s.role {
	case rolePublishing, rolePublishPending:
		if s.pub != nil {
			ctx.Send(s.pub, &detachPublisher{stream: ctx.Self()})
		}
		if s.role == rolePublishing {
			ctx.Send(s.appPID, &appStream{client: s.client, name: s.name, publish: true, stop: true})
			if answer {
				s.status(ctx, flash.UnpublishSuccess(s.name))
			}
		}
	case rolePlaying, rolePlayPending:
		if s.pub != nil {
			ctx.Send(s.pub, &unsubscribe{stream: ctx.Self()})
		}
		if s.role == rolePlaying {
			ctx.Send(s.appPID, &appStream{client: s.client, name: s.name, stop: true})
			if answer {
				s.status(ctx, flash.PlayStop(s.name))
			}
		}
	}
	s.role, s.pub = roleIdle, nil
}

func (s *netStream) status(ctx actor.Context, st flash.Status) {
	b, _ := flash.AppendOnStatus(nil, st)
	ctx.Send(s.session, &session.Write{Key: s.keys[0], Data: b, Priority: session.PriorityControl})
}

// channel is the channel of the publication this stream plays.
func (s *netStream) channel() uint64 { return s.chanID }
