package actors

import (
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
	"go.uber.org/zap/zapcore"
)

// NewActorSystem returns a protoactor system whose own logging (log/slog) goes to log.
// protoactor reports routine events at info level ("actor system started", every
// supervised recovery); they are passed on at debug level unless they are warnings or
// errors, so that our own supervision log (package supervision) is the one operators see.
// A nil log discards them.
func NewActorSystem(log *zap.Logger) *actor.ActorSystem {
	if log == nil {
		log = zap.NewNop()
	}
	named := log.Named("protoactor")
	handler := zapslog.NewHandler(demote{named.Core()}, zapslog.WithCaller(false))
	cfg := actor.Configure(
		actor.WithLoggerFactory(func(system *actor.ActorSystem) *slog.Logger {
			return slog.New(handler).With("system", system.ID)
		}),
		actor.WithDeadLetterThrottleCount(10),
	)
	return actor.NewActorSystemWithConfig(cfg)
}

// demote lowers info entries to debug.
type demote struct{ zapcore.Core }

func (d demote) Enabled(l zapcore.Level) bool { return d.Core.Enabled(demoted(l)) }

func (d demote) With(f []zapcore.Field) zapcore.Core { return demote{d.Core.With(f)} }

func (d demote) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	e.Level = demoted(e.Level)
	return d.Core.Check(e, ce)
}

func demoted(l zapcore.Level) zapcore.Level {
	if l == zapcore.InfoLevel {
		return zapcore.DebugLevel
	}
	return l
}
