// Package p2p is what the server does for peer-to-peer: the directory of connected peers
// (peer ID → session, connection and addresses), the introduction service that answers
// a peer-ID lookup with a redirect to the target and a forwarded hello to it (NAT hole
// punching), and Cirrus-style relay calls between clients.
package p2p

import (
	"net/netip"
	"unique"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/messages"
)

// directory is the actor that maps peer IDs to sessions (and their addresses). It speaks
// only protobuf messages (package messages), so that the directories of a cluster's
// nodes can keep each other informed (DirectoryConfig.Replicator): each holds the peers
// it serves and a replica of every other node's, and answers lookups from both without
// asking anyone.
type directory struct {
	cfg    DirectoryConfig
	peers  map[cryptoutil.PeerID]*peerEntry
	byAddr map[netip.AddrPort]cryptoutil.PeerID // public address → peer
	// seq numbers the changes of the peers served here, for the replicas elsewhere.
	seq uint64
	// origins are the replicas of other nodes' peers, by serving node (member ID).
	origins  map[string]*origin
	replicas int
}

// peerEntry is what the directory keeps of a registered peer: the fields of a
// messages.Peer with its addresses parsed (netip values instead of strings) and the PIDs
// shared with the registration. A server holds one per connected client; the protobuf
// record with its address strings cost about twice as much. The node name is the same
// for every entry: interned, it costs a pointer, and the entry stays in its size class
// with the registration time added.
type peerEntry struct {
	session, connection *actor.PID
	public              netip.AddrPort
	private             []netip.AddrPort
	node                unique.Handle[string]
	registered          int64 // unix ms
	sessionID           uint32
	hasPeerInfo         bool
}

// origin is what a directory knows of the peers another node serves.
type origin struct {
	peers  map[cryptoutil.PeerID]*replica
	byAddr map[netip.AddrPort]cryptoutil.PeerID
}

// replica is a peer served by another node: its addresses, for introductions made here.
type replica struct {
	public      netip.AddrPort
	private     []netip.AddrPort
	registered  int64 // unix ms, the serving node's clock
	sessionID   uint32
	hasPeerInfo bool
}

// DirectoryConfig configures a directory.
type DirectoryConfig struct {
	// Replicator, if set, keeps the directories of a cluster in step (package cluster):
	// it is sent every change of a peer served here, numbered (Changed), and the snapshot
	// a *messages.DirectorySyncRequest asks for (Snapshot); it sends the directory the
	// changes (*messages.PeerChanges) and snapshots (*messages.DirectorySnapshot) of the
	// other nodes, in order, and DropNode.
	Replicator *actor.PID
	// Clock stamps registrations (nil: the real clock).
	Clock clock.Clock
}

// Changed is a change of a peer served here, for the Replicator (without the peer's PIDs,
// which mean nothing elsewhere).
type Changed struct{ Change *messages.PeerChange }

// Snapshot is every peer served here as of the last change numbered, asked for by the
// node Snapshot.ToNode, for the Replicator.
type Snapshot struct{ Snapshot *messages.DirectorySnapshot }

// DropNode forgets every peer of a node that left the cluster; the directory answers the
// sender with *NodeDropped.
type DropNode struct{ Node string }

// NodeDropped answers DropNode: how many peers were forgotten.
type NodeDropped struct {
	Node  string
	Peers int
}

// DirectoryProps returns the props of a directory actor.
func DirectoryProps(cfg DirectoryConfig, opts ...actor.PropsOption) *actor.Props {
	cfg.Clock = clock.Or(cfg.Clock)
	return actor.PropsFromProducer(func() actor.Actor {
		return &directory{cfg: cfg, peers: map[cryptoutil.PeerID]*peerEntry{}, byAddr: map[netip.AddrPort]cryptoutil.PeerID{},
			origins: map[string]*origin{}}
	}, opts...)
}

func (d *directory) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *messages.RegisterPeer:
		d.onRegister(ctx, m)
	case *messages.UnregisterPeer:
		d.onUnregister(ctx, m)
	case *messages.UpdatePeerAddresses:
		d.onUpdate(ctx, m)
	case *messages.LookupPeer:
		r := &messages.LookupPeerResult{PeerId: m.PeerId, RequestId: m.RequestId}
		if id, ok := cryptoutil.PeerIDFromBytes(m.PeerId); ok {
			d.fill(r, id)
		}
		d.answer(ctx, m.ReplyTo, r)
	case *messages.LookupAddress:
		r := &messages.LookupPeerResult{RequestId: m.RequestId}
		if id, ok := d.lookupAddress(ParseAddr(m.Address)); ok {
			r.PeerId = id[:]
			d.fill(r, id)
		}
		d.answer(ctx, m.ReplyTo, r)
	case *messages.CountPeers:
		ctx.Respond(&messages.PeerCount{Count: uint32(len(d.peers)), Replicas: uint32(d.replicas)})
	case *messages.DirectorySyncRequest:
		d.onSyncRequest(ctx, m)
	case *messages.PeerChanges:
		d.applyChanges(m)
	case *messages.DirectorySnapshot:
		d.applySnapshot(m)
	case *DropNode:
		n := 0
		if o := d.origins[m.Node]; o != nil {
			n = len(o.peers)
			d.replicas -= n
			delete(d.origins, m.Node)
		}
		if ctx.Sender() != nil {
			ctx.Respond(&NodeDropped{Node: m.Node, Peers: n})
		}
	}
}

