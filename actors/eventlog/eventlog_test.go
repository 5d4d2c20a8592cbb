package eventlog

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/actorrtmfp/actorrtmfp/actors/clock"
)

// A flood of events writes the burst, leaves the rest out, and says how many: at the next
// line written after the budget refilled, or a second after the first left out.
func TestFloodIsLimitedAndCounted(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	fc := &fakeClock{now: time.Unix(1e9, 0)}
	l := New(zap.New(core), fc, 10, 20)
	for i := range 100 {
		l.Event("client connected", zap.Int("n", i))
	}
	if n := logs.FilterMessage("client connected").Len(); n != 20 {
		t.Fatalf("%d lines written of a flood of 100, want the burst of 20", n)
	}
	if l.LeftOut() != 80 {
		t.Fatalf("LeftOut = %d", l.LeftOut())
	}
	// The flood is over: a second later the log says what it left out.
	fc.skip(time.Second)
	if n := logs.FilterMessage("event lines left out (rate limit)").Len(); n != 1 {
		t.Fatalf("%d reports of lines left out a second after the flood", n)
	}
	if got := logs.FilterMessage("event lines left out (rate limit)").All()[0].ContextMap()["left_out"]; fmt.Sprint(got) != "80" {
		t.Fatalf("left_out = %v, want 80", got)
	}
	// Another flood (the second refilled 10 tokens: 10 written, 20 left out), then a line
	// after the budget refilled carries the count first.
	for range 30 {
		l.Event("client left")
	}
	fc.skip(500 * time.Millisecond) // 5 tokens: fewer than a second, the report timer has not fired
	l.Event("published")
	entries := logs.All()
	last, before := entries[len(entries)-1], entries[len(entries)-2]
	if last.Message != "published" || before.Message != "event lines left out (rate limit)" || fmt.Sprint(before.ContextMap()["left_out"]) != "20" {
		t.Fatalf("the lines after the second flood: %q %v, %q", before.Message, before.ContextMap(), last.Message)
	}
	var nilLog *Log
	nilLog.Event("nothing") // a nil log writes nothing and does not fail
}

// fakeClock moves only when told, and runs the functions that fall due.
type fakeClock struct {
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	f  func()
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	c.timers = append(c.timers, fakeTimer{c.now.Add(d), f})
	return nil
}

func (c *fakeClock) skip(d time.Duration) {
	c.now = c.now.Add(d)
	var due []func()
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			due = append(due, t.f)
		} else {
			kept = append(kept, t)
		}
	}
	c.timers = kept
	for _, f := range due {
		f()
	}
}
