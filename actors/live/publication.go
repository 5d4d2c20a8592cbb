package live

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/apphost"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/registry"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// Config configures the publications of a node.
type Config struct {
	Clock clock.Clock // nil: the real one
	Log   *zap.Logger
	Stats *Stats
	// Index, if set, is kept up to date with the publications (operators' view).
	Index *Index
	// Options are added to every publication's props (dispatcher, mailbox, middleware).
	Options []actor.PropsOption
	// Observer, if set, is sent a *State whenever a publication's publisher comes or
	// goes, or its players (Play without Edge) go from none to some or back.
	Observer *actor.PID
}

// Props returns the props of the registry of publications: Publish and Play go there.
// A publication that panics is restarted with its members (they live outside the actor's
// instance); its caches are rebuilt from the next key frame.
func Props(cfg Config) *actor.Props {
	cfg.Clock = clock.Or(cfg.Clock)
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	return registry.Props(registry.Config[Key]{
		Kind: "publication", Restarts: 5, Stats: &cfg.Stats.Registry, Log: cfg.Log,
		Name: func(k Key) string { return "publications/" + k.App + "/" + k.Name },
		Key: func(m any) (Key, bool) {
			switch m := m.(type) {
			case *Publish:
				return m.Key, true
			case *Play:
				return m.Key, true
			}
			return Key{}, false
		},
		Props: func(key Key, id uint64) *actor.Props {
			members := &members{subs: map[subKey]*subscriber{}, info: newPublicationInfo(key, id)}
			cfg.Index.add(members.info)
			opts := append([]actor.PropsOption{actor.WithReceiverMiddleware(supervision.Middleware)}, cfg.Options...)
			return actor.PropsFromProducer(func() actor.Actor {
				return &publication{cfg: &cfg, key: key, id: id, members: members}
			}, opts...)
		},
	})
}

// members are who publishes and who plays; they outlive a restart of the actor.
type members struct {
	registry.Member
	publisher *publisher
	subs      map[subKey]*subscriber
	players   int // subscribers that are not edges (State.Players)
	// sinks are the subscribers' sinks, each with its number of subscribers: a sink gets
	// each message once and writes it to all its bindings (a client may play a stream on
	// several NetStreams).
	sinks []*sinkRef

	// What the publisher said once and will not repeat — the last metadata and the codec
	// configuration: kept across a restart (a subscriber joining after one still gets
	// them). Cleared by a new publisher.
	metadata    []byte // onMetaData data message
	audioConfig []byte
	videoConfig []byte
	// recentAudio is the audio not older than the newest video, for the next group of
	// pictures (startGOP). It is kept across a restart too: audio runs ahead of video (its
	// own flow, its priority), and what arrived before a crash may be the start of the
	// group the next key frame opens — without it, a subscriber joining after the restart
	// had a hole at the start of its audio (issue 26: its audio began 400 ms after its first
	// video frame). It holds bytes the publication only forwards.
	recentAudio audioRing

	info *PublicationInfo // its entry in Config.Index
}

type publisher struct {
	stream *actor.PID
	client app.Client
	app    *actor.PID // the application's actor if it wants the media
	edge   bool       // Publish.Edge
}

type subKey struct {
	stream  string // PID.Id of the subscriber's stream actor
	binding uint64
}

type subscriber struct {
	stream  *actor.PID
	sink    *sinkRef
	binding uint64
	edge    bool
}

type sinkRef struct {
	pid  *actor.PID
	subs int
}

// Caps of a publication's catch-up cache (the current group of pictures).
const (
	maxGOPBytes = 4 << 20
	maxGOPCount = 2000
	retireAfter = 5 * time.Second
	// Audio remembered for the start of the next group of pictures (see startGOP): at most
	// this many messages and bytes (a few seconds of any codec's frames).
	recentAudioCount = 256
	recentAudioBytes = 256 << 10
)

// publication is the actor of one live stream.
type publication struct {
	cfg     *Config
	key     Key
	id      uint64 // also the channel of its messages in the sinks
	members *members
	self    *actor.PID

	// Caches, rebuilt after a restart.
	gop        [][]byte // messages since the last key frame, in order
	gopBytes   int
	gopValid   bool
	dec        amf.Decoder
	pending    []*Media // media to fan out (see fanOutNow)
	fanPending bool

	idleSince time.Time
	idleTimer clock.Timer // armed while idle
}

// fanOut makes the publication send the media it batched.
type fanOut struct{}

