package netgroup

import (
	"bytes"
	"slices"
	"sync"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// Index is what operators see of a node's NetGroups (the status API, the metrics): each
// group's members. A group enters it when it is spawned and leaves it when it retires; it
// updates its entry as members join and leave.
type Index struct {
	mu   sync.RWMutex
	byID map[uint64]*GroupInfo
}

// NewIndex returns an empty index.
func NewIndex() *Index { return &Index{byID: map[uint64]*GroupInfo{}} }

func (ix *Index) add(g *GroupInfo) {
	if ix == nil {
		return
	}
	ix.mu.Lock()
	ix.byID[g.n] = g
	ix.mu.Unlock()
}

func (ix *Index) remove(n uint64) {
	if ix == nil {
		return
	}
	ix.mu.Lock()
	delete(ix.byID, n)
	ix.mu.Unlock()
}

// GroupView is one group as operators see it.
type GroupView struct {
	ID      app.GroupID
	Members []MemberView // by peer ID
}

// MemberView is one member of a group.
type MemberView struct {
	PeerID cryptoutil.PeerID
	Joined time.Time
}

// Views returns every group, by ID.
func (ix *Index) Views() []GroupView {
	ix.mu.RLock()
	infos := make([]*GroupInfo, 0, len(ix.byID))
	for _, g := range ix.byID {
		infos = append(infos, g)
	}
	ix.mu.RUnlock()
	out := make([]GroupView, 0, len(infos))
	for _, g := range infos {
		v := GroupView{ID: g.id}
		g.mu.Lock()
		for p, at := range g.members {
			v.Members = append(v.Members, MemberView{PeerID: p, Joined: at})
		}
		g.mu.Unlock()
		slices.SortFunc(v.Members, func(a, b MemberView) int { return bytes.Compare(a.PeerID[:], b.PeerID[:]) })
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b GroupView) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return out
}

// Counts returns how many groups there are and how many members they have in all.
func (ix *Index) Counts() (groups, members int) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for _, g := range ix.byID {
		g.mu.Lock()
		members += len(g.members)
		g.mu.Unlock()
	}
	return len(ix.byID), members
}

// GroupInfo is the index entry of one group.
type GroupInfo struct {
	id      app.GroupID
	n       uint64
	mu      sync.Mutex
	members map[cryptoutil.PeerID]time.Time
}

func (g *GroupInfo) set(p cryptoutil.PeerID, joined time.Time, in bool) {
	g.mu.Lock()
	if in {
		g.members[p] = joined
	} else {
		delete(g.members, p)
	}
	g.mu.Unlock()
}
