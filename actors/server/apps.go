package server

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// appHost runs one actor per application path ("apps/<path>"), created when its first
// client connects. Every call into an application goes through its actor, one at a time.
type appHost struct {
	sys      *actor.ActorSystem
	registry app.Registry
	log      *zap.Logger
	panics   atomic.Uint64

	mu   sync.Mutex
	pids map[string]*actor.PID
}

func newAppHost(sys *actor.ActorSystem, reg app.Registry, log *zap.Logger) *appHost {
	return &appHost{sys: sys, registry: reg, log: log, pids: map[string]*actor.PID{}}
}

// lookup returns the actor of the application serving path, or nil if there is none.
func (h *appHost) lookup(path string) *actor.PID {
	h.mu.Lock()
	defer h.mu.Unlock()
	if pid := h.pids[path]; pid != nil {
		return pid
	}
	a, ok := h.registry.Lookup(path)
	if !ok || a == nil {
		return nil
	}
	props := actor.PropsFromProducer(func() actor.Actor { return &appActor{app: a, path: path, host: h} },
		actor.WithReceiverMiddleware(supervision.Middleware))
	pid, err := h.sys.Root.SpawnNamed(props, "apps/"+escapeName(path))
	if err != nil {
		pid = h.sys.Root.Spawn(props)
	}
	h.pids[path] = pid
	return pid
}

// stop stops every application actor.
func (h *appHost) stop() {
	h.mu.Lock()
	pids := h.pids
	h.pids = map[string]*actor.PID{}
	h.mu.Unlock()
	for _, pid := range pids {
		_ = h.sys.Root.StopFuture(pid).Wait()
	}
}

func escapeName(path string) string {
	if path == "" {
		return "(root)"
	}
	return path
}

// Messages to an application actor; each reply goes to the asking connection.
type appConnect struct {
	client *client
	args   []any
}

type appConnectResult struct {
	props []amf.Property
	err   error
}

type appCall struct {
	client *client
	txn    float64
	amf3   bool
	method string
	args   []any
}

type appCallResult struct {
	txn     float64
	amf3    bool
	method  string
	results []any
	err     error
}

type appDisconnect struct{ client *client }

// appStream asks the application whether a client may publish or play a stream (and
// tells it when one stops). The answer, for decisions, goes to replyTo.
type appStream struct {
	client  *client
	name    string
	publish bool // publish or play
	stop    bool // unpublish or unsubscribe: no answer
	replyTo *actor.PID
}

type appStreamResult struct {
	publish bool
	err     error
}

// appGroup asks the application whether a client may join a group (or tells it the
// client left); the decision goes to replyTo as appGroupResult.
type appGroup struct {
	client  *client
	group   app.GroupID
	leave   bool
	replyTo *actor.PID
}

// appMedia is one packet of a publication for the application's MediaHandler.
type appMedia struct {
	client *client
	name   string
	typ    byte
	ts     uint32
	data   []byte
	values []any // data messages, decoded
}

// errInternal is what a client is told when an application handler panicked.
var errInternal = errors.New("internal server error")

// appActor calls one application, one event at a time. A handler's panic is recovered
// here: the client gets an error, the application keeps serving everyone else.
type appActor struct {
	app  app.Application
	path string
	host *appHost
}

func (a *appActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *appConnect:
		var r appConnectResult
		a.guard("OnConnect", func() { r.props, r.err = a.app.OnConnect(m.client, m.args) }, &r.err)
		ctx.Send(m.client.conn, &r)
	case *appCall:
		r := appCallResult{txn: m.txn, amf3: m.amf3, method: m.method}
		a.guard("OnCall", func() { r.results, r.err = a.app.OnCall(m.client, m.method, m.args) }, &r.err)
		ctx.Send(m.client.conn, &r)
	case *appDisconnect:
		if d, ok := a.app.(app.Disconnecter); ok {
			var err error
			a.guard("OnDisconnect", func() { d.OnDisconnect(m.client) }, &err)
		}
	case *appStream:
		a.onStream(ctx, m)
	case *appGroup:
		var err error
		if h, ok := a.app.(app.GroupHandler); ok {
			if m.leave {
				a.guard("OnLeaveGroup", func() { h.OnLeaveGroup(m.client, m.group) }, &err)
				return
			}
			a.guard("OnJoinGroup", func() { err = h.OnJoinGroup(m.client, m.group) }, &err)
		}
		if !m.leave && m.replyTo != nil {
			ctx.Send(m.replyTo, &appGroupResult{err: err})
		}
	case *appMedia:
		if h, ok := a.app.(app.MediaHandler); ok {
			var err error
			a.guard("media handler", func() {
				switch m.typ {
				case flash.TypeAudio:
					h.OnAudio(m.client, m.name, m.ts, m.data)
				case flash.TypeVideo:
					h.OnVideo(m.client, m.name, m.ts, m.data)
				default:
					h.OnData(m.client, m.name, m.values)
				}
			}, &err)
		}
	}
}

func (a *appActor) onStream(ctx actor.Context, m *appStream) {
	var err error
	if m.publish {
		if h, ok := a.app.(app.PublishHandler); ok {
			if m.stop {
				a.guard("OnUnpublish", func() { h.OnUnpublish(m.client, m.name) }, &err)
				return
			}
			a.guard("OnPublish", func() { err = h.OnPublish(m.client, m.name) }, &err)
		}
	} else if h, ok := a.app.(app.SubscribeHandler); ok {
		if m.stop {
			a.guard("OnUnsubscribe", func() { h.OnUnsubscribe(m.client, m.name) }, &err)
			return
		}
		a.guard("OnSubscribe", func() { err = h.OnSubscribe(m.client, m.name) }, &err)
	}
	if !m.stop && m.replyTo != nil {
		ctx.Send(m.replyTo, &appStreamResult{publish: m.publish, err: err})
	}
}

// wantsMedia reports whether the application of path has a MediaHandler.
func (h *appHost) wantsMedia(path string) bool {
	a, ok := h.registry.Lookup(path)
	if !ok {
		return false
	}
	_, ok = a.(app.MediaHandler)
	return ok
}

// guard runs an application handler; a panic becomes errInternal in *err and a log line.
func (a *appActor) guard(handler string, f func(), err *error) {
	defer func() {
		if r := recover(); r != nil {
			a.host.panics.Add(1)
			a.host.log.Error("application handler panicked", zap.String("app", a.path), zap.String("handler", handler),
				zap.String("panic", fmt.Sprint(r)), zap.Stack("stack"))
			*err = errInternal
		}
	}()
	f()
}
