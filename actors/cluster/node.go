package cluster

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/messages"
)

// Names of a node's cluster actors: the other nodes address them by member address, and
// they are the only actors the guard lets other nodes reach.
const (
	nodeName    = "cluster"
	p2pName     = "cluster/p2p"
	streamsName = "cluster/streams"
	groupsName  = "cluster/groups"
)

// Services are what the cluster actors work with on their node.
type Services struct {
	Directory    *actor.PID // the p2p directory
	Publications *actor.PID // the live registry
	Groups       *actor.PID // the netgroup registry
	// Sessions returns the sessions the node serves now; Capacity is how many it is
	// sized for; beyond RedirectLoad percent of it (-1: never) new clients are redirected
	// to less-loaded nodes.
	Sessions     func() int
	Capacity     int
	RedirectLoad int
	// Public returns the addresses clients reach this node at (redirects to it).
	Public func() []netip.AddrPort
	// GroupMaxMembers and GroupNeighbors are the NetGroup limits, applied by a group's
	// home.
	GroupMaxMembers, GroupNeighbors int
	Clock                           clock.Clock
	// Options are the props options of the cluster actors (dispatcher, mailbox).
	Options []actor.PropsOption
}

// Timing of the node actor.
const (
	statusPeriod = time.Second
	// statusStale is how long a member's last status counts (for load redirects).
	statusStale = 3 * statusPeriod
	// redirectMargin is how much less loaded (percentage points) a node must be to be
	// sent clients.
	redirectMargin = 10
	// excludedAfter is how long members that see this node only in theirs may leave
	// it out of their statuses before it concludes it was dropped from the cluster.
	excludedAfter = 10 * time.Second
	// leaveWait bounds how long a stopping node waits for the others to acknowledge its
	// goodbye.
	leaveWait = time.Second
)

// Node is a node's cluster layer once running: its cluster actors over its Membership.
type Node struct {
	m        *Membership
	pid      *actor.PID
	redirect atomic.Pointer[[]netip.AddrPort]
	shared   *shared
}

// shared is what the node's cluster actors read of each other.
type shared struct {
	directorySeq atomic.Uint64
	streamsSeq   atomic.Uint64
}

// P2P returns the PID of this node's cluster/p2p actor (before it exists).
func (m *Membership) P2P() *actor.PID { return actor.NewPID(m.sys.Address(), p2pName) }

// Streams returns the PID of this node's cluster/streams actor (before it exists).
func (m *Membership) Streams() *actor.PID { return actor.NewPID(m.sys.Address(), streamsName) }

// Groups returns the PID of this node's cluster/groups actor (before it exists).
func (m *Membership) Groups() *actor.PID { return actor.NewPID(m.sys.Address(), groupsName) }

// Run spawns the node's cluster actors and starts the membership provider: from then on
// the node is a member.
func (m *Membership) Run(svc Services) (*Node, error) {
	svc.Clock = clock.Or(svc.Clock)
	n := &Node{m: m, shared: &shared{}}
	props := actor.PropsFromProducer(func() actor.Actor {
		return &nodeActor{m: m, svc: svc, n: n, members: map[string]*member{}, gone: map[string]bool{}}
	}, svc.Options...)
	pid, err := m.sys.Root.SpawnNamed(props, nodeName)
	if err != nil {
		return nil, err
	}
	n.pid = pid
	if err := m.Join(pid); err != nil {
		_ = m.sys.Root.StopFuture(pid).Wait()
		return nil, err
	}
	m.log.Info("cluster node started", zap.String("member", m.ID()), zap.String("address", m.Address()),
		zap.String("cluster", m.cfg.Name), zap.String("membership", m.membershipKind()))
	return n, nil
}

func (m *Membership) membershipKind() string {
	if len(m.cfg.Etcd) > 0 {
		return "etcd"
	}
	return "static"
}

// LoadRedirect returns where new clients go while this node is over its share of the
// load, or nil (p2p.HelloHandler.LoadRedirect). Safe for concurrent use.
func (n *Node) LoadRedirect() []netip.AddrPort {
	if p := n.redirect.Load(); p != nil {
		return *p
	}
	return nil
}

// Membership returns the node's membership.
func (n *Node) Membership() *Membership { return n.m }

// Stop says goodbye to the other members (they drop this node's peers and streams at
// once), stops the cluster actors and leaves the cluster.
func (n *Node) Stop() {
	_, _ = n.m.sys.Root.RequestFuture(n.pid, &leave{}, leaveWait+time.Second).Result()
	_ = n.m.sys.Root.StopFuture(n.pid).Wait()
	n.m.Stop()
}