func (d *directory) onRegister(ctx actor.Context, m *messages.RegisterPeer) {
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
		private: ParseAddrs(p.PrivateAddresses), node: unique.Make(p.Node), sessionID: p.SessionId, hasPeerInfo: p.HasPeerInfo,
		registered: d.cfg.Clock.Now().UnixMilli(),
	}
	d.peers[id] = e
	d.index(id, e)
	if d.cfg.Replicator != nil {
		d.replicate(ctx, &messages.PeerChange{Change: &messages.PeerChange_Register{Register: d.peer(id, e, false)}})
	}
}

func (d *directory) onUnregister(ctx actor.Context, m *messages.UnregisterPeer) {
	id, ok := cryptoutil.PeerIDFromBytes(m.PeerId)
	if !ok {
		return
	}
	e := d.peers[id]
	if e == nil || e.sessionID != m.SessionId {
		return
	}
	d.unindex(id, e)
	delete(d.peers, id)
	if d.cfg.Replicator != nil {
		d.replicate(ctx, &messages.PeerChange{Change: &messages.PeerChange_Unregister{
			Unregister: &messages.UnregisterPeer{PeerId: id[:], SessionId: m.SessionId}}})
	}
}

func (d *directory) onUpdate(ctx actor.Context, m *messages.UpdatePeerAddresses) {
	id, ok := cryptoutil.PeerIDFromBytes(m.PeerId)
	e := d.peers[id]
	if !ok || e == nil || e.sessionID != m.SessionId {
		return
	}
	out := &messages.UpdatePeerAddresses{PeerId: id[:], SessionId: m.SessionId}
	if m.PublicAddress != "" {
		if a := ParseAddr(m.PublicAddress); a != e.public {
			d.unindex(id, e)
			e.public = a
			d.index(id, e)
		}
		if e.public.IsValid() {
			out.PublicAddress = e.public.String()
		}
	}
	if m.SetPrivate {
		e.private = ParseAddrs(m.PrivateAddresses)
		e.hasPeerInfo = true
		out.SetPrivate, out.PrivateAddresses = true, addrStrings(e.private)
	}
	if d.cfg.Replicator != nil {
		d.replicate(ctx, &messages.PeerChange{Change: &messages.PeerChange_Update{Update: out}})
	}
}

// replicate numbers a change of a peer served here and hands it to the replicator.
func (d *directory) replicate(ctx actor.Context, c *messages.PeerChange) {
	d.seq++
	c.Seq = d.seq
	ctx.Send(d.cfg.Replicator, &Changed{Change: c})
}

// onSyncRequest answers another node's request for the peers served here, through the
// replicator: every one of them as of the last change numbered.
func (d *directory) onSyncRequest(ctx actor.Context, m *messages.DirectorySyncRequest) {
	if d.cfg.Replicator == nil {
		return
	}
	snap := &messages.DirectorySnapshot{ToNode: m.FromNode, Seq: d.seq, Last: true, Peers: make([]*messages.Peer, 0, len(d.peers))}
	for id, e := range d.peers {
		snap.Peers = append(snap.Peers, d.peer(id, e, false))
	}
	ctx.Send(d.cfg.Replicator, &Snapshot{Snapshot: snap})
}

// applyChanges applies another node's changes (in order: the replicator checked their
// numbers). Malformed entries are skipped.
func (d *directory) applyChanges(m *messages.PeerChanges) {
	o := d.origin(m.FromNode)
	for _, c := range m.Changes {
		switch c := c.Change.(type) {
		case *messages.PeerChange_Register:
			d.putReplica(o, c.Register)
		case *messages.PeerChange_Unregister:
			id, ok := cryptoutil.PeerIDFromBytes(c.Unregister.GetPeerId())
			if r := o.peers[id]; ok && r != nil && r.sessionID == c.Unregister.SessionId {
				o.remove(id, r)
				d.replicas--
			}
		case *messages.PeerChange_Update:
			u := c.Update
			id, ok := cryptoutil.PeerIDFromBytes(u.GetPeerId())
			r := o.peers[id]
			if !ok || r == nil || r.sessionID != u.SessionId {
				continue
			}
			if u.PublicAddress != "" {
				o.unindex(id, r)
				r.public = ParseAddr(u.PublicAddress)
				o.index(id, r)
			}
			if u.SetPrivate {
				r.private, r.hasPeerInfo = ParseAddrs(u.PrivateAddresses), true
			}
		}
	}
}

