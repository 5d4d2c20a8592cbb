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
	peers  map[cryptoutil.PeerID]*messages.Peer
	byAddr map[string]cryptoutil.PeerID // public address → peer
}

func newDirectory() actor.Actor {
	return &directory{peers: map[cryptoutil.PeerID]*messages.Peer{}, byAddr: map[string]cryptoutil.PeerID{}}
}

func (d *directory) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *messages.RegisterPeer:
		id, ok := cryptoutil.PeerIDFromBytes(m.GetPeer().GetPeerId())
		if !ok {
			return
		}
		if old := d.peers[id]; old != nil {
			d.unindex(id, old)
		}
		// The directory keeps the message's own record (a message is not touched by its
		// sender once sent): for a local peer it then shares the actors' PIDs and the
		// node name instead of holding copies, for every connected client.
		p := m.Peer
		d.peers[id] = p
		d.byAddr[p.PublicAddress] = id
	case *messages.UnregisterPeer:
		if id, ok := cryptoutil.PeerIDFromBytes(m.PeerId); ok {
			if p := d.peers[id]; p != nil && p.SessionId == m.SessionId {
				d.unindex(id, p)
				delete(d.peers, id)
			}
		}
	case *messages.UpdatePeerAddresses:
		id, ok := cryptoutil.PeerIDFromBytes(m.PeerId)
		p := d.peers[id]
		if !ok || p == nil || p.SessionId != m.SessionId {
			return
		}
		if m.PublicAddress != "" && m.PublicAddress != p.PublicAddress {
			d.unindex(id, p)
			p.PublicAddress = m.PublicAddress
			d.byAddr[p.PublicAddress] = id
		}
		if m.SetPrivate {
			p.PrivateAddresses = m.PrivateAddresses
			p.HasPeerInfo = true
		}
	case *messages.LookupPeer:
		r := &messages.LookupPeerResult{PeerId: m.PeerId, RequestId: m.RequestId}
		if id, ok := cryptoutil.PeerIDFromBytes(m.PeerId); ok {
			d.fill(r, id)
		}
		d.answer(ctx, m.ReplyTo, r)
	case *messages.LookupAddress:
		r := &messages.LookupPeerResult{RequestId: m.RequestId}
		if id, ok := d.byAddr[m.Address]; ok {
			r.PeerId = id[:]
			d.fill(r, id)
		}
		d.answer(ctx, m.ReplyTo, r)
	case *messages.CountPeers:
		ctx.Respond(&messages.PeerCount{Count: uint32(len(d.peers))})
	}
}

func (d *directory) unindex(id cryptoutil.PeerID, p *messages.Peer) {
	if d.byAddr[p.PublicAddress] == id {
		delete(d.byAddr, p.PublicAddress)
	}
}

// fill puts a copy of the peer into r: the stored record changes later, the asker may
// read its answer at any time.
func (d *directory) fill(r *messages.LookupPeerResult, id cryptoutil.PeerID) {
	if p := d.peers[id]; p != nil {
		r.Found, r.Peer = true, proto.Clone(p).(*messages.Peer)
	}
}

func (d *directory) answer(ctx actor.Context, to *actor.PID, r *messages.LookupPeerResult) {
	if to != nil {
		ctx.Send(to, r)
		return
	}
	ctx.Respond(r)
}
