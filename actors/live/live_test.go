package live

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// backlog is a lane's bytes and the wait of its oldest message, by kind.
type backlog struct {
	bytes [3]int
	wait  [3]time.Duration
}

func (b backlog) Queued(k Kind) int           { return b.bytes[k] }
func (b backlog) Waited(k Kind) time.Duration { return b.wait[k] }

func TestPolicyDecisions(t *testing.T) {
	audio := &Media{Kind: KindAudio}
	audioConfig := &Media{Kind: KindAudio, Config: true}
	video := &Media{Kind: KindVideo}
	key := &Media{Kind: KindVideo, KeyFrame: true}
	videoConfig := &Media{Kind: KindVideo, Config: true}
	control := &Media{Kind: KindControl}
	behind := backlog{bytes: [3]int{0, 1, 1}, wait: [3]time.Duration{0, AudioLifetime, VideoBehind + 1}}
	full := backlog{bytes: [3]int{0, AudioBacklog + 1, VideoBacklog + 1}}
	// A late subscriber's replayed group: megabytes at once, none of it waiting yet.
	burst := backlog{bytes: [3]int{0, 256 << 10, VideoBacklog}, wait: [3]time.Duration{0, 10 * time.Millisecond, 10 * time.Millisecond}}
	for _, c := range []struct {
		name   string
		p      Policy
		m      *Media
		q      backlog
		want   Decision
		waitAf bool // WaitKey after the decision
	}{
		{"control always", Policy{}, control, behind, Decision{Send: true}, false},
		{"audio", Policy{Audio: true}, audio, backlog{}, Decision{Send: true, Lifetime: AudioLifetime}, false},
		{"audio gated", Policy{}, audio, backlog{}, Decision{}, false},
		{"audio waiting is given up by its lifetime, not dropped", Policy{Audio: true}, audio, behind, Decision{Send: true, Lifetime: AudioLifetime}, false},
		{"audio config even behind", Policy{Audio: true}, audioConfig, behind, Decision{Send: true}, false},
		{"video", Policy{Video: true}, video, backlog{}, Decision{Send: true, Lifetime: VideoLifetime}, false},
		{"video gated", Policy{}, video, backlog{}, Decision{}, false},
		{"video waiting for a key frame", Policy{Video: true, WaitKey: true}, video, backlog{}, Decision{Dropped: true}, true},
		{"key frame ends the wait", Policy{Video: true, WaitKey: true}, key, behind,
			Decision{Send: true, Lifetime: VideoLifetime, AbandonOlder: KeyFrameCatchUp}, false},
		{"video far behind waits for a key frame", Policy{Video: true}, video, behind, Decision{Dropped: true}, true},
		{"audio beyond its bytes", Policy{Audio: true}, audio, full, Decision{Dropped: true}, false},
		{"video beyond its bytes", Policy{Video: true}, video, full, Decision{Dropped: true}, true},
		{"a burst of audio is not a backlog", Policy{Audio: true}, audio, burst, Decision{Send: true, Lifetime: AudioLifetime}, false},
		{"a burst of video is not a backlog", Policy{Video: true}, video, burst, Decision{Send: true, Lifetime: VideoLifetime}, false},
		{"an empty lane is not behind", Policy{Video: true}, video, backlog{wait: [3]time.Duration{0, 0, VideoBehind + 1}}, Decision{Send: true, Lifetime: VideoLifetime}, false},
		{"video config even behind", Policy{Video: true, WaitKey: true}, videoConfig, behind, Decision{Send: true}, true},
		// Lossless: nothing given up for its age, the bytes still bounded.
		{"lossless audio behind is reliable", Policy{Audio: true, Lossless: true}, audio, behind, Decision{Send: true}, false},
		{"lossless video behind is reliable", Policy{Video: true, Lossless: true}, video, behind, Decision{Send: true}, false},
		{"lossless key frame abandons nothing", Policy{Video: true, Lossless: true}, key, behind, Decision{Send: true}, false},
		{"lossless audio beyond its bytes", Policy{Audio: true, Lossless: true}, audio, full, Decision{Dropped: true}, false},
		{"lossless video beyond its bytes", Policy{Video: true, Lossless: true}, video, full, Decision{Dropped: true}, true},
		{"lossless video waiting for a key frame", Policy{Video: true, Lossless: true, WaitKey: true}, video, backlog{}, Decision{Dropped: true}, true},
	} {
		p := c.p
		if got := p.Decide(c.m, c.q); got != c.want || p.WaitKey != c.waitAf {
			t.Errorf("%s: %+v (wait %v), want %+v (wait %v)", c.name, got, p.WaitKey, c.want, c.waitAf)
		}
	}
	p := NewPolicy(&Bind{})
	p.Gate(true, false)
	p.Gate(true, true) // video back on: from the next key frame
	if !p.WaitKey || !p.Audio || !p.Video {
		t.Fatalf("after video was turned back on: %+v", p)
	}
}

