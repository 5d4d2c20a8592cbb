package session

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Channels let one sender (a publication) feed many sessions with the same immutable
// message: the sender sends one *ChannelMessage to every subscribed session, and each
// session maps it to its own send flows for that channel (BindChannel) and applies the
// subscriber's media policy there — where its queue is:
//
//   - codec configuration (sequence headers) and data messages are sent reliably;
//   - audio is sent with a lifetime, and dropped only when the audio flow is far behind;
//   - video is sent with a lifetime; a key frame abandons the older queued video when the
//     subscriber is behind (its oldest waiting frame waited keyFrameCatchUp); when the
//     video flow falls far behind, video is dropped until the next key frame.
//
// A slow subscriber thus loses video back to the next key frame and never slows the
// sender or the other subscribers: nothing here blocks or replies.

// MediaKind says which flow of a channel a message goes to.
type MediaKind uint8

const (
	KindControl MediaKind = iota // status and data messages
	KindAudio
	KindVideo
)

// BindChannel binds a channel to three send flows of the session. A session may bind one
// channel several times (a client playing a stream twice), told apart by Binding.
type BindChannel struct {
	Channel uint64
	Binding uint64
	Control FlowKey
	Audio   FlowKey
	Video   FlowKey
	// WaitKeyFrame drops video until the first key frame (a new subscriber that is not
	// replayed a group of pictures).
	WaitKeyFrame bool
}

// UnbindChannel forgets one binding of a channel; its flows are closed.
type UnbindChannel struct{ Channel, Binding uint64 }

// GateChannel turns a binding's audio or video off or on (receiveAudio, receiveVideo,
// pause). Video resumes at the next key frame.
type GateChannel struct {
	Channel, Binding uint64
	Audio, Video     bool
}

// ResyncChannel makes video of every binding of a channel wait for the next key frame
// (the sender lost its state).
type ResyncChannel struct{ Channel uint64 }

// ChannelMessage is one message for every session bound to Channel. It is shared between
// sessions and must not be modified after it is sent. A sender sends it once to each
// session, whatever the number of bindings there: the session writes it to every binding
// of the channel — or, when Targeted, to binding ToBinding only (what a sender replays to
// one new subscriber).
type ChannelMessage struct {
	Channel uint64
	Kind    MediaKind
	Data    []byte // the whole Flash message (type, timestamp, body)
	// KeyFrame marks video that starts a group of pictures.
	KeyFrame bool
	// Config marks messages never to drop: codec configuration, metadata.
	Config bool
	// Targeted limits the message to the binding ToBinding.
	Targeted  bool
	ToBinding uint64
}

// ChannelBatch is several channel messages at once (what a sender had queued in one
// burst, e.g. the audio and video frames of one instant): the session queues them all,
// then sends, so they share packets and cost one wake-up.
type ChannelBatch struct {
	Msgs []*ChannelMessage
}

// Media lifetimes and backlog limits of channel flows.
const (
	channelAudioLifetime = 1500 * time.Millisecond
	channelVideoLifetime = 4 * time.Second
	audioBacklog         = 512 << 10 // queued audio bytes beyond which audio is dropped
	videoBacklog         = 384 << 10 // queued video bytes beyond which video skips to the next key frame
	// keyFrameCatchUp is how long the oldest video of a flow must have waited for a key
	// frame to give up the older video: a subscriber a moment behind (an acknowledgement
	// delayed by a scheduling hiccup, a short burst of loss) keeps the end of its group of
	// pictures; one that fell behind catches up at the key frame.
	keyFrameCatchUp = time.Second
)

// channel is one binding of a channel in a session. A session's bindings form a list
// (Session.channels, then next): a player binds one channel, rarely more, and the list
// is read for every channel message, where a map's lookup was a few cache misses per
// session and message in a large fan-out.
type channel struct {
	ch, binding  uint64
	next         *channel
	keys         [3]FlowKey
	audio, video bool
	waitKey      bool
}

func (s *Session) binding(ch, b uint64) *channel {
	for c := s.channels; c != nil; c = c.next {
		if c.ch == ch && c.binding == b {
			return c
		}
	}
	return nil
}

func (s *Session) onBindChannel(m *BindChannel) {
	c := &channel{ch: m.Channel, binding: m.Binding, keys: [3]FlowKey{m.Control, m.Audio, m.Video}, audio: true, video: true, waitKey: m.WaitKeyFrame}
	if old := s.binding(m.Channel, m.Binding); old != nil {
		c.next = old.next
		*old = *c
		return
	}
	at := &s.channels
	for *at != nil {
		at = &(*at).next
	}
	*at = c
}

func (s *Session) onUnbindChannel(ctx actor.Context, m *UnbindChannel) {
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

func (s *Session) onGateChannel(m *GateChannel) {
	if c := s.binding(m.Channel, m.Binding); c != nil {
		if m.Video && !c.video {
			c.waitKey = true
		}
		c.audio, c.video = m.Audio, m.Video
	}
}

// onChannelMessage applies each binding's media policy, queues the message and sends.
func (s *Session) onChannelMessage(ctx actor.Context, m *ChannelMessage) {
	if s.queueChannel(ctx, m) {
		s.flush(ctx)
	}
}

// onChannelBatch queues a burst of channel messages, then sends once.
func (s *Session) onChannelBatch(ctx actor.Context, b *ChannelBatch) {
	queued := false
	for _, m := range b.Msgs {
		queued = s.queueChannel(ctx, m) || queued
	}
	if queued {
		s.flush(ctx)
	}
}

// queueChannel queues a channel message on every binding it is for; it reports whether
// anything was queued.
func (s *Session) queueChannel(ctx actor.Context, m *ChannelMessage) bool {
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

func (s *Session) channelWrite(ctx actor.Context, c *channel, m *ChannelMessage) bool {
	if int(m.Kind) >= len(c.keys) {
		return false
	}
	w := Write{Key: c.keys[m.Kind], Data: m.Data}
	switch m.Kind {
	case KindControl:
		w.Priority = PriorityControl
	case KindAudio:
		if !c.audio {
			return false
		}
		w.Priority = PriorityAudio
		if !m.Config {
			if s.queuedOn(w.Key) > audioBacklog {
				s.p.Stats.MediaDropped.Add(1)
				return false
			}
			w.Lifetime = channelAudioLifetime
		}
	case KindVideo:
		if !c.video {
			return false
		}
		w.Priority = PriorityVideo
		switch {
		case m.Config:
		case m.KeyFrame:
			c.waitKey = false
			w.AbandonWaiting = keyFrameCatchUp
			w.Lifetime = channelVideoLifetime
		case c.waitKey:
			s.p.Stats.MediaDropped.Add(1)
			return false
		case s.queuedOn(w.Key) > videoBacklog:
			// Far behind: drop to the next key frame.
			c.waitKey = true
			s.p.Stats.MediaDropped.Add(1)
			return false
		default:
			w.Lifetime = channelVideoLifetime
		}
	default:
		return false
	}
	return s.queue(ctx, &w)
}

// queuedOn is the data queued on the send flow of key.
func (s *Session) queuedOn(k FlowKey) int {
	if f := s.sendByKey.get(k); f != nil {
		return f.queued
	}
	return 0
}