// member is what the node actor knows of another member.
type member struct {
	address  string
	joined   time.Time
	status   *messages.NodeStatus
	statusAt time.Time
	// missingSince is since when its statuses have left this node out, if they do.
	missingSince time.Time
}

// memberJoined and memberLeft tell the node's other cluster actors of membership.
type memberJoined struct{ id, address string }
type memberLeft struct{ id, reason string }

type tick struct{}
type leave struct{}
type leaveTimeout struct{}

// nodeActor is the "cluster" actor: membership as the provider sees it and as members
// say goodbye, the status every node sends every other once a second, and the load
// redirect computed from them.
type nodeActor struct {
	m       *Membership
	svc     Services
	n       *Node
	members map[string]*member
	gone    map[string]bool // said goodbye, still listed by the provider
	p2p     *actor.PID
	streams *actor.PID
	groups  *actor.PID
	timer   clock.Timer
	leaving *leaving
	lost    bool
}

type leaving struct {
	replyTo *actor.PID
	waiting map[string]bool
}

func (a *nodeActor) Receive(ctx actor.Context) {
	recovered(a.m.log, a.m.stats, nodeName, func() { a.receive(ctx) })
}

func (a *nodeActor) receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.onStarted(ctx)
	case *cluster.ClusterTopology:
		a.onTopology(ctx, m)
	case *tick:
		a.onTick(ctx)
	case *messages.NodeStatus:
		a.onStatus(ctx, m)
	case *messages.NodeLeaving:
		a.onLeaving(ctx, m)
	case *messages.NodeLeft:
		if a.leaving != nil && m.ToNode == a.m.ID() {
			delete(a.leaving.waiting, m.FromNode)
			a.checkLeft(ctx)
		}
	case *leave:
		a.onLeave(ctx)
	case *leaveTimeout:
		if a.leaving != nil {
			a.leaving.waiting = nil
			a.checkLeft(ctx)
		}
	case *actor.Stopping:
		if a.timer != nil {
			a.timer.Stop()
		}
	}
}

func (a *nodeActor) onStarted(ctx actor.Context) {
	opts := a.svc.Options
	spawn := func(name string, producer actor.Producer) *actor.PID {
		pid, err := ctx.SpawnNamed(actor.PropsFromProducer(producer, opts...), name)
		if err != nil {
			a.m.log.Error("cannot start a cluster actor", zap.String("name", name), zap.Error(err))
		}
		return pid
	}
	base := func() gateway {
		return gateway{self: a.m.ID(), stats: a.m.stats, log: a.m.log, members: map[string]string{}}
	}
	a.p2p = spawn("p2p", func() actor.Actor { return newDirectoryGateway(base(), a.svc, a.n.shared) })
	a.streams = spawn("streams", func() actor.Actor { return newStreamsGateway(base(), a.svc, a.n.shared) })
	a.groups = spawn("groups", func() actor.Actor { return newGroupsGateway(base(), a.svc) })
	a.arm(ctx)
}

func (a *nodeActor) arm(ctx actor.Context) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	if a.timer == nil {
		a.timer = a.svc.Clock.AfterFunc(statusPeriod, func() { root.Send(self, &tick{}) })
		return
	}
	a.timer.Reset(statusPeriod)
}

// tell sends a membership event to the node's other cluster actors.
func (a *nodeActor) tell(ctx actor.Context, m any) {
	for _, pid := range []*actor.PID{a.p2p, a.streams, a.groups} {
		if pid != nil {
			ctx.Send(pid, m)
		}
	}
}

// onTopology reconciles the members with the provider's list: those no longer listed
// leave first (a restart within one poll comes as the old member leaving and a new one
// joining), then the new ones join.
func (a *nodeActor) onTopology(ctx actor.Context, t *cluster.ClusterTopology) {
	listed := map[string]*cluster.Member{}
	for _, m := range t.Members {
		listed[m.Id] = m
	}
	for id := range a.gone {
		if listed[id] == nil {
			delete(a.gone, id)
		}
	}
	for id := range a.members {
		if listed[id] == nil {
			a.left(ctx, id, "left the membership")
		}
	}
	ids := make([]string, 0, len(listed))
	for id := range listed {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if id == a.m.ID() || a.members[id] != nil || a.gone[id] {
			continue
		}
		addr := listed[id].Address()
		a.members[id] = &member{address: addr, joined: a.svc.Clock.Now()}
		a.m.stats.Joined.Add(1)
		a.m.log.Info("cluster member joined", zap.String("member", id), zap.String("address", addr), zap.Int("members", len(a.members)+1))
		a.tell(ctx, &memberJoined{id: id, address: addr})
		ctx.Send(a.pidOf(id, nodeName), a.status())
	}
}

