package cluster

import (
	"hash/fnv"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/netgroup"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/messages"
)

// A NetGroup's members may use any node. Each group has a home: the member with the
// highest hash of (group ID, member ID) among the current members (rendezvous hashing),
// which every node computes alike from its own view, with no shared state. The home keeps
// every member of the group and chooses their neighbours (netgroup.NeighborSet, as a lone
// node does); the nodes' group actors keep the members they serve, and their joins and
// leaves go to the home through the cluster/groups actors. When the members change, homes
// may move: each node sends a group's new home the members it serves (GroupSync), and the
// old home forgets the group. A node that leaves takes its members with it.

type groupsGateway struct {
	gateway
	svc Services
	// Member side: the members this node serves, by group, and the home they were last
	// sent to.
	local  map[app.GroupID]map[cryptoutil.PeerID]bool
	homeOf map[app.GroupID]string
	// Home side: the groups homed here.
	homes map[app.GroupID]*home
	seed  uint64
}

type home struct {
	set     *netgroup.NeighborSet
	members map[cryptoutil.PeerID]string // member → the node serving it
}

const (
	syncPart     = 4096 // members per GroupSync
	maxNeighbors = 64
)

func newGroupsGateway(g gateway, svc Services) *groupsGateway {
	return &groupsGateway{gateway: g, svc: svc, local: map[app.GroupID]map[cryptoutil.PeerID]bool{},
		homeOf: map[app.GroupID]string{}, homes: map[app.GroupID]*home{}}
}

func (s *groupsGateway) Receive(ctx actor.Context) {
	recovered(s.log, s.stats, groupsName, func() { s.receive(ctx) })
}

func (s *groupsGateway) receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *memberJoined:
		s.joined(m)
		s.rehome(ctx)
	case *memberLeft:
		s.left(m)
		for g, h := range s.homes {
			for p, n := range h.members {
				if n == m.id {
					delete(h.members, p)
					h.set.Remove(p)
				}
			}
			if len(h.members) == 0 {
				delete(s.homes, g)
			}
		}
		s.rehome(ctx)
	case *netgroup.HomeJoin:
		s.onLocalJoin(ctx, m)
	case *netgroup.HomeLeave:
		s.onLocalLeave(ctx, m)
	case *messages.GroupJoin:
		if g, p, ok := s.ids(m.GroupId, m.PeerId); ok && s.from(m.FromNode, m.ToNode) {
			s.onJoin(ctx, m.FromNode, g, p)
		}
	case *messages.GroupLeave:
		if g, p, ok := s.ids(m.GroupId, m.PeerId); ok && s.from(m.FromNode, m.ToNode) {
			s.onLeave(ctx, m.FromNode, g, p)
		}
	case *messages.GroupNeighbors:
		if s.from(m.FromNode, m.ToNode) {
			s.onNeighbors(ctx, m)
		}
	case *messages.GroupSync:
		if s.from(m.FromNode, m.ToNode) {
			s.onSync(m)
		}
	}
}

func (s *groupsGateway) ids(group, peer []byte) (app.GroupID, cryptoutil.PeerID, bool) {
	p, ok := cryptoutil.PeerIDFromBytes(peer)
	if !ok || len(group) != len(app.GroupID{}) {
		s.stats.Invalid.Add(1)
		return app.GroupID{}, p, false
	}
	return app.GroupID(group), p, true
}

// homeNode returns the home of g among this node and the members it knows.
func (s *groupsGateway) homeNode(g app.GroupID) string {
	best, bestHash := s.self, rendezvousHash(g, s.self)
	for node := range s.members {
		if h := rendezvousHash(g, node); h > bestHash || h == bestHash && node > best {
			best, bestHash = node, h
		}
	}
	return best
}

