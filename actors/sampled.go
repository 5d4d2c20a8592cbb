package actors

import (
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Sampled returns log limited to one line per second for each message (the first;
// the rest of that second are dropped): the logger of refusals that a hostile peer can
// cause at will — a flood must not flood the log. What was refused is counted in the
// statistics; the lines that do appear carry the counts so far.
func Sampled(log *zap.Logger) *zap.Logger {
	return log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, time.Second, 1, 0)
	}))
}