// left forgets a member: its peers, streams and group members go with it.
func (a *nodeActor) left(ctx actor.Context, id, reason string) {
	if a.members[id] == nil {
		return
	}
	delete(a.members, id)
	a.m.stats.Left.Add(1)
	a.m.log.Info("cluster member left", zap.String("member", id), zap.String("reason", reason), zap.Int("members", len(a.members)+1))
	a.tell(ctx, &memberLeft{id: id, reason: reason})
	if a.leaving != nil {
		delete(a.leaving.waiting, id)
		a.checkLeft(ctx)
	}
	a.updateRedirect()
}

func (a *nodeActor) pidOf(id, name string) *actor.PID {
	return actor.NewPID(a.members[id].address, name)
}

func (a *nodeActor) status() *messages.NodeStatus {
	s := &messages.NodeStatus{
		Cluster: a.m.cfg.Name, FromNode: a.m.ID(), Capacity: uint32(a.svc.Capacity),
		DirectorySeq: a.n.shared.directorySeq.Load(), StreamsSeq: a.n.shared.streamsSeq.Load(),
		SentUnixMs: a.svc.Clock.Now().UnixMilli(),
	}
	if a.svc.Sessions != nil {
		s.Sessions = uint32(a.svc.Sessions())
	}
	if a.svc.Public != nil {
		for _, p := range a.svc.Public() {
			s.PublicAddresses = append(s.PublicAddresses, p.String())
		}
	}
	for id := range a.members {
		s.Members = append(s.Members, id)
	}
	return s
}

// onTick sends this node's status to every member, forgets stale statuses and updates
// the load redirect.
func (a *nodeActor) onTick(ctx actor.Context) {
	a.arm(ctx)
	st := a.status()
	for id := range a.members {
		ctx.Send(a.pidOf(id, nodeName), st)
	}
	now := a.svc.Clock.Now()
	for _, mb := range a.members {
		if mb.status != nil && now.Sub(mb.statusAt) > statusStale {
			mb.status = nil
		}
	}
	a.updateRedirect()
	a.checkExcluded(now)
}

func (a *nodeActor) onStatus(ctx actor.Context, s *messages.NodeStatus) {
	if s.Cluster != a.m.cfg.Name {
		a.m.stats.Foreign.Add(1)
		a.m.guard.refused("status of another cluster", zap.String("cluster", s.Cluster), zap.String("member", s.FromNode))
		return
	}
	mb := a.members[s.FromNode]
	if mb == nil {
		a.m.stats.NotMember.Add(1) // not yet in our view, or gone from it
		return
	}
	mb.status, mb.statusAt = s, a.svc.Clock.Now()
	if slices.Contains(s.Members, a.m.ID()) {
		mb.missingSince = time.Time{}
	} else if mb.missingSince.IsZero() {
		mb.missingSince = mb.statusAt
	}
	ctx.Send(a.p2p, &originSeq{node: s.FromNode, seq: s.DirectorySeq})
	ctx.Send(a.streams, &originSeq{node: s.FromNode, seq: s.StreamsSeq})
}

// checkExcluded concludes that this node was dropped from the cluster when members it
// has seen for a while keep leaving it out of their view: with the static list, a node
// that was paused long enough is never let back in under its member ID (protoactor
// blocks it), though it still sees everyone.
func (a *nodeActor) checkExcluded(now time.Time) {
	if a.lost || len(a.members) == 0 {
		return
	}
	for _, mb := range a.members {
		if now.Sub(mb.joined) < excludedAfter || mb.missingSince.IsZero() || now.Sub(mb.missingSince) < excludedAfter {
			return
		}
	}
	a.lost = true
	a.m.lost("every other member has left this node out of its view")
}

func (a *nodeActor) onLeaving(ctx actor.Context, m *messages.NodeLeaving) {
	if m.Cluster != a.m.cfg.Name {
		a.m.stats.Foreign.Add(1)
		return
	}
	mb := a.members[m.FromNode]
	if mb == nil {
		a.m.stats.NotMember.Add(1)
		return
	}
	ctx.Send(actor.NewPID(mb.address, nodeName), &messages.NodeLeft{Cluster: a.m.cfg.Name, FromNode: a.m.ID(), ToNode: m.FromNode})
	a.gone[m.FromNode] = true
	a.left(ctx, m.FromNode, "said goodbye")
}

