package server

import (
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// PublicationStats counts what the publications of a server did.
type PublicationStats struct {
	Media    atomic.Uint64 // media messages received from publishers
	Fanout   atomic.Uint64 // channel messages sent to subscriber sessions
	Failures supervision.Counter
}

// pubKey names a publication: a stream name within an application.
type pubKey struct{ app, name string }

// pubHost is the registry of publications ("publications/<app>/<name>"): one actor per
// stream name, created at the first publish or play and gone when it has neither
// publisher nor subscribers. Its supervisor restarts a publication that panics; the
// publication's members survive the restart (they live outside the actor's instance).
type pubHost struct {
	*registry[pubKey]
	sh    *shared
	stats PublicationStats
}

func newPubHost(sys *actor.ActorSystem, sh *shared, log *zap.Logger, mw []actor.ReceiverMiddleware) *pubHost {
	h := &pubHost{sh: sh}
	mw = append([]actor.ReceiverMiddleware{supervision.Middleware}, mw...)
	h.registry = newRegistry(sys, log, "publication", &h.stats.Failures, func(key pubKey, id uint64) *actor.Props {
		members := &pubMembers{subs: map[string]*subscriber{}, sessions: map[string]*sessionRef{}}
		return sh.props(func() actor.Actor { return newPublication(h, key, id, members) },
			actor.WithReceiverMiddleware(mw...))
	})
	return h
}

// pubMembers are who publishes and who plays; they outlive a restart of the actor.
type pubMembers struct {
	publisher *member
	subs      map[string]*subscriber // by stream actor PID
	// sessions are the subscribers' sessions, each with its number of subscribers: a
	// session gets each channel message once and writes it to all its bindings (a client
	// may play a stream on several NetStreams).
	sessions map[string]*sessionRef

	// What the publisher said once and will not repeat — the last metadata and the codec
	// configuration — and whether its application wants the media: kept across a
	// restart (a subscriber joining after one still gets them). Cleared by a new publisher.
	metadata    []byte // onMetaData data message
	audioConfig []byte
	videoConfig []byte
	wantsMedia  bool
}

type sessionRef struct {
	pid  *actor.PID
	subs int
}

type member struct {
	stream  *actor.PID // the publisher's stream actor
	session *actor.PID
	client  *client
}

type subscriber struct {
	member
	binding  uint64
	control  session.FlowKey
	ncKey    session.FlowKey
	streamID uint32
}

// Messages to a publication.
type attachPublisher struct {
	member
	media bool // the application wants media packets
}

type attachResult struct{ ok bool }

type detachPublisher struct{ stream *actor.PID }

type subscribe struct {
	subscriber
	audio, video session.FlowKey
}

type subscribed struct{ channel uint64 }

type unsubscribe struct{ stream *actor.PID }

// publishMedia is one message from the publisher, as it arrived (type, timestamp, body).
type publishMedia struct {
	stream *actor.PID
	msg    flash.Message
	data   []byte // the whole message bytes
}

// Caps of a publication's catch-up cache (the current group of pictures).
const (
	maxGOPBytes = 4 << 20
	maxGOPCount = 2000
	retireAfter = 5 * time.Second
	recentAudio = 8 // audio messages remembered for the start of the next group of pictures
)

// publication is the actor of one live stream: it holds the publisher, the subscribers,
// the last metadata, the audio and video codec configuration and the current group of
// pictures, so that a late subscriber starts on a key frame with the configuration
// first; and it fans every message out to the subscribers' sessions as one shared
// channel message.
type publication struct {
	host    *pubHost
	key     pubKey
	id      uint64
	members *pubMembers
	self    *actor.PID

	// Caches, rebuilt after a restart.
	gop         [][]byte // messages since the last key frame, in order
	gopBytes    int
	gopValid    bool
	recentAudio [recentAudio][]byte // the last audio messages (ring), for startGOP
	audioCount  int
	idleSince   time.Time
	dec         amf.Decoder
	pending     []*session.ChannelMessage // media to fan out (see fanOutNow)
	fanPending  bool
}

func newPublication(h *pubHost, key pubKey, id uint64, members *pubMembers) actor.Actor {
	return &publication{host: h, key: key, id: id, members: members}
}

// fanOut makes the publication send the media it batched.
type fanOut struct{}

func (p *publication) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *publishMedia, *fanOut:
	default:
		// Whatever changes membership or reaches the subscribers otherwise comes after the
		// media received before it.
		p.fanOutNow(ctx)
	}
	switch m := ctx.Message().(type) {
	case *fanOut:
		p.fanOutNow(ctx)
	case *actor.Started:
		p.self = ctx.Self()
		p.idleSince = time.Now()
		// After a restart the caches are gone: every subscriber waits for a key frame.
		for _, s := range p.members.sessions {
			ctx.Send(s.pid, &session.ResyncChannel{Channel: p.id})
		}
		for _, s := range p.members.subs {
			ctx.Watch(s.stream)
		}
		if pub := p.members.publisher; pub != nil {
			ctx.Watch(pub.stream)
		}
		ctx.SetReceiveTimeout(retireAfter)
	case *attachPublisher:
		p.host.joined(p.key)
		p.onAttach(ctx, m)
	case *detachPublisher:
		p.onDetach(ctx, m.stream)
	case *subscribe:
		p.host.joined(p.key)
		p.onSubscribe(ctx, m)
	case *unsubscribe:
		p.removeSubscriber(ctx, m.stream)
	case *publishMedia:
		if pub := p.members.publisher; pub != nil && pub.stream.Equal(m.stream) {
			p.onMedia(ctx, m)
		}
	case *actor.Terminated:
		if pub := p.members.publisher; pub != nil && pub.stream.Equal(m.Who) {
			p.onDetach(ctx, m.Who)
		} else {
			p.removeSubscriber(ctx, m.Who)
		}
	case *actor.ReceiveTimeout:
		p.maybeRetire(ctx)
	}
}

