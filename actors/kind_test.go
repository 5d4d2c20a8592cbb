package actors

import (
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
)

// named answers its name.
type named struct{ name int }

type whoAreYou struct{ reply chan int }

func (n *named) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *whoAreYou:
		m.reply <- n.name
	case string:
		panic(m)
	}
}

// TestKindSpawnsTheActorItIsGiven: spawns of one Kind from many goroutines at once each
// start the very actor handed to them; a restart (which a Kind's actors are not meant to
// get) ends the actor instead of starting a stranger.
func TestKindSpawnsTheActorItIsGiven(t *testing.T) {
	sys := NewActorSystem(zap.NewNop())
	defer sys.Shutdown()
	k := NewKind(actor.WithSupervisor(actor.NewOneForOneStrategy(10, time.Minute, actor.DefaultDecider)))
	const n = 200
	pids := make([]*actor.PID, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { pids[i] = k.Spawn(&named{name: i}, sys.Root.Spawn) })
	}
	wg.Wait()
	ask := func(pid *actor.PID) (int, bool) {
		reply := make(chan int, 1)
		sys.Root.Send(pid, &whoAreYou{reply})
		select {
		case v := <-reply:
			return v, true
		case <-time.After(2 * time.Second):
			return 0, false
		}
	}
	for i, pid := range pids {
		if got, ok := ask(pid); !ok || got != i {
			t.Fatalf("actor %d answered %d (%v)", i, got, ok)
		}
	}
	// A parent whose strategy restarts a failed child: the restart gets a stillborn actor.
	var child *actor.PID
	made, stopped := make(chan struct{}), make(chan struct{})
	parent := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return actor.ReceiveFunc(func(ctx actor.Context) {
			if _, ok := ctx.Message().(*actor.Started); ok {
				child = k.Spawn(&named{name: -1}, ctx.Spawn)
				ctx.Watch(child)
				close(made)
			}
			if _, ok := ctx.Message().(*actor.Terminated); ok {
				close(stopped)
			}
		})
	}, actor.WithSupervisor(actor.NewOneForOneStrategy(10, time.Minute, actor.DefaultDecider))))
	defer sys.Root.Stop(parent)
	<-made
	sys.Root.Send(child, "crash")
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("the restarted actor did not stop")
	}
}
