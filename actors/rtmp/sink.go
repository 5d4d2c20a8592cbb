package rtmp

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/live"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
)

// A connection is a sink of live streams (package live), as an RTMFP session is: a
// publication (or a recording's player) binds a channel to one of the connection's
// message streams, then sends each message once to every sink, and the connection applies
// each binding's live.Policy here, where its queue is. Its backlog is what the binding has
// in the connection's queue: the socket's send buffer is kept small (sendBuffer) so that
// a player that falls behind shows in the queue rather than in the kernel.

// binding is one binding of a channel to a message stream of the connection.
type binding struct {
	ch, id uint64
	msid   uint32
	policy live.Policy
	queued [3]int // bytes queued, by kind (under the queue's lock)
	q      *queue
	next   *binding
}

// Queued implements live.Backlog.
func (b *binding) Queued(k live.Kind) int { return b.q.backlog(b, k) }

// Waited implements live.Backlog: how long the binding's oldest queued media of kind k
// has waited.
func (b *binding) Waited(k live.Kind) time.Duration {
	if oldest := b.q.oldest(b, k); oldest != 1<<63-1 {
		return time.Duration(b.q.now() - oldest)
	}
	return 0
}

func (c *conn) binding(ch, id uint64) *binding {
	for b := c.bindings; b != nil; b = b.next {
		if b.ch == ch && b.id == id {
			return b
		}
	}
	return nil
}

func (c *conn) onBind(ctx actor.Context, m *live.Bind) {
	lanes, ok := m.Lanes.(*session.Lanes)
	var msid uint32
	if ok {
		msid, ok = c.streamOf(lanes.Flows[0])
	}
	if !ok {
		c.cfg.Stats.BadBindings.Add(1)
		return
	}
	b := &binding{ch: m.Channel, id: m.Binding, msid: msid, policy: live.NewPolicy(m), q: c.out}
	b.policy.Lossless = c.cfg.LosslessMedia
	if old := c.binding(m.Channel, m.Binding); old != nil {
		// A repeated play: the new binding replaces the old in place; what the old one
		// queued is still written, and counted against it.
		old.msid, old.policy = b.msid, b.policy
	} else {
		at := &c.bindings
		for *at != nil {
			at = &(*at).next
		}
		*at = b
	}
	if lanes.First != nil {
		c.onWrite(lanes.First)
	}
}

// onUnbind forgets a binding; what it queued is still written (as a session's closed
// flows still deliver theirs).
func (c *conn) onUnbind(m *live.Unbind) {
	for at := &c.bindings; *at != nil; at = &(*at).next {
		if b := *at; b.ch == m.Channel && b.id == m.Binding {
			*at = b.next
			return
		}
	}
}

func (c *conn) onGate(m *live.Gate) {
	if b := c.binding(m.Channel, m.Binding); b != nil {
		b.policy.Gate(m.Audio, m.Video)
	}
}

func (c *conn) onResync(m *live.Resync) {
	for b := c.bindings; b != nil; b = b.next {
		if b.ch == m.Channel {
			b.policy.WaitKey = true
		}
	}
}

// onMedia queues a channel message on every binding it is for.
func (c *conn) onMedia(m *live.Media) {
	for b := c.bindings; b != nil; b = b.next {
		if b.ch == m.Channel && (!m.Targeted || b.id == m.ToBinding) {
			c.bindingWrite(b, m)
		}
	}
}

func (c *conn) onBatch(m *live.Batch) {
	for _, msg := range m.Msgs {
		c.onMedia(msg)
	}
}

// csids are the chunk streams of a message stream's lanes (by live.Kind): statuses and
// data, audio, video, as Flash Media Server and nginx-rtmp use them.
var csids = [...]byte{live.KindControl: csidStream, live.KindAudio: csidAudio, live.KindVideo: csidVideo}

func (c *conn) bindingWrite(b *binding, m *live.Media) {
	if int(m.Kind) >= len(csids) || len(m.Data) < 5 {
		return
	}
	d := b.policy.Decide(m, b)
	if !d.Send {
		if d.Dropped {
			c.cfg.Stats.MediaDropped.Add(1)
		}
		return
	}
	now := c.cfg.Clock.Now().UnixNano()
	if d.AbandonOlder > 0 && c.out.oldest(b, live.KindVideo) <= now-d.AbandonOlder.Nanoseconds() {
		// A key frame to a player whose queued video has waited that long: the rest of the
		// stale group goes, all of it (what is left of a group is no use without its start).
		n := c.out.drop(func(it *item) bool { return it.b == b && it.kind == live.KindVideo })
		c.cfg.Stats.MediaDropped.Add(uint64(n))
	}
	it := item{data: m.Data, msid: b.msid, csid: csids[m.Kind], kind: m.Kind, key: m.KeyFrame, born: now}
	if d.Lifetime > 0 {
		it.media, it.b, it.deadline = true, b, now+d.Lifetime.Nanoseconds()
	} else if m.Kind != live.KindControl {
		it.b = b // configuration counts in the backlog, never given up
	}
	c.queue(it)
}