// recorder forwards every message it receives, but the lifecycle ones, to a channel.
type recorder struct{ out chan any }

func (r *recorder) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
		return
	}
	r.out <- ctx.Message()
}

type rig struct {
	t      *testing.T
	sys    *actor.ActorSystem
	clock  *clock.Warp
	stats  *Stats
	reg    *actor.PID
	sink   *actor.PID
	sinkCh chan any
	stream *actor.PID // a subscriber's or publisher's stream actor
	strCh  chan any
	pub    *actor.PID // the publication, once known
}

func newRig(t *testing.T) *rig {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	r := &rig{t: t, sys: sys, clock: clock.NewWarp(), stats: &Stats{}, sinkCh: make(chan any, 256), strCh: make(chan any, 64)}
	r.reg = sys.Root.Spawn(Props(Config{Clock: r.clock, Stats: r.stats}))
	r.sink = sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &recorder{out: r.sinkCh} }))
	r.stream = sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &recorder{out: r.strCh} }))
	return r
}

func next[T any](r *rig, ch chan any) T {
	r.t.Helper()
	select {
	case m := <-ch:
		v, ok := m.(T)
		if !ok {
			r.t.Fatalf("got %T %+v, want %T", m, m, v)
		}
		return v
	case <-time.After(10 * time.Second):
		var v T
		r.t.Fatalf("no %T came", v)
		return v
	}
}

// status returns the onStatus code of a control message.
func status(t *testing.T, data []byte) string {
	t.Helper()
	msg, err := flash.ParseMessage(data)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Type == flash.TypeDataAMF0 {
		d, err := flash.ParseData(msg, amf.NewDecoder(nil))
		if err != nil {
			t.Fatal(err)
		}
		return d.Name()
	}
	cmd, err := flash.ParseCommand(msg, amf.NewDecoder(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(cmd.Args) > 0 {
		if o, ok := cmd.Args[0].(*amf.Object); ok {
			code, _ := o.GetString("code")
			return code
		}
	}
	return cmd.Name
}

func message(typ byte, ts uint32, body ...byte) []byte {
	b := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], ts)
	return append(b, body...)
}

// publish publishes key from the rig's stream actor and keeps the publication.
func (r *rig) publish(key Key) {
	r.t.Helper()
	r.sys.Root.Send(r.reg, &Publish{Key: key, Stream: r.stream})
	pubd := next[*Published](r, r.strCh)
	if !pubd.OK {
		r.t.Fatal("publish refused")
	}
	r.pub = pubd.Publication
}

func (r *rig) ingest(data []byte) {
	msg, err := flash.ParseMessage(data)
	if err != nil {
		r.t.Fatal(err)
	}
	r.sys.Root.Send(r.pub, &Ingest{Stream: r.stream, Msg: msg, Data: data})
}

// watcher closes done when the actor it watches ends.
type watcher struct {
	pid  *actor.PID
	done chan struct{}
}

func (w *watcher) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		ctx.Watch(w.pid)
	case *actor.Terminated:
		close(w.done)
	}
}

func (r *rig) ended(pid *actor.PID) <-chan struct{} {
	w := &watcher{pid: pid, done: make(chan struct{})}
	r.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return w }))
	return w.done
}

