package client

import (
	"context"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// Group is a NetGroup membership as the server bootstraps it: the server hands out peer
// IDs of other members (Neighbors) when we join, when we ask again (Rejoin) and when the
// mesh needs repair after a member left. The peer-to-peer part of NetGroup (posting,
// multicast, object replication) happens between the peers.
type Group struct {
	ID        [32]byte
	Neighbors <-chan cryptoutil.PeerID

	neighbors chan cryptoutil.PeerID
	conn      *Conn
	lane      uint8
	rejected  chan struct{}
}

// Rejected is closed if the server refused the membership (application or limits).
func (g *Group) Rejected() <-chan struct{} { return g.rejected }

// Rejoin sends the join message again: the server answers with a fresh choice of members.
func (g *Group) Rejoin() { g.conn.root.Send(g.conn.conn, &groupRequest{g: g, again: true}) }

// Leave ends the membership (the group flow is closed).
func (g *Group) Leave() { g.conn.root.Send(g.conn.conn, &groupRequest{g: g, leave: true}) }

type groupRequest struct {
	g            *Group
	again, leave bool
	done         chan error
}

// JoinGroup joins the NetGroup with the given ID (the SHA-256 of its group specifier, as
// Flash computes it) and returns once the join message is sent; the member IDs the server
// hands out arrive on Neighbors.
func (c *Conn) JoinGroup(ctx context.Context, id [32]byte) (*Group, error) {
	g := &Group{ID: id, neighbors: make(chan cryptoutil.PeerID, 1024), conn: c, rejected: make(chan struct{})}
	g.Neighbors = g.neighbors
	done := make(chan error, 1)
	c.root.Send(c.conn, &groupRequest{g: g, done: done})
	select {
	case err := <-done:
		if err != nil {
			return nil, err
		}
		return g, nil
	case <-c.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func groupKey(returnFlow uint64, lane uint8) session.FlowKey {
	return session.FlowKey{Metadata: "GC", Assoc: returnFlow, HasAssoc: true, Lane: lane}
}

// onGroupRequest handles joins, repeated joins and leaves on the connection actor.
func (a *connActor) onGroupRequest(ctx actor.Context, r *groupRequest) {
	if !a.connected || a.ended || !a.haveReturn {
		if r.done != nil {
			r.done <- errNotConnected
		}
		return
	}
	g := r.g
	switch {
	case r.leave:
		ctx.Send(ctx.Parent(), &session.CloseFlow{Key: groupKey(a.returnFlow, g.lane)})
		delete(a.groups, g.lane)
		return
	case !r.again:
		a.nextLane++
		g.lane = a.nextLane
		a.groups[g.lane] = g
	}
	join := flash.GroupJoin{GroupID: g.ID}.Append(nil)
	ctx.Send(ctx.Parent(), &session.Write{Key: groupKey(a.returnFlow, g.lane), Data: join, Priority: session.PriorityControl})
	if r.done != nil {
		r.done <- nil
	}
}

// onGroupFlow accepts the server's return flow of one of our group flows.
func (a *connActor) onGroupFlow(ctx actor.Context, m *session.FlowOpened) bool {
	g := a.groups[m.AssocKey.Lane]
	if !m.HasAssoc || m.AssocKey.Metadata != "GC" || g == nil {
		return false
	}
	a.groupFlows[m.FlowID] = g
	ctx.Send(ctx.Parent(), &session.AcceptFlow{FlowID: m.FlowID, PID: ctx.Self()})
	return true
}

func (a *connActor) onGroupMessage(g *Group, data []byte) {
	id, err := flash.ParseGroupMember(data)
	if err != nil {
		return
	}
	select {
	case g.neighbors <- cryptoutil.PeerID(id):
	default:
	}
}
