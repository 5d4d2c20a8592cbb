package actors

import (
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Sampled returns log limited to one line per second for each message (the first; the
// rest of that second are dropped): the logger of refusals that a hostile peer can cause
// at will — a flood must not flood the log. What was refused is counted in the
// statistics; the lines that do appear carry the counts so far.
//
// (zap's own sampler would do, but keeps a table of counters of a few hundred kilobytes
// per logger, which every endpoint of a program would pay.)
func Sampled(log *zap.Logger) *zap.Logger {
	lines := &lastLines{at: map[string]int64{}}
	return log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return sampledCore{c, lines} }))
}

// lastLines remembers the second each message was last logged in.
type lastLines struct {
	mu sync.Mutex
	at map[string]int64
}

// allow reports whether msg may be logged at t, and if so records it.
func (l *lastLines) allow(msg string, t time.Time) bool {
	sec := t.Unix()
	l.mu.Lock()
	defer l.mu.Unlock()
	if last, ok := l.at[msg]; ok && last == sec {
		return false
	}
	if len(l.at) >= 1024 {
		clear(l.at) // messages are constants: this happens only if a caller builds them
	}
	l.at[msg] = sec
	return true
}

type sampledCore struct {
	zapcore.Core
	lines *lastLines
}

func (c sampledCore) With(f []zapcore.Field) zapcore.Core {
	return sampledCore{c.Core.With(f), c.lines}
}

func (c sampledCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if !c.Enabled(e.Level) || !c.lines.allow(e.Message, e.Time) {
		return ce
	}
	return c.Core.Check(e, ce)
}
