// Package netgroup is the server's side of NetGroups: one group actor per group ID that
// knows the members and chooses whom each is told about (neighborSet), and the flow actor
// of a client's NetGroup ("GC") flow, which joins a group for the client and writes it the
// peer IDs of the members it should connect to. Flash peers build their mesh themselves
// from those peer IDs; the server is only the bootstrap.
package netgroup

import (
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/registry"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// Stats counts what the NetGroup service of a server did. A join is counted in Joins last,
// once it was answered and its other counts (Introduced, Refused) were made: whoever sees
// Joins reach k sees what the first k joins handed out.
type Stats struct {
	Joins      atomic.Uint64 // join messages answered
	Refused    atomic.Uint64 // joins refused (application, member or group limits)
	Leaves     atomic.Uint64
	Introduced atomic.Uint64 // peer IDs handed out
	BadJoins   atomic.Uint64 // undecodable group messages
	Registry   registry.Stats
}

// Groups returns the number of live groups.
func (s *Stats) Groups() int { return int(s.Registry.Live.Load()) }

// Config configures the groups of a node.
type Config struct {
	MaxMembers int // members per group, beyond which joins are refused
	Neighbors  int // peer IDs handed to a member per join
	Clock      clock.Clock
	Log        *zap.Logger
	Stats      *Stats
	// Index, if set, is kept up to date with the groups (operators' view).
	Index *Index
	// Options are added to every group's props (dispatcher, mailbox).
	Options []actor.PropsOption
	// Home, if set, makes the groups of this node part of groups spread over a cluster
	// (home.go): a group actor keeps the members this node serves, sends Home a HomeJoin
	// or HomeLeave for each join and leave, and hands its members the neighbours of the
	// Introduce that comes back.
	Home *actor.PID
}

// retireAfter is how long a group without members lives on.
const retireAfter = 5 * time.Second

// Props returns the props of the registry of groups: Join goes there.
func Props(cfg Config) *actor.Props {
	cfg.Clock = clock.Or(cfg.Clock)
	return registry.Props(registry.Config[app.GroupID]{
		Kind: "group", Restarts: 5, Stats: &cfg.Stats.Registry, Log: cfg.Log,
		Name: func(id app.GroupID) string { return "groups/" + id.String()[:16] },
		Key: func(m any) (app.GroupID, bool) {
			switch m := m.(type) {
			case *Join:
				return m.Group, true
			case *Introduce:
				return m.Group, true
			}
			return app.GroupID{}, false
		},
		Props: func(id app.GroupID, n uint64) *actor.Props {
			members := &members{byPeer: map[cryptoutil.PeerID]*member{}, set: newNeighborSet(cfg.Neighbors, n),
				info: &GroupInfo{id: id, n: n, members: map[cryptoutil.PeerID]time.Time{}}}
			cfg.Index.add(members.info)
			opts := append([]actor.PropsOption{actor.WithReceiverMiddleware(supervision.Middleware)}, cfg.Options...)
			return actor.PropsFromProducer(func() actor.Actor { return &group{cfg: &cfg, id: id, members: members} }, opts...)
		},
	})
}

// Join asks to join Group (or to be handed neighbours again); send it to the registry,
// never to the group itself.
// The group answers Flow with *Neighbors, or *Refused.
type Join struct {
	Group app.GroupID
	Peer  cryptoutil.PeerID
	Flow  *actor.PID // the member's group flow actor, which the group watches
}

// Leave leaves the group; send it to the group (Neighbors.Group).
type Leave struct {
	Peer cryptoutil.PeerID
	Flow *actor.PID
}

// Neighbors are peer IDs for a member to contact; Group is the group's actor.
type Neighbors struct {
	Group *actor.PID
	Peers []cryptoutil.PeerID
}

// Refused says a join was refused (the group is full).
type Refused struct{}

// members outlive a restart of the group actor.
type members struct {
	registry.Member
	byPeer map[cryptoutil.PeerID]*member
	set    *neighborSet
	info   *GroupInfo // its entry in Config.Index
}

type member struct {
	flow   *actor.PID // the member's group flow actor
	joined time.Time
}

// group is the actor of one NetGroup.
type group struct {
	cfg       *Config
	id        app.GroupID
	members   *members
	self      *actor.PID
	idleTimer clock.Timer
}

type idleCheck struct{}

func (g *group) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		g.self = ctx.Self()
		for _, mb := range g.members.byPeer {
			ctx.Watch(mb.flow)
		}
		g.checkIdle(ctx)
	case *Join:
		g.members.Served()
		g.onJoin(ctx, m)
	case *Introduce:
		g.members.Served()
		g.onIntroduce(ctx, m)
	case *Leave:
		if mb := g.members.byPeer[m.Peer]; mb != nil && mb.flow.Equal(m.Flow) {
			g.remove(ctx, m.Peer)
		}
	case *actor.Terminated:
		for peer, mb := range g.members.byPeer {
			if mb.flow.Equal(m.Who) {
				g.remove(ctx, peer)
			}
		}
	case *idleCheck:
		if len(g.members.byPeer) == 0 {
			g.members.Retire(ctx)
		}
	case *actor.Stopping, *actor.Restarting:
		if g.idleTimer != nil {
			g.idleTimer.Stop()
		}
	case *actor.Stopped:
		g.cfg.Index.remove(g.members.info.n) // retired (a restart does not stop it)
	}
}

