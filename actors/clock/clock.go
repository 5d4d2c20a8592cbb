// Package clock is the time source of the server's timers: the idle and keepalive
// deadlines of sessions, handshake retransmissions, cookie lifetimes, the retirement of
// idle publications and groups, join and refusal timeouts. Production code uses Real;
// tests use a Warp, which runs at real speed but can be moved forward, so that a test
// waiting for a 90-second idle timeout skips the 90 seconds instead of sleeping them.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time and runs functions after a delay.
type Clock interface {
	// Now returns the current time; durations between two readings are monotonic.
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed on this clock.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending call of AfterFunc.
type Timer interface {
	// Stop prevents the call if it has not happened; it reports whether it did so.
	Stop() bool
	// Reset makes the call happen d from now (again, if it already happened); it
	// reports whether the timer was pending.
	Reset(d time.Duration) bool
}

// Real is the system clock.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Or returns c, or the real clock when c is nil (the zero value of an option).
func Or(c Clock) Clock {
	if c == nil {
		return Real()
	}
	return c
}

// Warp is a clock that runs at real speed from a start and can be moved forward with
// Skip: every timer whose time has come by then fires at once, the others keep their
// deadline on the moved clock. It is what tests give a server so that they wait for
// events, never for time: the round trips of a test over loopback still run in real time,
// and the long timeouts are skipped.
type Warp struct {
	mu     sync.Mutex
	offset time.Duration
	timers map[*warpTimer]struct{} // pending ones
}

// NewWarp returns a Warp that reads the real time until it is skipped.
func NewWarp() *Warp { return &Warp{timers: map[*warpTimer]struct{}{}} }

// Now implements Clock.
func (w *Warp) Now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nowLocked()
}

func (w *Warp) nowLocked() time.Time { return time.Now().Add(w.offset) }

// Skip moves the clock forward by d and fires the timers that are due.
func (w *Warp) Skip(d time.Duration) {
	if d <= 0 {
		return
	}
	w.mu.Lock()
	w.offset += d
	now := w.nowLocked()
	var due []*warpTimer
	for t := range w.timers {
		t.rt.Stop()
		if left := t.at.Sub(now); left > 0 {
			t.rt.Reset(left)
			continue
		}
		delete(w.timers, t)
		t.gen++
		due = append(due, t)
	}
	w.mu.Unlock()
	for _, t := range due {
		go t.f()
	}
}

// Pending returns the number of timers that have not fired and were not stopped.
func (w *Warp) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.timers)
}

// AfterFunc implements Clock.
func (w *Warp) AfterFunc(d time.Duration, f func()) Timer {
	t := &warpTimer{w: w, f: f}
	w.mu.Lock()
	defer w.mu.Unlock()
	t.arm(d)
	return t
}

type warpTimer struct {
	w   *Warp
	f   func()
	at  time.Time   // deadline on the warped clock
	rt  *time.Timer // fires at the deadline in real time unless a Skip gets there first
	gen uint64      // arming generation: a real firing of an older arming does nothing
}

// arm sets the deadline d from now; w.mu is held.
func (t *warpTimer) arm(d time.Duration) {
	t.at = t.w.nowLocked().Add(d)
	t.gen++
	gen := t.gen
	t.w.timers[t] = struct{}{}
	if t.rt != nil {
		t.rt.Stop()
	}
	t.rt = time.AfterFunc(max(d, 0), func() { t.fire(gen) })
}

func (t *warpTimer) fire(gen uint64) {
	t.w.mu.Lock()
	if t.gen != gen {
		t.w.mu.Unlock()
		return
	}
	t.gen++
	delete(t.w.timers, t)
	t.w.mu.Unlock()
	t.f()
}

func (t *warpTimer) Stop() bool {
	t.w.mu.Lock()
	defer t.w.mu.Unlock()
	_, pending := t.w.timers[t]
	delete(t.w.timers, t)
	t.gen++
	t.rt.Stop()
	return pending
}

func (t *warpTimer) Reset(d time.Duration) bool {
	t.w.mu.Lock()
	defer t.w.mu.Unlock()
	_, pending := t.w.timers[t]
	t.arm(d)
	return pending
}
