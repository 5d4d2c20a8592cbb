package live

import "time"

// Policy is what one binding of a sink lets through, decided where the subscriber's queue
// is, so that a slow subscriber loses media and never slows the publisher or the others:
//
//   - configuration (sequence headers), metadata and statuses are always sent, reliably;
//   - audio is sent with a lifetime, and dropped only when its lane is far behind;
//   - video is sent with a lifetime; a key frame gives up all the older queued video when
//     the oldest has waited KeyFrameCatchUp (the subscriber is behind); when the video
//     lane falls far behind, video is dropped until the next key frame;
//   - a video frame the sink gives up (its lifetime passed in the queue) takes with it
//     the rest of its group still queued, and video is dropped until the next key frame
//     (GroupLost): a subscriber never gets frames whose key frame it lacks.
//
// A video lane is behind when its oldest message has waited long (VideoBehind), not when
// it holds many bytes: a late subscriber is replayed a whole group of pictures at once,
// half a megabyte at 2 Mbit/s, and a burst that leaves at the pace of the link is no
// backlog (judged by bytes, the end of that group was dropped). Audio ages out by its
// lifetime. The bytes a lane may hold are bounded too (AudioBacklog, VideoBacklog), for
// memory.
//
// A Lossless policy gives nothing up for its age: media is sent reliably, a key frame
// abandons no older video and a lane is judged behind only by its bytes. It is for
// deployments where every frame matters more than latency (a node whose players record,
// an archive fed over the network) and for tests whose subject is delivery: a player that
// falls behind receives everything late instead of losing media. The backlog bounds still
// hold, for memory: beyond them audio is dropped and video waits for the next key frame.
//
// The zero value lets nothing through: NewPolicy makes a binding's.
type Policy struct {
	Audio, Video bool // the subscriber wants audio, video (Gate)
	WaitKey      bool // video waits for the next key frame
	Lossless     bool // no lifetimes, no catch-up: see above
}

// Media lifetimes and backlog limits of a binding's lanes.
const (
	AudioLifetime = 1500 * time.Millisecond
	VideoLifetime = 4 * time.Second
	// VideoBehind: video skips to the next key frame once the lane's oldest video has
	// waited this long.
	VideoBehind = 2 * time.Second
	// AudioBacklog and VideoBacklog bound the bytes of a lane, whatever their age: beyond,
	// audio is dropped, video waits for the next key frame. VideoBacklog holds a group of pictures of 2 s at 12 Mbit/s and stays
	// below an RTMFP flow's send queue (4 MiB).
	AudioBacklog = 512 << 10
	VideoBacklog = 3 << 20
	// KeyFrameCatchUp is how long the oldest video of a lane must have waited for a key
	// frame to give up the lane's older video: a subscriber a moment behind (an
	// acknowledgement delayed by a scheduling hiccup, a short burst of loss) keeps the end
	// of its group of pictures; one that fell behind catches up at the key frame.
	KeyFrameCatchUp = time.Second
)

// NewPolicy returns the policy of a new binding.
func NewPolicy(b *Bind) Policy {
	return Policy{Audio: !b.AudioOff, Video: !b.VideoOff, WaitKey: b.WaitKeyFrame}
}

// Decision is what to do with one message on one binding.
type Decision struct {
	Send bool
	// Dropped says a message was not sent because of the subscriber's backlog or a key
	// frame it waits for (a gated lane is not a drop).
	Dropped bool
	// Lifetime, if non-zero, is how long the message may take to be delivered before the
	// sink gives it up; zero means reliable.
	Lifetime time.Duration
	// AbandonOlder, if positive, first gives up the lane's older messages that have a
	// lifetime — all of them, a whole stale group — if the oldest has waited at least
	// this long.
	AbandonOlder time.Duration
}

// Backlog tells how far behind one lane of a binding is, where its queue is.
type Backlog interface {
	// Queued is the bytes waiting in the lane.
	Queued(k Kind) int
	// Waited is how long the oldest message still waiting in the lane (not yet delivered,
	// not given up) has waited; 0 if none.
	Waited(k Kind) time.Duration
}

// Decide applies the policy to m; q is asked about the lane's backlog only when it
// matters.
func (p *Policy) Decide(m *Media, q Backlog) Decision {
	switch m.Kind {
	case KindControl:
		return Decision{Send: true}
	case KindAudio:
		switch {
		case !p.Audio:
			return Decision{}
		case m.Config:
			return Decision{Send: true}
		case q.Queued(KindAudio) > AudioBacklog:
			// Audio's staleness is its lifetime: what waited that long is given up.
			return Decision{Dropped: true}
		}
		return Decision{Send: true, Lifetime: p.lifetime(AudioLifetime)}
	case KindVideo:
		switch {
		case !p.Video:
			return Decision{}
		case m.Config:
			return Decision{Send: true}
		case m.KeyFrame:
			p.WaitKey = false
			if p.Lossless {
				return Decision{Send: true}
			}
			return Decision{Send: true, Lifetime: VideoLifetime, AbandonOlder: KeyFrameCatchUp}
		case p.WaitKey:
			return Decision{Dropped: true}
		case p.Lossless && q.Queued(KindVideo) > VideoBacklog,
			!p.Lossless && behind(q, KindVideo, VideoBehind, VideoBacklog):
			p.WaitKey = true // far behind: drop to the next key frame
			return Decision{Dropped: true}
		}
		return Decision{Send: true, Lifetime: p.lifetime(VideoLifetime)}
	}
	return Decision{}
}

// lifetime is the lifetime of media of a kind whose live lifetime is d: none if lossless.
func (p *Policy) lifetime(d time.Duration) time.Duration {
	if p.Lossless {
		return 0
	}
	return d
}

// behind reports whether lane k holds more than limit or has waited longer than wait (an
// empty lane has not: it is asked no more).
func behind(q Backlog, k Kind, wait time.Duration, limit int) bool {
	n := q.Queued(k)
	return n > limit || n > 0 && q.Waited(k) > wait
}

// GroupLost tells the policy that the sink gave up a video frame that the next ones refer
// to — a key frame whose lifetime passed while it waited in the queue, most often: the
// rest of its group is no use, and video waits for the next key frame.
func (p *Policy) GroupLost() { p.WaitKey = true }

// Gate applies a Gate message: video that was off resumes at a key frame.
func (p *Policy) Gate(audio, video bool) {
	if video && !p.Video {
		p.WaitKey = true
	}
	p.Audio, p.Video = audio, video
}
