package netgroup

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// heldClock is the real clock, except that one reading, once armed, waits for release:
// the group actor reads the clock when it takes a new member, in the middle of its join.
type heldClock struct {
	clock.Clock
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (c *heldClock) Now() time.Time {
	if c.armed.CompareAndSwap(true, false) {
		c.entered <- struct{}{}
		<-c.release
	}
	return c.Clock.Now()
}

// TestJoinIsCountedOnceAnswered: Stats.Joins counts the joins answered, and whoever sees it
// move sees the peer IDs those joins were handed (Introduced). The server's mesh test waits
// for Joins and then for as many peer IDs as Introduced says; Joins counted at the start of
// the join let it read Introduced before the last member's introductions were counted, and
// find that member handed nothing ("member 49 was handed no neighbour", issue 26).
func TestJoinIsCountedOnceAnswered(t *testing.T) {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	clk := &heldClock{Clock: clock.Real(), entered: make(chan struct{}), release: make(chan struct{})}
	flowCh, flow2Ch := make(chan any, 16), make(chan any, 16)
	flow := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &recorder{out: flowCh} }))
	flow2 := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &recorder{out: flow2Ch} }))
	stats := &Stats{}
	reg := sys.Root.Spawn(Props(Config{MaxMembers: 10, Neighbors: 6, Stats: stats, Index: NewIndex(), Clock: clk}))
	g := app.GroupID{1}

	sys.Root.Send(reg, &Join{Group: g, Peer: cryptoutil.PeerID{1}, Flow: flow})
	recv[*Neighbors](t, flowCh)
	// The answer is sent before the join is counted: wait for the count.
	joined(t, stats, 1)
	if i := stats.Introduced.Load(); i != 0 {
		t.Fatalf("after the first join: introduced %d, want 0", i)
	}

	// The second member's join, held where the group takes it as a member.
	clk.armed.Store(true)
	sys.Root.Send(reg, &Join{Group: g, Peer: cryptoutil.PeerID{2}, Flow: flow2})
	select {
	case <-clk.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the group never read its clock for the new member")
	}
	j := stats.Joins.Load()
	close(clk.release)
	if j != 1 {
		t.Fatalf("a join in progress was counted as answered: joins %d while it had not been answered", j)
	}
	if n := recv[*Neighbors](t, flow2Ch); len(n.Peers) != 1 || n.Peers[0] != (cryptoutil.PeerID{1}) {
		t.Fatalf("the second member was handed %v", n.Peers)
	}
	joined(t, stats, 2)
	if i := stats.Introduced.Load(); i != 1 {
		t.Fatalf("after the second join: introduced %d, want 1 (Joins counted before Introduced)", i)
	}
}

// joined waits until stats counts k joins answered (and fails after 10 s).
func joined(t *testing.T, stats *Stats, k uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for stats.Joins.Load() < k {
		if time.Now().After(deadline) {
			t.Fatalf("joins %d, want %d", stats.Joins.Load(), k)
		}
		time.Sleep(time.Millisecond)
	}
	if j := stats.Joins.Load(); j != k {
		t.Fatalf("joins %d, want %d", j, k)
	}
}
