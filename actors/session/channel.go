package session

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/live"
)

// A session is a sink of live streams (package live): a publication binds its channel to
// send flows of the session, then sends each message once to every subscribed session,
// and the session applies each binding's live.Policy here, where the queue is.

// Lanes is what an RTMFP subscriber hands a publication for its session's bindings
// (live.Play.Lanes): the send flows of its NetStream by live.Kind, and a message the
// session writes when it binds, before anything of the channel (Stream Begin on the
// NetConnection flow).
type Lanes struct {
	Flows [3]FlowKey
	First *Write
}

// Lifetimes and backlogs of the channel flows are the live package's (live.Policy).

// channel is one binding of a channel in a session. A session's bindings form a list
// (Session.channels, then next): a player binds one channel, rarely more, and the list
// is read for every channel message, where a map's lookup was a few cache misses per
// session and message in a large fan-out.
type channel struct {
	ch, binding uint64
	next        *channel
	s           *Session
	keys        [3]FlowKey
	policy      live.Policy
}

// Queued implements live.Backlog: the bytes queued on the lane's send flow.
func (c *channel) Queued(k live.Kind) int { return c.s.queuedOn(c.keys[k]) }

// Waited implements live.Backlog: how long the oldest message of the lane's send flow
// that is neither acknowledged nor given up has waited.
func (c *channel) Waited(k live.Kind) time.Duration { return c.s.waitedOn(c.keys[k]) }

func (s *Session) binding(ch, b uint64) *channel {
	for c := s.channels; c != nil; c = c.next {
		if c.ch == ch && c.binding == b {
			return c
		}
	}
	return nil
}

func (s *Session) onBind(ctx actor.Context, m *live.Bind) {
	lanes, ok := m.Lanes.(*Lanes)
	if !ok {
		s.p.Stats.BadBindings.Add(1)
		return
	}
	c := &channel{ch: m.Channel, binding: m.Binding, s: s, keys: lanes.Flows, policy: live.NewPolicy(m)}
	c.policy.Lossless = s.p.Config.LosslessMedia
	if old := s.binding(m.Channel, m.Binding); old != nil {
		c.next = old.next
		*old = *c
	} else {
		at := &s.channels
		for *at != nil {
			at = &(*at).next
		}
		*at = c
	}
	if lanes.First != nil {
		s.onWrite(ctx, lanes.First)
	}
}

func (s *Session) onUnbind(ctx actor.Context, m *live.Unbind) {
	for at := &s.channels; *at != nil; at = &(*at).next {
		c := *at
		if c.ch != m.Channel || c.binding != m.Binding {
			continue
		}
		*at = c.next
		for _, k := range c.keys {
			if f := s.sendByKey.get(k); f != nil {
				f.close()
				s.sendByKey.del(k)
			}
		}
		s.flush(ctx)
		return
	}
}

func (s *Session) onGate(m *live.Gate) {
	if c := s.binding(m.Channel, m.Binding); c != nil {
		c.policy.Gate(m.Audio, m.Video)
	}
}

func (s *Session) onResync(m *live.Resync) {
	for c := s.channels; c != nil; c = c.next {
		if c.ch == m.Channel {
			c.policy.WaitKey = true
		}
	}
}

// onMedia applies each binding's policy, queues the message and sends.
func (s *Session) onMedia(ctx actor.Context, m *live.Media) {
	if s.queueMedia(ctx, m) {
		s.flush(ctx)
	}
}

// onBatch queues a burst of channel messages, then sends once.
func (s *Session) onBatch(ctx actor.Context, b *live.Batch) {
	queued := false
	for _, m := range b.Msgs {
		queued = s.queueMedia(ctx, m) || queued
	}
	if queued {
		s.flush(ctx)
	}
}

// queueMedia queues a channel message on every binding it is for; it reports whether
// anything was queued.
func (s *Session) queueMedia(ctx actor.Context, m *live.Media) bool {
	if s.st != stOpen {
		return false
	}
	queued := false
	for c := s.channels; c != nil; c = c.next {
		if c.ch == m.Channel && (!m.Targeted || c.binding == m.ToBinding) {
			queued = s.channelWrite(ctx, c, m) || queued
		}
	}
	return queued
}

// lanePriority is the send-flow priority of each kind of channel message.
var lanePriority = [...]Priority{live.KindControl: PriorityControl, live.KindAudio: PriorityAudio, live.KindVideo: PriorityVideo}

func (s *Session) channelWrite(ctx actor.Context, c *channel, m *live.Media) bool {
	if int(m.Kind) >= len(c.keys) {
		return false
	}
	d := c.policy.Decide(m, c)
	if !d.Send {
		if d.Dropped {
			s.p.Stats.MediaDropped.Add(1)
		}
		return false
	}
	w := Write{Key: c.keys[m.Kind], Data: m.Data, Priority: lanePriority[m.Kind], Lifetime: d.Lifetime}
	if m.Kind == live.KindVideo && d.Lifetime > 0 {
		// A frame of a group of pictures: given up, it takes the rest of its group.
		w.Frame = FrameInter
		if m.KeyFrame {
			w.Frame = FrameKey
		}
	}
	f := s.sendByKey.get(w.Key)
	if f != nil {
		switch now := int64(s.now()); {
		case w.Frame == FrameInter && f.groupLost(now):
			// The flow gave up a frame of this one's group (its key frame expired behind
			// a collapsed window, say): the policy learns it and drops video to the next
			// key frame, this frame first.
			c.policy.GroupLost()
			s.p.Stats.MediaDropped.Add(1)
			return false
		case d.AbandonOlder > 0:
			// Given up by the policy: counted with its drops.
			s.p.Stats.MediaDropped.Add(uint64(f.abandonWaiting(now, int64(d.AbandonOlder))))
		}
	}
	return s.queueOn(ctx, f, &w)
}

// waitedOn is how long the oldest message of the send flow of key that is neither
// acknowledged nor given up has waited.
func (s *Session) waitedOn(k FlowKey) time.Duration {
	f := s.sendByKey.get(k)
	if f == nil {
		return 0
	}
	now := int64(s.now())
	for _, fr := range f.queue[f.firstLive():] { // the ones before are acknowledged or given up
		if !fr.acked && !fr.msg.expired(now) {
			return time.Duration(now - fr.msg.born)
		}
	}
	return 0
}

// queuedOn is the data queued on the send flow of key.
func (s *Session) queuedOn(k FlowKey) int {
	if f := s.sendByKey.get(k); f != nil {
		return f.queued
	}
	return 0
}
