// Package apphost runs the server's applications: one actor per application path, made
// when its first client connects, that calls the application (package app) one event at a
// time. A handler that panics is answered to its client as an error; the application
// keeps serving everyone else.
//
// Connects go to the host (Props), which finds or makes the application's actor and
// forwards them; the application's actor answers the connection itself, naming itself, and
// every later event of that client goes to it directly. An application that is an
// app.Starter is started when its actor is made and stopped when it stops; an app.Manager
// is called every app.ManagePeriod on the node's clock.
package apphost

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/registry"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// Stats counts what the applications did.
type Stats struct {
	Panics   atomic.Uint64 // handler calls that panicked
	Registry registry.Stats
	perApp   sync.Map // application path → *AppCounters
}

// AppCounters count what one application was asked.
type AppCounters struct {
	Calls  atomic.Uint64 // client calls (NetConnection.call) handled
	Errors atomic.Uint64 // calls answered with an error (the application's, or a panic)
}

// App returns the counters of the application at path (made at its first use).
func (s *Stats) App(path string) *AppCounters {
	if c, ok := s.perApp.Load(path); ok {
		return c.(*AppCounters)
	}
	c, _ := s.perApp.LoadOrStore(path, &AppCounters{})
	return c.(*AppCounters)
}

// EachApp calls f with the counters of every application that has had a call.
func (s *Stats) EachApp(f func(path string, c *AppCounters)) {
	s.perApp.Range(func(k, v any) bool {
		f(k.(string), v.(*AppCounters))
		return true
	})
}

// ErrNoApplication answers a connect to a path no application serves.
var ErrNoApplication = errors.New("no application")

// errInternal is what a client is told when an application handler panicked.
var errInternal = errors.New("internal server error")

// Config is what the applications of a node share.
type Config struct {
	Apps  app.Registry
	Clock clock.Clock // the node's clock (app.Host.Clock, the manage ticks); nil: the real one
	Log   *zap.Logger
	Stats *Stats
	// Publish starts a publication the server publishes for the application at path
	// (app.Host.Publish); nil refuses.
	Publish func(path, name string) (app.Publisher, error)
	// Ban puts ip on the server's blacklist or, with banned false, takes it off
	// (app.Host.Ban); nil ignores.
	Ban func(ip netip.Addr, banned bool)
	// Groups is the server's NetGroup membership (app.GroupHost); nil: none.
	Groups Groups
}

// Groups is the server's NetGroup membership, as the applications' hosts use it.
type Groups interface {
	// Join makes the server a member of the group of spec; the group's posts go to
	// onPost, once per key (an application path).
	Join(spec, key string, onPost func(group app.GroupID, body []byte)) (app.GroupID, error)
	Post(spec string, body []byte) error
	Multicast(appPath, stream, spec string) error
}

// Props returns the props of the application host: apps are looked up in cfg.Apps when
// their first client connects (or when Start names them). Application actors run on
// protoactor's default dispatcher: they run user code, which may block.
func Props(cfg Config) *actor.Props {
	cfg.Clock = clock.Or(cfg.Clock)
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Stats == nil {
		cfg.Stats = &Stats{}
	}
	return registry.Props(registry.Config[string]{
		Kind: "application", Restarts: 10, Stats: &cfg.Stats.Registry, Log: cfg.Log,
		Name: func(path string) string {
			if path == "" {
				return "(root)"
			}
			return path
		},
		Key: func(m any) (string, bool) {
			switch m := m.(type) {
			case *Connect:
				return m.Client.Path(), true
			case *Start:
				return m.Path, true
			}
			return "", false
		},
		Props: func(path string, _ uint64) *actor.Props {
			a, ok := cfg.Apps.Lookup(path)
			if !ok || a == nil {
				return nil
			}
			return actor.PropsFromProducer(func() actor.Actor { return &appActor{app: a, path: path, cfg: &cfg} },
				actor.WithReceiverMiddleware(supervision.Middleware))
		},
		Missing: func(ctx actor.Context, _ string, m any) {
			switch m := m.(type) {
			case *Connect:
				ctx.Send(m.ReplyTo, &ConnectResult{Err: ErrNoApplication})
			case *Start:
				if m.Done != nil {
					close(m.Done)
				}
			}
		},
	})
}

