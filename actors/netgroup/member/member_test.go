package member

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/endpoint"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/group"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

const testSpec = "G:01010a0e6d756c74696361737400"

// fakePeer stands for a neighbour: it is the link and the session the member writes to,
// and records what the member sends it.
type fakePeer struct {
	pid  *actor.PID
	info endpoint.SessionInfo
	out  chan any
}

func (p *fakePeer) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *session.Write, *session.Close, *session.CloseFlow:
		p.out <- m
	}
}

type harness struct {
	t      *testing.T
	sys    *actor.ActorSystem
	member *actor.PID
	txt    string
	id     [32]byte
	stats  *Stats
	media  chan []byte
	self   cryptoutil.PeerID
}

func newHarness(t *testing.T, mut func(*Config)) *harness {
	t.Helper()
	sys := actors.NewActorSystem(zap.NewNop())
	t.Cleanup(sys.Shutdown)
	txt, id, err := group.GroupText(testSpec)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, sys: sys, txt: txt, id: id, stats: &Stats{}, media: make(chan []byte, 64), self: cryptoutil.PeerID{0x80}}
	cfg := Config{Spec: testSpec, Self: h.self, MaxNeighbors: 4, Stats: h.stats,
		OnMedia: func(_ string, _ byte, _ uint32, body []byte) { h.media <- append([]byte(nil), body...) }}
	if mut != nil {
		mut(&cfg)
	}
	props, err := Props(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.member = sys.Root.Spawn(props)
	return h
}

// stepPeriod is the update period of a stepped harness (newSteppedHarness).
const stepPeriod = time.Hour

// newSteppedHarness is a harness on a clock.Warp whose ticks come only when the test skips
// to them: an update every stepPeriod, a fetch every one and a half, a window of ten; mut
// may change more.
func newSteppedHarness(t *testing.T, mut func(*Config)) (*harness, *clock.Warp) {
	t.Helper()
	w := clock.NewWarp()
	return newHarness(t, func(c *Config) {
		c.Clock, c.UpdatePeriod, c.FetchPeriod, c.Window = w, stepPeriod, 3*stepPeriod/2, 10*stepPeriod
		if mut != nil {
			mut(c)
		}
	}), w
}

// peer connects a fake neighbour (as if it dialled the member).
func (h *harness) peer(id byte) *fakePeer {
	p := &fakePeer{out: make(chan any, 1024),
		info: endpoint.SessionInfo{PeerID: cryptoutil.PeerID{id}, NearNonce: [32]byte{id, 1}, FarNonce: [32]byte{id, 2}}}
	p.pid = h.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return p }))
	h.sys.Root.Send(h.member, &linkUp{link: p.pid, session: p.pid, info: p.info})
	h.flow(p, 1, group.MetaReport, nil)
	return p
}

func (h *harness) flow(p *fakePeer, id uint64, meta string, assoc *session.FlowKey) {
	f := &linkFlow{link: p.pid, flowID: id, meta: meta}
	if assoc != nil {
		f.hasAssoc, f.assocKey = true, *assoc
	}
	h.sys.Root.Send(h.member, f)
}

func (h *harness) send(p *fakePeer, flow uint64, m group.Message) {
	h.sys.Root.Send(h.member, &linkMsg{link: p.pid, flowID: flow, data: m.Append(nil)})
}

// handshake sends p's group handshake, with the key the member expects unless key is set.
func (h *harness) handshake(p *fakePeer, key *[32]byte) {
	k := group.GroupKey(h.txt, p.info.NearNonce)
	if key != nil {
		k = *key
	}
	h.send(p, 1, group.Init{Group: h.id, Key: k, Peer: h.self})
}

// offer completes p's handshake and has it announce a stream (on its media report flow 2)
// and open its media flow (3) answering our lane 0, as a neighbour that has the stream.
func (h *harness) offer(p *fakePeer, info group.MediaInfo) {
	h.handshake(p, nil)
	h.flow(p, 2, group.MetaMediaReport, nil)
	h.send(p, 2, info)
	h.flow(p, 3, group.MetaMedia, &session.FlowKey{Metadata: group.MetaMediaReport, Lane: 0})
}

// expect waits for a message to p that match accepts.
func (h *harness) expect(p *fakePeer, what string, match func(any) bool) {
	h.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-p.out:
			if match(m) {
				return
			}
		case <-timeout:
			h.t.Fatalf("peer %x never got %s", p.info.PeerID[0], what)
		}
	}
}

func isClose(m any) bool { _, ok := m.(*session.Close); return ok }

func isType(t byte) func(any) bool {
	return func(m any) bool {
		w, ok := m.(*session.Write)
		return ok && len(w.Data) > 0 && w.Data[0] == t
	}
}