func (p *publication) onAttach(ctx actor.Context, m *attachPublisher) {
	if p.members.publisher != nil {
		ctx.Send(m.stream, &attachResult{ok: false})
		return
	}
	p.members.publisher = &m.member
	p.members.wantsMedia = m.media
	ctx.Watch(m.stream)
	p.clearCache()
	ctx.Send(m.stream, &attachResult{ok: true})
	p.broadcastStatus(ctx, flash.PlayPublishNotify(p.key.name))
}

func (p *publication) onDetach(ctx actor.Context, stream *actor.PID) {
	pub := p.members.publisher
	if pub == nil || !pub.stream.Equal(stream) {
		return
	}
	p.members.publisher = nil
	ctx.Unwatch(stream)
	p.clearCache()
	p.broadcastStatus(ctx, flash.PlayUnpublishNotify(p.key.name))
	p.idleSince = time.Now()
}

func (p *publication) clearCache() {
	p.members.metadata, p.members.audioConfig, p.members.videoConfig = nil, nil, nil
	clear(p.gop)
	p.gop, p.gopBytes, p.gopValid = p.gop[:0], 0, false
	clear(p.recentAudio[:])
	p.audioCount = 0
}

// broadcastStatus sends the same onStatus to every subscriber.
func (p *publication) broadcastStatus(ctx actor.Context, s flash.Status) {
	b, _ := flash.AppendOnStatus(nil, s)
	m := &session.ChannelMessage{Channel: p.id, Kind: session.KindControl, Data: b, Config: true}
	for _, s := range p.members.sessions {
		ctx.Send(s.pid, m)
	}
}

