package session

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
)

// fireRecorder is an actor that reports each timerFired it gets, with the clock's time.
type fireRecorder struct {
	name  int
	clock Clock
	fired chan<- firing
}

type firing struct {
	name int
	at   time.Duration
}

func (r *fireRecorder) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*timerFired); ok {
		r.fired <- firing{r.name, r.clock.Now()}
	}
}

type wallClock struct{ epoch time.Time }

// timerRig returns Timers on a wall clock and n session stand-ins (fireRecorder, named 0
// to n-1) that report their wake-ups on fired.
func timerRig(t *testing.T, n int) (Clock, *Timers, []*actor.PID, chan firing) {
	sys := actors.NewActorSystem(zap.NewNop())
	t.Cleanup(sys.Shutdown)
	clock := wallClock{time.Now()}
	fired := make(chan firing, 1<<16)
	pids := make([]*actor.PID, n)
	for i := range pids {
		pids[i] = sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &fireRecorder{i, clock, fired} }))
	}
	return clock, NewTimers(clock, sys.Root), pids, fired
}

func (c wallClock) Now() time.Duration { return time.Since(c.epoch) }

func (c wallClock) AfterFunc(d time.Duration, f func()) clock.Timer { return time.AfterFunc(d, f) }

// checkHeaps verifies every shard's heap order and that each entry's slot holds its
// index, and returns the deadline of each armed slot.
func checkHeaps(t *testing.T, tm *Timers) map[*TimerSlot]time.Duration {
	t.Helper()
	armed := map[*TimerSlot]time.Duration{}
	for s := range tm.shards {
		sh := &tm.shards[s]
		sh.mu.Lock()
		for i, e := range sh.heap {
			if int(e.slot.i) != i+1 {
				t.Fatalf("shard %d entry %d: slot says %d", s, i, e.slot.i)
			}
			if i > 0 && sh.heap[(i-1)/2].at > e.at {
				t.Fatalf("shard %d entry %d is earlier than its parent", s, i)
			}
			armed[e.slot] = e.at
		}
		sh.mu.Unlock()
	}
	return armed
}

// TestTimersFireEachDeadlineOnceAndNeverEarly: random arming, re-arming (earlier and
// later) and cancelling keep the heaps ordered and each slot's index right; when the
// deadlines pass, exactly the armed sessions are woken, once each, none before its last
// deadline; cancelled ones never.
func TestTimersFireEachDeadlineOnceAndNeverEarly(t *testing.T) {
	const n = 300
	clock, tm, pids, fired := timerRig(t, n)
	slots := make([]TimerSlot, n)
	rng := rand.New(rand.NewPCG(1, 2))
	base := clock.Now() + time.Hour // nothing fires while the ops run
	want := map[int]time.Duration{}
	for range 5000 {
		i := rng.IntN(n)
		if rng.IntN(5) == 0 {
			tm.Cancel(uint32(i), &slots[i])
			delete(want, i)
			continue
		}
		at := base + time.Duration(rng.IntN(1000))*time.Millisecond
		tm.Arm(uint32(i), &slots[i], pids[i], at)
		want[i] = at
	}
	armed := checkHeaps(t, tm)
	if len(armed) != len(want) || tm.len() != len(want) {
		t.Fatalf("%d slots armed (%d entries), want %d", len(armed), tm.len(), len(want))
	}
	for i, at := range want {
		if armed[&slots[i]] != at {
			t.Fatalf("slot %d armed for %v, want %v", i, armed[&slots[i]], at)
		}
	}

	// Bring every remaining deadline to within 50–250 ms, keeping their relative order:
	// re-arming moves an entry either way.
	now := clock.Now()
	for i, at := range want {
		at = now + 50*time.Millisecond + (at-base)/5
		tm.Arm(uint32(i), &slots[i], pids[i], at)
		want[i] = at
	}
	checkHeaps(t, tm)
	got := map[int]bool{}
	deadline := time.After(10 * time.Second)
	for len(got) < len(want) {
		select {
		case f := <-fired:
			at, ok := want[f.name]
			if !ok || got[f.name] {
				t.Fatalf("session %d woken (armed: %v, already woken: %v)", f.name, ok, got[f.name])
			}
			if f.at < at {
				t.Fatalf("session %d woken at %v, before its deadline %v", f.name, f.at, at)
			}
			got[f.name] = true
		case <-deadline:
			t.Fatalf("%d of %d sessions woken", len(got), len(want))
		}
	}
	select {
	case f := <-fired:
		t.Fatalf("session %d woken once more", f.name)
	case <-time.After(300 * time.Millisecond):
	}
	if tm.len() != 0 {
		t.Fatalf("%d deadlines left after they all fired", tm.len())
	}
}

// TestTimersConcurrentArming: sessions arm and cancel from many goroutines while
// deadlines fire (run with -race); each session's last deadline wakes it.
func TestTimersConcurrentArming(t *testing.T) {
	const n = 64
	clock, tm, pids, fired := timerRig(t, n)
	var wg sync.WaitGroup
	for g, pid := range pids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var slot TimerSlot
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for range 200 {
				if rng.IntN(4) == 0 {
					tm.Cancel(uint32(g), &slot)
				} else {
					tm.Arm(uint32(g), &slot, pid, clock.Now()+time.Duration(rng.IntN(2000))*time.Microsecond)
				}
			}
			tm.Arm(uint32(g), &slot, pid, clock.Now()+20*time.Millisecond)
		}()
	}
	wg.Wait()
	last := map[int]bool{}
	deadline := time.After(10 * time.Second)
	for tm.len() > 0 || len(last) < n {
		select {
		case f := <-fired:
			last[f.name] = true
		case <-deadline:
			t.Fatalf("%d of %d sessions woken, %d deadlines left", len(last), n, tm.len())
		}
	}
	checkHeaps(t, tm)
}

// len returns the number of deadlines set.
func (t *Timers) len() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += len(sh.heap)
		sh.mu.Unlock()
	}
	return n
}