// idleCheck is sent by the idle timer.
type idleCheck struct{}

func (p *publication) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *Ingest, *fanOut:
	default:
		// Whatever changes membership or reaches the subscribers otherwise comes after the
		// media received before it.
		p.fanOutNow(ctx)
	}
	switch m := ctx.Message().(type) {
	case *fanOut:
		p.fanOutNow(ctx)
	case *Ingest:
		if pub := p.members.publisher; pub != nil && pub.stream.Equal(m.Stream) {
			p.onMedia(ctx, m)
		}
	case *actor.Started:
		p.onStarted(ctx)
	case *Publish:
		p.members.Served()
		p.onPublish(ctx, m)
	case *Unpublish:
		p.onUnpublish(ctx, m.Stream)
	case *Play:
		p.members.Served()
		p.onPlay(ctx, m)
	case *Stop:
		p.removeSubscriber(ctx, subKey{m.Stream.Id, m.Binding})
	case *actor.Terminated:
		p.onTerminated(ctx, m.Who)
	case *idleCheck:
		p.onIdleCheck(ctx)
	case *actor.Stopping, *actor.Restarting:
		if p.idleTimer != nil {
			p.idleTimer.Stop()
		}
	case *actor.Stopped:
		p.cfg.Index.remove(p.id) // retired (a restart does not stop it)
	}
}

func (p *publication) onStarted(ctx actor.Context) {
	p.self = ctx.Self()
	// After a restart the caches are gone: every subscriber waits for a key frame.
	for _, s := range p.members.sinks {
		ctx.Send(s.pid, &Resync{Channel: p.id})
	}
	for _, s := range p.members.subs {
		ctx.Watch(s.stream)
	}
	if pub := p.members.publisher; pub != nil {
		ctx.Watch(pub.stream)
	}
	p.checkIdle(ctx)
}

func (p *publication) onPublish(ctx actor.Context, m *Publish) {
	if pub := p.members.publisher; pub != nil && pub.edge && !m.Edge {
		// A publisher of this node takes the place of the stream from another node: the
		// stream moved here (its publisher reconnected to this node).
		p.onUnpublish(ctx, pub.stream)
	}
	if pub := p.members.publisher; pub != nil {
		// A repeated publish of the publisher is answered again.
		ctx.Send(m.Stream, &Published{Publication: p.self, OK: pub.stream.Equal(m.Stream)})
		return
	}
	p.members.publisher = &publisher{stream: m.Stream, client: m.Client, app: m.App, edge: m.Edge}
	p.members.info.setPublisher(m.Client, p.cfg.Clock.Now())
	ctx.Watch(m.Stream)
	p.clearCache()
	ctx.Send(m.Stream, &Published{Publication: p.self, OK: true})
	p.broadcastStatus(ctx, flash.PlayPublishNotify(p.key.Name))
	p.checkIdle(ctx)
	p.observe(ctx)
}

func (p *publication) onUnpublish(ctx actor.Context, stream *actor.PID) {
	pub := p.members.publisher
	if pub == nil || !pub.stream.Equal(stream) {
		return
	}
	p.members.publisher = nil
	ctx.Unwatch(stream)
	p.members.info.setPublisher(nil, time.Time{})
	p.clearCache()
	p.broadcastStatus(ctx, flash.PlayUnpublishNotify(p.key.Name))
	p.checkIdle(ctx)
	p.observe(ctx)
}

// observe tells the observer how the publication stands.
func (p *publication) observe(ctx actor.Context) {
	if p.cfg.Observer == nil {
		return
	}
	st := &State{Key: p.key, Publication: p.self, Players: p.members.players}
	if pub := p.members.publisher; pub != nil {
		st.Publisher, st.Edge = pub.stream, pub.edge
	}
	ctx.Send(p.cfg.Observer, st)
}

func (p *publication) onTerminated(ctx actor.Context, who *actor.PID) {
	if pub := p.members.publisher; pub != nil && pub.stream.Equal(who) {
		// Terminated overtakes the messages the publisher sent before it ended (it is a
		// system message): it leaves after them — its last media reach the subscribers.
		ctx.Send(p.self, &Unpublish{Stream: who})
		return
	}
	for k, s := range p.members.subs {
		if s.stream.Equal(who) {
			p.removeSubscriber(ctx, k)
		}
	}
}

