package netgroup

import (
	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// A group's members may be served by several nodes of a cluster. Then one node, the
// group's home (package cluster chooses it), keeps every member and chooses their
// neighbours with a NeighborSet, and the group actor of each node (Config.Home set) keeps
// only the members it serves: it tells the home of their joins and leaves and hands them
// what the home answers (Introduce), through the registry.

// NeighborSet is the neighbour choice of one group (neighbors.go), for a group's home.
// It is not safe for concurrent use.
type NeighborSet struct{ s *neighborSet }

// NewNeighborSet returns an empty set handing out up to max peer IDs per Pick; seed
// seeds its random choices.
func NewNeighborSet(max int, seed uint64) *NeighborSet {
	return &NeighborSet{s: newNeighborSet(max, seed)}
}

// Add inserts a member (nothing if present).
func (n *NeighborSet) Add(id cryptoutil.PeerID) { n.s.add(id) }

// Remove deletes a member and returns its two ring neighbours, which should now learn
// about each other, if there are two distinct ones.
func (n *NeighborSet) Remove(id cryptoutil.PeerID) (pred, succ cryptoutil.PeerID, ok bool) {
	return n.s.remove(id)
}

// Pick chooses the members to hand to id (a member or a joiner), never id itself.
func (n *NeighborSet) Pick(id cryptoutil.PeerID) []cryptoutil.PeerID { return n.s.pick(id) }

// Has reports whether id is a member.
func (n *NeighborSet) Has(id cryptoutil.PeerID) bool { return n.s.has(id) }

// Len returns the number of members.
func (n *NeighborSet) Len() int { return n.s.len() }

// Introduce is a home's answer for a member of this node: peer IDs for Peer to contact,
// or Refused (the group is full). Send it to the registry (Props).
type Introduce struct {
	Group   app.GroupID
	Peer    cryptoutil.PeerID
	Peers   []cryptoutil.PeerID
	Refused bool
}

// HomeJoin tells Config.Home that a member of this node joined Group (or asks for
// neighbours again); the answer is an Introduce, through the registry.
type HomeJoin struct {
	Group app.GroupID
	Peer  cryptoutil.PeerID
}

// HomeLeave tells Config.Home that a member of this node left Group.
type HomeLeave struct {
	Group app.GroupID
	Peer  cryptoutil.PeerID
}
