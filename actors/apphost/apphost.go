// Package apphost runs the server's applications: one actor per application path, made
// when its first client connects, that calls the application (package app) one event at a
// time. A handler that panics is answered to its client as an error; the application
// keeps serving everyone else.
//
// Connects go to the host (Props), which finds or makes the application's actor and
// forwards them; the application's actor answers the connection itself, naming itself, and
// every later event of that client goes to it directly.
package apphost

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/registry"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// Stats counts what the applications did.
type Stats struct {
	Panics   atomic.Uint64 // handler calls that panicked
	Registry registry.Stats
}

// ErrNoApplication answers a connect to a path no application serves.
var ErrNoApplication = errors.New("no application")

// errInternal is what a client is told when an application handler panicked.
var errInternal = errors.New("internal server error")

// Props returns the props of the application host: apps are looked up in reg when their
// first client connects. Application actors run on protoactor's default dispatcher: they
// run user code, which may block.
func Props(reg app.Registry, log *zap.Logger, stats *Stats) *actor.Props {
	return registry.Props(registry.Config[string]{
		Kind: "application", Restarts: 10, Stats: &stats.Registry, Log: log,
		Name: func(path string) string {
			if path == "" {
				return "(root)"
			}
			return path
		},
		Key: func(m any) (string, bool) {
			c, ok := m.(*Connect)
			if !ok {
				return "", false
			}
			return c.Client.Path(), true
		},
		Props: func(path string, _ uint64) *actor.Props {
			a, ok := reg.Lookup(path)
			if !ok || a == nil {
				return nil
			}
			return actor.PropsFromProducer(func() actor.Actor { return &appActor{app: a, path: path, log: log, stats: stats} },
				actor.WithReceiverMiddleware(supervision.Middleware))
		},
		Missing: func(ctx actor.Context, _ string, m any) {
			c := m.(*Connect)
			ctx.Send(c.ReplyTo, &ConnectResult{Err: ErrNoApplication})
		},
	})
}

// appActor calls one application, one event at a time.
type appActor struct {
	app   app.Application
	path  string
	log   *zap.Logger
	stats *Stats
}

func (a *appActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *Connect:
		a.onConnect(ctx, m)
	case *Call:
		r := &CallResult{Txn: m.Txn, AMF3: m.AMF3, Method: m.Method}
		a.guard("OnCall", func() { r.Results, r.Err = a.app.OnCall(m.Client, m.Method, m.Args) }, &r.Err)
		ctx.Send(m.ReplyTo, r)
	case *Disconnect:
		if d, ok := a.app.(app.Disconnecter); ok {
			var err error
			a.guard("OnDisconnect", func() { d.OnDisconnect(m.Client) }, &err)
		}
	case *Stream:
		a.onStream(ctx, m)
	case *Group:
		a.onGroup(ctx, m)
	case *Media:
		a.onMedia(m)
	}
}

func (a *appActor) onConnect(ctx actor.Context, m *Connect) {
	r := &ConnectResult{App: ctx.Self()}
	_, r.WantsMedia = a.app.(app.MediaHandler)
	a.guard("OnConnect", func() { r.Props, r.Err = a.app.OnConnect(m.Client, m.Args) }, &r.Err)
	ctx.Send(m.ReplyTo, r)
}

func (a *appActor) onStream(ctx actor.Context, m *Stream) {
	var err error
	if m.Publish {
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
	if !m.Stop && m.ReplyTo != nil {
		ctx.Send(m.ReplyTo, &StreamResult{Publish: m.Publish, Err: err})
	}
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
			a.stats.Panics.Add(1)
			a.log.Error("application handler panicked", zap.String("app", a.path), zap.String("handler", handler),
				zap.String("panic", fmt.Sprint(r)), zap.Stack("stack"))
			*err = errInternal
		}
	}()
	f()
}