func (p *publication) clearCache() {
	p.members.metadata, p.members.audioConfig, p.members.videoConfig = nil, nil, nil
	clear(p.gop)
	p.gop, p.gopBytes, p.gopValid = p.gop[:0], 0, false
	p.members.recentAudio.reset()
}

// broadcastStatus sends the same onStatus to every subscriber.
func (p *publication) broadcastStatus(ctx actor.Context, s flash.Status) {
	b, _ := flash.AppendOnStatus(nil, s)
	m := &Media{Channel: p.id, Kind: KindControl, Data: b, Config: true}
	for _, s := range p.members.sinks {
		ctx.Send(s.pid, m)
	}
}

// onPlay binds the subscriber's sink to the channel, then sends it the play statuses and,
// if the stream is live, the metadata, the codec configuration and the current group of
// pictures — all from this actor, so they arrive in order before the live media.
func (p *publication) onPlay(ctx actor.Context, m *Play) {
	if m.IfPublished && p.members.publisher == nil {
		ctx.Send(m.Stream, &Playing{Publication: p.self, Channel: p.id})
		p.checkIdle(ctx)
		return
	}
	k := subKey{m.Stream.Id, m.Binding}
	sub := p.members.subs[k]
	if sub == nil { // not a repeated Play (a retry after a timeout)
		sub = &subscriber{stream: m.Stream, binding: m.Binding, sink: p.sinkRef(m.Sink), edge: m.Edge}
		sub.sink.subs++
		p.members.subs[k] = sub
		p.members.info.setPlayer(k, m.Client, true)
		ctx.Watch(m.Stream)
		if !m.Edge {
			if p.members.players++; p.members.players == 1 {
				p.observe(ctx)
			}
		}
	}
	replay := p.members.publisher != nil && p.gopValid
	ctx.Send(m.Sink, &Bind{Channel: p.id, Binding: m.Binding, Lanes: m.Lanes, WaitKeyFrame: !replay, AudioOff: m.AudioOff, VideoOff: m.VideoOff})
	// What is replayed goes to this subscriber's binding only (its sink may have others).
	one := func(kind Kind, data []byte, config, key bool) {
		ctx.Send(m.Sink, &Media{Channel: p.id, Kind: kind, Data: data, Config: config, KeyFrame: key, Targeted: true, ToBinding: m.Binding})
	}
	// Play.Reset and Play.Start, then |RtmpSampleAccess (Mona, zenomt).
	reset, _ := flash.AppendOnStatus(nil, flash.PlayReset(p.key.Name))
	start, _ := flash.AppendOnStatus(nil, flash.PlayStart(p.key.Name))
	access, _ := flash.AppendData(nil, flash.Data{Values: []any{"|RtmpSampleAccess", true, true}})
	one(KindControl, reset, true, false)
	one(KindControl, start, true, false)
	one(KindControl, access, true, false)
	ctx.Send(m.Stream, &Playing{Publication: p.self, Channel: p.id, Published: p.members.publisher != nil})
	p.checkIdle(ctx)
	if p.members.publisher == nil {
		return
	}
	if p.members.metadata != nil {
		one(KindControl, p.members.metadata, true, false)
	}
	if p.members.audioConfig != nil {
		one(KindAudio, p.members.audioConfig, true, false)
	}
	if p.members.videoConfig != nil {
		one(KindVideo, p.members.videoConfig, true, false)
	}
	if replay {
		for i, data := range p.gop {
			msg, _ := flash.ParseMessage(data)
			kind := KindAudio
			if msg.Type == flash.TypeVideo {
				kind = KindVideo
			}
			one(kind, data, false, i == 0)
		}
	}
}

// sinkRef returns the reference of sink, making it if it is a new one.
func (p *publication) sinkRef(sink *actor.PID) *sinkRef {
	for _, s := range p.members.sinks {
		if s.pid.Equal(sink) {
			return s
		}
	}
	s := &sinkRef{pid: sink}
	p.members.sinks = append(p.members.sinks, s)
	return s
}

func (p *publication) removeSubscriber(ctx actor.Context, k subKey) {
	sub := p.members.subs[k]
	if sub == nil {
		return
	}
	delete(p.members.subs, k)
	p.members.info.setPlayer(k, nil, false)
	if !sub.edge {
		if p.members.players--; p.members.players == 0 {
			p.observe(ctx)
		}
	}
	if sub.sink.subs--; sub.sink.subs <= 0 {
		for i, s := range p.members.sinks {
			if s == sub.sink {
				last := len(p.members.sinks) - 1
				p.members.sinks[i], p.members.sinks[last] = p.members.sinks[last], nil
				p.members.sinks = p.members.sinks[:last]
				break
			}
		}
	}
	if !p.watching(sub.stream) {
		ctx.Unwatch(sub.stream)
	}
	ctx.Send(sub.sink.pid, &Unbind{Channel: p.id, Binding: sub.binding})
	p.checkIdle(ctx)
}