// onSubscribe binds the subscriber's session to the channel, then sends it the play
// statuses and, if the stream is live, the metadata, the codec configuration and the
// current group of pictures — all from this actor, so they arrive in order before the
// live media.
func (p *publication) onSubscribe(ctx actor.Context, m *subscribe) {
	sub := m.subscriber
	k := sub.stream.String()
	if p.members.subs[k] == nil { // not a repeated subscribe (a retry after a timeout)
		sk := sub.session.String()
		if ref := p.members.sessions[sk]; ref != nil {
			ref.subs++
		} else {
			p.members.sessions[sk] = &sessionRef{pid: sub.session, subs: 1}
		}
	}
	p.members.subs[k] = &sub
	ctx.Watch(sub.stream)
	replay := p.members.publisher != nil && p.gopValid
	ctx.Send(sub.session, &session.BindChannel{Channel: p.id, Binding: sub.binding,
		Control: sub.control, Audio: m.audio, Video: m.video, WaitKeyFrame: !replay})
	// Stream Begin on the NetConnection flow, then Play.Reset and Play.Start (Mona, zenomt).
	ctx.Send(sub.session, &session.Write{Key: sub.ncKey, Data: flash.StreamBegin(sub.streamID).Append(nil), Priority: session.PriorityControl})
	write := func(data []byte) {
		ctx.Send(sub.session, &session.Write{Key: sub.control, Data: data, Priority: session.PriorityControl})
	}
	reset, _ := flash.AppendOnStatus(nil, flash.PlayReset(p.key.name))
	start, _ := flash.AppendOnStatus(nil, flash.PlayStart(p.key.name))
	access, _ := flash.AppendData(nil, flash.Data{Values: []any{"|RtmpSampleAccess", true, true}})
	write(reset)
	write(start)
	write(access)
	ctx.Send(sub.stream, &subscribed{channel: p.id})
	if p.members.publisher == nil {
		return
	}
	// What is replayed goes to this subscriber's binding only (its session may have others).
	one := func(kind session.MediaKind, data []byte, key bool) {
		ctx.Send(sub.session, &session.ChannelMessage{Channel: p.id, Kind: kind, Data: data, Config: !key, KeyFrame: key,
			Targeted: true, ToBinding: sub.binding})
	}
	if p.members.metadata != nil {
		one(session.KindControl, p.members.metadata, false)
	}
	if p.members.audioConfig != nil {
		one(session.KindAudio, p.members.audioConfig, false)
	}
	if p.members.videoConfig != nil {
		one(session.KindVideo, p.members.videoConfig, false)
	}
	if replay {
		for i, data := range p.gop {
			msg, _ := flash.ParseMessage(data)
			kind := session.KindAudio
			if msg.Type == flash.TypeVideo {
				kind = session.KindVideo
			}
			ctx.Send(sub.session, &session.ChannelMessage{Channel: p.id, Kind: kind, Data: data, KeyFrame: i == 0,
				Targeted: true, ToBinding: sub.binding})
		}
	}
}

func (p *publication) removeSubscriber(ctx actor.Context, stream *actor.PID) {
	k := stream.String()
	sub := p.members.subs[k]
	if sub == nil {
		return
	}
	delete(p.members.subs, k)
	sk := sub.session.String()
	if ref := p.members.sessions[sk]; ref != nil {
		if ref.subs--; ref.subs <= 0 {
			delete(p.members.sessions, sk)
		}
	}
	ctx.Unwatch(stream)
	ctx.Send(sub.session, &session.UnbindChannel{Channel: p.id, Binding: sub.binding})
	if len(p.members.subs) == 0 {
		p.idleSince = time.Now()
	}
}