// appActor calls one application, one event at a time.
type appActor struct {
	app      app.Application
	path     string
	cfg      *Config
	started  bool
	tick     clock.Timer // the next manage tick, if the application is a Manager
	counters *AppCounters
}

// manageTick is the manage timer's message (app.Manager).
type manageTick struct{}

// post is a function to run on the application's actor (app.Host.Post).
type post struct{ f func() }

// groupPost is a post of a group the application joined (app.GroupPostHandler).
type groupPost struct {
	group app.GroupID
	value any
}

func (a *appActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.start(ctx)
	case *Start:
		// Started has run: the application is up.
		if m.Done != nil {
			close(m.Done)
		}
	case *Connect:
		a.onConnect(ctx, m)
	case *Call:
		r := &CallResult{Txn: m.Txn, AMF3: m.AMF3, Method: m.Method, Args: m.Args}
		a.guard("OnCall", func() { r.Results, r.Err = a.app.OnCall(m.Client, m.Method, m.Args) }, &r.Err)
		if a.counters == nil {
			a.counters = a.cfg.Stats.App(a.path)
		}
		a.counters.Calls.Add(1)
		if r.Err != nil && !(m.Method == "relay" && errors.Is(r.Err, app.ErrMethodNotFound)) { // the server relays those
			a.counters.Errors.Add(1)
		}
		ctx.Send(m.ReplyTo, r)
	case *Disconnect:
		a.onDisconnect(m)
	case *Stream:
		a.onStream(ctx, m)
	case *Group:
		a.onGroup(ctx, m)
	case *Media:
		a.onMedia(m)
	case *manageTick:
		if mg, ok := a.app.(app.Manager); ok {
			var err error
			a.guard("OnManage", mg.OnManage, &err)
			a.tick.Reset(app.ManagePeriod)
		}
	case *post:
		var err error
		a.guard("posted function", m.f, &err)
	case *groupPost:
		if h, ok := a.app.(app.GroupPostHandler); ok {
			var err error
			a.guard("OnGroupPost", func() { h.OnGroupPost(m.group, m.value) }, &err)
		}
	case *actor.Stopping, *actor.Restarting:
		a.stop()
	}
}

// start gives a Starter its host and arms the manage ticks of a Manager.
func (a *appActor) start(ctx actor.Context) {
	if s, ok := a.app.(app.Starter); ok {
		h := &host{path: a.path, cfg: a.cfg, self: ctx.Self(), root: ctx.ActorSystem().Root,
			log: a.cfg.Log.With(zap.String("app", "/"+a.path))}
		var err error
		a.guard("OnStart", func() { s.OnStart(h) }, &err)
	}
	a.started = true
	if _, ok := a.app.(app.Manager); ok {
		self, root := ctx.Self(), ctx.ActorSystem().Root
		a.tick = a.cfg.Clock.AfterFunc(app.ManagePeriod, func() { root.Send(self, &manageTick{}) })
	}
}

func (a *appActor) stop() {
	if a.tick != nil {
		a.tick.Stop()
		a.tick = nil
	}
	if !a.started {
		return
	}
	a.started = false
	if s, ok := a.app.(app.Starter); ok {
		var err error
		a.guard("OnStop", s.OnStop, &err)
	}
}

func (a *appActor) onConnect(ctx actor.Context, m *Connect) {
	r := &ConnectResult{App: ctx.Self()}
	_, r.WantsMedia = a.app.(app.MediaHandler)
	a.guard("OnConnect", func() { r.Props, r.Err = a.app.OnConnect(m.Client, m.Args) }, &r.Err)
	if errors.Is(r.Err, app.ErrInvalidApp) {
		r.Err = ErrNoApplication
	}
	ctx.Send(m.ReplyTo, r)
}

