package netgroup

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

type recorder struct{ out chan any }

func (r *recorder) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
		return
	}
	r.out <- ctx.Message()
}

func recv[T any](t *testing.T, ch chan any) T {
	t.Helper()
	select {
	case m := <-ch:
		v, ok := m.(T)
		if !ok {
			t.Fatalf("got %T %+v, want %T", m, m, v)
		}
		return v
	case <-time.After(10 * time.Second):
		var v T
		t.Fatalf("no %T came", v)
		return v
	}
}

// TestGroupsWithAHome: with Config.Home, a group actor leaves the choice to the group's
// home: it passes its members' joins and leaves on, and hands each member the
// introductions (or the refusal) that come back through the registry.
func TestGroupsWithAHome(t *testing.T) {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	homeCh, flowCh, flow2Ch := make(chan any, 16), make(chan any, 16), make(chan any, 16)
	home := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &recorder{out: homeCh} }))
	flow := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &recorder{out: flowCh} }))
	flow2 := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &recorder{out: flow2Ch} }))
	stats := &Stats{}
	index := NewIndex()
	reg := sys.Root.Spawn(Props(Config{MaxMembers: 10, Neighbors: 6, Stats: stats, Home: home, Index: index}))
	g := app.GroupID{1}
	peer, peer2, other := cryptoutil.PeerID{1}, cryptoutil.PeerID{2}, cryptoutil.PeerID{3}

	sys.Root.Send(reg, &Join{Group: g, Peer: peer, Flow: flow})
	if j := recv[*HomeJoin](t, homeCh); j.Group != g || j.Peer != peer {
		t.Fatalf("home told %+v", j)
	}
	sys.Root.Send(reg, &Introduce{Group: g, Peer: peer, Peers: []cryptoutil.PeerID{other}})
	n := recv[*Neighbors](t, flowCh)
	if len(n.Peers) != 1 || n.Peers[0] != other || n.Group == nil {
		t.Fatalf("member handed %+v", n)
	}
	// A refusal ends the membership here.
	sys.Root.Send(reg, &Join{Group: g, Peer: peer2, Flow: flow2})
	recv[*HomeJoin](t, homeCh)
	sys.Root.Send(reg, &Introduce{Group: g, Peer: peer2, Refused: true})
	recv[*Refused](t, flow2Ch)
	// The member leaves: the home hears of it.
	sys.Root.Send(n.Group, &Leave{Peer: peer, Flow: flow})
	if l := recv[*HomeLeave](t, homeCh); l.Group != g || l.Peer != peer {
		t.Fatalf("home told %+v", l)
	}
	// Neither the member refused nor the one that left stays in the operators' view.
	if groups, members := index.Counts(); groups != 1 || members != 0 {
		t.Fatalf("index: %d groups, %d members; want 1 group, no members", groups, members)
	}
	if stats.Joins.Load() != 1 || stats.Refused.Load() != 1 || stats.Leaves.Load() != 1 {
		t.Fatalf("stats: joins %d refused %d leaves %d", stats.Joins.Load(), stats.Refused.Load(), stats.Leaves.Load())
	}
}
