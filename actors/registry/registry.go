// Package registry is the parent of actors that exist once per key — a publication per
// stream name, a group per group ID, an application per path: an actor that spawns the
// child of a key at the first message for it, forwards it every message for that key, and
// forgets it when it retires or dies. Nobody waits on it: a message for a key is sent to
// the registry, which forwards it, and the child answers the sender itself.
//
// A child retires by asking its parent (Retire) with the number of messages it has
// received from the registry: the registry stops it only if it forwarded no more, so a
// message on its way is never lost between a child's decision to retire and its end.
package registry

import (
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// Config describes a registry.
type Config[K comparable] struct {
	// Kind names the children in logs ("publication", "group", "application").
	Kind string
	// Key returns the key of a message sent to the registry; messages without one are
	// dropped and counted.
	Key func(msg any) (K, bool)
	// Props returns the props of the child of key (id is unique among the registry's
	// children, for the child to tell its incarnations apart), or nil when key has no
	// child: Missing then answers the message.
	Props func(key K, id uint64) *actor.Props
	// Name, if set, names the child of key (for logs and remote addresses); the
	// registry adds the child's id, as a retiring child may still hold its name.
	Name func(key K) string
	// Missing answers a message whose key has no child (nil: it is dropped).
	Missing func(ctx actor.Context, key K, msg any)
	// Restarts is how many panics within a minute a child survives: it is restarted (it
	// keeps what it kept outside its actor instance), and stopped and forgotten beyond.
	Restarts int
	// Stats counts what the registry did; nil gives it counters of its own.
	Stats *Stats
	Log   *zap.Logger
}

// Stats counts a registry's children and failures.
type Stats struct {
	Live     atomic.Int64 // children alive
	Spawned  atomic.Uint64
	Retired  atomic.Uint64
	Failures supervision.Counter // panics of children
	Dropped  atomic.Uint64       // messages without a key
	Panics   atomic.Uint64       // messages whose forwarding panicked (recovered)
}

// Retire is what a child sends its parent (the registry) when it wants to stop: Served is
// the number of messages the registry forwarded to it that it has received (Member
// counts them).
type Retire struct{ Served uint64 }

// Props returns the props of a registry actor. Its children run on their own props'
// dispatcher; the registry itself does nothing but forward.
func Props[K comparable](cfg Config[K], opts ...actor.PropsOption) *actor.Props {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Stats == nil {
		cfg.Stats = &Stats{}
	}
	strategy := supervision.RestartOnPanic(cfg.Log, cfg.Kind, cfg.Restarts, &cfg.Stats.Failures)
	return actor.PropsFromProducer(func() actor.Actor {
		return &registryActor[K]{cfg: cfg, strategy: strategy, byKey: map[K]*entry{}, byID: map[string]K{}}
	}, opts...)
}

type entry struct {
	pid       *actor.PID
	forwarded uint64
}

type registryActor[K comparable] struct {
	cfg      Config[K]
	strategy actor.SupervisorStrategy
	byKey    map[K]*entry
	byID     map[string]K // child PID.Id → key
	nextID   uint64
}

func (r *registryActor[K]) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *Retire:
		r.onRetire(ctx, m)
	case *actor.Terminated:
		// A child ended without retiring (its supervisor gave up on it): the next
		// message for its key makes a fresh one.
		if key, ok := r.byID[m.Who.Id]; ok {
			if e := r.byKey[key]; e != nil && e.pid.Equal(m.Who) {
				r.forget(key, e)
			}
		}
	case actor.SystemMessage, actor.AutoReceiveMessage:
	default:
		r.guard(func() { r.forward(ctx, m) })
	}
}

// guard recovers a panic of the configuration's functions (Props may look up user
// code): a restart of the registry would stop every child.
func (r *registryActor[K]) guard(f func()) {
	defer func() {
		if p := recover(); p != nil {
			r.cfg.Stats.Panics.Add(1)
			r.cfg.Log.Error("registry: forwarding panicked", zap.String("kind", r.cfg.Kind), zap.String("panic", fmt.Sprint(p)), zap.Stack("stack"))
		}
	}()
	f()
}

