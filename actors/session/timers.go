package session

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/clock"
)

// Scheduler wakes sessions at their deadlines: it sends a session a timerFired message
// at (or just after) a time of the sessions' clock. A session holds at most one
// deadline, in its TimerSlot.
type Scheduler interface {
	// Arm sets the deadline of slot, whose session is pid, to at (replacing an earlier
	// one). key spreads sessions over the scheduler's locks (their local session ID).
	Arm(key uint32, slot *TimerSlot, pid *actor.PID, at time.Duration)
	// Cancel forgets the deadline of slot, if it has one.
	Cancel(key uint32, slot *TimerSlot)
}

// TimerSlot is a session's place in its scheduler: only the scheduler reads or writes it,
// under its lock.
type TimerSlot struct {
	i int32 // index + 1 in its shard's heap; 0 when no deadline is set
}

// Timers is the Scheduler of an endpoint's sessions: a few heaps of deadlines, each with
// one runtime timer, instead of a runtime timer per session (which with its closure and
// its slot in the runtime's heaps cost a held session ~190 bytes). A firing sends
// every due session its timerFired from one goroutine.
type Timers struct {
	clock  TimerClock
	root   *actor.RootContext
	shards [timerShards]timerShard
}

// timerShards spreads the sessions' deadlines over several locks: sessions arm their
// deadline from the dispatcher's workers while the firings run.
const timerShards = 8

type timerShard struct {
	t       *Timers
	mu      sync.Mutex
	heap    []timerEntry
	timer   clock.Timer
	armedAt time.Duration // the runtime timer's deadline; 0 if it is not armed
	batch   []*actor.PID  // reused between firings (nil while a firing uses it)
}

type timerEntry struct {
	at   time.Duration
	slot *TimerSlot
	pid  *actor.PID
}

// TimerClock is a Clock that can also run a function after a delay (an endpoint's).
type TimerClock interface {
	Clock
	AfterFunc(d time.Duration, f func()) clock.Timer
}

// NewTimers returns the scheduler of sessions that use c and are reached through root.
func NewTimers(c TimerClock, root *actor.RootContext) *Timers {
	t := &Timers{clock: c, root: root}
	for i := range t.shards {
		t.shards[i].t = t
	}
	return t
}

// Arm implements Scheduler.
func (t *Timers) Arm(key uint32, slot *TimerSlot, pid *actor.PID, at time.Duration) {
	sh := &t.shards[key%timerShards]
	sh.mu.Lock()
	if slot.i > 0 {
		i := int(slot.i - 1)
		sh.heap[i].at = at
		sh.fix(i)
	} else {
		sh.push(timerEntry{at: at, slot: slot, pid: pid})
	}
	if sh.armedAt == 0 || sh.heap[0].at < sh.armedAt {
		sh.rearm()
	}
	sh.mu.Unlock()
}

// Cancel implements Scheduler.
func (t *Timers) Cancel(key uint32, slot *TimerSlot) {
	sh := &t.shards[key%timerShards]
	sh.mu.Lock()
	if slot.i > 0 {
		sh.remove(int(slot.i - 1))
	}
	sh.mu.Unlock()
	// The runtime timer may now fire early for nothing: it re-arms for what is left.
}

// rearm sets the runtime timer for the earliest deadline. Called with mu held and the
// heap not empty.
func (sh *timerShard) rearm() {
	at := sh.heap[0].at
	d := max(at-sh.t.clock.Now(), 0)
	if sh.timer == nil {
		sh.timer = sh.t.clock.AfterFunc(d, sh.fire)
	} else {
		sh.timer.Reset(d)
	}
	sh.armedAt = at
}

// fire sends timerFired to every session whose deadline has come, then re-arms for the
// next deadline.
func (sh *timerShard) fire() {
	sh.mu.Lock()
	now := sh.t.clock.Now()
	due := sh.batch[:0]
	sh.batch = nil
	for len(sh.heap) > 0 && sh.heap[0].at <= now {
		due = append(due, sh.heap[0].pid)
		sh.remove(0)
	}
	sh.armedAt = 0
	if len(sh.heap) > 0 {
		sh.rearm()
	}
	sh.mu.Unlock()
	// Sent outside the lock: a send may wait for the dispatcher, and sessions arming
	// their deadlines must not wait for that.
	for i, pid := range due {
		sh.t.root.Send(pid, &timerFired{})
		due[i] = nil
	}
	sh.mu.Lock()
	if sh.batch == nil {
		sh.batch = due[:0]
	}
	sh.mu.Unlock()
}

// The heap is ordered by deadline; every entry's slot holds its index + 1.

func (sh *timerShard) push(e timerEntry) {
	sh.heap = append(sh.heap, e)
	i := len(sh.heap) - 1
	e.slot.i = int32(i + 1)
	sh.up(i)
}

func (sh *timerShard) remove(i int) {
	sh.heap[i].slot.i = 0
	last := len(sh.heap) - 1
	if i != last {
		sh.heap[i] = sh.heap[last]
		sh.heap[i].slot.i = int32(i + 1)
	}
	sh.heap[last] = timerEntry{}
	sh.heap = sh.heap[:last]
	if i < last {
		sh.fix(i)
	}
	if cap(sh.heap) > 64 && len(sh.heap) < cap(sh.heap)/4 {
		// Give back what a burst of sessions left (the heap never shrinks otherwise).
		sh.heap = append([]timerEntry(nil), sh.heap...)
	}
}

func (sh *timerShard) fix(i int) {
	if !sh.up(i) {
		sh.down(i)
	}
}

// up moves entry i toward the root while it is earlier than its parent; it reports
// whether it moved.
func (sh *timerShard) up(i int) bool {
	moved := false
	for i > 0 {
		p := (i - 1) / 2
		if sh.heap[p].at <= sh.heap[i].at {
			break
		}
		sh.swap(i, p)
		i, moved = p, true
	}
	return moved
}

func (sh *timerShard) down(i int) {
	n := len(sh.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && sh.heap[r].at < sh.heap[l].at {
			c = r
		}
		if sh.heap[i].at <= sh.heap[c].at {
			return
		}
		sh.swap(i, c)
		i = c
	}
}

func (sh *timerShard) swap(i, j int) {
	sh.heap[i], sh.heap[j] = sh.heap[j], sh.heap[i]
	sh.heap[i].slot.i = int32(i + 1)
	sh.heap[j].slot.i = int32(j + 1)
}
