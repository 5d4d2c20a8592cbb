package luaapp

import (
	"errors"
	"fmt"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/actorrtmfp/actorrtmfp/actors/clock"
)

// guard is the context of a Lua state: gopher-lua's VM checks ctx.Done() before every
// instruction, so closing the channel Done returns stops a call wherever it runs, with the
// error Err returns (which the VM raises as a Lua error at that instruction: the call
// unwinds to our protected call, and the state stays usable).
//
// It closes the channel when a call outlives the state's time budget (a timer on the
// node's clock; a call only sets its deadline, and the timer, when it fires, goes on to the
// deadline of the call then running, so that calls in a row cost no timer operations) or
// when the state's memory estimate exceeds its limit. The state is walked when the process
// heap has grown enough since it was last walked to make it worth it (looked at from Done
// itself, every checkEvery instructions), and when what the capped functions and the
// values Go hands the state made since then add up to a quarter of the limit. Both count
// across calls, not from each call's start: a state that grows by a little in each of
// many short calls is walked as often as one that grows in one long call. One guard serves
// the state and all its coroutines, which run on the state's goroutine.
type guard struct {
	clock  clock.Clock
	budget time.Duration
	limit  int64 // bytes; 0: no memory limit
	timer  clock.Timer
	// estimate walks the state and returns its memory estimate, stopping early beyond
	// the limit.
	estimate func() int64

	// ch is replaced (on the state's goroutine, under mu) after a call that was stopped;
	// the timer's goroutine closes it under mu.
	mu       sync.Mutex
	ch       chan struct{}
	armed    bool
	killed   bool
	err      error
	last     error     // why the last call was stopped, nil if it was not
	deadline time.Time // of the call running
	pending  bool      // the timer is set

	// Owned by the state's goroutine.
	steps     uint32 // instructions run, across calls (wraps)
	heapBase  uint64 // the process heap just after the state was last walked (or lower, if it fell since)
	charged   int64  // bytes the capped functions and Go's values made since the state was last walked
	lastWalk  int64  // the last estimate
	walkCount atomic.Uint64
}

// Errors that stop a call.
var (
	errBudget = errors.New("script exceeded its time budget")
	errMemory = errors.New("memory limit exceeded")
)

// checkEvery is how many instructions run between two looks at the sampled heap: an
// atomic load, so a call pays about nothing for it.
const checkEvery = 1 << 10

func newGuard(c clock.Clock, budget time.Duration, limit int64) *guard {
	g := &guard{clock: c, budget: budget, limit: limit, ch: make(chan struct{})}
	if limit > 0 {
		heap.start()
		g.heapBase = heap.now.Load()
	}
	g.timer = c.AfterFunc(time.Hour, g.expire)
	g.timer.Stop()
	return g
}

// context.Context, as gopher-lua uses it.

func (g *guard) Deadline() (time.Time, bool) { return time.Time{}, false }
func (g *guard) Value(any) any               { return nil }

func (g *guard) Done() <-chan struct{} {
	if g.steps++; g.steps%checkEvery == 0 && g.limit > 0 {
		g.checkHeap()
	}
	return g.ch
}

func (g *guard) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.killed {
		return g.err
	}
	return nil
}

// arm starts a call's budget. If what Go handed the state since it was last walked (the
// call's arguments among it) adds up to a quarter of the limit, the state is walked first:
// over its limit, the call is stopped before its first instruction.
func (g *guard) arm() {
	deadline := g.clock.Now().Add(g.budget)
	g.mu.Lock()
	g.armed, g.deadline = true, deadline
	set := !g.pending
	g.pending = true
	g.mu.Unlock()
	if g.limit > 0 {
		heap.watch()
		if g.charged >= g.limit/4 {
			g.check()
		}
	}
	if set {
		g.timer.Reset(g.budget)
	}
}

// disarm ends a call's budget and makes the state usable again if the call was stopped.
// The timer stays set: it finds no call running when it fires, or the next one's deadline.
func (g *guard) disarm() {
	if g.limit > 0 {
		heap.unwatch()
	}
	g.mu.Lock()
	g.armed, g.last = false, nil
	if g.killed {
		g.last = g.err
		g.killed, g.err, g.ch = false, nil, make(chan struct{})
	}
	g.mu.Unlock()
}

