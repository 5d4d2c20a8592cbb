// Package p2p is what the server does for peer-to-peer: the directory of connected peers
// (peer ID → session, connection and addresses), the introduction service that answers
// a peer-ID lookup with a redirect to the target and a forwarded hello to it (NAT hole
// punching), and Cirrus-style relay calls between clients.
package p2p

import (
	"net/netip"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/messages"
)

// directory is the actor that maps peer IDs to sessions (and their addresses). It speaks
// only protobuf messages (package messages), so that a directory on another host — the
// cluster seam — can answer the same questions.
type directory struct {
	peers  map[cryptoutil.PeerID]*peerEntry
	byAddr map[netip.AddrPort]cryptoutil.PeerID // public address → peer
}

// peerEntry is what the directory keeps of a registered peer: the fields of a
// messages.Peer with its addresses parsed (netip values instead of strings) and the PIDs
// and node name shared with the registration. A server holds one per connected client;
// the protobuf record with its address strings cost about twice as much.
type peerEntry struct {
	session, connection *actor.PID
	public              netip.AddrPort
	private             []netip.AddrPort
	node                string
	sessionID           uint32
	hasPeerInfo         bool
}

// DirectoryProps returns the props of a directory actor.
func DirectoryProps(opts ...actor.PropsOption) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &directory{peers: map[cryptoutil.PeerID]*peerEntry{}, byAddr: map[netip.AddrPort]cryptoutil.PeerID{}}
	}, opts...)
}

func (d *directory) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *messages.RegisterPeer:
		p := m.GetPeer()
		id, ok := cryptoutil.PeerIDFromBytes(p.GetPeerId())
		if !ok {
			return
		}
		if old := d.peers[id]; old != nil {
			d.unindex(id, old)
		}
		e := &peerEntry{
			session: p.Session, connection: p.Connection, public: ParseAddr(p.PublicAddress),
			private: ParseAddrs(p.PrivateAddresses), node: p.Node, sessionID: p.SessionId, hasPeerInfo: p.HasPeerInfo,
		}
		d.peers[id] = e
		d.index(id, e)
	case *messages.UnregisterPeer:
		if id, ok := cryptoutil.PeerIDFromBytes(m.PeerId); ok {
			if e := d.peers[id]; e != nil && e.sessionID == m.SessionId {
				d.unindex(id, e)
				delete(d.peers, id)
			}
		}
	case *messages.UpdatePeerAddresses:
		id, ok := cryptoutil.PeerIDFromBytes(m.PeerId)
		e := d.peers[id]
		if !ok || e == nil || e.sessionID != m.SessionId {
			return
		}
		if m.PublicAddress != "" {
			if a := ParseAddr(m.PublicAddress); a != e.public {
				d.unindex(id, e)
				e.public = a
				d.index(id, e)
			}
		}
		if m.SetPrivate {
			e.private = ParseAddrs(m.PrivateAddresses)
			e.hasPeerInfo = true
		}
	case *messages.LookupPeer:
		r := &messages.LookupPeerResult{PeerId: m.PeerId, RequestId: m.RequestId}
		if id, ok := cryptoutil.PeerIDFromBytes(m.PeerId); ok {
			d.fill(r, id)
		}
		d.answer(ctx, m.ReplyTo, r)
	case *messages.LookupAddress:
		r := &messages.LookupPeerResult{RequestId: m.RequestId}
		if a := ParseAddr(m.Address); a.IsValid() {
			if id, ok := d.byAddr[a]; ok {
				r.PeerId = id[:]
				d.fill(r, id)
			}
		}
		d.answer(ctx, m.ReplyTo, r)
	case *messages.CountPeers:
		ctx.Respond(&messages.PeerCount{Count: uint32(len(d.peers))})
	}
}

func (d *directory) index(id cryptoutil.PeerID, e *peerEntry) {
	if e.public.IsValid() {
		d.byAddr[e.public] = id
	}
}

func (d *directory) unindex(id cryptoutil.PeerID, e *peerEntry) {
	if e.public.IsValid() && d.byAddr[e.public] == id {
		delete(d.byAddr, e.public)
	}
}

// fill puts the peer into r as a fresh messages.Peer: the stored entry changes later,
// the asker may read its answer at any time.
func (d *directory) fill(r *messages.LookupPeerResult, id cryptoutil.PeerID) {
	e := d.peers[id]
	if e == nil {
		return
	}
	p := &messages.Peer{
		PeerId: append([]byte(nil), id[:]...), SessionId: e.sessionID, Session: e.session, Connection: e.connection,
		HasPeerInfo: e.hasPeerInfo, Node: e.node,
	}
	if e.public.IsValid() {
		p.PublicAddress = e.public.String()
	}
	if len(e.private) > 0 {
		p.PrivateAddresses = make([]string, len(e.private))
		for i, a := range e.private {
			p.PrivateAddresses[i] = a.String()
		}
	}
	r.Found, r.Peer = true, p
}

func (d *directory) answer(ctx actor.Context, to *actor.PID, r *messages.LookupPeerResult) {
	if to != nil {
		ctx.Send(to, r)
		return
	}
	ctx.Respond(r)
}

// ParseAddr parses an "ip:port" address (the directory's messages, setPeerInfo), an
// IPv4-mapped IPv6 address unmapped; the zero AddrPort if it is not one.
func ParseAddr(s string) netip.AddrPort {
	a, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// ParseAddrs parses a list of addresses, leaving out those that are not "ip:port".
func ParseAddrs(ss []string) []netip.AddrPort {
	if len(ss) == 0 {
		return nil
	}
	out := make([]netip.AddrPort, 0, len(ss))
	for _, s := range ss {
		if a := ParseAddr(s); a.IsValid() {
			out = append(out, a)
		}
	}
	return out
}
