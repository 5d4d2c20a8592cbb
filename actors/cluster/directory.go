package cluster

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/p2p"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/messages"
)

// The peer directory of a cluster is kept whole on every node: each node's directory
// holds the peers it serves and a replica of every other node's, so that a lookup — the
// path of every P2P introduction — never waits for another node. The cluster/p2p actor
// keeps the replicas in step: it sends the other members every change of the peers
// served here, numbered and batched; applies theirs in order; asks a member for a
// snapshot when it joins and when it sees a gap in its numbers (lost messages, e.g. while
// remote reconnects), or when the member's status says it went further than what arrived;
// and drops a member's peers when it leaves. It also carries introductions and relays to
// the node that serves their target.

// Batching of the changes sent to the other nodes.
const (
	flushDelay    = 10 * time.Millisecond
	flushBatch    = 256
	snapshotPart  = 500
	maxLookups    = 4096
	maxEPD        = 512
	maxTag        = 64
	maxRelayBytes = 64 << 10
	// behindTicks is how many statuses of a member may come after one that said it went
	// further than what had arrived from it, while what it said still has not arrived,
	// before a snapshot is asked for (changes may be on their way).
	behindTicks = 2
	// syncRetry is how long an unanswered snapshot request waits before it is repeated.
	syncRetry = 2 * time.Second
)

type directoryGateway struct {
	gateway
	svc     Services
	shared  *shared
	pending []*messages.PeerChange
	armed   bool
	timer   clock.Timer
	origins map[string]*originState
	lookups map[uint64]any // *messages.ForwardHello or *messages.RelayTo, by request ID
	next    uint64
}

// originState is how far the replica of a member's peers is (last: the last change
// applied; syncing: a snapshot was asked for).
type originState struct {
	replicaSync
	buffered []*messages.PeerChange
	parts    []*messages.Peer // of the snapshot being received
	nextPart uint32
}

type flushTick struct{}

func newDirectoryGateway(g gateway, svc Services, sh *shared) *directoryGateway {
	return &directoryGateway{gateway: g, svc: svc, shared: sh, origins: map[string]*originState{}, lookups: map[uint64]any{}}
}

func (d *directoryGateway) Receive(ctx actor.Context) {
	recovered(d.log, d.stats, p2pName, func() { d.receive(ctx) })
}

func (d *directoryGateway) receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *memberJoined:
		d.joined(m)
		d.requestSync(ctx, m.id)
	case *memberLeft:
		d.left(m)
		delete(d.origins, m.id)
		ctx.Request(d.svc.Directory, &p2p.DropNode{Node: m.id})
	case *p2p.NodeDropped:
		d.stats.PeersDropped.Add(uint64(m.Peers))
		d.log.Info("peers of a departed member dropped", zap.String("member", m.Node), zap.Int("peers", m.Peers))
	case *p2p.Changed:
		d.onLocalChange(ctx, m.Change)
	case *flushTick:
		d.flush(ctx)
	case *p2p.Snapshot:
		d.sendSnapshot(ctx, m.Snapshot)
	case *messages.PeerChanges:
		if d.from(m.FromNode, "") {
			d.onChanges(ctx, m.FromNode, m.Changes)
		}
	case *messages.DirectorySyncRequest:
		if d.from(m.FromNode, m.ToNode) {
			ctx.Send(d.svc.Directory, &messages.DirectorySyncRequest{FromNode: m.FromNode})
		}
	case *messages.DirectorySnapshot:
		if d.from(m.FromNode, m.ToNode) {
			d.onSnapshotPart(ctx, m)
		}
	case *originSeq:
		d.onOriginSeq(ctx, m)
	case *p2p.ToNode:
		d.onOutgoing(ctx, m.Msg)
	case *messages.ForwardHello:
		if d.from(m.FromNode, m.ToNode) {
			d.lookup(ctx, m, m.TargetPeerId)
		}
	case *messages.RelayTo:
		if d.from(m.FromNode, m.ToNode) {
			d.lookup(ctx, m, m.TargetPeerId)
		}
	case *messages.LookupPeerResult:
		d.onLookup(ctx, m)
	case *actor.Stopping:
		if d.timer != nil {
			d.timer.Stop()
		}
	}
}

