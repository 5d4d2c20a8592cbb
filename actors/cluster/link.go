package cluster

import (
	"math"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/live"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/messages"
)

// linkActor carries a stream published here to one other node: a subscriber of the
// publication (live.Play with Edge) that is its own sink (live/sink.go), turning what the
// publication sends it into StreamMediaBatch for the node's edge. The publication's
// replay to a new subscriber — configuration, metadata, the group of pictures from its
// key frame — is what the edge's publication needs to serve its own late players; the
// statuses addressed to the subscriber itself are not sent (the edge's publication makes
// its own), and the publisher's comings and goings become events.
//
// Remote's queue toward a node is unbounded, so the link keeps a window: what the edge
// has not acknowledged. Beyond linkVideoWindow bytes or linkMaxAge, video is dropped
// down to the next key frame, beyond linkAudioWindow audio too; configuration, metadata
// and events are never dropped — the policy of a slow player (live.Policy), for a node.
type linkActor struct {
	key          live.Key
	node         string     // the edge's member ID
	edgePID      *actor.PID // its cluster/streams actor
	self         string
	sub          uint64
	publications *actor.PID
	stats        *Stats
	clock        clock.Clock

	publication *actor.PID
	opened      time.Time
	bytes       uint64 // of the Flash messages sent
	seq         uint64
	flight      []inFlight // sent, not acknowledged, oldest first
	flightBytes int
	waitKey     bool
	dropped     uint64
	dec         amf.Decoder
	log         *zap.Logger
}

type inFlight struct {
	seq   uint64
	bytes int
	at    time.Time
}

// The window of a link.
const (
	linkVideoWindow = 2 << 20
	linkAudioWindow = 4 << 20
	linkMaxAge      = 2 * time.Second
)

func (l *linkActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		l.opened = l.clock.Now()
		ctx.Send(l.publications, &live.Play{Key: l.key, Stream: ctx.Self(), Sink: ctx.Self(), Binding: 1, Edge: true})
	case *live.Playing:
		if l.publication == nil {
			l.publication = m.Publication
			ctx.Watch(m.Publication)
		}
	case *live.Media:
		l.send(ctx, []*live.Media{m})
	case *live.Batch:
		l.send(ctx, m.Msgs)
	case *live.Resync:
		l.waitKey = true
		l.emit(ctx, []*messages.StreamMedia{{Event: messages.StreamEvent_STREAM_RESYNC}})
	case *live.Bind, *live.Unbind, *live.Gate:
		// One binding, always open: the edge's players have their own.
	case *messages.StreamAck:
		l.onAck(m.Seq)
	case *actor.Terminated:
		if l.publication != nil && m.Who.Equal(l.publication) {
			ctx.Send(l.edgePID, &messages.StreamEnded{FromNode: l.self, ToNode: l.node, Subscription: l.sub, Reason: "the publication ended"})
			l.publication = nil
			ctx.Stop(ctx.Self())
		}
	case *actor.Stopping:
		if l.publication != nil {
			ctx.Send(l.publication, &live.Stop{Stream: ctx.Self(), Binding: 1})
		}
		secs := l.clock.Now().Sub(l.opened).Seconds()
		l.log.Info("stream link closed", zap.String("app", l.key.App), zap.String("name", l.key.Name), zap.String("member", l.node),
			zap.Uint64("messages", l.seq), zap.Uint64("bytes", l.bytes), zap.Float64("seconds", math.Round(secs*1000)/1000),
			zap.Uint64("dropped", l.dropped))
	}
}

// send turns what the publication sent into media and events for the edge.
func (l *linkActor) send(ctx actor.Context, in []*live.Media) {
	out := make([]*messages.StreamMedia, 0, len(in))
	for _, m := range in {
		if md := l.convert(m); md != nil {
			out = append(out, md)
		}
	}
	l.emit(ctx, out)
}

func (l *linkActor) convert(m *live.Media) *messages.StreamMedia {
	msg, err := flash.ParseMessage(m.Data)
	if err != nil {
		return nil
	}
	if m.Kind == live.KindControl {
		switch msg.Type {
		case flash.TypeCommandAMF0, flash.TypeCommandAMF3:
			if m.Targeted {
				return nil // Play.Reset and Play.Start of the link's own subscription
			}
			cmd, err := flash.ParseCommand(msg, &l.dec)
			if err != nil || len(cmd.Args) == 0 {
				return nil
			}
			st, err := flash.ParseStatus(cmd.Args[0])
			switch {
			case err != nil:
				return nil
			case st.Code == flash.CodePlayUnpublishNotify:
				l.waitKey = true
				return &messages.StreamMedia{Event: messages.StreamEvent_STREAM_UNPUBLISHED}
			case st.Code == flash.CodePlayPublishNotify:
				return &messages.StreamMedia{Event: messages.StreamEvent_STREAM_PUBLISHED}
			}
			return nil
		case flash.TypeDataAMF0, flash.TypeDataAMF3:
			if m.Targeted && !m.Config {
				return nil
			}
			if m.Targeted {
				if d, err := flash.ParseData(msg, &l.dec); err != nil || d.Name() == "|RtmpSampleAccess" {
					return nil // the publication's to its new subscriber; the edge's writes its own
				}
			}
		default:
			return nil
		}
	}
	md := &messages.StreamMedia{Kind: uint32(m.Kind), Data: m.Data, KeyFrame: m.KeyFrame, Config: m.Config}
	if m.Config || m.Kind == live.KindControl {
		return md
	}
	now := l.clock.Now()
	old := len(l.flight) > 0 && now.Sub(l.flight[0].at) > linkMaxAge
	switch m.Kind {
	case live.KindAudio:
		if l.flightBytes > linkAudioWindow {
			l.drop()
			return nil
		}
	case live.KindVideo:
		switch {
		case m.KeyFrame && l.flightBytes <= linkVideoWindow:
			l.waitKey = false
		case m.KeyFrame, l.waitKey:
			l.drop()
			return nil
		case l.flightBytes > linkVideoWindow || old:
			l.waitKey = true
			l.drop()
			return nil
		}
	}
	return md
}

// emit numbers media and sends them as one batch.
func (l *linkActor) emit(ctx actor.Context, media []*messages.StreamMedia) {
	if len(media) == 0 {
		return
	}
	now := l.clock.Now()
	for _, md := range media {
		l.seq++
		md.Seq = l.seq
		l.bytes += uint64(len(md.Data))
		l.stats.MediaBytesOut.Add(uint64(len(md.Data)))
		n := len(md.Data) + 16
		l.flight = append(l.flight, inFlight{seq: l.seq, bytes: n, at: now})
		l.flightBytes += n
	}
	l.stats.MediaOut.Add(uint64(len(media)))
	ctx.Send(l.edgePID, &messages.StreamMediaBatch{FromNode: l.self, ToNode: l.node, Subscription: l.sub, Media: media})
}

func (l *linkActor) onAck(seq uint64) {
	n := 0
	for n < len(l.flight) && l.flight[n].seq <= seq {
		l.flightBytes -= l.flight[n].bytes
		n++
	}
	if n > 0 {
		l.flight = append(l.flight[:0], l.flight[n:]...)
	}
}

func (l *linkActor) drop() {
	l.dropped++
	l.stats.MediaDropped.Add(1)
}