// TestLateSubscriberGetsStatusesConfigurationAndTheGroupInOrder: a subscriber that joins
// a live stream is bound first, then told Play.Reset and Play.Start, then given the
// metadata, the codec configuration and the current group of pictures from its key
// frame — targeted to its binding — and only then anything live.
func TestLateSubscriberGetsStatusesConfigurationAndTheGroupInOrder(t *testing.T) {
	r := newRig(t)
	key := Key{App: "app", Name: "cam"}
	r.publish(key)
	meta, _ := flash.AppendData(nil, flash.Data{Values: []any{"@setDataFrame", "onMetaData", amf.NewObject()}})
	aac := message(flash.TypeAudio, 0, 0xAF, 0x00, 0x12, 0x10)
	avc := message(flash.TypeVideo, 0, 0x17, 0x00, 0, 0, 0)
	k1 := message(flash.TypeVideo, 40, 0x17, 0x01, 0, 0, 0, 1)
	a1 := message(flash.TypeAudio, 40, 0xAF, 0x01, 1)
	i1 := message(flash.TypeVideo, 80, 0x27, 0x01, 0, 0, 0, 2)
	for _, m := range [][]byte{meta, aac, avc, k1, a1, i1} {
		r.ingest(m)
	}
	r.sys.Root.Send(r.reg, &Play{Key: key, Stream: r.stream, Sink: r.sink, Binding: 7, Lanes: "lanes"})
	bind := next[*Bind](r, r.sinkCh)
	if bind.Binding != 7 || bind.Lanes != "lanes" || bind.WaitKeyFrame {
		t.Fatalf("bind %+v: want binding 7 with its lanes, not waiting for a key frame (the group is replayed)", bind)
	}
	want := []struct {
		kind   Kind
		status string
		data   []byte
		key    bool
	}{
		{KindControl, flash.CodePlayReset, nil, false},
		{KindControl, flash.CodePlayStart, nil, false},
		{KindControl, "|RtmpSampleAccess", nil, false},
		{KindControl, "onMetaData", nil, false},
		{KindAudio, "", aac, false},
		{KindVideo, "", avc, false},
		{KindVideo, "", k1, true},
		{KindAudio, "", a1, false},
		{KindVideo, "", i1, false},
	}
	for i, w := range want {
		m := next[*Media](r, r.sinkCh)
		if !m.Targeted || m.ToBinding != 7 || m.Channel != bind.Channel || m.Kind != w.kind || m.KeyFrame != w.key {
			t.Fatalf("message %d: %+v, want kind %d key %v targeted to binding 7 of channel %d", i, m, w.kind, w.key, bind.Channel)
		}
		if w.status != "" && status(t, m.Data) != w.status {
			t.Fatalf("message %d is %q, want %q", i, status(t, m.Data), w.status)
		}
		if w.data != nil && string(m.Data) != string(w.data) {
			t.Fatalf("message %d carries %x, want %x", i, m.Data, w.data)
		}
	}
	if p := next[*Playing](r, r.strCh); p.Channel != bind.Channel || !p.Publication.Equal(r.pub) {
		t.Fatalf("playing %+v", p)
	}
	// Live media now reaches the sink once, for all its bindings.
	a2 := message(flash.TypeAudio, 80, 0xAF, 0x01, 2)
	r.ingest(a2)
	if m := next[*Media](r, r.sinkCh); m.Targeted || string(m.Data) != string(a2) {
		t.Fatalf("live message %+v", m)
	}
}

// TestIdlePublicationRetiresAfterAWhile: a publication whose last subscriber left stays
// for retireAfter on its clock, then retires; a play after that gets a new one.
func TestIdlePublicationRetiresAfterAWhile(t *testing.T) {
	r := newRig(t)
	key := Key{App: "app", Name: "cam"}
	r.sys.Root.Send(r.reg, &Play{Key: key, Stream: r.stream, Sink: r.sink, Binding: 1, Lanes: "lanes"})
	bind := next[*Bind](r, r.sinkCh)
	if !bind.WaitKeyFrame {
		t.Fatal("a subscriber of a stream nobody publishes does not wait for a key frame")
	}
	playing := next[*Playing](r, r.strCh)
	r.sys.Root.Send(playing.Publication, &Stop{Stream: r.stream, Binding: 1})
	for {
		if _, ok := next[any](r, r.sinkCh).(*Unbind); ok {
			break // the publication is idle from here
		}
	}
	r.clock.Skip(retireAfter - time.Second)
	// A message through the registry comes back only if the publication still lives.
	r.sys.Root.Send(r.reg, &Play{Key: key, Stream: r.stream, Sink: r.sink, Binding: 2})
	if p := next[*Playing](r, r.strCh); !p.Publication.Equal(playing.Publication) {
		t.Fatal("the publication retired before it was idle for retireAfter")
	}
	r.sys.Root.Send(playing.Publication, &Stop{Stream: r.stream, Binding: 2})
	for {
		if _, ok := next[any](r, r.sinkCh).(*Unbind); ok {
			break
		}
	}
	r.clock.Skip(retireAfter - time.Second)
	if n := r.stats.Publications(); n != 1 {
		t.Fatalf("%d publications %s after it became idle again, want 1", n, retireAfter-time.Second)
	}
	end := r.ended(playing.Publication)
	r.clock.Skip(time.Second)
	select {
	case <-end:
	case <-time.After(10 * time.Second):
		t.Fatal("the idle publication did not retire")
	}
	r.sys.Root.Send(r.reg, &Play{Key: key, Stream: r.stream, Sink: r.sink, Binding: 3})
	if p := next[*Playing](r, r.strCh); p.Publication.Equal(playing.Publication) {
		t.Fatal("a play after the retirement reached the retired publication")
	}
}