func (r *registryActor[K]) forward(ctx actor.Context, m any) {
	key, ok := r.cfg.Key(m)
	if !ok {
		r.cfg.Stats.Dropped.Add(1)
		return
	}
	e := r.byKey[key]
	if e == nil {
		r.nextID++
		props := r.cfg.Props(key, r.nextID)
		if props == nil {
			if r.cfg.Missing != nil {
				r.cfg.Missing(ctx, key, m)
			}
			return
		}
		var pid *actor.PID
		if r.cfg.Name != nil {
			var err error
			name := r.cfg.Name(key) + "#" + strconv.FormatUint(r.nextID, 10)
			if pid, err = ctx.SpawnNamed(props, name); err != nil {
				// Unique by its id, the name cannot be taken; say so if it ever is.
				r.cfg.Log.Warn("registry: spawning a child under another name", zap.String("kind", r.cfg.Kind), zap.String("name", name), zap.Error(err))
				pid = ctx.Spawn(props)
			}
		} else {
			pid = ctx.Spawn(props)
		}
		e = &entry{pid: pid}
		r.byKey[key] = e
		r.byID[e.pid.Id] = key
		r.cfg.Stats.Live.Add(1)
		r.cfg.Stats.Spawned.Add(1)
	}
	e.forwarded++
	ctx.Send(e.pid, m)
}

func (r *registryActor[K]) onRetire(ctx actor.Context, m *Retire) {
	who := ctx.Sender()
	if who == nil {
		return
	}
	key, ok := r.byID[who.Id]
	if !ok {
		return
	}
	e := r.byKey[key]
	if e == nil || !e.pid.Equal(who) || e.forwarded != m.Served {
		return // a message is on its way to it: it is not idle after all
	}
	r.forget(key, e)
	r.cfg.Stats.Retired.Add(1)
	ctx.Stop(who)
}

// HandleFailure implements actor.SupervisorStrategy (protoactor asks an actor that is
// one to supervise its own children, on its own goroutine): the children's strategy
// decides, and a child it stops is forgotten at once. Forgotten only at its Terminated,
// it would be sent the messages that arrive in between, which nobody would answer.
func (r *registryActor[K]) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason, msg any) {
	r.strategy.HandleFailure(sys, stopWatch[K]{Supervisor: sup, r: r}, child, rs, reason, msg)
}

// stopWatch is the registry's supervisor as its children's strategy sees it: it forgets
// the children the strategy stops.
type stopWatch[K comparable] struct {
	actor.Supervisor
	r *registryActor[K]
}

func (s stopWatch[K]) StopChildren(pids ...*actor.PID) {
	for _, pid := range pids {
		if key, ok := s.r.byID[pid.Id]; ok {
			if e := s.r.byKey[key]; e != nil && e.pid.Equal(pid) {
				s.r.forget(key, e)
			}
		}
	}
	s.Supervisor.StopChildren(pids...)
}

func (r *registryActor[K]) forget(key K, e *entry) {
	delete(r.byKey, key)
	delete(r.byID, e.pid.Id)
	r.cfg.Stats.Live.Add(-1)
}

// Member is what a child of a registry keeps to count the messages its registry
// forwarded, for Retire. It must outlive a restart of the child (kept with the rest of
// what the child keeps outside its actor instance), or the child could never retire.
type Member struct{ served uint64 }

// Served counts one message forwarded by the registry (call it for each).
func (m *Member) Served() { m.served++ }

// Retire asks the registry (the child's parent) to stop the child if nothing more is on
// its way to it.
func (m *Member) Retire(ctx actor.Context) {
	ctx.Request(ctx.Parent(), &Retire{Served: m.served})
}