// ---- changes of the peers served here ----

func (d *directoryGateway) onLocalChange(ctx actor.Context, c *messages.PeerChange) {
	d.shared.directorySeq.Store(c.Seq)
	if len(d.members) == 0 {
		return // nobody to tell: a member that joins asks for a snapshot
	}
	d.pending = append(d.pending, c)
	if len(d.pending) >= flushBatch {
		d.flush(ctx)
		return
	}
	if !d.armed {
		d.armed = true
		self, root := ctx.Self(), ctx.ActorSystem().Root
		if d.timer == nil {
			d.timer = d.svc.Clock.AfterFunc(flushDelay, func() { root.Send(self, &flushTick{}) })
		} else {
			d.timer.Reset(flushDelay)
		}
	}
}

func (d *directoryGateway) flush(ctx actor.Context) {
	d.armed = false
	if len(d.pending) == 0 {
		return
	}
	batch := &messages.PeerChanges{FromNode: d.self, Changes: d.pending}
	d.pending = nil
	for node := range d.members {
		ctx.Send(d.pid(node, p2pName), batch)
	}
}

// sendSnapshot sends the snapshot the directory made for a member, in parts.
func (d *directoryGateway) sendSnapshot(ctx actor.Context, s *messages.DirectorySnapshot) {
	to := d.pid(s.ToNode, p2pName)
	if to == nil {
		return
	}
	// The changes made before the snapshot must reach the member first: it ignores those
	// the snapshot covers, and a change after it must not overtake it.
	d.flush(ctx)
	peers := s.Peers
	part := uint32(0)
	for {
		n := min(len(peers), snapshotPart)
		ctx.Send(to, &messages.DirectorySnapshot{FromNode: d.self, ToNode: s.ToNode, Seq: s.Seq, Peers: peers[:n], Part: part, Last: n == len(peers)})
		peers = peers[n:]
		part++
		if len(peers) == 0 {
			return
		}
	}
}

// ---- replicas of the other members' peers ----

func (d *directoryGateway) requestSync(ctx actor.Context, node string) {
	o := d.origins[node]
	if o == nil {
		o = &originState{}
		d.origins[node] = o
	}
	o.ask(d.svc.Clock.Now())
	o.parts, o.nextPart = nil, 0
	ctx.Send(d.pid(node, p2pName), &messages.DirectorySyncRequest{FromNode: d.self, ToNode: node})
}

func (d *directoryGateway) onChanges(ctx actor.Context, node string, changes []*messages.PeerChange) {
	o := d.origins[node]
	if o == nil {
		// A member whose join we have not processed yet cannot be: members come from the
		// node actor before their messages pass from().
		d.requestSync(ctx, node)
		o = d.origins[node]
	}
	if o.syncing {
		o.buffered = append(o.buffered, changes...)
		return
	}
	d.apply(ctx, node, o, changes)
}

// apply applies changes in order; a gap asks for a snapshot and keeps the rest.
func (d *directoryGateway) apply(ctx actor.Context, node string, o *originState, changes []*messages.PeerChange) {
	var ok []*messages.PeerChange
	for i, c := range changes {
		switch {
		case c.Seq <= o.last:
			continue
		case c.Seq == o.last+1:
			if !validChange(c) {
				d.stats.Invalid.Add(1)
			} else {
				ok = append(ok, c)
			}
			o.last = c.Seq
		default:
			d.stats.Resyncs.Add(1)
			d.log.Info("gap in a member's directory changes; asking for a snapshot", zap.String("member", node),
				zap.Uint64("have", o.last), zap.Uint64("got", c.Seq))
			if len(ok) > 0 {
				ctx.Send(d.svc.Directory, &messages.PeerChanges{FromNode: node, Changes: ok})
			}
			d.requestSync(ctx, node)
			o.buffered = append(o.buffered, changes[i:]...)
			return
		}
	}
	if len(ok) > 0 {
		ctx.Send(d.svc.Directory, &messages.PeerChanges{FromNode: node, Changes: ok})
	}
}