// watching reports whether stream is still the publisher or a subscriber (a stream actor
// may play on several bindings).
func (p *publication) watching(stream *actor.PID) bool {
	if pub := p.members.publisher; pub != nil && pub.stream.Equal(stream) {
		return true
	}
	for _, s := range p.members.subs {
		if s.stream.Equal(stream) {
			return true
		}
	}
	return false
}

// onMedia caches what late subscribers need and fans the message out.
func (p *publication) onMedia(ctx actor.Context, m *Ingest) {
	p.cfg.Stats.Media.Add(1)
	p.members.info.media(len(m.Data), p.cfg.Clock.Now())
	out := &Media{Channel: p.id, Data: m.Data}
	body := m.Msg.Body
	switch m.Msg.Type {
	case flash.TypeAudio:
		out.Kind = KindAudio
		if flash.IsAudioSequenceHeader(body) {
			p.members.audioConfig, out.Config = m.Data, true
			break
		}
		p.members.recentAudio.push(m.Data, m.Msg.Timestamp)
		if p.gopValid {
			p.cache(m.Data)
		}
	case flash.TypeVideo:
		out.Kind = KindVideo
		if !flash.IsVideoSequenceHeader(body) {
			// A later key frame is not older than this frame: older audio cannot start it.
			p.members.recentAudio.dropBefore(m.Msg.Timestamp)
		}
		switch {
		case flash.IsVideoSequenceHeader(body):
			p.members.videoConfig, out.Config = m.Data, true
		case flash.IsKeyFrame(body):
			out.KeyFrame = true
			p.startGOP(m.Data, m.Msg.Timestamp)
		case p.gopValid:
			p.cache(m.Data)
		}
	case flash.TypeDataAMF0, flash.TypeDataAMF3:
		out.Kind = KindControl
		data, keep := p.onData(m)
		if data == nil {
			return
		}
		out.Data, out.Config = data, keep
	default:
		return
	}
	// Batched: the media already waiting in the mailbox (the audio and video frames of
	// one instant, as publishers send them together) leave as one message per sink.
	p.pending = append(p.pending, out)
	if !p.fanPending {
		p.fanPending = true
		ctx.Send(p.self, &fanOut{})
	}
	if p.members.publisher.app != nil {
		p.toApplication(ctx, m)
	}
}

// startGOP starts a new group of pictures at a key frame. The audio that reached us before
// the key frame but is not older than it belongs to the new group: a publisher sends the
// audio of a period before its video (Flash, and the audio lane has priority), its video
// may lag its audio by as long as its flows are apart (they are separate flows: seconds on
// a loaded path), and a late subscriber replayed the group must not start with a hole in
// its audio. What the ring holds is exactly the audio not older than the last video, so all
// of it that is not older than the key frame is carried.
func (p *publication) startGOP(key []byte, ts uint32) {
	clear(p.gop)
	p.gop, p.gopBytes, p.gopValid = p.gop[:0], 0, true
	p.cache(key)
	p.members.recentAudio.each(func(a []byte, ats uint32) {
		if int32(ats-ts) >= 0 {
			p.cache(a)
		}
	})
}

// audioRing keeps the audio messages received since the newest video frame's time, oldest
// first, within recentAudioCount and recentAudioBytes (beyond them the oldest go). It grows
// as it fills: a publication of a stream whose video keeps up with its audio holds a few.
type audioRing struct {
	buf     []timedAudio
	head, n int
	bytes   int
}

type timedAudio struct {
	data []byte
	ts   uint32
}

