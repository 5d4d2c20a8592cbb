package luaapp

import (
	"time"

	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/clock"
)

// errorLog logs an application's script errors, at most errorsPerSecond a second: a script
// that fails at every event of every client would otherwise flood the log. The rest are
// counted (Stats.Errors) and their number logged with the next error that is logged.
type errorLog struct {
	clock      clock.Clock
	second     time.Time
	logged     int
	suppressed int
}

const errorsPerSecond = 10

func (e *errorLog) log(log *zap.Logger, event string, err *scriptError) {
	now := time.Now()
	if e.clock != nil {
		now = e.clock.Now()
	}
	if now.Sub(e.second) >= time.Second {
		e.second, e.logged = now, 0
	}
	if e.logged >= errorsPerSecond {
		e.suppressed++
		return
	}
	e.logged++
	fields := []zap.Field{zap.String("event", event), zap.String("error", err.Message)}
	if e.suppressed > 0 {
		fields = append(fields, zap.Int("errors_not_logged_before", e.suppressed))
		e.suppressed = 0
	}
	if err.Trace != "" {
		fields = append(fields, zap.String("trace", err.Trace))
	}
	log.Warn("script error", fields...)
}
