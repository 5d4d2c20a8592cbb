package actors

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// Kind is one props value shared by every actor of a kind that exists by the ten
// thousand (sessions, their connections), where protoactor would otherwise keep a props
// value — and a producer closure holding the actor — per actor, a few hundred bytes each.
//
// Spawn hands the kind the actor to start: protoactor calls a props' producer
// synchronously inside the spawn, under Kind's lock, so the shared producer returns that
// actor. A restart calls the producer outside any Spawn; the kinds made with Kind are
// stopped when they fail, never restarted, and a restart would get an actor that stops
// itself rather than a blank copy of a session.
type Kind struct {
	mu    sync.Mutex
	next  actor.Actor
	props *actor.Props
}

// NewKind returns a Kind whose props have opts (mailbox, dispatcher, supervision…).
func NewKind(opts ...actor.PropsOption) *Kind {
	k := &Kind{}
	k.props = actor.PropsFromProducer(k.produce, opts...)
	return k
}

func (k *Kind) produce() actor.Actor {
	a := k.next
	k.next = nil
	if a == nil {
		return stillborn{}
	}
	return a
}

// Spawn starts a with spawn, a function that spawns the props it is given and returns
// the PID (a context's Spawn, or actor.DefaultSpawner bound to a parent).
func (k *Kind) Spawn(a actor.Actor, spawn func(*actor.Props) *actor.PID) *actor.PID {
	k.mu.Lock()
	defer func() {
		// Also when spawn panicked before producing: a later restart must not get a.
		k.next = nil
		k.mu.Unlock()
	}()
	k.next = a
	return spawn(k.props)
}

// stillborn is what a restart of a Kind's actor gets: it stops at once.
type stillborn struct{}

func (stillborn) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*actor.Started); ok {
		ctx.Stop(ctx.Self())
	}
}