func (r *audioRing) push(data []byte, ts uint32) {
	for r.n > 0 && (r.n == recentAudioCount || r.bytes+len(data) > recentAudioBytes) {
		r.pop()
	}
	if len(data) > recentAudioBytes {
		return
	}
	if r.n == len(r.buf) {
		grown := make([]timedAudio, min(max(2*len(r.buf), 8), recentAudioCount))
		for i := range r.n {
			grown[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = grown, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = timedAudio{data, ts}
	r.n++
	r.bytes += len(data)
}

func (r *audioRing) pop() {
	r.bytes -= len(r.buf[r.head].data)
	r.buf[r.head] = timedAudio{}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
}

// dropBefore gives up the audio older than ts (in RTMP's wrapping time).
func (r *audioRing) dropBefore(ts uint32) {
	for r.n > 0 && int32(r.buf[r.head].ts-ts) < 0 {
		r.pop()
	}
}

func (r *audioRing) each(f func(data []byte, ts uint32)) {
	for i := range r.n {
		a := r.buf[(r.head+i)%len(r.buf)]
		f(a.data, a.ts)
	}
}

func (r *audioRing) reset() { *r = audioRing{} }

// fanOutNow sends the batched media to every sink: one message per sink whatever the
// batch size (shared by all of them, so never modified afterwards).
func (p *publication) fanOutNow(ctx actor.Context) {
	p.fanPending = false
	if len(p.pending) == 0 {
		return
	}
	var msg any = p.pending[0]
	if len(p.pending) > 1 {
		msg = &Batch{Msgs: p.pending}
	}
	for _, s := range p.members.sinks {
		ctx.Send(s.pid, msg)
	}
	p.cfg.Stats.Fanout.Add(uint64(len(p.members.sinks) * len(p.pending)))
	p.pending = nil
}

// cache appends a message to the current group of pictures, giving up when it grows
// beyond the caps (late subscribers then wait for the next key frame).
func (p *publication) cache(data []byte) {
	if p.gopBytes+len(data) > maxGOPBytes || len(p.gop) >= maxGOPCount {
		clear(p.gop)
		p.gop, p.gopBytes, p.gopValid = p.gop[:0], 0, false
		return
	}
	p.gop = append(p.gop, data)
	p.gopBytes += len(data)
}

// onData handles a publisher's data message: @setDataFrame stores metadata (forwarded as
// onMetaData), @clearDataFrame clears it, anything else (NetStream.send) is forwarded.
func (p *publication) onData(m *Ingest) (data []byte, config bool) {
	d, err := flash.ParseData(m.Msg, &p.dec)
	if err != nil {
		return nil, false
	}
	switch d.Name() {
	case "@setDataFrame":
		if len(d.Values) < 2 {
			return nil, false
		}
		meta, err := flash.AppendData(nil, flash.Data{Timestamp: m.Msg.Timestamp, Values: d.Values[1:]})
		if err != nil {
			return nil, false
		}
		p.members.metadata = meta
		return meta, true
	case "@clearDataFrame":
		p.members.metadata = nil
		return nil, false
	}
	return m.Data, false
}

func (p *publication) toApplication(ctx actor.Context, m *Ingest) {
	pub := p.members.publisher
	am := &apphost.Media{Client: pub.client, Name: p.key.Name, Type: m.Msg.Type, Timestamp: m.Msg.Timestamp, Data: m.Msg.Body}
	if m.Msg.Type != flash.TypeAudio && m.Msg.Type != flash.TypeVideo {
		d, err := flash.ParseData(m.Msg, &p.dec)
		if err != nil {
			return
		}
		am.Values = d.Values
	}
	ctx.Send(pub.app, am)
}

// idle reports whether the publication has neither publisher nor subscribers.
func (p *publication) idle() bool { return p.members.publisher == nil && len(p.members.subs) == 0 }

// checkIdle starts the idle period when the publication has become idle.
func (p *publication) checkIdle(ctx actor.Context) {
	if !p.idle() {
		p.idleSince = time.Time{}
		return
	}
	if !p.idleSince.IsZero() {
		return
	}
	p.idleSince = p.cfg.Clock.Now()
	p.armIdle(ctx, retireAfter)
}

func (p *publication) armIdle(ctx actor.Context, d time.Duration) {
	if p.idleTimer != nil {
		p.idleTimer.Reset(d)
		return
	}
	self, root := p.self, ctx.ActorSystem().Root
	p.idleTimer = p.cfg.Clock.AfterFunc(d, func() { root.Send(self, &idleCheck{}) })
}

// onIdleCheck asks the registry to retire the publication once it has been idle long
// enough.
func (p *publication) onIdleCheck(ctx actor.Context) {
	if !p.idle() || p.idleSince.IsZero() {
		return
	}
	if left := retireAfter - p.cfg.Clock.Now().Sub(p.idleSince); left > 0 {
		p.armIdle(ctx, left)
		return
	}
	p.members.Retire(ctx)
}
