package actors

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
)

// counter records the messages it receives, in order.
type counter struct {
	mu  *sync.Mutex
	got *[]int
}

func (c counter) Receive(ctx actor.Context) {
	if n, ok := ctx.Message().(int); ok {
		c.mu.Lock()
		*c.got = append(*c.got, n)
		c.mu.Unlock()
	}
}

// TestPoolDispatcher: many actors on a small pool each get their messages in order; after
// Close the workers exit and the actors keep receiving.
func TestPoolDispatcher(t *testing.T) {
	baseline := runtime.NumGoroutine()
	sys := NewActorSystem(zap.NewNop())
	d := NewPoolDispatcher(3, 5)
	const actors, msgs = 50, 200
	var mu sync.Mutex
	got := make([][]int, actors)
	pids := make([]*actor.PID, actors)
	for i := range pids {
		c := counter{mu: &mu, got: &got[i]}
		pids[i] = sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return c }, actor.WithDispatcher(d)))
	}
	send := func(from, to int) {
		var wg sync.WaitGroup
		for _, pid := range pids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := from; n < to; n++ {
					sys.Root.Send(pid, n)
				}
			}()
		}
		wg.Wait()
	}
	check := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			done := true
			for i := range got {
				if len(got[i]) < want {
					done = false
				}
				for n, v := range got[i] {
					if v != n {
						mu.Unlock()
						t.Fatalf("actor %d: message %d is %d", i, n, v)
					}
				}
			}
			mu.Unlock()
			if done {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("messages not all received")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	send(0, msgs)
	check(msgs)
	d.Close()
	d.Close() // idempotent
	send(msgs, 2*msgs)
	check(2 * msgs)
	for _, pid := range pids {
		_ = sys.Root.StopFuture(pid).Wait()
	}
	sys.Shutdown()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline+2 { // protoactor keeps a couple of its own
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, baseline %d: workers did not exit", runtime.NumGoroutine(), baseline)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
