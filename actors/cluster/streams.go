package cluster

import (
	"strconv"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/live"
	"github.com/actorrtmfp/actorrtmfp/messages"
)

// A live stream crosses nodes once per node that plays it. Each node announces to the
// others the streams its own publishers publish (StreamAnnounce). When a publication of a
// node has players and no publisher of that node, and another node announces its name,
// the cluster/streams actor starts an edge (edge.go): a publisher of the local
// publication that subscribes to the origin node. There the origin's cluster/streams
// actor starts a link (link.go): a subscriber of the origin's publication whose sink
// sends what it gets to the edge. Both sides are the live package's own machinery: the
// origin's publication replays its configuration and group of pictures to the link as to
// any late player, and the edge's publication caches them for its own late players and
// fans out locally. So a stream costs one copy per playing node, never one per player.
//
// Of two nodes announcing the same name (a publisher that reconnected to another node
// before its old session ended), the newest announcement wins; a publisher of this node
// takes the place of an edge (live.Publish.Edge).

type streamsGateway struct {
	gateway
	svc    Services
	shared *shared

	local map[live.Key]bool // published by this node's own publishers (announced)
	seq   uint64            // announcements sent

	announcers map[string]*announcer  // what each member announced
	origins    map[live.Key][]string  // members announcing a name, oldest first
	wanted     map[live.Key]bool      // has players here and no publisher of this node
	edges      map[live.Key]*edgeRef  // this node's subscriptions
	bySub      map[uint64]*edgeRef    // by subscription
	edgePIDs   map[string]*edgeRef    // by edge actor ID
	links      map[linkKey]*actor.PID // other nodes' subscriptions to streams published here
	linkIDs    map[string]linkKey     // by link actor ID
	nextSub    uint64
}

type announcer struct {
	replicaSync
	keys map[live.Key]bool
}

type edgeRef struct {
	pid    *actor.PID
	key    live.Key
	origin string
	sub    uint64
}

type linkKey struct {
	node string
	sub  uint64
}

// endEdge tells an edge that its origin ended the subscription (or left): its players
// are told the stream was unpublished.
type endEdge struct{ reason string }

// stopEdge tells an edge that it is no longer needed: it unsubscribes and stops.
type stopEdge struct{}

// maxStreamName bounds the application path and stream name of a subscription.
const maxStreamName = 1024

func newStreamsGateway(g gateway, svc Services, sh *shared) *streamsGateway {
	return &streamsGateway{gateway: g, svc: svc, shared: sh,
		local: map[live.Key]bool{}, announcers: map[string]*announcer{}, origins: map[live.Key][]string{},
		wanted: map[live.Key]bool{}, edges: map[live.Key]*edgeRef{}, bySub: map[uint64]*edgeRef{},
		edgePIDs: map[string]*edgeRef{}, links: map[linkKey]*actor.PID{}, linkIDs: map[string]linkKey{}}
}

func (s *streamsGateway) Receive(ctx actor.Context) {
	recovered(s.log, s.stats, streamsName, func() { s.receive(ctx) })
}

func (s *streamsGateway) receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *memberJoined:
		s.joined(m)
		a := &announcer{keys: map[live.Key]bool{}}
		s.announcers[m.id] = a
		s.requestSync(ctx, m.id, a)
	case *memberLeft:
		s.left(m)
		s.onLeft(ctx, m.id)
	case *live.State:
		s.onState(ctx, m)
	case *messages.StreamSyncRequest:
		if s.from(m.FromNode, m.ToNode) {
			ctx.Send(s.pid(m.FromNode, streamsName), s.fullAnnounce())
		}
	case *messages.StreamAnnounce:
		if s.from(m.FromNode, "") {
			s.onAnnounce(ctx, m)
		}
	case *originSeq:
		s.onOriginSeq(ctx, m)
	case *messages.StreamSubscribe:
		if s.from(m.FromNode, m.ToNode) {
			s.onSubscribe(ctx, m)
		}
	case *messages.StreamUnsubscribe:
		if s.from(m.FromNode, m.ToNode) {
			if pid := s.links[linkKey{m.FromNode, m.Subscription}]; pid != nil {
				ctx.Stop(pid)
			}
		}
	case *messages.StreamAck:
		if s.from(m.FromNode, m.ToNode) {
			if pid := s.links[linkKey{m.FromNode, m.Subscription}]; pid != nil {
				ctx.Send(pid, m)
			}
		}
	case *messages.StreamMediaBatch:
		if s.from(m.FromNode, m.ToNode) {
			if e := s.bySub[m.Subscription]; e != nil && e.origin == m.FromNode {
				ctx.Send(e.pid, m)
			} else {
				s.stats.Misrouted.Add(1)
			}
		}
	case *messages.StreamEnded:
		if s.from(m.FromNode, m.ToNode) {
			if e := s.bySub[m.Subscription]; e != nil && e.origin == m.FromNode {
				ctx.Send(e.pid, &endEdge{reason: m.Reason})
			}
		}
	case *actor.Terminated:
		s.onTerminated(ctx, m.Who)
	}
}