// onLeave starts a graceful stop: goodbye to every member, then wait (up to leaveWait)
// for their acknowledgements.
func (a *nodeActor) onLeave(ctx actor.Context) {
	a.leaving = &leaving{replyTo: ctx.Sender(), waiting: map[string]bool{}}
	bye := &messages.NodeLeaving{Cluster: a.m.cfg.Name, FromNode: a.m.ID()}
	for id := range a.members {
		a.leaving.waiting[id] = true
		ctx.Send(a.pidOf(id, nodeName), bye)
	}
	self, root := ctx.Self(), ctx.ActorSystem().Root
	a.svc.Clock.AfterFunc(leaveWait, func() { root.Send(self, &leaveTimeout{}) })
	a.checkLeft(ctx)
}

func (a *nodeActor) checkLeft(ctx actor.Context) {
	if a.leaving == nil || len(a.leaving.waiting) > 0 || a.leaving.replyTo == nil {
		return
	}
	ctx.Send(a.leaving.replyTo, &leave{})
	a.leaving.replyTo = nil
}

// updateRedirect computes where new clients go: nowhere while this node is under its
// share of the load; otherwise the public addresses of the members whose last status
// says they are under it and at least redirectMargin points less loaded, least loaded
// first.
func (a *nodeActor) updateRedirect() {
	var targets []netip.AddrPort
	load := a.load()
	if a.svc.RedirectLoad >= 0 && load >= a.svc.RedirectLoad {
		type cand struct {
			load  int
			addrs []netip.AddrPort
		}
		var cands []cand
		for _, mb := range a.members {
			s := mb.status
			if s == nil || len(s.PublicAddresses) == 0 {
				continue
			}
			l := percent(int(s.Sessions), int(s.Capacity))
			if l >= a.svc.RedirectLoad || l+redirectMargin > load {
				continue
			}
			c := cand{load: l}
			for _, p := range s.PublicAddresses {
				if ap, err := netip.ParseAddrPort(p); err == nil {
					c.addrs = append(c.addrs, ap)
				}
			}
			if len(c.addrs) > 0 {
				cands = append(cands, c)
			}
		}
		sort.Slice(cands, func(i, j int) bool { return cands[i].load < cands[j].load })
		for _, c := range cands {
			targets = append(targets, c.addrs...)
		}
		if len(targets) > maxRedirect {
			targets = targets[:maxRedirect]
		}
	}
	old := a.n.LoadRedirect()
	if slices.Equal(old, targets) {
		return
	}
	if len(targets) == 0 {
		a.n.redirect.Store(nil)
		a.m.log.Info("no longer redirecting new clients", zap.Int("load_percent", load))
		return
	}
	a.n.redirect.Store(&targets)
	a.m.log.Info("redirecting new clients to less-loaded nodes", zap.Int("load_percent", load), zap.Stringers("to", targets))
}

// maxRedirect bounds the addresses of a load redirect.
const maxRedirect = 8

// load is this node's load: its sessions, in percent of its capacity.
func (a *nodeActor) load() int {
	if a.svc.Sessions == nil {
		return 0
	}
	return percent(a.svc.Sessions(), a.svc.Capacity)
}

func percent(n, of int) int {
	if of <= 0 {
		return 0
	}
	return n * 100 / of
}

// gateway is what the node's cluster actors share: who they are and who the members are.
type gateway struct {
	self    string
	stats   *Stats
	log     *zap.Logger
	members map[string]string // member ID → address
}

// joined and left keep the member list of a gateway.
func (g *gateway) joined(m *memberJoined) { g.members[m.id] = m.address }
func (g *gateway) left(m *memberLeft)     { delete(g.members, m.id) }

// pid returns the PID of a member's cluster actor name, or nil if it is not a member.
func (g *gateway) pid(node, name string) *actor.PID {
	if node == g.self {
		return nil
	}
	addr, ok := g.members[node]
	if !ok {
		return nil
	}
	return actor.NewPID(addr, name)
}

// from checks the sender and the recipient of a message from another node: a member,
// and this incarnation of this node (when the message names one).
func (g *gateway) from(fromNode, toNode string) bool {
	if _, ok := g.members[fromNode]; !ok {
		g.stats.NotMember.Add(1)
		return false
	}
	if toNode != "" && toNode != g.self {
		g.stats.Misrouted.Add(1)
		return false
	}
	return true
}

// originSeq tells a gateway how far a member says it went (its NodeStatus).
type originSeq struct {
	node string
	seq  uint64
}

// recovered runs f, recovering a panic: the cluster actors hold what the node knows of
// the others, which a restart would forget, so a message that makes one panic is logged,
// counted and dropped instead.
func recovered(log *zap.Logger, stats *Stats, name string, f func()) {
	defer func() {
		if p := recover(); p != nil {
			stats.Panics.Add(1)
			log.Error("cluster actor panicked; the message is dropped", zap.String("actor", name),
				zap.String("panic", fmt.Sprint(p)), zap.Stack("stack"))
		}
	}()
	f()
}