func validChange(c *messages.PeerChange) bool {
	switch c := c.Change.(type) {
	case *messages.PeerChange_Register:
		return c.Register != nil && len(c.Register.PeerId) == cryptoutil.PeerIDLen
	case *messages.PeerChange_Unregister:
		return c.Unregister != nil && len(c.Unregister.PeerId) == cryptoutil.PeerIDLen
	case *messages.PeerChange_Update:
		return c.Update != nil && len(c.Update.PeerId) == cryptoutil.PeerIDLen
	}
	return false
}

func (d *directoryGateway) onSnapshotPart(ctx actor.Context, s *messages.DirectorySnapshot) {
	o := d.origins[s.FromNode]
	if o == nil || !o.syncing || s.Part != o.nextPart {
		// Not asked for, or a part of an earlier request: a new request is on its way or
		// will be made.
		if o != nil && o.syncing && s.Part != o.nextPart {
			d.requestSync(ctx, s.FromNode)
		}
		return
	}
	for _, p := range s.Peers {
		if len(p.GetPeerId()) != cryptoutil.PeerIDLen {
			d.stats.Invalid.Add(1)
			continue
		}
		o.parts = append(o.parts, p)
	}
	o.nextPart++
	if !s.Last {
		return
	}
	ctx.Send(d.svc.Directory, &messages.DirectorySnapshot{FromNode: s.FromNode, Seq: s.Seq, Peers: o.parts, Last: true})
	d.log.Info("directory synced with a member", zap.String("member", s.FromNode), zap.Int("peers", len(o.parts)), zap.Uint64("seq", s.Seq))
	o.parts, o.nextPart = nil, 0
	o.synced(s.Seq)
	buffered := o.buffered
	o.buffered = nil
	d.apply(ctx, s.FromNode, o, buffered)
}

// onOriginSeq asks for a snapshot when a member's statuses keep saying it made changes
// that never arrived (the last of its batches was lost).
func (d *directoryGateway) onOriginSeq(ctx actor.Context, m *originSeq) {
	o := d.origins[m.node]
	if o == nil {
		return
	}
	retry, lost := o.onStatus(d.svc.Clock.Now(), m.seq)
	if lost {
		d.stats.Resyncs.Add(1)
		d.log.Info("a member's directory changes did not arrive; asking for a snapshot", zap.String("member", m.node),
			zap.Uint64("have", o.last), zap.Uint64("said", o.behind.claim))
	}
	if retry || lost {
		d.requestSync(ctx, m.node)
	}
}

// replicaSync is how far this node's copy of a member's numbered updates (its directory
// changes, its stream announcements) is, and whether a full copy was asked for.
type replicaSync struct {
	last    uint64 // the last update applied
	syncing bool   // a full copy was asked for
	asked   time.Time
	behind  claims
}

// ask records that a full copy was asked for at now.
func (r *replicaSync) ask(now time.Time) { r.syncing, r.asked, r.behind = true, now, claims{} }

// synced records that the full copy as of update seq arrived.
func (r *replicaSync) synced(seq uint64) { r.last, r.syncing, r.behind = seq, false, claims{} }

// onStatus takes a status of the member that says it went as far as said, and reports
// whether to ask for a full copy: again, because the request or its answer was lost (the
// member did not know us yet when it came, or remote reconnected); or because updates it
// sent did not arrive (the last of its batches was lost).
func (r *replicaSync) onStatus(now time.Time, said uint64) (retry, lost bool) {
	if r.syncing {
		return now.Sub(r.asked) >= syncRetry, false
	}
	return false, r.behind.missing(said, r.last)
}

