package netgroup

import (
	"net/netip"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/apphost"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// flowClient is the client of a group flow under test (the methods the flow calls).
type flowClient struct{ app.Client }

func (flowClient) PeerID() cryptoutil.PeerID { return cryptoutil.PeerID{7} }
func (flowClient) Address() netip.AddrPort {
	return netip.MustParseAddrPort("192.0.2.1:1935")
}
func (flowClient) Path() string { return "live" }

// flowParent is a client's connection as the flow sees it: it spawns the flow and
// records what the flow tells it.
type flowParent struct {
	p    FlowParams
	flow chan *actor.PID
	out  chan any
}

func (f *flowParent) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		f.flow <- ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return NewFlow(f.p) }))
	case *FlowRefused:
		f.out <- m
	}
}

// TestRefusedAfterJoiningLeavesTheApplication: a member the group refuses after it had
// joined (its home refused a repeated join) leaves the group for the application too:
// the application that was told of the join is told of the leave.
func TestRefusedAfterJoiningLeavesTheApplication(t *testing.T) {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	spawn := func(ch chan any) *actor.PID {
		return sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &recorder{out: ch} }))
	}
	appCh, groupCh, sessCh := make(chan any, 16), make(chan any, 16), make(chan any, 16)
	parent := &flowParent{p: FlowParams{Client: flowClient{}, App: spawn(appCh), Session: spawn(sessCh), Stats: &Stats{}},
		flow: make(chan *actor.PID, 1), out: make(chan any, 16)}
	sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return parent }))
	flow := <-parent.flow
	group := spawn(groupCh)
	sys.Root.Send(flow, &Neighbors{Group: group})
	sys.Root.Send(flow, &Refused{})
	recv[*FlowRefused](t, parent.out)
	if l := recv[*Leave](t, groupCh); l.Peer != (cryptoutil.PeerID{7}) {
		t.Fatalf("the group was told %+v", l)
	}
	if g := recv[*apphost.Group](t, appCh); !g.Leave {
		t.Fatalf("the application was told %+v, want a leave", g)
	}
}
