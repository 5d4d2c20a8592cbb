// Package supervision holds the supervisor strategies of the actor tree and the tools that
// keep a crash in its room: a receiver middleware that captures the stack of a panic before
// protoactor recovers it, strategies that log every failure through zap and count it, and
// the directive each kind of actor gets.
//
// The rules (docs/architecture.md):
//   - a panic in a session ends that session alone (its client is sent a close);
//   - a panic in a stream or group handler of a session stops that handler and the session
//     reports a flow exception for its flows;
//   - a panic in a publication restarts it (its subscribers are re-attached);
//   - an application handler's panic is answered to its client as an error and goes no
//     further (handled where the handler is called, not here).
package supervision

import (
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
)

// Panic is the failure reason of an actor whose receive function panicked, with the
// stack captured at the panic site by Middleware.
type Panic struct {
	Value any
	Stack []byte
}

func (p *Panic) Error() string { return fmt.Sprintf("panic: %v", p.Value) }

// Middleware captures the stack of a panic in an actor's receive function and re-panics
// with a *Panic, so that the supervisor's log shows where the crash happened.
func Middleware(next actor.ReceiverFunc) actor.ReceiverFunc {
	return func(ctx actor.ReceiverContext, env *actor.MessageEnvelope) {
		defer Repanic()
		next(ctx, env)
	}
}

// Repanic does what Middleware does from inside an actor's own Receive, deferred as its
// first statement (defer supervision.Repanic()). Actors that exist by the ten thousand
// (sessions, their connections) use it instead of the middleware: protoactor gives every
// actor with a receiver middleware a context-extras block (about 400 bytes) and wraps
// each of its messages in an envelope.
func Repanic() {
	if r := recover(); r != nil {
		if _, ok := r.(*Panic); ok {
			panic(r)
		}
		panic(&Panic{Value: r, Stack: debug.Stack()})
	}
}

// Counter counts failures handled by a strategy.
type Counter struct{ n atomic.Uint64 }

// Load returns the number of failures so far.
func (c *Counter) Load() uint64 { return c.n.Load() }

// strategy applies one directive to every failing child, logs and counts the failure,
// and then lets protoactor's one-for-one machinery carry it out (with restart accounting).
type strategy struct {
	kind  string
	log   *zap.Logger
	count *Counter
	inner actor.SupervisorStrategy
}

func (s *strategy) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason any, msg any) {
	if s.count != nil {
		s.count.n.Add(1)
	}
	fields := []zap.Field{zap.String("kind", s.kind), zap.Stringer("actor", child), zap.String("message", fmt.Sprintf("%T", msg))}
	if p, ok := reason.(*Panic); ok {
		fields = append(fields, zap.Any("panic", p.Value), zap.ByteString("stack", p.Stack))
	} else {
		fields = append(fields, zap.Any("reason", reason))
	}
	s.log.Error("actor failed", fields...)
	s.inner.HandleFailure(sys, sup, child, rs, reason, msg)
}

// Options configure a strategy.
type Options struct {
	// Kind names the supervised actors in logs ("session", "stream", "publication", …).
	Kind string
	// Directive is applied to every failure: actor.StopDirective or actor.RestartDirective.
	Directive actor.Directive
	// MaxRestarts within Within turn a restart into a stop (restart storms end).
	MaxRestarts int
	Within      time.Duration
	// Count, if set, is incremented for every failure.
	Count *Counter
}

// New returns a supervisor strategy for opts.
func New(log *zap.Logger, opts Options) actor.SupervisorStrategy {
	d := opts.Directive
	inner := actor.NewOneForOneStrategy(opts.MaxRestarts, opts.Within, func(any) actor.Directive { return d })
	return &strategy{kind: opts.Kind, log: log, count: opts.Count, inner: inner}
}

// StopOnPanic is the strategy of actors whose crash must end them (sessions, stream
// handlers): no restart, the actor stops and its Stopping handler tells the far end.
func StopOnPanic(log *zap.Logger, kind string, count *Counter) actor.SupervisorStrategy {
	return New(log, Options{Kind: kind, Directive: actor.StopDirective, Count: count})
}

// RestartOnPanic is the strategy of actors that can rebuild their state (publications):
// up to maxRestarts restarts within a minute, then stop.
func RestartOnPanic(log *zap.Logger, kind string, maxRestarts int, count *Counter) actor.SupervisorStrategy {
	return New(log, Options{Kind: kind, Directive: actor.RestartDirective, MaxRestarts: maxRestarts, Within: time.Minute, Count: count})
}