// applySnapshot replaces what is known of a node's peers.
func (d *directory) applySnapshot(m *messages.DirectorySnapshot) {
	if old := d.origins[m.FromNode]; old != nil {
		d.replicas -= len(old.peers)
	}
	o := &origin{peers: make(map[cryptoutil.PeerID]*replica, len(m.Peers)), byAddr: map[netip.AddrPort]cryptoutil.PeerID{}}
	d.origins[m.FromNode] = o
	for _, p := range m.Peers {
		d.putReplica(o, p)
	}
}

func (d *directory) putReplica(o *origin, p *messages.Peer) {
	id, ok := cryptoutil.PeerIDFromBytes(p.GetPeerId())
	if !ok {
		return
	}
	if old := o.peers[id]; old != nil {
		o.remove(id, old)
		d.replicas--
	}
	r := &replica{public: ParseAddr(p.PublicAddress), private: ParseAddrs(p.PrivateAddresses), sessionID: p.SessionId,
		hasPeerInfo: p.HasPeerInfo, registered: p.RegisteredUnixMs}
	o.peers[id] = r
	o.index(id, r)
	d.replicas++
}

func (d *directory) origin(node string) *origin {
	o := d.origins[node]
	if o == nil {
		o = &origin{peers: map[cryptoutil.PeerID]*replica{}, byAddr: map[netip.AddrPort]cryptoutil.PeerID{}}
		d.origins[node] = o
	}
	return o
}

func (o *origin) index(id cryptoutil.PeerID, r *replica) {
	if r.public.IsValid() {
		o.byAddr[r.public] = id
	}
}

func (o *origin) unindex(id cryptoutil.PeerID, r *replica) {
	if r.public.IsValid() && o.byAddr[r.public] == id {
		delete(o.byAddr, r.public)
	}
}

func (o *origin) remove(id cryptoutil.PeerID, r *replica) {
	o.unindex(id, r)
	delete(o.peers, id)
}

// lookupAddress finds the peer whose public address is a: served here first, else
// served elsewhere.
func (d *directory) lookupAddress(a netip.AddrPort) (cryptoutil.PeerID, bool) {
	if !a.IsValid() {
		return cryptoutil.PeerID{}, false
	}
	if id, ok := d.byAddr[a]; ok {
		return id, true
	}
	for _, o := range d.origins {
		if id, ok := o.byAddr[a]; ok {
			return id, true
		}
	}
	return cryptoutil.PeerID{}, false
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
// the asker may read its answer at any time. Of the same peer served by several nodes (a
// client that moved and whose old session has not ended yet), the newest registration is
// the answer.
func (d *directory) fill(r *messages.LookupPeerResult, id cryptoutil.PeerID) {
	e := d.peers[id]
	var best *replica
	var bestNode string
	for node, o := range d.origins {
		if rp := o.peers[id]; rp != nil && (best == nil || rp.registered > best.registered ||
			rp.registered == best.registered && node > bestNode) {
			best, bestNode = rp, node
		}
	}
	switch {
	case best != nil && (e == nil || best.registered > e.registered):
		p := &messages.Peer{PeerId: append([]byte(nil), id[:]...), SessionId: best.sessionID, HasPeerInfo: best.hasPeerInfo,
			Origin: bestNode, RegisteredUnixMs: best.registered, PrivateAddresses: addrStrings(best.private)}
		if best.public.IsValid() {
			p.PublicAddress = best.public.String()
		}
		r.Found, r.Peer = true, p
	case e != nil:
		r.Found, r.Peer = true, d.peer(id, e, true)
	}
}

// peer returns an entry as a fresh messages.Peer, with its PIDs if withPIDs (they mean
// nothing on another node).
func (d *directory) peer(id cryptoutil.PeerID, e *peerEntry, withPIDs bool) *messages.Peer {
	p := &messages.Peer{
		PeerId: append([]byte(nil), id[:]...), SessionId: e.sessionID, HasPeerInfo: e.hasPeerInfo, Node: e.node.Value(),
		RegisteredUnixMs: e.registered, PrivateAddresses: addrStrings(e.private),
	}
	if withPIDs {
		p.Session, p.Connection = e.session, e.connection
	}
	if e.public.IsValid() {
		p.PublicAddress = e.public.String()
	}
	return p
}

func addrStrings(addrs []netip.AddrPort) []string {
	if len(addrs) == 0 {
		return nil
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
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
