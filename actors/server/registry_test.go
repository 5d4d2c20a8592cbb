package server

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

type boom struct{}

type pingReg struct{ reply chan struct{} }

// fragile panics on boom and answers pingReg.
type fragile struct{}

func (fragile) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case boom:
		panic("injected")
	case *pingReg:
		m.reply <- struct{}{}
	}
}

// TestRegistryForgetsAnActorItsSupervisorGaveUpOn: after more panics than the restart
// limit the actor stops for good; the registry forgets it and the next join gets a fresh,
// working one instead of the dead PID.
func TestRegistryForgetsAnActorItsSupervisorGaveUpOn(t *testing.T) {
	sys := actors.NewActorSystem(zap.NewNop())
	defer sys.Shutdown()
	var failures supervision.Counter
	r := newRegistry[string](sys, zap.NewNop(), "test", &failures, func(string, uint64) *actor.Props {
		return actor.PropsFromProducer(func() actor.Actor { return fragile{} })
	})
	defer r.stop()
	pid, _ := r.join("k")
	r.joined("k")
	for range 6 { // the limit is 5 restarts within a minute
		sys.Root.Send(pid, boom{})
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.count() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("registry still holds the stopped actor (%d failures counted)", failures.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	fresh, _ := r.join("k")
	if fresh.Equal(pid) {
		t.Fatal("the join got the dead actor again")
	}
	reply := make(chan struct{}, 1)
	sys.Root.Send(fresh, &pingReg{reply: reply})
	select {
	case <-reply:
	case <-time.After(5 * time.Second):
		t.Fatal("the fresh actor does not answer")
	}
}
