package clock

import (
	"testing"
	"time"
)

func TestWarpSkipFiresDueTimersOnly(t *testing.T) {
	w := NewWarp()
	start := w.Now()
	fired := make(chan string, 4)
	w.AfterFunc(time.Hour, func() { fired <- "hour" })
	w.AfterFunc(90*time.Second, func() { fired <- "90s" })
	stopped := w.AfterFunc(time.Minute, func() { fired <- "stopped" })
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	w.Skip(100 * time.Second)
	if got := <-fired; got != "90s" {
		t.Fatalf("fired %q, want 90s", got)
	}
	if d := w.Now().Sub(start); d < 100*time.Second {
		t.Fatalf("the clock moved %v, want at least 100s", d)
	}
	if n := w.Pending(); n != 1 {
		t.Fatalf("%d timers pending, want the hour's one", n)
	}
	w.Skip(time.Hour)
	if got := <-fired; got != "hour" {
		t.Fatalf("fired %q, want hour", got)
	}
	select {
	case got := <-fired:
		t.Fatalf("%q fired too", got)
	default:
	}
}

func TestWarpTimerFiresInRealTimeAndResets(t *testing.T) {
	w := NewWarp()
	fired := make(chan struct{}, 2)
	tm := w.AfterFunc(time.Millisecond, func() { fired <- struct{}{} })
	<-fired // a short timer fires by itself, in real time
	if tm.Reset(time.Hour) {
		t.Fatal("Reset of a fired timer reported it pending")
	}
	if !tm.Reset(2 * time.Hour) {
		t.Fatal("Reset of a pending timer reported it fired")
	}
	w.Skip(time.Hour)
	select {
	case <-fired:
		t.Fatal("a timer reset to 2h fired after 1h")
	default:
	}
	w.Skip(time.Hour)
	<-fired
}

func TestOrGivesTheRealClock(t *testing.T) {
	if _, ok := Or(nil).(realClock); !ok {
		t.Fatal("Or(nil) is not the real clock")
	}
	w := NewWarp()
	if Or(w) != Clock(w) {
		t.Fatal("Or(w) is not w")
	}
}