// ---- announcements ----

// onState follows this node's publications: which it publishes itself (announced), and
// which have players and no publisher of this node (wanted from elsewhere).
func (s *streamsGateway) onState(ctx actor.Context, st *live.State) {
	own := st.Publisher != nil && !st.Edge
	if own != s.local[st.Key] {
		if own {
			s.local[st.Key] = true
		} else {
			delete(s.local, st.Key)
		}
		s.announce(ctx, &messages.StreamName{App: st.Key.App, Name: st.Key.Name, Publishing: own})
	}
	want := st.Players > 0 && !own
	if want != s.wanted[st.Key] {
		if want {
			s.wanted[st.Key] = true
		} else {
			delete(s.wanted, st.Key)
		}
	}
	s.reconcile(ctx, st.Key)
}

func (s *streamsGateway) announce(ctx actor.Context, n *messages.StreamName) {
	s.seq++
	s.shared.streamsSeq.Store(s.seq)
	a := &messages.StreamAnnounce{FromNode: s.self, Seq: s.seq, Streams: []*messages.StreamName{n}}
	for node := range s.members {
		ctx.Send(s.pid(node, streamsName), a)
	}
}

func (s *streamsGateway) fullAnnounce() *messages.StreamAnnounce {
	a := &messages.StreamAnnounce{FromNode: s.self, Seq: s.seq, Full: true}
	for k := range s.local {
		a.Streams = append(a.Streams, &messages.StreamName{App: k.App, Name: k.Name, Publishing: true})
	}
	return a
}

func (s *streamsGateway) onAnnounce(ctx actor.Context, m *messages.StreamAnnounce) {
	a := s.announcers[m.FromNode]
	if a == nil {
		return
	}
	var changed []live.Key
	switch {
	case m.Full:
		for k := range a.keys {
			changed = append(changed, k)
			s.setOrigin(k, m.FromNode, false)
		}
		a.keys = map[live.Key]bool{}
		a.synced(m.Seq)
		s.log.Info("streams synced with a member", zap.String("member", m.FromNode), zap.Int("streams", len(m.Streams)))
	case a.syncing || m.Seq <= a.last:
		return // the full announcement on its way covers it
	case m.Seq != a.last+1:
		s.requestSync(ctx, m.FromNode, a)
		return
	default:
		a.last = m.Seq
	}
	for _, n := range m.Streams {
		if n.App == "" && n.Name == "" || len(n.App)+len(n.Name) > maxStreamName {
			s.stats.Invalid.Add(1)
			continue
		}
		k := live.Key{App: n.App, Name: n.Name}
		if n.Publishing {
			a.keys[k] = true
		} else {
			delete(a.keys, k)
		}
		s.setOrigin(k, m.FromNode, n.Publishing)
		changed = append(changed, k)
	}
	for _, k := range changed {
		s.reconcile(ctx, k)
	}
}

func (s *streamsGateway) requestSync(ctx actor.Context, node string, a *announcer) {
	a.ask(s.svc.Clock.Now())
	ctx.Send(s.pid(node, streamsName), &messages.StreamSyncRequest{FromNode: s.self, ToNode: node})
}

func (s *streamsGateway) onOriginSeq(ctx actor.Context, m *originSeq) {
	if a := s.announcers[m.node]; a != nil {
		if retry, lost := a.onStatus(s.svc.Clock.Now(), m.seq); retry || lost {
			s.requestSync(ctx, m.node, a)
		}
	}
}

