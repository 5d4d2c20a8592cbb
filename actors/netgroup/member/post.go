package member

import (
	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/group"
)

// Posting floods the group: each member passes a post it had not seen to every
// neighbour but the one it came from, and remembers the IDs of the last posts (Flash's
// messageID, the SHA-256 of the message) to pass each on once.

func (m *member) onLocalPost(ctx actor.Context, body []byte) {
	p, err := group.ParsePost(body)
	if err != nil {
		// The callers (multicast.Service.Post, client.Member.Post) refuse these first.
		m.cfg.Log.Warn("local group post dropped", zap.Error(err))
		return
	}
	m.posts.add(p.ID())
	m.flood(ctx, p.Body, nil)
}

func (m *member) onPost(ctx actor.Context, from *neighbor, data []byte) {
	p, err := group.ParsePost(data)
	if err != nil {
		m.cut(ctx, from, &m.cfg.Stats.BadMessages, "malformed post")
		return
	}
	if !m.posts.add(p.ID()) {
		m.cfg.Stats.PostDuplicates.Add(1)
		return
	}
	m.cfg.Stats.PostsIn.Add(1)
	if m.cfg.OnPost != nil {
		m.cfg.OnPost(p.Body)
	}
	m.flood(ctx, p.Body, from)
}

func (m *member) flood(ctx actor.Context, body []byte, from *neighbor) {
	for _, n := range m.byPeer {
		if n == from {
			continue
		}
		ctx.Send(n.session, &session.Write{Key: postKey, Data: body, Priority: session.PriorityData})
		m.cfg.Stats.PostsOut.Add(1)
	}
}

// seenSet remembers the last n IDs.
type seenSet struct {
	ids  map[[32]byte]struct{}
	ring [][32]byte
	next int
}

func newSeenSet(n int) seenSet {
	return seenSet{ids: make(map[[32]byte]struct{}, n), ring: make([][32]byte, n)}
}

// add remembers id and says whether it is new.
func (s *seenSet) add(id [32]byte) bool {
	if _, ok := s.ids[id]; ok {
		return false
	}
	old := s.ring[s.next]
	if _, ok := s.ids[old]; ok && old != ([32]byte{}) {
		delete(s.ids, old)
	}
	s.ring[s.next] = id
	s.next = (s.next + 1) % len(s.ring)
	s.ids[id] = struct{}{}
	return true
}