func (a *appActor) onDisconnect(m *Disconnect) {
	var err error
	if f, ok := a.app.(app.Failer); ok && m.Failure != "" {
		a.guard("OnFailed", func() { f.OnFailed(m.Client, m.Failure) }, &err)
	}
	if d, ok := a.app.(app.Disconnecter); ok {
		a.guard("OnDisconnect", func() { d.OnDisconnect(m.Client) }, &err)
	}
}

func (a *appActor) onStream(ctx actor.Context, m *Stream) {
	var err error
	if h, ok := a.app.(app.StreamHandler); ok && m.Handle != nil {
		switch {
		case m.Publish && m.Stop:
			a.guard("OnUnpublishStream", func() { h.OnUnpublishStream(m.Handle) }, &err)
		case m.Stop:
			a.guard("OnStopStream", func() { h.OnStopStream(m.Handle) }, &err)
		case m.Publish:
			a.guard("OnPublishStream", func() { err = h.OnPublishStream(m.Handle) }, &err)
		default:
			a.guard("OnPlayStream", func() { err = h.OnPlayStream(m.Handle) }, &err)
		}
	} else if m.Publish {
		if h, ok := a.app.(app.PublishHandler); ok {
			if m.Stop {
				a.guard("OnUnpublish", func() { h.OnUnpublish(m.Client, m.Name) }, &err)
				return
			}
			a.guard("OnPublish", func() { err = h.OnPublish(m.Client, m.Name) }, &err)
		}
	} else if h, ok := a.app.(app.SubscribeHandler); ok {
		if m.Stop {
			a.guard("OnUnsubscribe", func() { h.OnUnsubscribe(m.Client, m.Name) }, &err)
			return
		}
		a.guard("OnSubscribe", func() { err = h.OnSubscribe(m.Client, m.Name) }, &err)
	}
	if m.Stop || m.ReplyTo == nil {
		return
	}
	r := &StreamResult{Publish: m.Publish, Err: err}
	if m.Publish && err == nil {
		if _, ok := a.app.(app.MediaHandler); ok {
			r.WantsMedia = true
			if f, ok := a.app.(app.MediaFilter); ok {
				a.guard("WantsMedia", func() { r.WantsMedia = f.WantsMedia() }, &err)
			}
		}
	}
	ctx.Send(m.ReplyTo, r)
}

func (a *appActor) onGroup(ctx actor.Context, m *Group) {
	var err error
	if h, ok := a.app.(app.GroupHandler); ok {
		if m.Leave {
			a.guard("OnLeaveGroup", func() { h.OnLeaveGroup(m.Client, m.Group) }, &err)
			return
		}
		a.guard("OnJoinGroup", func() { err = h.OnJoinGroup(m.Client, m.Group) }, &err)
	}
	if !m.Leave && m.ReplyTo != nil {
		ctx.Send(m.ReplyTo, &GroupResult{Err: err})
	}
}

func (a *appActor) onMedia(m *Media) {
	h, ok := a.app.(app.MediaHandler)
	if !ok {
		return
	}
	var err error
	a.guard("media handler", func() {
		switch m.Type {
		case flash.TypeAudio:
			h.OnAudio(m.Client, m.Name, m.Timestamp, m.Data)
		case flash.TypeVideo:
			h.OnVideo(m.Client, m.Name, m.Timestamp, m.Data)
		default:
			h.OnData(m.Client, m.Name, m.Values)
		}
	}, &err)
}

// guard runs an application handler; a panic becomes errInternal in *err and a log line.
func (a *appActor) guard(handler string, f func(), err *error) {
	defer func() {
		if r := recover(); r != nil {
			a.cfg.Stats.Panics.Add(1)
			a.cfg.Log.Error("application handler panicked", zap.String("app", a.path), zap.String("handler", handler),
				zap.String("panic", fmt.Sprint(r)), zap.Stack("stack"))
			*err = errInternal
		}
	}()
	f()
}
