package netgroup

import (
	"bytes"
	"math/rand/v2"
	"sort"

	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// neighborSet chooses whom a NetGroup member is told about. Flash peers build their mesh
// themselves from the peer IDs the server hands out; the server's job is a fast bootstrap
// and a mesh that is connected and even. Cumulus hands out the five newest members and
// one random one (old members accumulate every newcomer, the newest are a bottleneck);
// MonaServer2 uses neighbours around the member's position on the peer-ID ring. This set
// mixes both ideas:
//
//   - ring: the member's successor and predecessor in peer-ID order — every joiner gets
//     at least one existing member, so the union of the handed-out edges stays connected,
//     and the ring is what NetGroup peers themselves organise around;
//   - fresh: the newest member, so recent joiners find each other at once;
//   - random: the rest, each the less-introduced of two uniformly drawn members ("power of
//     two choices"), which keeps the spread of degrees small instead of favouring the
//     oldest members.
//
// When a member leaves, its ring neighbours are told about each other so the ring closes
// over the gap. Everything is O(log n) or O(1) per operation except ring insertion
// (O(n) memmove, fine for groups of tens of thousands).
type neighborSet struct {
	max    int                       // peer IDs per reply
	ring   []cryptoutil.PeerID       // sorted
	order  []cryptoutil.PeerID       // insertion order, for the newest and random picks
	index  map[cryptoutil.PeerID]int // position in order
	degree map[cryptoutil.PeerID]int // times handed out
	newest cryptoutil.PeerID
	hasNew bool
	rng    *rand.Rand
}

func newNeighborSet(max int, seed uint64) *neighborSet {
	return &neighborSet{max: max, index: map[cryptoutil.PeerID]int{}, degree: map[cryptoutil.PeerID]int{},
		rng: rand.New(rand.NewPCG(seed, seed^0x5DEECE66D))}
}

func (n *neighborSet) len() int { return len(n.order) }

func (n *neighborSet) has(id cryptoutil.PeerID) bool {
	_, ok := n.index[id]
	return ok
}

// ringPos returns where id is or would be inserted in the ring.
func (n *neighborSet) ringPos(id cryptoutil.PeerID) int {
	return sort.Search(len(n.ring), func(i int) bool { return bytes.Compare(n.ring[i][:], id[:]) >= 0 })
}

// add inserts a member (no-op if present).
func (n *neighborSet) add(id cryptoutil.PeerID) {
	if n.has(id) {
		return
	}
	i := n.ringPos(id)
	n.ring = append(n.ring, cryptoutil.PeerID{})
	copy(n.ring[i+1:], n.ring[i:])
	n.ring[i] = id
	n.index[id] = len(n.order)
	n.order = append(n.order, id)
	n.newest, n.hasNew = id, true
}

// remove deletes a member and returns its ring neighbours (which should now learn about
// each other), if there are two distinct ones.
func (n *neighborSet) remove(id cryptoutil.PeerID) (pred, succ cryptoutil.PeerID, ok bool) {
	k, present := n.index[id]
	if !present {
		return pred, succ, false
	}
	last := len(n.order) - 1
	n.order[k] = n.order[last]
	n.index[n.order[k]] = k
	n.order = n.order[:last]
	delete(n.index, id)
	delete(n.degree, id)
	i := n.ringPos(id)
	copy(n.ring[i:], n.ring[i+1:])
	n.ring = n.ring[:len(n.ring)-1]
	if n.hasNew && n.newest == id {
		n.hasNew = len(n.order) > 0
		if n.hasNew {
			n.newest = n.order[len(n.order)-1]
		}
	}
	if len(n.ring) < 2 {
		return pred, succ, false
	}
	succ = n.ring[i%len(n.ring)]
	pred = n.ring[(i-1+len(n.ring))%len(n.ring)]
	return pred, succ, pred != succ
}

// pick chooses up to max members to hand to id (a member or a joiner), never id itself.
func (n *neighborSet) pick(id cryptoutil.PeerID) []cryptoutil.PeerID {
	out := make([]cryptoutil.PeerID, 0, n.max)
	seen := map[cryptoutil.PeerID]bool{id: true}
	take := func(p cryptoutil.PeerID) {
		if len(out) < n.max && !seen[p] {
			seen[p] = true
			out = append(out, p)
			n.degree[p]++
		}
	}
	if len(n.ring) > 0 {
		// One ring neighbour is enough to keep the graph connected: the less introduced
		// of the two (a member's own entry, if present, is skipped).
		i := n.ringPos(id)
		succ := i % len(n.ring)
		if n.ring[succ] == id {
			succ = (i + 1) % len(n.ring)
		}
		pred := (i - 1 + len(n.ring)) % len(n.ring)
		a, b := n.ring[succ], n.ring[pred]
		if b != id && n.degree[b] < n.degree[a] {
			a = b
		}
		take(a)
	}
	if n.hasNew {
		take(n.newest)
	}
	available := len(n.order)
	if n.has(id) {
		available--
	}
	for tries := 0; len(out) < n.max && len(out) < available && tries < 8*n.max; tries++ {
		a := n.order[n.rng.IntN(len(n.order))]
		b := n.order[n.rng.IntN(len(n.order))]
		if seen[a] || (!seen[b] && n.degree[b] < n.degree[a]) {
			a = b
		}
		take(a)
	}
	return out
}
