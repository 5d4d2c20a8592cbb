package server

import (
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// GroupStats counts what the NetGroup service of a server did.
type GroupStats struct {
	Joins      atomic.Uint64 // join messages answered
	Refused    atomic.Uint64 // joins refused (application, member or group limits)
	Leaves     atomic.Uint64
	Introduced atomic.Uint64 // peer IDs handed out
	Failures   supervision.Counter
}

// groupHost is the registry of groups ("groups/<id>"): one actor per group ID.
type groupHost struct {
	*registry[app.GroupID]
	sh    *shared
	stats GroupStats
}

func newGroupHost(sys *actor.ActorSystem, sh *shared, log *zap.Logger) *groupHost {
	h := &groupHost{sh: sh}
	h.registry = newRegistry(sys, log, "group", &h.stats.Failures, func(id app.GroupID, n uint64) *actor.Props {
		members := &groupMembers{byPeer: map[cryptoutil.PeerID]*groupMember{}, set: newNeighborSet(sh.cfg.GroupNeighbors, n)}
		return sh.props(func() actor.Actor { return &group{host: h, id: id, members: members} },
			actor.WithReceiverMiddleware(supervision.Middleware))
	})
	return h
}

// groupMembers outlive a restart of the group actor.
type groupMembers struct {
	byPeer map[cryptoutil.PeerID]*groupMember
	set    *neighborSet
}

type groupMember struct {
	flow   *actor.PID // the member's group flow actor
	joined time.Time
}

// Messages between group flow actors and group actors.
type groupJoin struct {
	peer cryptoutil.PeerID
	flow *actor.PID
}

type groupLeave struct {
	peer cryptoutil.PeerID
	flow *actor.PID
}

// groupNeighbors are peer IDs for a member to contact.
type groupNeighbors struct{ peers []cryptoutil.PeerID }

type groupRefused struct{}

// group is the actor of one NetGroup: its members and the choice of whom each is told
// about (neighborSet).
type group struct {
	host    *groupHost
	id      app.GroupID
	members *groupMembers
	self    *actor.PID
}

func (g *group) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		g.self = ctx.Self()
		for _, mb := range g.members.byPeer {
			ctx.Watch(mb.flow)
		}
		ctx.SetReceiveTimeout(retireAfter)
	case *groupJoin:
		g.host.joined(g.id)
		g.onJoin(ctx, m)
	case *groupLeave:
		if mb := g.members.byPeer[m.peer]; mb != nil && mb.flow.Equal(m.flow) {
			g.remove(ctx, m.peer)
		}
	case *actor.Terminated:
		for peer, mb := range g.members.byPeer {
			if mb.flow.Equal(m.Who) {
				g.remove(ctx, peer)
			}
		}
	case *actor.ReceiveTimeout:
		if len(g.members.byPeer) == 0 && g.host.retire(g.id, g.self) {
			ctx.Stop(g.self)
		}
	}
}

func (g *group) onJoin(ctx actor.Context, m *groupJoin) {
	g.host.stats.Joins.Add(1)
	mb := g.members.byPeer[m.peer]
	if mb == nil {
		if len(g.members.byPeer) >= g.host.sh.cfg.GroupMaxMembers {
			g.host.stats.Refused.Add(1)
			ctx.Send(m.flow, &groupRefused{})
			return
		}
		mb = &groupMember{flow: m.flow, joined: time.Now()}
		g.members.byPeer[m.peer] = mb
		ctx.Watch(m.flow)
	} else if !mb.flow.Equal(m.flow) {
		// The same peer through another flow (a new session of it): the newest wins.
		ctx.Unwatch(mb.flow)
		mb.flow = m.flow
		ctx.Watch(m.flow)
	}
	// Asking again (a repeated join) gets a fresh choice.
	peers := g.members.set.pick(m.peer)
	g.members.set.add(m.peer)
	g.host.stats.Introduced.Add(uint64(len(peers)))
	ctx.Send(m.flow, &groupNeighbors{peers: peers})
}