// TestPlayIfPublished: a play that asks for the stream only if it is published binds
// nothing when it is not (its subscriber plays a recording instead), and binds as any
// play when it is.
func TestPlayIfPublished(t *testing.T) {
	r := newRig(t)
	key := Key{App: "app", Name: "maybe"}
	r.sys.Root.Send(r.reg, &Play{Key: key, Stream: r.stream, Sink: r.sink, Binding: 1, IfPublished: true})
	if p := next[*Playing](r, r.strCh); p.Published {
		t.Fatal("a stream nobody publishes answered Published")
	}
	r.sys.Root.Send(r.reg, &Publish{Key: key, Stream: r.stream})
	next[*Published](r, r.strCh)
	if len(r.sinkCh) != 0 {
		t.Fatalf("the sink of the play that was not bound got %T", <-r.sinkCh)
	}
	r.sys.Root.Send(r.reg, &Play{Key: key, Stream: r.stream, Sink: r.sink, Binding: 2, IfPublished: true})
	if b := next[*Bind](r, r.sinkCh); b.Binding != 2 {
		t.Fatalf("bind %+v", b)
	}
	if p := next[*Playing](r, r.strCh); !p.Published {
		t.Fatal("a published stream answered not Published")
	}
}

// stubPublisher publishes, sends the publication what it is given, then stops.
type stubPublisher struct {
	reg  *actor.PID
	key  Key
	msgs [][]byte
}

func (p *stubPublisher) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.Send(p.reg, &Publish{Key: p.key, Stream: ctx.Self()})
	case *Published:
		for _, data := range p.msgs {
			msg, _ := flash.ParseMessage(data)
			ctx.Send(m.Publication, &Ingest{Stream: ctx.Self(), Msg: msg, Data: data})
		}
		ctx.Stop(ctx.Self())
	}
}

// TestPublisherThatEndsLeavesAfterItsLastMessages: the end of a publisher's stream actor
// (its Terminated, a system message that overtakes the ones queued) comes after the media
// it sent before it ended: its subscribers get the last frames, then UnpublishNotify.
func TestPublisherThatEndsLeavesAfterItsLastMessages(t *testing.T) {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	hold, held := make(chan struct{}), make(chan struct{}, 1)
	// The publication waits at the publisher's first media until the publisher has ended.
	gate := func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(ctx actor.ReceiverContext, env *actor.MessageEnvelope) {
			if _, ok := env.Message.(*Ingest); ok {
				select {
				case held <- struct{}{}:
					<-hold
				default:
				}
			}
			next(ctx, env)
		}
	}
	r := &rig{t: t, sys: sys, clock: clock.NewWarp(), stats: &Stats{}, sinkCh: make(chan any, 256), strCh: make(chan any, 64)}
	r.reg = sys.Root.Spawn(Props(Config{Clock: r.clock, Stats: r.stats, Options: []actor.PropsOption{actor.WithReceiverMiddleware(gate)}}))
	r.sink = sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &recorder{out: r.sinkCh} }))
	r.stream = sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &recorder{out: r.strCh} }))
	key := Key{App: "app", Name: "last"}
	r.sys.Root.Send(r.reg, &Play{Key: key, Stream: r.stream, Sink: r.sink, Binding: 1})
	next[*Bind](r, r.sinkCh)
	next[*Playing](r, r.strCh)
	frames := [][]byte{message(flash.TypeAudio, 0, 0xAF, 0x01, 1), message(flash.TypeAudio, 20, 0xAF, 0x01, 2), message(flash.TypeAudio, 40, 0xAF, 0x01, 3)}
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &stubPublisher{reg: r.reg, key: key, msgs: frames} }))
	<-held
	<-r.ended(pid)
	close(hold)
	var got []string
	for unpublished := false; !unpublished; {
		var ms []*Media
		switch m := next[any](r, r.sinkCh).(type) {
		case *Media:
			ms = []*Media{m}
		case *Batch:
			ms = m.Msgs
		}
		for _, m := range ms {
			switch {
			case m.Kind == KindAudio:
				got = append(got, string(m.Data))
			case status(t, m.Data) == flash.CodePlayUnpublishNotify:
				unpublished = true
			}
		}
	}
	if len(got) != len(frames) {
		t.Fatalf("UnpublishNotify after %d of the publisher's %d last frames", len(got), len(frames))
	}
	for i, f := range frames {
		if got[i] != string(f) {
			t.Fatalf("frame %d: %x, want %x", i, got[i], f)
		}
	}
}

