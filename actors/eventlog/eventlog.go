// Package eventlog writes the server's events for operators — a client connected or
// left, published, played, joined a group, was refused — one info line each, at a rate a
// flood cannot raise: past the budget, lines are left out and counted, and the log says
// how many it left out (at the next line written, or a second after the first one left
// out, whichever comes first).
package eventlog

import (
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/ratelimit"
)

// Log writes events. The zero value and a nil *Log write nothing.
type Log struct {
	log         *zap.Logger
	clock       clock.Clock
	rate, burst float64
	mu          sync.Mutex
	budget      ratelimit.Bucket
	left        uint64 // lines left out and not yet reported
	leftTotal   uint64
	reportArmed bool
}

// reportAfter is how long after the first line left out the log says how many it left
// out, if no line was written since.
const reportAfter = time.Second

// DefaultRate is how many event lines a second a Log writes at most (in bursts of
// DefaultBurst).
const (
	DefaultRate  = 50
	DefaultBurst = 200
)

// New returns a log of events written to log at info level, at most rate lines a second
// in bursts of burst (0: the defaults), on c (nil: the real clock).
func New(log *zap.Logger, c clock.Clock, rate, burst int) *Log {
	if rate <= 0 {
		rate = DefaultRate
	}
	if burst <= 0 {
		burst = DefaultBurst
	}
	return &Log{log: log, clock: clock.Or(c), rate: float64(rate), burst: float64(burst)}
}

// Event writes one line, or counts it as left out.
func (l *Log) Event(msg string, fields ...zap.Field) {
	if l == nil || l.log == nil {
		return
	}
	now := l.clock.Now()
	l.mu.Lock()
	if !l.budget.Take(l.rate, l.burst, now) {
		l.left++
		l.leftTotal++
		arm := !l.reportArmed
		l.reportArmed = true
		l.mu.Unlock()
		if arm {
			l.clock.AfterFunc(reportAfter, l.reportLeft)
		}
		return
	}
	left := l.left
	l.left = 0
	l.mu.Unlock()
	l.sayLeft(left)
	l.log.Info(msg, fields...)
}

// reportLeft says how many lines were left out since the last report, if any.
func (l *Log) reportLeft() {
	l.mu.Lock()
	left := l.left
	l.left, l.reportArmed = 0, false
	l.mu.Unlock()
	l.sayLeft(left)
}

func (l *Log) sayLeft(n uint64) {
	if n > 0 {
		l.log.Info("event lines left out (rate limit)", zap.Uint64("left_out", n))
	}
}

// LeftOut returns how many lines were left out in all (a metric).
func (l *Log) LeftOut() uint64 {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leftTotal
}
