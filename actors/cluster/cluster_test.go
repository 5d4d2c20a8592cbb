package cluster

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/live"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/messages"
)

// TestGroupHomes: every node computes the same home from the same members, homes spread
// over the members, and a member joining moves only the groups it takes (rendezvous
// hashing).
func TestGroupHomes(t *testing.T) {
	gw := func(self string, others ...string) *groupsGateway {
		g := newGroupsGateway(gateway{self: self, members: map[string]string{}}, Services{})
		for _, o := range others {
			g.members[o] = o
		}
		return g
	}
	a, b, c := gw("a", "b", "c"), gw("b", "a", "c"), gw("c", "a", "b")
	count := map[string]int{}
	homes := map[app.GroupID]string{}
	for i := range 3000 {
		var g app.GroupID
		copy(g[:], fmt.Sprint(i))
		h := a.homeNode(g)
		if b.homeNode(g) != h || c.homeNode(g) != h {
			t.Fatalf("group %d: the nodes disagree on its home", i)
		}
		count[h]++
		homes[g] = h
	}
	for _, n := range []string{"a", "b", "c"} {
		if count[n] < 800 || count[n] > 1200 {
			t.Errorf("node %s is home of %d of 3000 groups", n, count[n])
		}
	}
	d := gw("a", "b", "c", "d")
	moved := 0
	for g, h := range homes {
		if nh := d.homeNode(g); nh != h {
			if nh != "d" {
				t.Fatalf("a group moved from %s to %s when d joined", h, nh)
			}
			moved++
		}
	}
	if moved < 500 || moved > 1000 {
		t.Errorf("%d of 3000 groups moved to the new member", moved)
	}
}

func media(t *testing.T, kind live.Kind, data []byte, targeted, config, key bool) *live.Media {
	t.Helper()
	return &live.Media{Kind: kind, Data: data, Targeted: targeted, Config: config, KeyFrame: key}
}

func statusMsg(t *testing.T, s flash.Status) []byte {
	b, err := flash.AppendOnStatus(nil, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLinkConverts: a link sends the edge what its publication needs — media,
// configuration, metadata — and the publisher's comings and goings as events, not the
// statuses of its own subscription; a node that does not acknowledge loses video down
// to the next key frame, never configuration.
func TestLinkConverts(t *testing.T) {
	w := clock.NewWarp()
	l := &linkActor{stats: &Stats{}, clock: w, log: zap.NewNop()}
	video := func(key bool) []byte {
		b := flash.Message{Type: flash.TypeVideo, Body: []byte{0x27, 1, 0, 0, 0, 9}}.Append(nil)
		if key {
			b[flash.HeaderLen] = 0x17
		}
		return b
	}
	meta, _ := flash.AppendData(nil, flash.Data{Values: []any{"onMetaData", "x"}})
	access, _ := flash.AppendData(nil, flash.Data{Values: []any{"|RtmpSampleAccess", true, true}})
	for _, c := range []struct {
		name  string
		m     *live.Media
		event messages.StreamEvent
		sent  bool
	}{
		{"its Play.Start", media(t, live.KindControl, statusMsg(t, flash.PlayStart("s")), true, true, false), 0, false},
		{"its sample access", media(t, live.KindControl, access, true, true, false), 0, false},
		{"replayed metadata", media(t, live.KindControl, meta, true, true, false), 0, true},
		{"unpublished", media(t, live.KindControl, statusMsg(t, flash.PlayUnpublishNotify("s")), false, true, false), messages.StreamEvent_STREAM_UNPUBLISHED, true},
		{"published", media(t, live.KindControl, statusMsg(t, flash.PlayPublishNotify("s")), false, true, false), messages.StreamEvent_STREAM_PUBLISHED, true},
		{"video after unpublish waits for a key frame", media(t, live.KindVideo, video(false), false, false, false), 0, false},
		{"key frame", media(t, live.KindVideo, video(true), true, false, true), 0, true},
		{"video", media(t, live.KindVideo, video(false), false, false, false), 0, true},
		{"garbage", &live.Media{Kind: live.KindVideo, Data: []byte{1}}, 0, false},
	} {
		md := l.convert(c.m)
		if (md != nil) != c.sent || md != nil && md.Event != c.event {
			t.Errorf("%s: %v", c.name, md)
		}
	}
	// Unacknowledged for long: video is dropped to the next key frame; configuration and
	// audio still go.
	l.flight, l.flightBytes = []inFlight{{seq: 1, bytes: 10, at: w.Now()}}, 10
	w.Skip(linkMaxAge + time.Second)
	if md := l.convert(media(t, live.KindVideo, video(false), false, false, false)); md != nil || !l.waitKey {
		t.Fatal("a link far behind sent video")
	}
	cfgVideo := flash.Message{Type: flash.TypeVideo, Body: []byte{0x17, 0, 0, 0, 0}}.Append(nil)
	if md := l.convert(media(t, live.KindVideo, cfgVideo, false, true, true)); md == nil {
		t.Fatal("a link far behind dropped the codec configuration")
	}
	if md := l.convert(media(t, live.KindVideo, video(true), false, false, true)); md == nil || l.waitKey {
		t.Fatal("the key frame did not resume video")
	}
	l.onAck(1)
	if l.flightBytes != 0 || len(l.flight) != 0 {
		t.Fatalf("after the ack: %d bytes in flight", l.flightBytes)
	}
	if l.stats.MediaDropped.Load() == 0 {
		t.Fatal("drops not counted")
	}
}

func TestHealthAddr(t *testing.T) {
	for in, want := range map[string]string{"10.0.0.1:7000": "10.0.0.1:7001", "[::1]:65534": "[::1]:65535"} {
		if got, err := HealthAddr(in); err != nil || got != want {
			t.Errorf("HealthAddr(%s) = %s, %v", in, got, err)
		}
	}
	for _, bad := range []string{"10.0.0.1:65535", "10.0.0.1", "x:0"} {
		if _, err := HealthAddr(bad); err == nil {
			t.Errorf("HealthAddr(%s) accepted", bad)
		}
	}
	for s, want := range map[string]bool{":7000": true, "0.0.0.0:1": true, "[::]:1": true, "10.0.0.1:1": false, "host:1": false} {
		if Unspecified(s) != want {
			t.Errorf("Unspecified(%s) != %v", s, want)
		}
	}
}

// TestClaimsWaitForChangesOnTheirWay: under a steady stream of changes every status says
// more than has arrived; that is no loss as long as what each said arrives later. What a
// status said and never arrives is a loss, found behindTicks statuses later.
func TestClaimsWaitForChangesOnTheirWay(t *testing.T) {
	var c claims
	last := uint64(0)
	for tick := uint64(1); tick <= 100; tick++ {
		// The status says 100 changes per tick; the changes of the tick before have arrived.
		if c.missing(tick*100, last) {
			t.Fatalf("tick %d: a steady stream taken for a loss", tick)
		}
		last = tick * 100
	}
	// The stream stops; the last batch (up to 10,050) is lost: the first status that says
	// so is a claim, found missing behindTicks statuses later.
	said := last + 50
	for i := 0; i <= behindTicks; i++ {
		got := c.missing(said, last)
		if want := i == behindTicks; got != want {
			t.Fatalf("status %d after the loss: missing %v, want %v", i, got, want)
		}
	}
	// Nothing said beyond what arrived: nothing missing.
	var d claims
	for range 5 {
		if d.missing(7, 7) {
			t.Fatal("a member that said what arrived taken for a loss")
		}
	}
}
