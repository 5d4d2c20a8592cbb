package cluster

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/live"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/messages"
)

// edgeActor is this node's subscription to a stream published on another node: the
// publisher of the local publication (live.Publish with Edge), fed with what the origin's
// link sends. The local publication does the rest as for any publisher: caches for late
// players, fan-out, statuses.
type edgeActor struct {
	key          live.Key
	origin       string     // the origin's member ID
	originPID    *actor.PID // its cluster/streams actor
	self         string
	sub          uint64
	publications *actor.PID
	stats        *Stats
	log          *zap.Logger
	clock        clock.Clock

	publication *actor.PID // once published
	publishing  bool       // the local publication has us as its publisher
	asked       bool       // a Publish is on its way
	early       []*messages.StreamMedia
	received    uint64 // last sequence number received
	unacked     int
	ackedAt     time.Time
	waitKey     bool // video is dropped until a key frame (a gap)
	ended       bool // the origin ended the subscription: no unsubscribe
	dec         amf.Decoder
}

const (
	maxEarly  = 1024 // media kept while the local publish is on its way
	ackEvery  = 32   // messages between acknowledgements, at most
	ackPeriod = 250 * time.Millisecond
)

func (e *edgeActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		e.publish(ctx)
		ctx.Send(e.originPID, &messages.StreamSubscribe{FromNode: e.self, ToNode: e.origin, App: e.key.App, Name: e.key.Name, Subscription: e.sub})
		e.stats.EdgeSubscriptions.Add(1)
		e.log.Info("stream edge subscribed", zap.String("app", e.key.App), zap.String("name", e.key.Name), zap.String("origin", e.origin))
	case *live.Published:
		e.asked = false
		if !m.OK {
			// A publisher of this node has the name: the streams actor stops us when the
			// publication tells it.
			return
		}
		e.publication, e.publishing = m.Publication, true
		early := e.early
		e.early = nil
		for _, md := range early {
			e.ingest(ctx, md)
		}
	case *messages.StreamMediaBatch:
		e.onBatch(ctx, m)
	case *endEdge:
		e.ended = true
		ctx.Stop(ctx.Self())
	case *stopEdge:
		ctx.Stop(ctx.Self())
	case *actor.Stopping:
		e.unpublish(ctx)
		if !e.ended {
			ctx.Send(e.originPID, &messages.StreamUnsubscribe{FromNode: e.self, ToNode: e.origin, Subscription: e.sub})
		}
	}
}

func (e *edgeActor) publish(ctx actor.Context) {
	if e.asked || e.publishing {
		return
	}
	e.asked = true
	ctx.Send(e.publications, &live.Publish{Key: e.key, Stream: ctx.Self(), Edge: true})
}

func (e *edgeActor) unpublish(ctx actor.Context) {
	if e.publishing {
		ctx.Send(e.publication, &live.Unpublish{Stream: ctx.Self()})
		e.publishing = false
	}
}

func (e *edgeActor) onBatch(ctx actor.Context, b *messages.StreamMediaBatch) {
	for _, md := range b.Media {
		if md.Seq <= e.received {
			continue // a repeat
		}
		if md.Seq != e.received+1 {
			e.waitKey = true // lost in a reconnection of remote: video restarts at a key frame
		}
		e.received = md.Seq
		e.stats.MediaIn.Add(1)
		e.stats.MediaBytesIn.Add(uint64(len(md.Data)))
		switch md.Event {
		case messages.StreamEvent_STREAM_UNPUBLISHED:
			e.unpublish(ctx)
			e.early = nil
		case messages.StreamEvent_STREAM_PUBLISHED:
			e.publish(ctx)
		case messages.StreamEvent_STREAM_RESYNC:
			e.waitKey = true
		default:
			switch {
			case e.publishing:
				e.ingest(ctx, md)
			case e.asked && len(e.early) < maxEarly:
				e.early = append(e.early, md)
			}
		}
		if e.unacked++; e.unacked >= ackEvery {
			e.ack(ctx)
		}
	}
	if e.unacked > 0 && e.clock.Now().Sub(e.ackedAt) >= ackPeriod {
		e.ack(ctx) // a slow stream: the origin must not think us behind
	}
}

func (e *edgeActor) ack(ctx actor.Context) {
	e.unacked, e.ackedAt = 0, e.clock.Now()
	ctx.Send(e.originPID, &messages.StreamAck{FromNode: e.self, ToNode: e.origin, Subscription: e.sub, Seq: e.received})
}

// ingest hands the local publication one message of the origin's publisher.
func (e *edgeActor) ingest(ctx actor.Context, md *messages.StreamMedia) {
	msg, err := flash.ParseMessage(md.Data)
	if err != nil {
		e.stats.Invalid.Add(1)
		return
	}
	data := md.Data
	switch live.Kind(md.Kind) {
	case live.KindVideo:
		if msg.Type != flash.TypeVideo {
			e.stats.Invalid.Add(1)
			return
		}
		if e.waitKey && !md.Config {
			if !md.KeyFrame {
				e.stats.MediaDropped.Add(1)
				return
			}
			e.waitKey = false
		}
	case live.KindAudio:
		if msg.Type != flash.TypeAudio {
			e.stats.Invalid.Add(1)
			return
		}
	case live.KindControl:
		if msg.Type != flash.TypeDataAMF0 && msg.Type != flash.TypeDataAMF3 {
			e.stats.Invalid.Add(1)
			return
		}
		if md.Config {
			// The origin's metadata (onMetaData, which its publication made of the
			// publisher's @setDataFrame): given back as @setDataFrame, the local
			// publication keeps it for its own late players.
			d, err := flash.ParseData(msg, &e.dec)
			if err != nil {
				e.stats.Invalid.Add(1)
				return
			}
			if data, err = flash.AppendData(nil, flash.Data{Timestamp: d.Timestamp, AMF3: d.AMF3,
				Values: append([]any{"@setDataFrame"}, d.Values...)}); err != nil {
				e.stats.Invalid.Add(1)
				return
			}
			if msg, err = flash.ParseMessage(data); err != nil {
				e.stats.Invalid.Add(1)
				return
			}
		}
	default:
		e.stats.Invalid.Add(1)
		return
	}
	ctx.Send(e.publication, &live.Ingest{Stream: ctx.Self(), Msg: msg, Data: data})
}