// claims follows what a member's statuses say it sent, against what arrived from it.
// Under a steady stream of changes every status says more than has arrived, the rest
// being on its way; so a status's figure is kept, and only when it has not arrived by
// behindTicks statuses later is something taken as lost.
type claims struct {
	claim  uint64 // what an earlier status said, not arrived yet (0: none)
	behind int    // statuses since
}

// missing takes a status that says said against last, what arrived, and reports whether
// a figure stated behindTicks statuses ago is still missing.
func (c *claims) missing(said, last uint64) bool {
	if c.claim != 0 && last >= c.claim {
		*c = claims{}
	}
	if c.claim == 0 {
		if said > last {
			c.claim = said
		}
		return false
	}
	c.behind++
	return c.behind >= behindTicks
}

// ---- introductions and relays ----

// onOutgoing sends what this node's rendezvous or a connection has for another node.
func (d *directoryGateway) onOutgoing(ctx actor.Context, msg any) {
	switch m := msg.(type) {
	case *messages.ForwardHello:
		if to := d.pid(m.ToNode, p2pName); to != nil {
			m.FromNode = d.self
			ctx.Send(to, m)
		}
	case *messages.RelayTo:
		if to := d.pid(m.ToNode, p2pName); to != nil {
			m.FromNode = d.self
			ctx.Send(to, m)
		}
	}
}

// lookup asks the directory about the target of an introduction or relay from another
// node.
func (d *directoryGateway) lookup(ctx actor.Context, m any, peerID []byte) {
	if len(peerID) != cryptoutil.PeerIDLen {
		d.stats.Invalid.Add(1)
		return
	}
	if len(d.lookups) >= maxLookups {
		d.stats.Misrouted.Add(1) // the directory is not keeping up: the initiator retries
		return
	}
	d.next++
	d.lookups[d.next] = m
	ctx.Send(d.svc.Directory, &messages.LookupPeer{PeerId: peerID, RequestId: d.next, ReplyTo: ctx.Self()})
}

func (d *directoryGateway) onLookup(ctx actor.Context, r *messages.LookupPeerResult) {
	m, ok := d.lookups[r.RequestId]
	if !ok {
		return
	}
	delete(d.lookups, r.RequestId)
	p := r.Peer
	local := r.Found && p.Origin == "" && p.Session != nil
	switch m := m.(type) {
	case *messages.ForwardHello:
		if !local || p.SessionId != m.TargetSessionId {
			d.stats.Misrouted.Add(1) // gone, or moved: the initiator's next attempt finds it
			return
		}
		reply := p2p.ParseAddr(m.ReplyAddress)
		if !reply.IsValid() || len(m.Epd) > maxEPD || len(m.Tag) == 0 || len(m.Tag) > maxTag || m.ReplyOrigin > 3 {
			d.stats.Invalid.Add(1)
			return
		}
		ctx.Send(p.Session, &session.SendFIHello{EPD: m.Epd, Reply: rtmfp.Address{AddrPort: reply, Origin: byte(m.ReplyOrigin)}, Tag: m.Tag})
	case *messages.RelayTo:
		if !local || p.SessionId != m.TargetSessionId || p.Connection == nil {
			d.stats.Misrouted.Add(1)
			return
		}
		if m.Relay == nil || len(m.Relay.ArgsAmf0) > maxRelayBytes || len(m.Relay.SenderPeerId) != cryptoutil.PeerIDLen {
			d.stats.Invalid.Add(1)
			return
		}
		ctx.Send(p.Connection, &messages.RelayMessage{SenderPeerId: m.Relay.SenderPeerId, Method: "onRelay", ArgsAmf0: m.Relay.ArgsAmf0})
	}
}