func (g *group) onJoin(ctx actor.Context, m *Join) {
	mb := g.members.byPeer[m.Peer]
	if mb == nil {
		if g.cfg.Home == nil && len(g.members.byPeer) >= g.cfg.MaxMembers {
			ctx.Send(m.Flow, &Refused{})
			g.cfg.Stats.Refused.Add(1)
			g.cfg.Stats.Joins.Add(1) // answered: counted last (Stats)
			g.checkIdle(ctx)
			return
		}
		mb = &member{flow: m.Flow, joined: g.cfg.Clock.Now()}
		g.members.byPeer[m.Peer] = mb
		ctx.Watch(m.Flow)
		g.members.info.set(m.Peer, mb.joined, true)
	} else if !mb.flow.Equal(m.Flow) {
		// The same peer through another flow (a new session of it): the newest wins.
		ctx.Unwatch(mb.flow)
		mb.flow = m.Flow
		ctx.Watch(m.Flow)
	}
	if g.cfg.Home != nil {
		// The home chooses (and enforces the group's size); its answer is an Introduce.
		ctx.Send(g.cfg.Home, &HomeJoin{Group: g.id, Peer: m.Peer})
		return
	}
	// Asking again (a repeated join) gets a fresh choice.
	peers := g.members.set.pick(m.Peer)
	g.members.set.add(m.Peer)
	ctx.Send(m.Flow, &Neighbors{Group: g.self, Peers: peers})
	g.cfg.Stats.Introduced.Add(uint64(len(peers)))
	g.cfg.Stats.Joins.Add(1) // answered: counted last (Stats)
}

// onIntroduce hands a member of this node what the group's home chose for it.
func (g *group) onIntroduce(ctx actor.Context, m *Introduce) {
	mb := g.members.byPeer[m.Peer]
	if mb == nil {
		g.checkIdle(ctx)
		return // it left meanwhile (the home has its leave on the way)
	}
	if m.Refused {
		g.cfg.Stats.Refused.Add(1)
		ctx.Send(mb.flow, &Refused{})
		g.forget(ctx, m.Peer, mb)
		g.checkIdle(ctx)
		return
	}
	ctx.Send(mb.flow, &Neighbors{Group: g.self, Peers: m.Peers})
	g.cfg.Stats.Introduced.Add(uint64(len(m.Peers)))
	g.cfg.Stats.Joins.Add(1) // answered: counted last (Stats)
}

// remove forgets a member and closes the ring over it: its two ring neighbours are told
// about each other. A member that left is never handed out again.
func (g *group) remove(ctx actor.Context, peer cryptoutil.PeerID) {
	g.forget(ctx, peer, g.members.byPeer[peer])
	g.cfg.Stats.Leaves.Add(1)
	defer g.checkIdle(ctx)
	if g.cfg.Home != nil {
		ctx.Send(g.cfg.Home, &HomeLeave{Group: g.id, Peer: peer})
		return
	}
	pred, succ, ok := g.members.set.remove(peer)
	if !ok {
		return
	}
	if p := g.members.byPeer[pred]; p != nil {
		ctx.Send(p.flow, &Neighbors{Group: g.self, Peers: []cryptoutil.PeerID{succ}})
	}
	if s := g.members.byPeer[succ]; s != nil {
		ctx.Send(s.flow, &Neighbors{Group: g.self, Peers: []cryptoutil.PeerID{pred}})
	}
}

// forget drops a member of this node (it left, or the group's home refused it) from the
// group and from the operators' index.
func (g *group) forget(ctx actor.Context, peer cryptoutil.PeerID, mb *member) {
	delete(g.members.byPeer, peer)
	ctx.Unwatch(mb.flow)
	g.members.info.set(peer, time.Time{}, false)
}

// checkIdle arms the retirement of a group without members.
func (g *group) checkIdle(ctx actor.Context) {
	if len(g.members.byPeer) > 0 {
		return
	}
	if g.idleTimer != nil {
		g.idleTimer.Reset(retireAfter)
		return
	}
	self, root := g.self, ctx.ActorSystem().Root
	g.idleTimer = g.cfg.Clock.AfterFunc(retireAfter, func() { root.Send(self, &idleCheck{}) })
}
