package registry

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
)

type msg struct {
	key   string
	reply chan<- *actor.PID // the child answers with its PID
	boom  bool
}

type retireNow struct{ stale bool }

// child answers msg with its own PID, panics on boom, and retires when told. With
// stopping set, it says so when it stops and waits for release.
type child struct {
	m                 *Member
	stopping, release chan struct{}
}

func (c *child) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Stopping:
		if c.stopping != nil {
			c.stopping <- struct{}{}
			<-c.release
		}
	case *msg:
		c.m.Served()
		if m.boom {
			panic("injected")
		}
		m.reply <- ctx.Self()
	case *retireNow:
		if m.stale {
			ctx.Request(ctx.Parent(), &Retire{Served: c.m.served - 1})
			return
		}
		c.m.Retire(ctx)
	}
}

type env struct {
	t     *testing.T
	sys   *actor.ActorSystem
	reg   *actor.PID
	stats *Stats
	gone  chan string
	// stopping and release, if set, hold every child in its Stopping handler.
	stopping, release chan struct{}
}

func newEnv(t *testing.T) *env {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	e := &env{t: t, sys: sys, stats: &Stats{}, gone: make(chan string, 4)}
	e.reg = sys.Root.Spawn(Props(Config[string]{
		Kind: "test", Restarts: 2, Stats: e.stats, Log: zap.NewNop(),
		Key: func(m any) (string, bool) {
			mm, ok := m.(*msg)
			if !ok {
				return "", false
			}
			return mm.key, true
		},
		Props: func(key string, _ uint64) *actor.Props {
			if key == "none" {
				return nil
			}
			m := &Member{} // outside the instance: survives a restart
			return actor.PropsFromProducer(func() actor.Actor { return &child{m: m, stopping: e.stopping, release: e.release} })
		},
		Missing: func(_ actor.Context, key string, _ any) { e.gone <- key },
	}))
	return e
}

func (e *env) ask(key string) *actor.PID {
	e.t.Helper()
	reply := make(chan *actor.PID, 1)
	e.sys.Root.Send(e.reg, &msg{key: key, reply: reply})
	select {
	case pid := <-reply:
		return pid
	case <-time.After(10 * time.Second):
		e.t.Fatalf("no answer for %q", key)
		return nil
	}
}

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

// ended returns a channel closed when pid ends.
func (e *env) ended(pid *actor.PID) <-chan struct{} {
	w := &watcher{pid: pid, done: make(chan struct{})}
	e.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return w }))
	return w.done
}

func (e *env) wait(c <-chan struct{}, what string) {
	e.t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		e.t.Fatal(what)
	}
}

func TestOneChildPerKeyAndMissingKeys(t *testing.T) {
	e := newEnv(t)
	a, b := e.ask("a"), e.ask("b")
	if a.Equal(b) || !e.ask("a").Equal(a) {
		t.Fatalf("children a=%v b=%v, a again=%v", a, b, e.ask("a"))
	}
	e.sys.Root.Send(e.reg, &msg{key: "none"})
	if got := <-e.gone; got != "none" {
		t.Fatalf("Missing got %q", got)
	}
	e.sys.Root.Send(e.reg, "no key")
	e.ask("a") // processed after the message without a key
	if e.stats.Live.Load() != 2 || e.stats.Spawned.Load() != 2 || e.stats.Dropped.Load() != 1 {
		t.Fatalf("live %d spawned %d dropped %d", e.stats.Live.Load(), e.stats.Spawned.Load(), e.stats.Dropped.Load())
	}
}

func TestRetireStopsOnlyAnIdleChild(t *testing.T) {
	e := newEnv(t)
	a := e.ask("a")
	// A retirement that does not count every forwarded message is refused.
	e.sys.Root.Send(a, &retireNow{stale: true})
	if again := e.ask("a"); !again.Equal(a) {
		t.Fatalf("a stale retirement stopped the child: %v, then %v", a, again)
	}
	// A good one stops it.
	end := e.ended(a)
	e.sys.Root.Send(a, &retireNow{})
	e.wait(end, "the retired child did not stop")
	if fresh := e.ask("a"); fresh.Equal(a) {
		t.Fatal("the key kept its retired child")
	}
	if e.stats.Retired.Load() != 1 || e.stats.Live.Load() != 1 {
		t.Fatalf("retired %d live %d", e.stats.Retired.Load(), e.stats.Live.Load())
	}
}

// TestAChildItsSupervisorGaveUpOnIsForgotten: after more panics than the restart limit the
// child stops for good; the registry forgets it and the next message gets a fresh, working
// one instead of the dead PID.
func TestAChildItsSupervisorGaveUpOnIsForgotten(t *testing.T) {
	e := newEnv(t)
	a := e.ask("a")
	end := e.ended(a)
	for range 3 { // the limit is 2 restarts within a minute
		e.sys.Root.Send(e.reg, &msg{key: "a", boom: true})
	}
	e.wait(end, "the child was not stopped after its third panic")
	if fresh := e.ask("a"); fresh.Equal(a) {
		t.Fatal("the message went to the dead child")
	}
	if n := e.stats.Failures.Load(); n != 3 {
		t.Fatalf("%d failures counted, want 3", n)
	}
}

// TestAChildBeingStoppedIsSentNothing: once its supervisor gave up on a child, the next
// message for its key goes to a fresh child, even while the old one is still stopping
// (its Terminated not yet sent): sent to the old one, nobody would answer it.
func TestAChildBeingStoppedIsSentNothing(t *testing.T) {
	e := newEnv(t)
	e.stopping, e.release = make(chan struct{}, 1), make(chan struct{})
	t.Cleanup(func() { close(e.release) }) // before the system shuts down
	a := e.ask("a")
	for range 3 { // the limit is 2 restarts within a minute
		e.sys.Root.Send(e.reg, &msg{key: "a", boom: true})
	}
	e.wait(e.stopping, "the child was not stopped after its third panic")
	if fresh := e.ask("a"); fresh.Equal(a) {
		t.Fatal("the message went to the stopping child")
	}
}

// TestAPanickingLookupHarmsNoChild: a panic in Props (an application registry's user
// code) is recovered and counted; the registry and its children go on.
func TestAPanickingLookupHarmsNoChild(t *testing.T) {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	stats := &Stats{}
	reg := sys.Root.Spawn(Props(Config[string]{
		Kind: "test", Stats: stats,
		Key: func(m any) (string, bool) {
			if mm, ok := m.(*msg); ok {
				return mm.key, true
			}
			return "", false
		},
		Props: func(key string, _ uint64) *actor.Props {
			if key == "bad" {
				panic("lookup failed")
			}
			m := &Member{}
			return actor.PropsFromProducer(func() actor.Actor { return &child{m: m} })
		},
	}))
	e := &env{t: t, sys: sys, reg: reg, stats: stats}
	a := e.ask("a")
	sys.Root.Send(reg, &msg{key: "bad"})
	if again := e.ask("a"); !again.Equal(a) {
		t.Fatalf("child a changed from %v to %v after a panic in the registry", a, again)
	}
	if stats.Panics.Load() != 1 {
		t.Fatalf("%d panics counted, want 1", stats.Panics.Load())
	}
}
