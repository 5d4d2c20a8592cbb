package live

import (
	"errors"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// ServerPublisher is a publication the server itself publishes (app.Host.Publish: a Lua
// application's cumulus:publish): an actor that stands where a publisher's stream actor
// stands for its publication — it sends Publish, then an Ingest per message pushed — so
// players see it as any other publisher. Its methods never block and are safe for
// concurrent use (app.Publisher).
type ServerPublisher struct {
	root   *actor.RootContext
	pid    *actor.PID
	closed atomic.Pointer[error]
}

// ErrTaken is why a ServerPublisher closes when its name was being published already.
var ErrTaken = errors.New("the name is already published")

// errClosed and errGone are why a ServerPublisher is closed otherwise.
var (
	errClosed = errors.New("publication closed")
	errGone   = errors.New("the publication ended (server stopping)")
)

// maxEarly bounds what is pushed before the publication answered: it is sent once it did,
// the oldest given up beyond.
const maxEarly = 256

// NewServerPublisher publishes key from the server: the registry of publications (Props)
// is asked at once; what is pushed meanwhile is kept (up to a bound) and sent once the
// publication accepted. If the name is taken, the publisher closes with ErrTaken.
func NewServerPublisher(root *actor.RootContext, registry *actor.PID, key Key) *ServerPublisher {
	p := &ServerPublisher{root: root}
	p.pid = root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &serverPublisher{p: p, registry: registry, key: key}
	}))
	return p
}

// pushed is one message pushed into a ServerPublisher.
type pushed struct{ data []byte }

type closePublisher struct{}

// Audio implements app.Publisher.
func (p *ServerPublisher) Audio(timestamp uint32, body []byte) {
	p.push(flash.TypeAudio, timestamp, body)
}

// Video implements app.Publisher.
func (p *ServerPublisher) Video(timestamp uint32, body []byte) {
	p.push(flash.TypeVideo, timestamp, body)
}

// Data implements app.Publisher.
func (p *ServerPublisher) Data(timestamp uint32, amf0 []byte) {
	p.push(flash.TypeDataAMF0, timestamp, amf0)
}

func (p *ServerPublisher) push(typ byte, ts uint32, body []byte) {
	if p.closed.Load() != nil {
		return
	}
	// A fresh buffer per message: the publication keeps it (caches, sinks).
	data := flash.Message{Type: typ, Timestamp: ts, Body: body}.Append(make([]byte, 0, flash.HeaderLen+len(body)))
	p.root.Send(p.pid, &pushed{data: data})
}

// Close implements app.Publisher: the publication's players are told it was unpublished.
func (p *ServerPublisher) Close() {
	if p.closed.CompareAndSwap(nil, &errClosed) {
		p.root.Send(p.pid, &closePublisher{})
	}
}

// Closed implements app.Publisher.
func (p *ServerPublisher) Closed() error {
	if e := p.closed.Load(); e != nil {
		return *e
	}
	return nil
}

// serverPublisher is the actor of a ServerPublisher.
type serverPublisher struct {
	p           *ServerPublisher
	registry    *actor.PID
	key         Key
	publication *actor.PID // once it accepted
	early       [][]byte
}

func (a *serverPublisher) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.Send(a.registry, &Publish{Key: a.key, Stream: ctx.Self()})
	case *Published:
		a.onPublished(ctx, m)
	case *pushed:
		if a.publication == nil {
			if len(a.early) == maxEarly {
				a.early = a.early[1:]
			}
			a.early = append(a.early, m.data)
			return
		}
		a.ingest(ctx, m.data)
	case *closePublisher:
		if a.publication != nil {
			ctx.Send(a.publication, &Unpublish{Stream: ctx.Self()})
		}
		ctx.Stop(ctx.Self())
	case *actor.Terminated:
		// The publication stopped (the node is stopping): nothing more can be published.
		a.p.closed.CompareAndSwap(nil, &errGone)
		ctx.Stop(ctx.Self())
	}
}

func (a *serverPublisher) onPublished(ctx actor.Context, m *Published) {
	if !m.OK {
		a.p.closed.CompareAndSwap(nil, &ErrTaken)
		ctx.Stop(ctx.Self())
		return
	}
	if a.p.closed.Load() != nil {
		// Closed while the publish was on its way.
		ctx.Send(m.Publication, &Unpublish{Stream: ctx.Self()})
		ctx.Stop(ctx.Self())
		return
	}
	a.publication = m.Publication
	ctx.Watch(m.Publication)
	for _, data := range a.early {
		a.ingest(ctx, data)
	}
	a.early = nil
}

func (a *serverPublisher) ingest(ctx actor.Context, data []byte) {
	msg, err := flash.ParseMessage(data)
	if err != nil {
		return
	}
	ctx.Send(a.publication, &Ingest{Stream: ctx.Self(), Msg: msg, Data: data})
}
