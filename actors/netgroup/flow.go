package netgroup

import (
	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/apphost"
	"github.com/actorrtmfp/actorrtmfp/actors/eventlog"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// FlowParams is what the flow actor of a client's NetGroup flow is made with.
type FlowParams struct {
	Session *actor.PID // the client's session
	Client  app.Client
	App     *actor.PID // the client's application
	Groups  *actor.PID // the registry of groups (Props)
	FlowID  uint64     // the client's group flow
	Stats   *Stats
	Events  *eventlog.Log // the operator's event lines (nil: none)
}

// Flow is the flow actor of one NetGroup ("GC") flow of a client: it reads the join
// message, asks the application, joins the group, and writes the member peer IDs the
// group hands out on the server's return flow (0x0B messages, no TC header).
type Flow struct {
	p    FlowParams
	key  session.FlowKey
	peer cryptoutil.PeerID

	gid     app.GroupID
	group   *actor.PID
	joining bool
	joined  bool
	refused bool // refuse: the parent stops this actor
}

// FlowRefused tells a group flow actor's parent (the client's connection, which counts
// its group flows) that the flow's join was refused: the parent frees the client's group
// slot, then rejects the flow (session.RejectFlow) and stops the actor, in that order.
type FlowRefused struct {
	FlowID uint64
	Flow   *actor.PID
}

// NewFlow returns the flow actor of a client's group flow.
func NewFlow(p FlowParams) *Flow {
	return &Flow{p: p, peer: p.Client.PeerID(), key: session.FlowKey{Metadata: "GC", Assoc: p.FlowID, HasAssoc: true}}
}

func (f *Flow) Receive(ctx actor.Context) {
	if f.refused {
		return // nothing more to do: the parent is stopping this actor
	}
	switch m := ctx.Message().(type) {
	case *session.FlowMessage:
		f.onMessage(ctx, m.Data)
	case *apphost.GroupResult:
		f.onDecision(ctx, m)
	case *Neighbors:
		if !f.joined {
			f.p.Events.Event("joined a group", f.fields()...)
		}
		f.joining, f.joined, f.group = false, true, m.Group
		for _, p := range m.Peers {
			ctx.Send(f.p.Session, &session.Write{Key: f.key, Data: flash.AppendGroupMember(nil, p), Priority: session.PriorityControl})
		}
	case *Refused:
		f.p.Events.Event("group join refused", f.fields(zap.String("why", "group or member limit"))...)
		f.refuse(ctx)
	case *session.FlowFinished:
		f.leave(ctx)
		ctx.Stop(ctx.Self())
	case *actor.Stopping:
		f.leave(ctx)
	}
}

func (f *Flow) onMessage(ctx actor.Context, data []byte) {
	j, err := flash.ParseGroupJoin(data)
	if err != nil {
		f.p.Stats.BadJoins.Add(1)
		return
	}
	gid := app.GroupID(j.GroupID)
	switch {
	case f.joining:
		return
	case f.joined && gid == f.gid:
		// Asking again: a fresh choice of neighbours (through the registry, like every
		// join: the group counts what the registry forwards it).
		ctx.Send(f.p.Groups, &Join{Group: gid, Peer: f.peer, Flow: ctx.Self()})
		return
	case f.joined:
		f.leave(ctx) // another group on the same flow: leave the first
	}
	f.gid, f.joining = gid, true
	ctx.Send(f.p.App, &apphost.Group{Client: f.p.Client, Group: gid, ReplyTo: ctx.Self()})
}

func (f *Flow) onDecision(ctx actor.Context, m *apphost.GroupResult) {
	if !f.joining {
		return
	}
	if m.Err != nil {
		f.p.Events.Event("group join refused", f.fields(zap.String("why", "application: "+m.Err.Error()))...)
		f.p.Stats.Refused.Add(1)
		f.refuse(ctx)
		return
	}
	ctx.Send(f.p.Groups, &Join{Group: f.gid, Peer: f.peer, Flow: ctx.Self()})
}

// refuse has the parent free the client's group slot, reject the flow and stop this
// actor, in that order (FlowRefused): the client hears of the refusal only once the slot
// is free, so the group flows it opens next are never counted against this one. (Freeing
// the slot on this actor's Terminated raced with them: the session could turn the client's
// next flow into a FlowOpened at the connection before the Terminated got there.) A
// member refused after it had joined (its group's home refused a repeated join) leaves
// first: the application was told of its join, and this actor's Stopping does nothing.
func (f *Flow) refuse(ctx actor.Context) {
	f.leave(ctx)
	f.joining, f.refused = false, true
	ctx.Send(ctx.Parent(), &FlowRefused{FlowID: f.p.FlowID, Flow: ctx.Self()})
}

func (f *Flow) leave(ctx actor.Context) {
	if !f.joined {
		return
	}
	f.joined = false
	ctx.Send(f.group, &Leave{Peer: f.peer, Flow: ctx.Self()})
	ctx.Send(f.p.App, &apphost.Group{Client: f.p.Client, Group: f.gid, Leave: true})
}

// fields name the client and the group in an event line, then more.
func (f *Flow) fields(more ...zap.Field) []zap.Field {
	return append([]zap.Field{zap.Stringer("peer_id", f.peer), zap.Stringer("addr", f.p.Client.Address()), zap.String("app", f.p.Client.Path()),
		zap.Stringer("group", f.gid)}, more...)
}
