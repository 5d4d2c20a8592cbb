package server

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// registry keeps one actor per key — a publication per stream name, a group per group
// ID — spawned under a supervisor that restarts it when it panics. An actor is created at
// the first join and retires itself when idle; joins in flight keep it from retiring
// (join counts one, the actor acknowledges with joined when it processes the join's
// message), so an actor is never stopped between a lookup and the message that follows.
// An actor its supervisor gave up on (too many panics) is forgotten, so that the next
// join makes a fresh one.
type registry[K comparable] struct {
	sys        *actor.ActorSystem
	supervisor *actor.PID
	props      func(key K, id uint64) *actor.Props
	live       atomic.Int64
	nextID     atomic.Uint64

	mu    sync.Mutex
	m     map[K]*regEntry
	byPID map[string]K // PID.Id → key, for the actors that end without retiring
}

type regEntry struct {
	pid     *actor.PID
	id      uint64
	pending int
}

func newRegistry[K comparable](sys *actor.ActorSystem, log *zap.Logger, kind string, failures *supervision.Counter,
	props func(key K, id uint64) *actor.Props) *registry[K] {
	r := &registry[K]{sys: sys, props: props, m: map[K]*regEntry{}, byPID: map[string]K{}}
	r.supervisor = sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return registrySupervisor{gone: r.gone} },
		actor.WithSupervisor(supervision.RestartOnPanic(log, kind, 5, failures))))
	return r
}

// registrySupervisor is the parent of the registry's actors: it spawns them and hears
// when they end.
type registrySupervisor struct{ gone func(*actor.PID) }

type spawnChild struct {
	props *actor.Props
	reply chan *actor.PID
}

func (s registrySupervisor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *spawnChild:
		m.reply <- ctx.Spawn(m.props)
	case *actor.Terminated:
		s.gone(m.Who)
	}
}

// join returns the actor of key, creating it if needed, and counts a join that the caller
// follows with a message the actor answers by calling joined.
func (r *registry[K]) join(key K) (*actor.PID, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.m[key]
	if e == nil {
		id := r.nextID.Add(1)
		reply := make(chan *actor.PID, 1)
		r.sys.Root.Send(r.supervisor, &spawnChild{props: r.props(key, id), reply: reply})
		e = &regEntry{pid: <-reply, id: id}
		r.m[key] = e
		r.byPID[e.pid.Id] = key
		r.live.Add(1)
	}
	e.pending++
	return e.pid, e.id
}

// joined records that the actor of key processed a join.
func (r *registry[K]) joined(key K) {
	r.mu.Lock()
	if e := r.m[key]; e != nil && e.pending > 0 {
		e.pending--
	}
	r.mu.Unlock()
}

// retire forgets an idle actor unless a join is on its way; it reports whether the actor
// may stop.
func (r *registry[K]) retire(key K, pid *actor.PID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.m[key]
	if e == nil || !e.pid.Equal(pid) || e.pending > 0 {
		return false
	}
	r.forget(key, e)
	return true
}

// gone forgets the actor pid if it is still registered: it ended without retiring (its
// supervisor stopped it after repeated panics).
func (r *registry[K]) gone(pid *actor.PID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if key, ok := r.byPID[pid.Id]; ok {
		if e := r.m[key]; e != nil && e.pid.Equal(pid) {
			r.forget(key, e)
		}
	}
}

func (r *registry[K]) forget(key K, e *regEntry) {
	delete(r.m, key)
	delete(r.byPID, e.pid.Id)
	r.live.Add(-1)
}

func (r *registry[K]) count() int { return int(r.live.Load()) }

func (r *registry[K]) stop() { _ = r.sys.Root.StopFuture(r.supervisor).Wait() }