func rendezvousHash(g app.GroupID, node string) uint64 {
	h := fnv.New64a()
	h.Write(g[:])
	h.Write([]byte(node))
	// FNV mixes its last bytes poorly: the finalizer of MurmurHash3 spreads them.
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// ---- member side ----

func (s *groupsGateway) onLocalJoin(ctx actor.Context, m *netgroup.HomeJoin) {
	peers := s.local[m.Group]
	if peers == nil {
		peers = map[cryptoutil.PeerID]bool{}
		s.local[m.Group] = peers
	}
	peers[m.Peer] = true
	h := s.homeNode(m.Group)
	if old, ok := s.homeOf[m.Group]; ok && old != h {
		s.syncGroup(ctx, m.Group, h)
	}
	s.homeOf[m.Group] = h
	if h == s.self {
		s.onJoin(ctx, s.self, m.Group, m.Peer)
		return
	}
	ctx.Send(s.pid(h, groupsName), &messages.GroupJoin{FromNode: s.self, ToNode: h, GroupId: m.Group[:], PeerId: m.Peer[:]})
}

func (s *groupsGateway) onLocalLeave(ctx actor.Context, m *netgroup.HomeLeave) {
	if peers := s.local[m.Group]; peers != nil {
		delete(peers, m.Peer)
		if len(peers) == 0 {
			delete(s.local, m.Group)
		}
	}
	h, ok := s.homeOf[m.Group]
	if !ok {
		return
	}
	if s.local[m.Group] == nil {
		delete(s.homeOf, m.Group)
	}
	if h == s.self {
		s.onLeave(ctx, s.self, m.Group, m.Peer)
		return
	}
	if to := s.pid(h, groupsName); to != nil {
		ctx.Send(to, &messages.GroupLeave{FromNode: s.self, ToNode: h, GroupId: m.Group[:], PeerId: m.Peer[:]})
	}
}

// onNeighbors hands the group actor of this node what the home chose for one of its
// members.
func (s *groupsGateway) onNeighbors(ctx actor.Context, m *messages.GroupNeighbors) {
	g, p, ok := s.ids(m.GroupId, m.PeerId)
	if !ok || len(m.Neighbors) > maxNeighbors {
		s.stats.Invalid.Add(1)
		return
	}
	in := &netgroup.Introduce{Group: g, Peer: p, Refused: m.Refused}
	for _, n := range m.Neighbors {
		id, ok := cryptoutil.PeerIDFromBytes(n)
		if !ok {
			s.stats.Invalid.Add(1)
			return
		}
		in.Peers = append(in.Peers, id)
	}
	ctx.Send(s.svc.Groups, in)
}

// rehome sends the members of every group whose home moved to its new home.
func (s *groupsGateway) rehome(ctx actor.Context) {
	for g := range s.local {
		if h := s.homeNode(g); h != s.homeOf[g] {
			s.syncGroup(ctx, g, h)
		}
	}
	for g := range s.homes {
		if s.homeNode(g) != s.self {
			delete(s.homes, g) // its new home hears from every node
		}
	}
}

func (s *groupsGateway) syncGroup(ctx actor.Context, g app.GroupID, h string) {
	s.homeOf[g] = h
	s.stats.GroupSyncs.Add(1)
	members := make([][]byte, 0, len(s.local[g]))
	for p := range s.local[g] {
		members = append(members, append([]byte(nil), p[:]...))
	}
	if h == s.self {
		s.onSync(&messages.GroupSync{FromNode: s.self, GroupId: g[:], Members: members, Replace: true})
		return
	}
	to := s.pid(h, groupsName)
	if to == nil {
		return
	}
	for first := true; first || len(members) > 0; first = false {
		n := min(len(members), syncPart)
		ctx.Send(to, &messages.GroupSync{FromNode: s.self, ToNode: h, GroupId: g[:], Members: members[:n], Replace: first})
		members = members[n:]
	}
}

// ---- home side ----

func (s *groupsGateway) homeFor(g app.GroupID) *home {
	h := s.homes[g]
	if h == nil {
		s.seed++
		h = &home{set: netgroup.NewNeighborSet(s.svc.GroupNeighbors, s.seed^rendezvousHash(g, s.self)),
			members: map[cryptoutil.PeerID]string{}}
		s.homes[g] = h
	}
	return h
}

func (s *groupsGateway) onJoin(ctx actor.Context, node string, g app.GroupID, p cryptoutil.PeerID) {
	h := s.homeFor(g)
	if _, member := h.members[p]; !member && len(h.members) >= s.svc.GroupMaxMembers {
		s.tell(ctx, node, &messages.GroupNeighbors{FromNode: s.self, ToNode: node, GroupId: g[:], PeerId: p[:], Refused: true})
		return
	}
	h.members[p] = node
	s.stats.HomeJoins.Add(1)
	picked := h.set.Pick(p)
	h.set.Add(p)
	out := &messages.GroupNeighbors{FromNode: s.self, ToNode: node, GroupId: g[:], PeerId: p[:], Neighbors: make([][]byte, len(picked))}
	for i, n := range picked {
		out.Neighbors[i] = append([]byte(nil), n[:]...)
	}
	s.tell(ctx, node, out)
}

// onLeave forgets a member and closes the ring over it (its two ring neighbours learn
// about each other, wherever they are served).
func (s *groupsGateway) onLeave(ctx actor.Context, node string, g app.GroupID, p cryptoutil.PeerID) {
	h := s.homes[g]
	if h == nil || h.members[p] != node {
		return
	}
	delete(h.members, p)
	pred, succ, ok := h.set.Remove(p)
	if len(h.members) == 0 {
		delete(s.homes, g)
	}
	if !ok {
		return
	}
	if n, ok := h.members[pred]; ok {
		s.tell(ctx, n, &messages.GroupNeighbors{FromNode: s.self, ToNode: n, GroupId: g[:], PeerId: pred[:], Neighbors: [][]byte{succ[:]}})
	}
	if n, ok := h.members[succ]; ok {
		s.tell(ctx, n, &messages.GroupNeighbors{FromNode: s.self, ToNode: n, GroupId: g[:], PeerId: succ[:], Neighbors: [][]byte{pred[:]}})
	}
}

func (s *groupsGateway) onSync(m *messages.GroupSync) {
	if len(m.GroupId) != len(app.GroupID{}) {
		s.stats.Invalid.Add(1)
		return
	}
	g := app.GroupID(m.GroupId)
	h := s.homeFor(g)
	if m.Replace {
		for p, n := range h.members {
			if n == m.FromNode {
				delete(h.members, p)
				h.set.Remove(p)
			}
		}
	}
	for _, b := range m.Members {
		p, ok := cryptoutil.PeerIDFromBytes(b)
		if !ok {
			s.stats.Invalid.Add(1)
			continue
		}
		if len(h.members) >= s.svc.GroupMaxMembers {
			break
		}
		h.members[p] = m.FromNode
		h.set.Add(p)
	}
	if len(h.members) == 0 {
		delete(s.homes, g)
	}
}

// tell sends a member's node what the home has for it (this node's own: at once).
func (s *groupsGateway) tell(ctx actor.Context, node string, m *messages.GroupNeighbors) {
	if node == s.self {
		s.onNeighbors(ctx, m)
		return
	}
	if to := s.pid(node, groupsName); to != nil {
		ctx.Send(to, m)
	}
}