// onMedia caches what late subscribers need and fans the message out.
func (p *publication) onMedia(ctx actor.Context, m *publishMedia) {
	p.host.stats.Media.Add(1)
	out := &session.ChannelMessage{Channel: p.id, Data: m.data}
	body := m.msg.Body
	switch m.msg.Type {
	case flash.TypeAudio:
		out.Kind = session.KindAudio
		if flash.IsAudioSequenceHeader(body) {
			p.members.audioConfig, out.Config = m.data, true
			break
		}
		p.recentAudio[p.audioCount%recentAudio] = m.data
		p.audioCount++
		if p.gopValid {
			p.cache(m.data)
		}
	case flash.TypeVideo:
		out.Kind = session.KindVideo
		switch {
		case flash.IsVideoSequenceHeader(body):
			p.members.videoConfig, out.Config = m.data, true
		case flash.IsKeyFrame(body):
			out.KeyFrame = true
			p.startGOP(m.data, m.msg.Timestamp)
		case p.gopValid:
			p.cache(m.data)
		}
	case flash.TypeDataAMF0, flash.TypeDataAMF3:
		out.Kind = session.KindControl
		data, keep := p.onData(m)
		if data == nil {
			return
		}
		out.Data, out.Config = data, keep
	default:
		return
	}
	// Batched: the media already waiting in the mailbox (the audio and video frames of
	// one instant, as publishers send them together) leave as one message per session.
	p.pending = append(p.pending, out)
	if !p.fanPending {
		p.fanPending = true
		ctx.Send(p.self, &fanOut{})
	}
	if p.members.wantsMedia {
		p.toApplication(ctx, m)
	}
}

// startGOP starts a new group of pictures at a key frame. The audio that reached us just
// before the key frame but is not older than it belongs to the new group: a publisher
// sends the audio of a period before its video (Flash, and the audio lane has priority),
// and a late subscriber replayed the group must not start with a hole in its audio.
func (p *publication) startGOP(key []byte, ts uint32) {
	var carried [recentAudio][]byte
	n := 0
	for i := max(0, p.audioCount-recentAudio); i < p.audioCount; i++ {
		a := p.recentAudio[i%recentAudio]
		if msg, err := flash.ParseMessage(a); err == nil && int32(msg.Timestamp-ts) >= 0 {
			carried[n] = a
			n++
		}
	}
	clear(p.gop)
	p.gop, p.gopBytes, p.gopValid = p.gop[:0], 0, true
	p.cache(key)
	for _, a := range carried[:n] {
		p.cache(a)
	}
}

// fanOutNow sends the batched media to every subscriber session: one message per session
// whatever the batch size (shared by all of them, so never modified afterwards).
func (p *publication) fanOutNow(ctx actor.Context) {
	p.fanPending = false
	if len(p.pending) == 0 {
		return
	}
	var msg any = p.pending[0]
	if len(p.pending) > 1 {
		msg = &session.ChannelBatch{Msgs: p.pending}
	}
	for _, s := range p.members.sessions {
		ctx.Send(s.pid, msg)
	}
	p.host.stats.Fanout.Add(uint64(len(p.members.sessions) * len(p.pending)))
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
func (p *publication) onData(m *publishMedia) (data []byte, config bool) {
	d, err := flash.ParseData(m.msg, &p.dec)
	if err != nil {
		return nil, false
	}
	switch d.Name() {
	case "@setDataFrame":
		if len(d.Values) < 2 {
			return nil, false
		}
		meta, err := flash.AppendData(nil, flash.Data{Timestamp: m.msg.Timestamp, Values: d.Values[1:]})
		if err != nil {
			return nil, false
		}
		p.members.metadata = meta
		return meta, true
	case "@clearDataFrame":
		p.members.metadata = nil
		return nil, false
	}
	return m.data, false
}

func (p *publication) toApplication(ctx actor.Context, m *publishMedia) {
	pub := p.members.publisher
	appPID := p.host.sh.apps.lookup(pub.client.path)
	if appPID == nil {
		return
	}
	am := &appMedia{client: pub.client, name: p.key.name, typ: m.msg.Type, ts: m.msg.Timestamp, data: m.msg.Body}
	if m.msg.Type != flash.TypeAudio && m.msg.Type != flash.TypeVideo {
		d, err := flash.ParseData(m.msg, &p.dec)
		if err != nil {
			return
		}
		am.values = d.Values
	}
	ctx.Send(appPID, am)
}

// maybeRetire stops a publication that has been idle for a while.
func (p *publication) maybeRetire(ctx actor.Context) {
	if p.members.publisher != nil || len(p.members.subs) > 0 || time.Since(p.idleSince) < retireAfter {
		return
	}
	if p.host.retire(p.key, p.self) {
		ctx.Stop(p.self)
	}
}
