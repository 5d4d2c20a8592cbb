package supervision

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

type boom struct{}
type ping struct{ reply chan string }

// room is a child actor that panics on boom, answers ping, and reports its stop.
type room struct {
	name    string
	stopped *atomic.Int32
	starts  *atomic.Int32
}

func (r *room) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		r.starts.Add(1)
	case *boom:
		var nilMap map[string]int
		nilMap["crash"] = 1
	case *ping:
		m.reply <- r.name
	case *actor.Stopping:
		r.stopped.Add(1)
	}
}

// parent spawns n rooms under the strategy.
type parent struct {
	strategy actor.SupervisorStrategy
	kids     []*actor.PID
	made     chan []*actor.PID
	n        int
	stopped  *atomic.Int32
	starts   *atomic.Int32
}

func (p *parent) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*actor.Started); ok {
		for i := 0; i < p.n; i++ {
			props := actor.PropsFromProducer(func() actor.Actor {
				return &room{name: "room", stopped: p.stopped, starts: p.starts}
			}, actor.WithReceiverMiddleware(Middleware))
			p.kids = append(p.kids, ctx.Spawn(props))
		}
		p.made <- p.kids
	}
}

func run(t *testing.T, strategyFor func(*zap.Logger, *Counter) actor.SupervisorStrategy) (kids []*actor.PID, sys *actor.ActorSystem, stopped, starts *atomic.Int32, count *Counter, logs *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.ErrorLevel)
	count = &Counter{}
	stopped, starts = &atomic.Int32{}, &atomic.Int32{}
	sys = actor.NewActorSystem()
	made := make(chan []*actor.PID, 1)
	p := &parent{strategy: strategyFor(zap.New(core), count), made: made, n: 3, stopped: stopped, starts: starts}
	sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return p }, actor.WithSupervisor(p.strategy)))
	return <-made, sys, stopped, starts, count, logs
}

func alive(sys *actor.ActorSystem, pid *actor.PID) bool {
	reply := make(chan string, 1)
	sys.Root.Send(pid, &ping{reply: reply})
	select {
	case <-reply:
		return true
	case <-time.After(200 * time.Millisecond):
		return false
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStopOnPanicKeepsTheCrashInItsRoom(t *testing.T) {
	kids, sys, stopped, _, count, logs := run(t, func(l *zap.Logger, c *Counter) actor.SupervisorStrategy {
		return StopOnPanic(l, "session", c)
	})
	defer sys.Shutdown()
	sys.Root.Send(kids[1], &boom{})
	waitFor(t, "the failing room to stop", func() bool { return stopped.Load() == 1 })
	if alive(sys, kids[1]) {
		t.Fatal("crashed actor still answers")
	}
	if !alive(sys, kids[0]) || !alive(sys, kids[2]) {
		t.Fatal("a neighbour of the crashed actor stopped answering")
	}
	if count.Load() != 1 {
		t.Fatalf("failure count = %d, want 1", count.Load())
	}
	entries := logs.FilterMessage("actor failed").All()
	if len(entries) != 1 {
		t.Fatalf("logged %d failures, want 1", len(entries))
	}
	if stack, _ := entries[0].ContextMap()["stack"].(string); !strings.Contains(stack, "supervision.(*room).Receive") {
		t.Fatalf("logged stack does not show the panic site:\n%s", stack)
	}
}

func TestRestartOnPanicRebuildsAndEventuallyGivesUp(t *testing.T) {
	kids, sys, stopped, starts, count, _ := run(t, func(l *zap.Logger, c *Counter) actor.SupervisorStrategy {
		return RestartOnPanic(l, "publication", 2, c)
	})
	defer sys.Shutdown()
	waitFor(t, "three starts", func() bool { return starts.Load() == 3 })
	sys.Root.Send(kids[0], &boom{})
	waitFor(t, "a restart", func() bool { return starts.Load() == 4 })
	if !alive(sys, kids[0]) {
		t.Fatal("restarted actor does not answer")
	}
	// Two more failures within the window exceed MaxRestarts=2: the actor is stopped.
	sys.Root.Send(kids[0], &boom{})
	waitFor(t, "second restart", func() bool { return starts.Load() == 5 })
	sys.Root.Send(kids[0], &boom{})
	waitFor(t, "the stop after too many restarts", func() bool { return !alive(sys, kids[0]) })
	if count.Load() != 3 {
		t.Fatalf("failure count = %d, want 3", count.Load())
	}
	if !alive(sys, kids[1]) || !alive(sys, kids[2]) {
		t.Fatal("neighbours affected")
	}
	// Restarts are not stops: the actor stopped once, at the end.
	waitFor(t, "the given-up actor's Stopping", func() bool { return stopped.Load() == 1 })
	if n := stopped.Load(); n != 1 {
		t.Fatalf("the room stopped %d times, want once", n)
	}
}

func panicsHere(v any) {
	defer Repanic()
	panic(v)
}

// TestRepanicCapturesThePanicSite: deferred in a receive function, Repanic turns a panic
// into a *Panic whose stack shows the panic site, and passes a *Panic on unchanged.
func TestRepanicCapturesThePanicSite(t *testing.T) {
	catch := func(v any) (p *Panic) {
		defer func() { p, _ = recover().(*Panic) }()
		panicsHere(v)
		return nil
	}
	p := catch("here")
	if p == nil || p.Value != "here" || !strings.Contains(string(p.Stack), "supervision.panicsHere") {
		t.Fatalf("Repanic gave %+v", p)
	}
	inner := &Panic{Value: "inner", Stack: []byte("inner stack")}
	if got := catch(inner); got != inner {
		t.Fatalf("a *Panic was rewrapped: %+v", got)
	}
}