// setOrigin records that node publishes k (last, as the newest) or no longer does.
func (s *streamsGateway) setOrigin(k live.Key, node string, publishing bool) {
	list := s.origins[k]
	for i, n := range list {
		if n == node {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if publishing {
		list = append(list, node)
	}
	if len(list) == 0 {
		delete(s.origins, k)
		return
	}
	s.origins[k] = list
}

func (s *streamsGateway) onLeft(ctx actor.Context, node string) {
	if a := s.announcers[node]; a != nil {
		for k := range a.keys {
			s.setOrigin(k, node, false)
		}
		delete(s.announcers, node)
	}
	ended := 0
	for _, e := range s.edges {
		if e.origin == node {
			ctx.Send(e.pid, &endEdge{reason: "origin node left"})
			ended++
		}
	}
	if ended > 0 {
		s.stats.StreamsEnded.Add(uint64(ended))
		s.log.Info("streams of a departed member ended for this node's players", zap.String("member", node), zap.Int("streams", ended))
	}
	for k, pid := range s.links {
		if k.node == node {
			ctx.Stop(pid)
		}
	}
}

// ---- edges: this node's subscriptions ----

// reconcile starts, moves or stops the edge of k: wanted here and published elsewhere
// (by the newest announcer), no edge while not wanted. An edge whose origin stopped
// announcing stays: its players wait for the publisher to come back there, as players
// of a publication with no publisher do.
func (s *streamsGateway) reconcile(ctx actor.Context, k live.Key) {
	e := s.edges[k]
	var origin string
	if list := s.origins[k]; len(list) > 0 {
		origin = list[len(list)-1]
	}
	switch {
	case !s.wanted[k]:
		if e != nil {
			s.dropEdge(ctx, e, &stopEdge{})
		}
	case e != nil && origin != "" && e.origin != origin:
		s.dropEdge(ctx, e, &stopEdge{})
		s.startEdge(ctx, k, origin)
	case e == nil && origin != "":
		s.startEdge(ctx, k, origin)
	}
}

func (s *streamsGateway) startEdge(ctx actor.Context, k live.Key, origin string) {
	to := s.pid(origin, streamsName)
	if to == nil {
		return
	}
	s.nextSub++
	e := &edgeRef{key: k, origin: origin, sub: s.nextSub}
	a := &edgeActor{key: k, origin: origin, originPID: to, self: s.self, sub: e.sub,
		publications: s.svc.Publications, stats: s.stats, log: s.log, clock: s.svc.Clock}
	e.pid = ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return a }, s.svc.Options...))
	s.edges[k], s.bySub[e.sub], s.edgePIDs[e.pid.Id] = e, e, e
}

// dropEdge forgets an edge and tells it to end (stopEdge or endEdge).
func (s *streamsGateway) dropEdge(ctx actor.Context, e *edgeRef, how any) {
	if s.edges[e.key] == e {
		delete(s.edges, e.key)
	}
	delete(s.bySub, e.sub)
	ctx.Send(e.pid, how)
}

// ---- links: other nodes' subscriptions to streams published here ----

func (s *streamsGateway) onSubscribe(ctx actor.Context, m *messages.StreamSubscribe) {
	if m.App == "" && m.Name == "" || len(m.App)+len(m.Name) > maxStreamName {
		s.stats.Invalid.Add(1)
		return
	}
	lk := linkKey{m.FromNode, m.Subscription}
	if s.links[lk] != nil {
		return // a repeated subscription
	}
	a := &linkActor{key: live.Key{App: m.App, Name: m.Name}, node: m.FromNode, edgePID: s.pid(m.FromNode, streamsName),
		self: s.self, sub: m.Subscription, publications: s.svc.Publications, stats: s.stats, clock: s.svc.Clock, log: s.log}
	pid := ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return a }, s.svc.Options...))
	s.links[lk], s.linkIDs[pid.Id] = pid, lk
	s.stats.Links.Add(1)
	s.log.Info("stream link opened", zap.String("app", m.App), zap.String("name", m.Name), zap.String("member", m.FromNode),
		zap.String("subscription", strconv.FormatUint(m.Subscription, 10)))
}

func (s *streamsGateway) onTerminated(ctx actor.Context, who *actor.PID) {
	if e := s.edgePIDs[who.Id]; e != nil {
		delete(s.edgePIDs, who.Id)
		if s.edges[e.key] == e {
			delete(s.edges, e.key)
			delete(s.bySub, e.sub)
			s.reconcile(ctx, e.key) // ended by its origin: another may publish the name
		}
		return
	}
	if lk, ok := s.linkIDs[who.Id]; ok {
		delete(s.linkIDs, who.Id)
		if pid := s.links[lk]; pid != nil && pid.Equal(who) {
			delete(s.links, lk)
		}
	}
}