// TestObserverAndEdgePublishers: the observer hears of a publication's publisher coming
// and going and of its players (not its edges) going from none to some and back; a
// publisher of this node takes the place of an edge publisher, whose players are told
// the stream was unpublished and published again.
func TestObserverAndEdgePublishers(t *testing.T) {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	obs := make(chan any, 64)
	r := &rig{t: t, sys: sys, clock: clock.NewWarp(), stats: &Stats{}, sinkCh: make(chan any, 256), strCh: make(chan any, 64)}
	observer := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &recorder{out: obs} }))
	r.reg = sys.Root.Spawn(Props(Config{Clock: r.clock, Stats: r.stats, Observer: observer}))
	r.sink = sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &recorder{out: r.sinkCh} }))
	r.stream = sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &recorder{out: r.strCh} }))
	edgeCh, localCh, linkCh := make(chan any, 64), make(chan any, 64), make(chan any, 64)
	edge := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &recorder{out: edgeCh} }))
	local := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &recorder{out: localCh} }))
	link := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &recorder{out: linkCh} }))
	key := Key{App: "app", Name: "cam"}

	// A player: the observer hears of one player, no publisher.
	sys.Root.Send(r.reg, &Play{Key: key, Stream: r.stream, Sink: r.sink, Binding: 1})
	if st := next[*State](r, obs); st.Players != 1 || st.Publisher != nil {
		t.Fatalf("after a play: %+v", st)
	}
	publication := next[*Playing](r, r.strCh).Publication
	// An edge subscriber (a link to another node) is not a player: nothing is heard.
	sys.Root.Send(r.reg, &Play{Key: key, Stream: link, Sink: link, Binding: 1, Edge: true})
	for playing := false; !playing; { // it is its own sink: Bind and statuses come first
		_, playing = next[any](r, linkCh).(*Playing)
	}
	// An edge publisher.
	sys.Root.Send(r.reg, &Publish{Key: key, Stream: edge, Edge: true})
	if p := next[*Published](r, edgeCh); !p.OK {
		t.Fatal("the edge publisher was refused")
	}
	if st := next[*State](r, obs); !st.Edge || !st.Publisher.Equal(edge) || st.Players != 1 {
		t.Fatalf("after the edge published: %+v", st)
	}
	// A publisher of this node takes its place: the observer hears the edge go, then
	// the local publisher come.
	sys.Root.Send(r.reg, &Publish{Key: key, Stream: local})
	if p := next[*Published](r, localCh); !p.OK {
		t.Fatal("the local publisher was refused while an edge published")
	}
	if st := next[*State](r, obs); st.Publisher != nil {
		t.Fatalf("the edge's leaving was not heard first: %+v", st)
	}
	if st := next[*State](r, obs); st.Edge || !st.Publisher.Equal(local) {
		t.Fatalf("after the local publisher: %+v", st)
	}
	// A second edge cannot take the local publisher's place.
	sys.Root.Send(r.reg, &Publish{Key: key, Stream: edge, Edge: true})
	if p := next[*Published](r, edgeCh); p.OK {
		t.Fatal("an edge took the place of a local publisher")
	}
	// The player leaves: no players.
	sys.Root.Send(publication, &Stop{Stream: r.stream, Binding: 1})
	if st := next[*State](r, obs); st.Players != 0 || !st.Publisher.Equal(local) {
		t.Fatalf("after the player left: %+v", st)
	}
}