// expire is the budget timer's function: it stops the call running if its deadline has
// passed, or waits for that deadline.
func (g *guard) expire() {
	now := g.clock.Now()
	g.mu.Lock()
	if !g.armed {
		g.pending = false
		g.mu.Unlock()
		return
	}
	if left := g.deadline.Sub(now); left > 0 {
		g.mu.Unlock()
		g.timer.Reset(left)
		return
	}
	g.pending = false
	g.mu.Unlock()
	g.kill(fmt.Errorf("%w of %s", errBudget, g.budget))
}

// stop stops the timer (the state is closed).
func (g *guard) stop() {
	g.mu.Lock()
	g.pending = false
	g.mu.Unlock()
	g.timer.Stop()
}

func (g *guard) kill(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.armed && !g.killed {
		g.killed, g.err = true, err
		close(g.ch)
	}
}

// checkHeap walks the state when the process heap grew enough since it was last walked
// (the heap is the whole process's: most growth is not this state's, which the walk
// tells).
func (g *guard) checkHeap() {
	if g.grown() {
		g.check()
	}
}

// grown reports whether the process heap grew by walkAfter since the state was last
// walked (and follows the heap down when the collector freed memory).
func (g *guard) grown() bool {
	now := heap.now.Load()
	if now < g.heapBase {
		g.heapBase = now
		return false
	}
	return int64(now-g.heapBase) >= g.walkAfter()
}

// mayBeOver reports whether the state may be over its limit by what it is known to have
// made since it was last walked (the heap aside): between calls, a state that was walked
// just below its limit and then kept a string is over it without a heap growth that
// grown would see.
func (g *guard) mayBeOver() bool { return g.lastWalk+g.charged > g.limit }

// walkAfter is the growth of the process heap after which the state is walked again: a
// quarter of the limit, or, while the state is far below it, as much as it measured last
// time (walks of a growing state then cost a constant factor of its size), or what it has
// left, once it is near.
func (g *guard) walkAfter() int64 {
	return max(g.limit/4, min(g.lastWalk, g.limit-g.lastWalk))
}

// charge counts bytes a capped function is about to make for the running call, or that Go
// made for the state (a call's arguments: then the next call's arm looks). When they add
// up to a quarter of the limit since the state was last walked, the state is walked; the
// bytes about to be made are not in that walk and stay counted.
func (g *guard) charge(n int) {
	if g.limit <= 0 {
		return
	}
	if g.charged += int64(n); g.charged >= g.limit/4 && g.armed {
		g.check()
		g.charged = int64(n)
	}
}

// check walks the state and stops the running call if the state is over its limit.
func (g *guard) check() bool {
	if g.measure() > g.limit {
		g.kill(fmt.Errorf("%w (%d MB)", errMemory, g.limit>>20))
		return false
	}
	return true
}

// measure walks the state and returns its estimate. What was made before is now in the
// estimate, and the heap is read afresh after the walk, whose own garbage (its maps and
// stack, about half the estimate) is not the state's growth: taken for it, it made the
// next look walk the state again at once, walk after walk near the limit.
func (g *guard) measure() int64 {
	g.walkCount.Add(1)
	g.lastWalk = g.estimate()
	g.charged = 0
	heap.read()
	g.heapBase = heap.now.Load()
	return g.lastWalk
}

// raiseIfKilled raises the guard's error in a Go function at once (a Go function runs
// between two instructions, where the VM would raise it only afterwards).
func (g *guard) raiseIfKilled(L *lua.LState) {
	select {
	case <-g.ch:
		L.RaiseError("%s", g.Err().Error())
	default:
	}
}

// heap samples the process heap (live and not yet swept objects) for the memory checks,
// so that a Lua call only reads an atomic. The sampler starts with the first state that
// has a memory limit and runs for the life of the process.
var heap heapSampler

type heapSampler struct {
	now     atomic.Uint64
	running atomic.Int64 // calls being watched
	once    sync.Once
}

// start starts the sampler (once for the process).
func (h *heapSampler) start() {
	h.once.Do(func() {
		h.read()
		go h.loop()
	})
}

func (h *heapSampler) watch()   { h.running.Add(1) }
func (h *heapSampler) unwatch() { h.running.Add(-1) }

func (h *heapSampler) read() {
	s := [1]metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s[:])
	h.now.Store(s[0].Value.Uint64())
}

// loop samples every millisecond while a call runs, every 10 ms otherwise (a call's
// first milliseconds are watched by the string limit and by the 10 ms samples).
func (h *heapSampler) loop() {
	for {
		if h.running.Load() > 0 {
			time.Sleep(time.Millisecond)
		} else {
			time.Sleep(10 * time.Millisecond)
		}
		h.read()
	}
}