// remove forgets a member and closes the ring over it: its two ring neighbours are told
// about each other. A member that left is never handed out again.
func (g *group) remove(ctx actor.Context, peer cryptoutil.PeerID) {
	mb := g.members.byPeer[peer]
	delete(g.members.byPeer, peer)
	ctx.Unwatch(mb.flow)
	g.host.stats.Leaves.Add(1)
	pred, succ, ok := g.members.set.remove(peer)
	if !ok {
		return
	}
	if p := g.members.byPeer[pred]; p != nil {
		ctx.Send(p.flow, &groupNeighbors{peers: []cryptoutil.PeerID{succ}})
	}
	if s := g.members.byPeer[succ]; s != nil {
		ctx.Send(s.flow, &groupNeighbors{peers: []cryptoutil.PeerID{pred}})
	}
}

// groupFlow is the flow actor of one NetGroup ("GC") flow of a connection: it reads the
// join message, asks the application, joins the group, and writes the member peer IDs
// the group hands out on the server's return flow (0x0B messages, no TC header).
type groupFlow struct {
	sh      *shared
	session *actor.PID
	client  *client
	appPID  *actor.PID
	flowID  uint64
	key     session.FlowKey
	peer    cryptoutil.PeerID

	gid     app.GroupID
	group   *actor.PID
	joining bool
	joined  bool
}

func newGroupFlow(c *connection, flowID uint64) *groupFlow {
	return &groupFlow{sh: c.sh, session: c.session, client: c.client, appPID: c.appPID, flowID: flowID, peer: c.client.peerID,
		key: session.FlowKey{Metadata: "GC", Assoc: flowID, HasAssoc: true}}
}

// appGroupResult is the application's decision on a join.
type appGroupResult struct{ err error }

func (f *groupFlow) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *session.FlowMessage:
		f.onMessage(ctx, m.Data)
	case *appGroupResult:
		if !f.joining {
			return
		}
		if m.err != nil {
			f.sh.groups.stats.Refused.Add(1)
			f.refuse(ctx)
			return
		}
		f.group, _ = f.sh.groups.join(f.gid)
		ctx.Send(f.group, &groupJoin{peer: f.peer, flow: ctx.Self()})
	case *groupNeighbors:
		f.joining, f.joined = false, true
		for _, p := range m.peers {
			ctx.Send(f.session, &session.Write{Key: f.key, Data: flash.AppendGroupMember(nil, p), Priority: session.PriorityControl})
		}
	case *groupRefused:
		f.refuse(ctx)
	case *session.FlowFinished:
		f.leave(ctx)
		ctx.Stop(ctx.Self())
	case *actor.Stopping:
		f.leave(ctx)
	}
}

func (f *groupFlow) onMessage(ctx actor.Context, data []byte) {
	j, err := flash.ParseGroupJoin(data)
	if err != nil {
		f.sh.stats.BadMessages.Add(1)
		return
	}
	gid := app.GroupID(j.GroupID)
	switch {
	case f.joining:
		return
	case f.joined && gid == f.gid:
		// Asking again: a fresh choice of neighbours.
		ctx.Send(f.group, &groupJoin{peer: f.peer, flow: ctx.Self()})
		return
	case f.joined:
		f.leave(ctx) // another group on the same flow: leave the first
	}
	f.gid, f.joining = gid, true
	ctx.Send(f.appPID, &appGroup{client: f.client, group: gid, replyTo: ctx.Self()})
}

// refuse rejects the flow and ends this actor (freeing the client's group slot).
func (f *groupFlow) refuse(ctx actor.Context) {
	f.joining = false
	ctx.Send(f.session, &session.RejectFlow{FlowID: f.flowID})
	ctx.Stop(ctx.Self())
}

func (f *groupFlow) leave(ctx actor.Context) {
	if !f.joined {
		return
	}
	f.joined = false
	ctx.Send(f.group, &groupLeave{peer: f.peer, flow: ctx.Self()})
	ctx.Send(f.appPID, &appGroup{client: f.client, group: f.gid, leave: true})
}
