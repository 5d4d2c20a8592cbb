package server

import (
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/messages"
)

// directory is the actor that maps peer IDs to sessions (and their addresses). It speaks
// only protobuf messages (package messages), so that a directory on another host — the
// cluster seam — can answer the same questions.
type directory struct {
	peers map[cryptoutil.PeerID]*messages.Peer
}

func newDirectory() actor.Actor {
	return &directory{peers: map[cryptoutil.PeerID]*messages.Peer{}}
}

func (d *directory) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *messages.RegisterPeer:
		if id, ok := cryptoutil.PeerIDFromBytes(m.GetPeer().GetPeerId()); ok {
			d.peers[id] = proto.Clone(m.Peer).(*messages.Peer)
		}
	case *messages.UnregisterPeer:
		if id, ok := cryptoutil.PeerIDFromBytes(m.PeerId); ok {
			if p := d.peers[id]; p != nil && p.SessionId == m.SessionId {
				delete(d.peers, id)
			}
		}
	case *messages.UpdatePeerAddresses:
		id, ok := cryptoutil.PeerIDFromBytes(m.PeerId)
		p := d.peers[id]
		if !ok || p == nil || p.SessionId != m.SessionId {
			return
		}
		if m.PublicAddress != "" {
			p.PublicAddress = m.PublicAddress
		}
		if m.SetPrivate {
			p.PrivateAddresses = m.PrivateAddresses
			p.HasPeerInfo = true
		}
	case *messages.LookupPeer:
		r := &messages.LookupPeerResult{}
		if id, ok := cryptoutil.PeerIDFromBytes(m.PeerId); ok {
			if p := d.peers[id]; p != nil {
				// A copy: the stored record changes later, the asker may read this one anytime.
				r.Found, r.Peer = true, proto.Clone(p).(*messages.Peer)
			}
		}
		ctx.Respond(r)
	case *messages.CountPeers:
		ctx.Respond(&messages.PeerCount{Count: uint32(len(d.peers))})
	}
}