// count asks the member its neighbours, which also waits for what it was sent before.
func (h *harness) count() int {
	n, err := Neighbors(context.Background(), h.sys.Root, h.member)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// TestNeighborsHonoursItsContext: asking with a context that ended answers its error at
// once instead of waiting.
func TestNeighborsHonoursItsContext(t *testing.T) {
	h := newHarness(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Neighbors(ctx, h.sys.Root, h.member); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if n := h.count(); n != 0 {
		t.Fatalf("%d neighbours, want none", n)
	}
}

// TestWrongGroupKeyIsCutOff: a member that does not know the group specifier (it sends a
// key made with another text) is cut off and counted, and learns nothing of the group's
// streams; so is one whose handshake names another member; an honest one is answered.
func TestWrongGroupKeyIsCutOff(t *testing.T) {
	h := newHarness(t, nil)
	h.sys.Root.Send(h.member, &Inject{Name: "s", Type: 9, Body: []byte{0x17, 0, 0, 0, 0, 1}})
	liar := h.peer(1)
	wrong := group.GroupKey("G:0101", liar.info.NearNonce) // the ID alone does not give the key
	h.handshake(liar, &wrong)
	h.expect(liar, "its session closed", isClose)
	if h.count() != 0 || h.stats.BadKey.Load() != 1 || h.stats.CutOff.Load() != 1 {
		t.Fatalf("neighbours %d, bad keys %d, cut off %d", h.count(), h.stats.BadKey.Load(), h.stats.CutOff.Load())
	}
	// A handshake meant for another member is as wrong.
	impostor := h.peer(2)
	h.send(impostor, 1, group.Init{Group: h.id, Key: group.GroupKey(h.txt, impostor.info.NearNonce), Peer: [32]byte{3}})
	h.expect(impostor, "its session closed", isClose)
	honest := h.peer(4)
	h.handshake(honest, nil)
	h.expect(honest, "the stream's announcement", isType(group.TypeMediaInfo))
	if h.count() != 1 || h.stats.BadKey.Load() != 2 {
		t.Fatalf("neighbours %d, bad keys %d", h.count(), h.stats.BadKey.Load())
	}
	for len(liar.out) > 0 {
		if isType(group.TypeMediaInfo)(<-liar.out) {
			t.Fatal("the liar was told about the stream")
		}
	}
}

// TestLyingRelayIsCutOffAndNothingItSendsReachesOthers: a member plays a stream from an
// honest neighbour and relays it to a third; a fourth sends fragments that contradict the
// stream, of no media type, far beyond it, or group messages before its handshake: each
// liar is cut off and counted, and none of their bytes reach the player or the third.
func TestLyingRelayIsCutOffAndNothingItSendsReachesOthers(t *testing.T) {
	h := newHarness(t, nil)
	h.sys.Root.Send(h.member, &Play{Name: "s"})
	key := [group.StreamKeyLen]byte{0x21, 0x01, 9}
	info := group.MediaInfo{Name: "s", Key: key, WindowMs: 8000, UpdatePeriodMs: 100, FetchPeriodMs: 500}
	honest, down := h.peer(1), h.peer(2)
	h.offer(honest, info)
	h.offer(down, info)
	h.send(down, 2, group.PushMode{Mask: 0xFF})
	h.send(honest, 2, group.FragmentsMap{Last: 3, Bits: []byte{0x03}})
	good := [][]byte{bytes.Repeat([]byte{1}, 100), bytes.Repeat([]byte{2}, 100), bytes.Repeat([]byte{3}, 100)}
	for i, b := range good {
		h.send(honest, 3, group.Fragment{Marker: group.TypeMediaData, ID: uint64(i + 1), MediaType: 9, Time: uint32(i), Data: b})
	}
	for i := range good {
		if got := <-h.media; !bytes.Equal(got, good[i]) {
			t.Fatalf("message %d: % x", i, got[:4])
		}
	}
	liars := []struct {
		name string
		lie  func(p *fakePeer)
	}{
		{"a fragment that contradicts one the stream has", func(p *fakePeer) {
			h.send(p, 3, group.Fragment{Marker: group.TypeMediaData, ID: 2, MediaType: 9, Data: bytes.Repeat([]byte{0xEE}, 100)})
		}},
		{"a fragment of no media type", func(p *fakePeer) {
			h.send(p, 3, group.Fragment{Marker: group.TypeMediaData, ID: 4, MediaType: 0x42, Data: bytes.Repeat([]byte{0xEE}, 100)})
		}},
		{"a fragment far beyond the stream", func(p *fakePeer) {
			h.send(p, 3, group.Fragment{Marker: group.TypeMediaData, ID: 3 + maxAhead + 1, MediaType: 9, Data: bytes.Repeat([]byte{0xEE}, 100)})
		}},
		{"a continuation that does not follow its start", func(p *fakePeer) {
			h.send(p, 3, group.Fragment{Marker: group.TypeMediaEnd, ID: 4, Data: bytes.Repeat([]byte{0xEE}, 100)})
		}},
		{"a fragments map far beyond the stream", func(p *fakePeer) {
			h.send(p, 2, group.FragmentsMap{Last: 3 + maxAhead + 1})
		}},
		{"a malformed media report", func(p *fakePeer) {
			h.sys.Root.Send(h.member, &linkMsg{link: p.pid, flowID: 2, data: []byte{group.TypePull, 0x80}})
		}},
	}
	for i, l := range liars {
		p := h.peer(byte(10 + i))
		h.offer(p, info)
		l.lie(p)
		h.expect(p, "its session closed for "+l.name, isClose)
	}
	early := h.peer(30)
	h.send(early, 1, group.Begin{})
	h.expect(early, "its session closed for a message before its handshake", isClose)
	if n := h.stats.CutOff.Load(); n != uint64(len(liars)+1) {
		t.Fatalf("%d cut off, want %d (bad fragments %d, bad messages %d)", n, len(liars)+1, h.stats.BadFragments.Load(), h.stats.BadMessages.Load())
	}
	// The honest stream goes on, and its next fragment is the first thing after the
	// three the player gets.
	h.send(honest, 3, group.Fragment{Marker: group.TypeMediaData, ID: 4, MediaType: 9, Data: good[0]})
	if got := <-h.media; !bytes.Equal(got, good[0]) {
		t.Fatalf("after the liars the player got % x", got[:4])
	}
	if h.count() != 2 {
		t.Fatalf("%d neighbours, want the honest two", h.count())
	}
	// The third member got the four honest fragments pushed, and nothing of the liars'.
	relayed := 0
	timeout := time.After(10 * time.Second)
	for relayed < 4 {
		select {
		case m := <-down.out:
			w, ok := m.(*session.Write)
			if !ok || w.Key.Metadata != group.MetaMedia {
				continue
			}
			if bytes.Contains(w.Data, []byte{0xEE, 0xEE, 0xEE}) {
				t.Fatal("a liar's bytes were relayed")
			}
			relayed++
		case <-timeout:
			t.Fatalf("the third member got %d fragments relayed, want 4", relayed)
		}
	}
}

// TestStreamEndWaitsForItsLastFragments: the end of a stream can overtake its last
// fragments (another flow, another neighbour); the player still gets them, then the
// stream's flows close.
func TestStreamEndWaitsForItsLastFragments(t *testing.T) {
	w := clock.NewWarp()
	h := newHarness(t, func(c *Config) { c.Clock = w })
	h.sys.Root.Send(h.member, &Play{Name: "s"})
	p := h.peer(1)
	h.offer(p, group.MediaInfo{Name: "s", Key: [group.StreamKeyLen]byte{0x21, 0x01, 5}})
	h.send(p, 2, group.FragmentsMap{Last: 2, Bits: []byte{1}})
	frag := func(id uint64) {
		h.send(p, 3, group.Fragment{Marker: group.TypeMediaData, ID: id, MediaType: 8, Data: []byte{byte(id)}})
	}
	frag(1)
	frag(2)
	h.send(p, 2, group.MediaEnd{Last: 4})
	frag(3)
	frag(4)
	frag(5) // beyond the end: not taken
	h.expectMedia(1, 4, "")
	w.Skip(DefaultWindow) // the player serves the stream's end a window more
	h.expect(p, "the stream's flows closed", func(m any) bool { _, ok := m.(*session.CloseFlow); return ok })
	h.count() // the member handled fragment 5 (OnMedia runs on its actor)
	select {
	case got := <-h.media:
		t.Fatalf("a message after the end: %d", got[0])
	default:
	}
	if n := h.stats.Unexpected.Load(); n != 1 {
		t.Fatalf("%d fragments dropped as unexpected, want 1 (the one beyond the end)", n)
	}
}

// TestPlayerPresentAtTheStartGetsItFromItsFirstFragment: a player that was there before
// the stream started gets it from its first message, even when the first fragment to
// reach it is a later one (a push) and what came before arrives late — the neighbour's
// maps after it (a stale map first) and the early fragments themselves last, as on a
// starved machine. The player must not start from the later fragment, whether its start
// is decided on a tick, when a fragment comes in before any tick (a late timer), or
// before any map told of the fragments between the stale map's and the tenth; nor drop
// the earlier fragments when they come before it knew of them ("pushed late": a
// neighbour that sent a fragment does not answer pulls of it).
func TestPlayerPresentAtTheStartGetsItFromItsFirstFragment(t *testing.T) {
	for _, trigger := range []string{"tick", "fragment", "late map", "pushed late"} {
		t.Run(trigger, func(t *testing.T) {
			h, w := newSteppedHarness(t, func(c *Config) {
				if trigger == "fragment" {
					c.UpdatePeriod = 100 * stepPeriod // no tick at all
				}
			})
			h.sys.Root.Send(h.member, &Play{Name: "s"})
			p := h.peer(1)
			h.offer(p, group.MediaInfo{Name: "s", Key: [group.StreamKeyLen]byte{0x21, 0x01, 7}})
			frag := func(id uint64) {
				h.send(p, 3, group.Fragment{Marker: group.TypeMediaData, ID: id, MediaType: 8, Data: []byte{byte(id)}})
			}
			// The stream's first three fragments were in the map that made us ask for
			// pushes; the first fragment to arrive is the tenth, pushed.
			h.send(p, 2, group.FragmentsMap{Last: 3, Bits: []byte{0x03}})
			frag(10)
			if trigger == "pushed late" {
				for id := uint64(1); id <= 9; id++ {
					frag(id)
				}
			}
			h.count()
			fresh := group.FragmentsMap{Last: 10, Bits: []byte{0xFF, 0x01}}
			if trigger != "fragment" {
				h.tick(w, stepPeriod) // a tick before the fresh map
			}
			if trigger != "late map" {
				h.send(p, 2, fresh)
			}
			if trigger != "fragment" {
				h.tick(w, stepPeriod) // a fetch stepPeriod after the tenth: the player may start
				h.send(p, 2, fresh)
			} else {
				w.Skip(3 * stepPeriod / 2) // the timer is late; a fragment comes first
				h.count()
				frag(11)
			}
			h.count()
			if trigger != "pushed late" {
				for id := uint64(1); id <= 9; id++ {
					frag(id)
				}
			}
			last := byte(10)
			if trigger == "fragment" {
				last = 11
			}
			h.expectMedia(1, last, "(the stream's first messages were skipped?)")
		})
	}
}

// TestFirstFragmentPushedLateLeavesNoUnknownHole: the stream's first fragment comes after
// a later one was scanned for holes (no map offered it yet); the player then starts from
// it, and must know of and pull the fragments in between, not wait for them unknown until
// the window takes its start away.
func TestFirstFragmentPushedLateLeavesNoUnknownHole(t *testing.T) {
	h, w := newSteppedHarness(t, nil)
	h.sys.Root.Send(h.member, &Play{Name: "s"})
	p := h.peer(1)
	h.offer(p, group.MediaInfo{Name: "s", Key: [group.StreamKeyLen]byte{0x21, 0x01, 9}})
	frag := func(id uint64) {
		h.send(p, 3, group.Fragment{Marker: group.TypeMediaData, ID: id, MediaType: 8, Data: []byte{byte(id)}})
	}
	h.send(p, 2, group.FragmentsMap{Last: 10, Bits: []byte{0xFF}}) // 2 to 10
	frag(10)
	h.count()
	h.tick(w, stepPeriod) // scans from 10
	frag(1)               // pushed late
	h.count()
	h.tick(w, stepPeriod) // starts from 1
	if got := <-h.media; got[0] != 1 {
		t.Fatalf("got message %d first, want 1", got[0])
	}
	h.tick(w, 2*stepPeriod) // a fetch stepPeriod later: 2 to 9 are pulled
	h.expect(p, "a pull of fragment 2", func(m any) bool {
		wr, ok := m.(*session.Write)
		return ok && bytes.Equal(wr.Data, group.Pull{ID: 2}.Append(nil))
	})
}

// TestLateJoinerStartsNearTheLiveEdge: a player that joins a stream whose first fragment
// is gone from every neighbour starts from the first message it gets, without waiting for
// (or pulling) the window its neighbours still offer.
func TestLateJoinerStartsNearTheLiveEdge(t *testing.T) {
	h, w := newSteppedHarness(t, nil)
	h.sys.Root.Send(h.member, &Play{Name: "s"})
	p := h.peer(1)
	h.offer(p, group.MediaInfo{Name: "s", Key: [group.StreamKeyLen]byte{0x21, 0x01, 8}})
	// The neighbour holds 1000 to 1200 (a window of the stream).
	h.send(p, 2, group.FragmentsMap{Last: 1200, Bits: bytes.Repeat([]byte{0xFF}, 25)})
	first, last := uint64(1201), uint64(1203)
	for id := first; id <= last; id++ {
		h.send(p, 3, group.Fragment{Marker: group.TypeMediaData, ID: id, MediaType: 8, Data: []byte{byte(id)}})
	}
	h.count()
	h.tick(w, stepPeriod)
	h.tick(w, stepPeriod)
	h.expectMedia(byte(first), byte(last), "(the late joiner from the live edge)")
	if n := h.stats.Pulls.Load(); n != 0 {
		t.Fatalf("the late joiner pulled %d fragments of the past", n)
	}
}

// expectMedia waits for the played messages from to to (their first byte), in order;
// why, if set, is what a wrong or missing one means.
func (h *harness) expectMedia(from, to byte, why string) {
	h.t.Helper()
	for want := from; want <= to; want++ {
		select {
		case got := <-h.media:
			if got[0] != want {
				h.t.Fatalf("got message %d, want %d %s", got[0], want, why)
			}
		case <-time.After(10 * time.Second):
			h.t.Fatalf("message %d never came %s", want, why)
		}
	}
}

// tick skips the clock by d, which fires the member's tick, and waits until it was
// handled (the member arms its next tick last).
func (h *harness) tick(w *clock.Warp, d time.Duration) {
	h.t.Helper()
	w.Skip(d)
	deadline := time.Now().Add(10 * time.Second)
	for w.Pending() == 0 {
		if time.Now().After(deadline) {
			h.t.Fatal("the member never handled its tick")
		}
		time.Sleep(time.Millisecond)
	}
	h.count()
}

// TestStreamsNobodyOffersFreeTheirLanes: the streams neighbours announced that the member
// does not play are forgotten once no neighbour offers them (the one that did left
// without their end), so that their lanes do not run out: after maxStreams of them, the
// member still publishes its own stream.
func TestStreamsNobodyOffersFreeTheirLanes(t *testing.T) {
	h := newHarness(t, nil)
	p := h.peer(1)
	h.handshake(p, nil)
	for i := range maxStreams {
		flow := uint64(10 + i)
		h.flow(p, flow, group.MetaMediaReport, nil)
		h.send(p, flow, group.MediaInfo{Name: fmt.Sprint("other", i), Key: [group.StreamKeyLen]byte{0x21, 0x01, byte(i)}})
	}
	h.sys.Root.Send(h.member, &linkDown{link: p.pid})
	h.sys.Root.Send(h.member, &Inject{Name: "s", Type: 9, Body: []byte{0x17, 0, 0, 0, 0, 1}})
	q := h.peer(2)
	h.handshake(q, nil)
	h.expect(q, "the announcement of the member's own stream", isType(group.TypeMediaInfo))
}

// TestNeighbourWithoutTheStreamIsToldOfIt: a player announces the stream it plays to every
// neighbour, not only to those that announced it first: a neighbour whose only other
// neighbours are players (another viewer behind this one) hears of the stream from no one
// else, and two players that each wait for the other to announce get nothing from each
// other. Both when the stream is announced to a member already playing it and when the
// member starts playing a stream it knew of.
func TestNeighbourWithoutTheStreamIsToldOfIt(t *testing.T) {
	for _, order := range []string{"announced to a player", "played once announced"} {
		t.Run(order, func(t *testing.T) {
			h := newHarness(t, nil)
			if order == "announced to a player" {
				h.sys.Root.Send(h.member, &Play{Name: "s"})
			}
			viewer := h.peer(2)
			h.handshake(viewer, nil)
			if n := h.count(); n != 1 {
				t.Fatalf("%d neighbours, want the viewer", n)
			}
			source := h.peer(1)
			info := group.MediaInfo{Name: "s", Key: [group.StreamKeyLen]byte{0x21, 0x01, 6}}
			h.offer(source, info)
			if order == "played once announced" {
				h.count()
				h.sys.Root.Send(h.member, &Play{Name: "s"})
			}
			h.expect(viewer, "the stream's announcement", func(m any) bool {
				w, ok := m.(*session.Write)
				if !ok || w.Key.Metadata != group.MetaMediaReport {
					return false
				}
				got, err := group.Parse(w.Data)
				mi, isInfo := got.(group.MediaInfo)
				return err == nil && isInfo && mi.Name == info.Name && mi.Key == info.Key
			})
		})
	}
}

// TestPlayerOfferedTheStartPullsItWithNothingPushed: a player that was there before the
// stream started, offered its first fragments by a neighbour's map but pushed nothing (it
// asked for pushes after the source had sent the whole stream: a short burst, or a source
// that went quiet), pulls them and plays the stream; it does not wait for a push that
// never comes because it holds nothing yet.
func TestPlayerOfferedTheStartPullsItWithNothingPushed(t *testing.T) {
	h, w := newSteppedHarness(t, nil)
	h.sys.Root.Send(h.member, &Play{Name: "s"})
	p := h.peer(1)
	h.offer(p, group.MediaInfo{Name: "s", Key: [group.StreamKeyLen]byte{0x21, 0x01, 10}})
	h.send(p, 2, group.FragmentsMap{Last: 5, Bits: []byte{0x0F}}) // 1 to 5, the whole stream
	h.count()
	pulled := map[uint64]bool{}
	for i := 0; i < 3 && len(pulled) < 5; i++ {
		h.tick(w, stepPeriod)
		for len(p.out) > 0 {
			wr, ok := (<-p.out).(*session.Write)
			if !ok {
				continue
			}
			if m, err := group.Parse(wr.Data); err == nil {
				if pl, ok := m.(group.Pull); ok {
					pulled[pl.ID] = true
				}
			}
		}
	}
	for id := uint64(1); id <= 5; id++ {
		if !pulled[id] {
			t.Fatalf("fragment %d was never pulled (pulled %v): the player waits for pushes that never come", id, pulled)
		}
	}
	for id := uint64(1); id <= 5; id++ {
		h.send(p, 3, group.Fragment{Marker: group.TypeMediaData, ID: id, MediaType: 8, Data: []byte{byte(id)}})
	}
	h.count()
	h.tick(w, 2*stepPeriod) // a fetch stepPeriod after the first fragment: the player starts
	h.expectMedia(1, 5, "")
}

// TestLosslessMemberGivesNothingUpForItsAge: with Config.Lossless a player whose missing
// fragment comes more than a window late still gets it and what followed it, and the
// copies it relays carry no lifetime; without it, the window gives the fragment up (the
// live policy: a starved player loses media).
func TestLosslessMemberGivesNothingUpForItsAge(t *testing.T) {
	for _, lossless := range []bool{false, true} {
		t.Run(fmt.Sprint("lossless=", lossless), func(t *testing.T) {
			h, w := newSteppedHarness(t, func(c *Config) {
				c.Lossless = lossless
			})
			h.sys.Root.Send(h.member, &Play{Name: "s"})
			info := group.MediaInfo{Name: "s", Key: [group.StreamKeyLen]byte{0x21, 0x01, 11}}
			p, down := h.peer(1), h.peer(2)
			h.offer(p, info)
			h.offer(down, info)
			h.send(down, 2, group.PushMode{Mask: 0xFF}) // down asks us to push everything
			frag := func(id uint64) {
				h.send(p, 3, group.Fragment{Marker: group.TypeMediaData, ID: id, MediaType: 8, Data: []byte{byte(id)}})
			}
			h.send(p, 2, group.FragmentsMap{Last: 3, Bits: []byte{0x03}})
			frag(1)
			frag(3) // 2 is late
			h.expect(down, "fragment 1 pushed", func(m any) bool {
				wr, ok := m.(*session.Write)
				if !ok || wr.Key.Metadata != group.MetaMedia {
					return false
				}
				if want := map[bool]time.Duration{false: 10 * stepPeriod, true: 0}[lossless]; wr.Lifetime != want {
					t.Fatalf("a fragment relayed with lifetime %v, want %v", wr.Lifetime, want)
				}
				return true
			})
			h.tick(w, stepPeriod)
			h.tick(w, stepPeriod) // a fetch stepPeriod after the first fragment: the player starts
			if got := <-h.media; got[0] != 1 {
				t.Fatalf("got message %d first, want 1", got[0])
			}
			h.tick(w, 10*stepPeriod) // fragment 2 missing for more than the window
			frag(2)
			h.count()
			h.tick(w, stepPeriod)
			if !lossless {
				if h.stats.Lost.Load() == 0 {
					t.Fatal("the window gave nothing up")
				}
				return
			}
			h.expectMedia(2, 3, "(given up by the window?)")
			if n := h.stats.Lost.Load(); n != 0 {
				t.Fatalf("%d fragments given up", n)
			}
		})
	}
}

// TestEndedStreamIsServedAWindowMore: the source of a stream that ended still answers its
// neighbours' pulls of what it holds (the end overtakes fragments, and a neighbour on a
// starved machine is seconds behind: a source that stopped answering at the end left
// every player without the stream's last fragments). Its flows close once what it holds
// left the window, or, lossless, a window after the last pull it got.
func TestEndedStreamIsServedAWindowMore(t *testing.T) {
	for _, lossless := range []bool{false, true} {
		t.Run(fmt.Sprint("lossless=", lossless), func(t *testing.T) {
			h, w := newSteppedHarness(t, func(c *Config) {
				c.Lossless = lossless
			})
			for i := range 3 {
				h.sys.Root.Send(h.member, &Inject{Name: "s", Type: 8, Time: uint32(i), Body: []byte{0xAF, 1, byte(i + 1)}})
			}
			p := h.peer(1)
			h.handshake(p, nil)
			var info group.MediaInfo
			h.expect(p, "the stream's announcement", func(m any) bool {
				wr, ok := m.(*session.Write)
				if !ok {
					return false
				}
				got, err := group.Parse(wr.Data)
				info, ok = got.(group.MediaInfo)
				return err == nil && ok
			})
			// p plays it: it announces it back on its media report flow (2).
			h.flow(p, 2, group.MetaMediaReport, nil)
			h.send(p, 2, info)
			h.count()
			h.sys.Root.Send(h.member, &EndStream{Name: "s"})
			h.expect(p, "the stream's end", isType(group.TypeMediaInfo))
			closed := func(m any) bool { _, ok := m.(*session.CloseFlow); return ok }
			pull := func(id uint64) {
				t.Helper()
				h.send(p, 2, group.Pull{ID: id})
				h.expect(p, fmt.Sprintf("fragment %d, pulled after the stream's end", id), func(m any) bool {
					if closed(m) {
						t.Fatal("the stream's flows closed before the pull was answered")
					}
					wr, ok := m.(*session.Write)
					if !ok || wr.Key.Metadata != group.MetaMedia {
						return false
					}
					f, err := group.ParseFragment(wr.Data)
					return err == nil && f.ID == id
				})
			}
			notClosed := func(when string) {
				t.Helper()
				h.count()
				for len(p.out) > 0 {
					if closed(<-p.out) {
						t.Fatalf("the stream's flows closed %s", when)
					}
				}
			}
			h.tick(w, stepPeriod)
			pull(2)
			h.tick(w, 5*stepPeriod)
			notClosed("while the pulled fragments were in the window")
			if lossless {
				pull(3)
				h.tick(w, 6*stepPeriod)
				notClosed("within a window of the last pull")
			}
			h.tick(w, 6*stepPeriod)
			h.expect(p, "the stream's flows closed", closed)
		})
	}
}

// TestRepublishedStreamIsANewStream: a stream published again while the member still
// serves the end of the previous publishing (a window after its end) is a new stream, with
// a key of its own: the old one's neighbours were told where it ends.
func TestRepublishedStreamIsANewStream(t *testing.T) {
	h := newHarness(t, nil)
	p := h.peer(1)
	h.handshake(p, nil)
	keys := map[[group.StreamKeyLen]byte]bool{}
	announced := func(m any) bool {
		wr, ok := m.(*session.Write)
		if !ok {
			return false
		}
		got, err := group.Parse(wr.Data)
		info, ok := got.(group.MediaInfo)
		if err == nil && ok {
			keys[info.Key] = true
		}
		return err == nil && ok
	}
	h.sys.Root.Send(h.member, &Inject{Name: "s", Type: 8, Body: []byte{0xAF, 1, 1}})
	h.expect(p, "the stream's announcement", announced)
	h.sys.Root.Send(h.member, &EndStream{Name: "s"})
	h.sys.Root.Send(h.member, &Inject{Name: "s", Type: 8, Body: []byte{0xAF, 1, 2}})
	h.expect(p, "the new stream's announcement", announced)
	if len(keys) != 2 {
		t.Fatalf("the stream published again was announced under %d keys, want a new one", len(keys))
	}
}

// TestFilledHoleIsOfferedInTheNextMap: a fragment that fills a hole behind the stream's
// head (pulled, or pushed late) is in the next fragments map the member sends, though the
// head did not move: its neighbours missing it too learn that they can pull it here,
// instead of waiting for it from no one (and, with the live window, giving it up).
func TestFilledHoleIsOfferedInTheNextMap(t *testing.T) {
	h, w := newSteppedHarness(t, nil)
	h.sys.Root.Send(h.member, &Play{Name: "s"})
	info := group.MediaInfo{Name: "s", Key: [group.StreamKeyLen]byte{0x21, 0x01, 12}}
	p, q := h.peer(1), h.peer(2)
	h.offer(p, info)
	h.offer(q, info)
	frag := func(id uint64) {
		h.send(p, 3, group.Fragment{Marker: group.TypeMediaData, ID: id, MediaType: 8, Data: []byte{byte(id)}})
	}
	h.send(p, 2, group.FragmentsMap{Last: 3, Bits: []byte{0x03}})
	frag(1)
	frag(3)
	h.count()
	mapTo := func(what string, want func(group.FragmentsMap) bool) {
		t.Helper()
		h.expect(q, what, func(m any) bool {
			wr, ok := m.(*session.Write)
			if !ok || wr.Key.Metadata != group.MetaMediaReport {
				return false
			}
			got, err := group.Parse(wr.Data)
			fm, ok := got.(group.FragmentsMap)
			return err == nil && ok && want(fm)
		})
	}
	h.tick(w, stepPeriod)
	mapTo("a map of 1 and 3", func(fm group.FragmentsMap) bool { return fm.Last == 3 && fm.Has(1) && !fm.Has(2) })
	frag(2) // the hole filled
	h.count()
	h.tick(w, stepPeriod)
	mapTo("a map offering 2", func(fm group.FragmentsMap) bool { return fm.Last == 3 && fm.Has(2) })
}

// TestHandshakeOvertakenOnAnotherFlowIsNoLie: RTMFP orders the messages of a flow, not the
// flows of a session. The member that dialled sends its handshake; the neighbour answers
// with its own on the report flow, then announces its stream and posts on other flows. When
// the packet of its handshake is lost and resent (a loaded machine drops datagrams), those
// come first. They are held until the handshake and then taken, not judged a lie: under
// load an honest neighbour was cut off for "group message before the handshake". On the
// report flow itself, what comes before the handshake is still a lie (the existing test).
func TestHandshakeOvertakenOnAnotherFlowIsNoLie(t *testing.T) {
	posts := make(chan []byte, 4)
	h, w := newSteppedHarness(t, func(c *Config) {
		c.OnPost = func(b []byte) { posts <- append([]byte(nil), b...) }
	})
	h.sys.Root.Send(h.member, &Play{Name: "s"})
	p := &fakePeer{out: make(chan any, 1024),
		info: endpoint.SessionInfo{PeerID: cryptoutil.PeerID{7}, NearNonce: [32]byte{7, 1}, FarNonce: [32]byte{7, 2}}}
	p.pid = h.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return p }))
	h.sys.Root.Send(h.member, &linkUp{link: p.pid, session: p.pid, info: p.info, initiator: true})
	h.expect(p, "the member's handshake", isType(group.TypeInit))
	key := [group.StreamKeyLen]byte{0x21, 0x01, 7}
	info := group.MediaInfo{Name: "s", Key: key, WindowMs: 8000, UpdatePeriodMs: 100, FetchPeriodMs: 500}
	// The report flow opens (its first message, the handshake, is lost), then the stream's
	// announcement, its map and a post overtake it.
	h.flow(p, 1, group.MetaReport, nil)
	h.flow(p, 2, group.MetaMediaReport, nil)
	h.send(p, 2, info)
	h.send(p, 2, group.FragmentsMap{Last: 1})
	h.flow(p, 4, group.MetaPost, nil)
	post := []byte{0x02, 0x00, 0x02, 'h', 'i'} // AMF0 "hi"
	h.sys.Root.Send(h.member, &linkMsg{link: p.pid, flowID: 4, data: post})
	h.handshake(p, nil)
	if n := h.count(); n != 1 || h.stats.CutOff.Load() != 0 {
		t.Fatalf("%d neighbours, %d cut off (bad messages %d): an honest neighbour whose handshake was overtaken",
			n, h.stats.CutOff.Load(), h.stats.BadMessages.Load())
	}
	// What was held counts: the announcement (we answer it with ours), the map (we pull
	// what it offers) and the post.
	h.expect(p, "our announcement of its stream", isType(group.TypeMediaInfo))
	for range 3 { // the hole is seen at a tick, pulled a fetch stepPeriod on
		h.tick(w, stepPeriod)
	}
	h.expect(p, "a pull of the fragment its map offered", isType(group.TypePull))
	select {
	case got := <-posts:
		if !bytes.Equal(got, post) {
			t.Fatalf("post % x, want % x", got, post)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the post that overtook the handshake never reached the player")
	}
	// What is held is bounded: a neighbour that sends more than maxEarlyBytes before its
	// handshake is let go, not counted as a liar (it was not caught lying).
	q := h.peer(8)
	h.flow(q, 4, group.MetaPost, nil)
	big := append([]byte{0x02, 0x10, 0x00}, bytes.Repeat([]byte{'x'}, 0x1000)...)
	for range maxEarlyBytes/len(big) + 1 {
		h.sys.Root.Send(h.member, &linkMsg{link: q.pid, flowID: 4, data: big})
	}
	h.expect(q, "its session closed for what it sent before its handshake", isClose)
	if h.count() != 1 || h.stats.CutOff.Load() != 0 {
		t.Fatalf("%d neighbours, %d cut off", h.count(), h.stats.CutOff.Load())
	}
}
