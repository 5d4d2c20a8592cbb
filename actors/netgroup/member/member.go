// Package member is the peer side of a NetGroup: the actor of one member of one group,
// which keeps sessions with a few other members (neighbours) and speaks the group's
// peer-to-peer protocols over them (codec/group): the group handshake that proves
// knowledge of the group specifier, group media (stream announcement, fragments,
// fragments maps, push and pull) and posting. The Go client's members and the server's
// multicast ingest are both this actor; only how they find neighbours differs (Config.Dial).
//
// A neighbour that lies — a wrong group key, a handshake meant for another member, a
// malformed or contradictory fragment, group messages before the handshake — is cut off
// (its session closed, its peer ID barred) and counted; nothing it sent is passed on.
package member

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/endpoint"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/group"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// Stats counts what the members of a node did. Safe for concurrent reads.
type Stats struct {
	Neighbors      atomic.Int64  // sessions with members, handshake done
	Refused        atomic.Uint64 // sessions refused: the member had its neighbours
	CutOff         atomic.Uint64 // neighbours cut off for lying (the reasons below)
	BadKey         atomic.Uint64 // group handshakes with a wrong key, group or peer ID
	BadMessages    atomic.Uint64 // malformed group messages, or before the handshake
	Unknown        atomic.Uint64 // group messages of a type not known here (ignored)
	BadFragments   atomic.Uint64 // fragments that contradict the stream or are malformed
	FragmentsIn    atomic.Uint64 // fragments received and kept
	Duplicates     atomic.Uint64 // fragments received again
	Unexpected     atomic.Uint64 // fragments of a stream not played here (dropped)
	FragmentsOut   atomic.Uint64 // fragment copies sent to neighbours (push and pull)
	BytesOut       atomic.Uint64 // media bytes of those copies
	Pulls          atomic.Uint64 // pull requests sent
	PullsIgnored   atomic.Uint64 // pull requests for a fragment already sent to that neighbour
	Lost           atomic.Uint64 // fragments given up (never came)
	MessagesOut    atomic.Uint64 // whole media messages delivered to the player
	PostsIn        atomic.Uint64 // posts received (new ones)
	PostsOut       atomic.Uint64 // post copies sent
	PostDuplicates atomic.Uint64
}

// Config configures a member.
type Config struct {
	// Spec is the group specifier ("G:…"); its text keys the group handshake.
	Spec string
	// Self is this member's peer ID.
	Self cryptoutil.PeerID
	// MaxNeighbors bounds the sessions with members: beyond, a new one is asked to close.
	MaxNeighbors int
	// Dial, if set, opens a session to a member the server introduced (its upper actor
	// must be a Link of this member); the member calls it from its actor. A member
	// without Dial only accepts sessions (the server's multicast ingest).
	Dial func(peer cryptoutil.PeerID)
	// Target is how many neighbours a member that dials seeks (default half of
	// MaxNeighbors): the rest of MaxNeighbors is room for the members that dial it.
	Target int
	// Rejoin, if set, asks the server for fresh introductions; the member calls it (from
	// its actor) while it has fewer than Target neighbours.
	Rejoin func()
	// Window is how long fragments are kept for neighbours and for reordering.
	Window time.Duration
	// FetchPeriod is how long a missing fragment is waited for before it is pulled.
	FetchPeriod time.Duration
	// UpdatePeriod is how often fragments maps are sent.
	UpdatePeriod time.Duration
	// Lossless takes the window's clock out of what the member gives up: fragments are
	// kept until the byte bound of a stream pushes them out, not for Window; a missing
	// fragment is waited for (and pulled again) until it comes or the byte bound took
	// what follows it; the copies sent have no lifetime. A player that falls behind gets
	// the stream late instead of losing parts of it (server.Options.LosslessMedia: nodes
	// whose players record; tests whose subject is delivery, on a busy machine).
	Lossless bool
	// OnMedia receives the messages of the streams the member plays, whole (Flash type,
	// timestamp and body), in order. It runs on the member's actor and must not block.
	OnMedia func(name string, typ byte, time uint32, body []byte)
	// OnPost receives the posts of the group (the AMF0 value as posted). Same rules.
	OnPost func(body []byte)
	Clock  clock.Clock
	Log    *zap.Logger
	Stats  *Stats
}

// Defaults of Config.
const (
	DefaultWindow       = 8 * time.Second
	DefaultFetchPeriod  = 500 * time.Millisecond
	DefaultUpdatePeriod = 100 * time.Millisecond
	DefaultNeighbors    = 8
)

func (c *Config) defaults() {
	if c.MaxNeighbors <= 0 {
		c.MaxNeighbors = DefaultNeighbors
	}
	if c.Target <= 0 || c.Target > c.MaxNeighbors {
		c.Target = max(1, c.MaxNeighbors/2)
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.FetchPeriod <= 0 {
		c.FetchPeriod = DefaultFetchPeriod
	}
	if c.UpdatePeriod <= 0 {
		c.UpdatePeriod = DefaultUpdatePeriod
	}
	c.Clock = clock.Or(c.Clock)
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	if c.Stats == nil {
		c.Stats = &Stats{}
	}
}

// Props returns the props of a member. The specifier must parse (group.GroupText).
func Props(cfg Config) (*actor.Props, error) {
	txt, id, err := group.GroupText(cfg.Spec)
	if err != nil {
		return nil, err
	}
	cfg.defaults()
	return actor.PropsFromProducer(func() actor.Actor {
		return &member{cfg: &cfg, txt: txt, id: id}
	}, actor.WithReceiverMiddleware(supervision.Middleware)), nil
}

// Messages a member handles.
type (
	// Introduce gives the member peer IDs of other members to connect to (what the server
	// hands out); it dials those it needs.
	Introduce struct{ Peers []cryptoutil.PeerID }
	// Play asks for a stream of the group by name: its messages go to OnMedia.
	Play struct{ Name string }
	// Inject adds one message of a stream the member publishes into the group (the
	// server's multicast ingest). Config marks codec configuration and metadata, which the
	// member repeats before each key frame for members that join late.
	Inject struct {
		Name             string
		Type             byte
		Time             uint32
		Body             []byte
		Config, KeyFrame bool
	}
	// EndStream ends a stream the member publishes (the publisher left).
	EndStream struct{ Name string }
	// Post posts to the group (one AMF0 value).
	Post struct{ Body []byte }
	// Count asks how many neighbours the member has; the answer is an int.
	Count struct{}
	// Leave closes the sessions with every neighbour and stops the member.
	Leave struct{}
)

// Neighbors asks the member pid how many neighbours it has (Count), waiting until ctx's
// deadline, at most 5 s.
func Neighbors(ctx context.Context, root *actor.RootContext, pid *actor.PID) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	timeout := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = max(0, min(timeout, time.Until(d))) // a negative timeout would never end
	}
	r, err := root.RequestFuture(pid, &Count{}, timeout).Result()
	if err != nil {
		return 0, err
	}
	return r.(int), nil
}

// A member short of neighbours asks the server for introductions again after
// rejoinTicks ticks (3 s by default), then twice as long each time up to maxRejoinTicks
// (a small group has no more members to introduce); losing a neighbour starts over.
const (
	rejoinTicks    = 30
	maxRejoinTicks = 600
)

func (m *member) maybeRejoin() {
	if m.cfg.Rejoin == nil || len(m.byPeer)+len(m.dialing) >= m.cfg.Target {
		return
	}
	if m.rejoinWait == 0 {
		m.rejoinWait = rejoinTicks
	}
	if m.ticks-m.rejoinAt < m.rejoinWait {
		return
	}
	m.rejoinAt = m.ticks
	m.rejoinWait = min(2*m.rejoinWait, maxRejoinTicks)
	m.cfg.Rejoin()
}

// tick drives the member's periodic work (maps, pulls, push masks, the window).
type tick struct{}

// member is the actor.
type member struct {
	cfg  *Config
	txt  string
	id   [32]byte
	self *actor.PID

	links   map[string]*neighbor            // by link PID
	byPeer  map[cryptoutil.PeerID]*neighbor // verified neighbours
	dialing map[cryptoutil.PeerID]bool
	barred  map[cryptoutil.PeerID]bool // cut off for lying
	streams []*stream                  // by lane (index)
	plays   map[string]bool
	posts   seenSet
	timer   clock.Timer
	ticks   int
	// rejoinAt and rejoinWait pace the requests for introductions (maybeRejoin).
	rejoinAt, rejoinWait int
}

func (m *member) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		m.self = ctx.Self()
		m.links = map[string]*neighbor{}
		m.byPeer = map[cryptoutil.PeerID]*neighbor{}
		m.dialing = map[cryptoutil.PeerID]bool{}
		m.barred = map[cryptoutil.PeerID]bool{}
		m.plays = map[string]bool{}
		m.posts = newSeenSet(4096)
		m.arm(ctx)
	case *linkUp:
		m.onLinkUp(ctx, msg)
	case *linkFlow:
		if n := m.links[msg.link.String()]; n != nil {
			m.onFlow(ctx, n, msg)
		}
	case *linkMsg:
		if n := m.links[msg.link.String()]; n != nil && !n.gone {
			m.onMessage(ctx, n, msg)
		}
	case *actor.Terminated:
		if n := m.links[msg.Who.String()]; n != nil {
			m.drop(ctx, n)
		}
	case *linkDown:
		if n := m.links[msg.link.String()]; n != nil {
			m.drop(ctx, n)
		}
	case *dialFailed:
		delete(m.dialing, msg.peer)
	case *Introduce:
		m.onIntroduce(msg.Peers)
	case *Play:
		m.plays[msg.Name] = true
		for _, s := range m.streams {
			if s.name == msg.Name && !s.ended {
				m.subscribe(ctx, s)
			}
		}
	case *Inject:
		m.onInject(ctx, msg)
	case *EndStream:
		m.onEndStream(ctx, msg.Name)
	case *Post:
		m.onLocalPost(ctx, msg.Body)
	case *Count:
		ctx.Respond(len(m.byPeer))
	case *tick:
		m.onTick(ctx)
		m.maybeRejoin()
		m.arm(ctx)
	case *Leave:
		for _, n := range m.links {
			ctx.Send(n.session, &session.Close{Reason: session.ReasonLocal})
		}
		ctx.Stop(ctx.Self())
	case *actor.Stopping:
		if m.timer != nil {
			m.timer.Stop()
		}
		for _, n := range m.links {
			if n.verified {
				m.cfg.Stats.Neighbors.Add(-1)
			}
			n.verified = false
		}
	}
}

func (m *member) arm(ctx actor.Context) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	m.timer = m.cfg.Clock.AfterFunc(m.cfg.UpdatePeriod, func() { root.Send(self, &tick{}) })
}

func (m *member) onIntroduce(peers []cryptoutil.PeerID) {
	if m.cfg.Dial == nil {
		return
	}
	for _, p := range peers {
		if p == m.cfg.Self || m.barred[p] || m.byPeer[p] != nil || m.dialing[p] {
			continue
		}
		if len(m.byPeer)+len(m.dialing) >= m.cfg.Target {
			return
		}
		m.dialing[p] = true
		m.cfg.Dial(p)
	}
}

// neighbor is one session with another member.
type neighbor struct {
	link, session *actor.PID
	info          endpoint.SessionInfo
	peer          cryptoutil.PeerID
	initiator     bool
	sentInit      bool
	verified      bool
	gone          bool
	reportFlow    uint64 // the far side's report flow (our media report flows answer it)
	flows         map[uint64]flowRef
	streams       map[int]*peerStream // by our stream lane
	// early holds the messages that came before the group handshake on other flows
	// (holdEarly); earlyBytes is their size.
	early      []*linkMsg
	earlyBytes int
}

// flowRef is what a receive flow of a neighbour carries.
type flowRef struct {
	meta  string
	lane  int // media report and media flows: our stream lane (-1: not yet known)
	known bool
}

func (m *member) onLinkUp(ctx actor.Context, u *linkUp) {
	n := &neighbor{link: u.link, session: u.session, info: u.info, peer: u.info.PeerID, initiator: u.initiator,
		flows: map[uint64]flowRef{}, streams: map[int]*peerStream{}}
	delete(m.dialing, n.peer)
	if m.barred[n.peer] {
		ctx.Send(n.session, &session.Close{Reason: session.ReasonLocal})
		return
	}
	m.links[u.link.String()] = n
	ctx.Watch(u.link)
	if n.initiator {
		m.sendInit(ctx, n)
	}
}

func (m *member) sendInit(ctx actor.Context, n *neighbor) {
	n.sentInit = true
	init := group.Init{Group: m.id, Key: group.GroupKey(m.txt, n.info.FarNonce), Peer: n.peer} // the addressee's ID
	m.write(ctx, n, reportKey, init.Append(nil), session.PriorityControl)
	m.write(ctx, n, reportKey, group.Begin{}.Append(nil), session.PriorityControl)
}

var reportKey = session.FlowKey{Metadata: group.MetaReport}
var postKey = session.FlowKey{Metadata: group.MetaPost}

func (m *member) write(ctx actor.Context, n *neighbor, key session.FlowKey, data []byte, p session.Priority) {
	ctx.Send(n.session, &session.Write{Key: key, Data: data, Priority: p})
}

func (m *member) onFlow(ctx actor.Context, n *neighbor, f *linkFlow) {
	ref := flowRef{meta: f.meta, lane: -1}
	if f.meta == group.MetaMedia {
		// A media flow answers our media report flow of its stream: the lane says which.
		if !f.hasAssoc || f.assocKey.Metadata != group.MetaMediaReport || int(f.assocKey.Lane) >= len(m.streams) {
			m.cut(ctx, n, &m.cfg.Stats.BadMessages, "media flow without its stream")
			return
		}
		ref.lane, ref.known = int(f.assocKey.Lane), true
	}
	n.flows[f.flowID] = ref
}

func (m *member) onMessage(ctx actor.Context, n *neighbor, lm *linkMsg) {
	ref, ok := n.flows[lm.flowID]
	if !ok || len(lm.data) == 0 {
		return // an empty message ends a flow that closes
	}
	if !n.verified && ref.meta != group.MetaReport {
		m.holdEarly(ctx, n, lm)
		return
	}
	if ref.meta == group.MetaPost {
		m.onPost(ctx, n, lm.data)
		return
	}
	msg, err := group.Parse(lm.data)
	if errors.Is(err, group.ErrType) {
		m.cfg.Stats.Unknown.Add(1) // a message of the protocol we do not know: not a lie
		return
	}
	if err != nil {
		if ref.meta == group.MetaMedia {
			m.cut(ctx, n, &m.cfg.Stats.BadFragments, "malformed fragment")
		} else {
			m.cut(ctx, n, &m.cfg.Stats.BadMessages, "malformed group message")
		}
		return
	}
	if init, ok := msg.(group.Init); ok {
		if ref.meta != group.MetaReport || n.verified {
			m.cut(ctx, n, &m.cfg.Stats.BadMessages, "group handshake out of place")
			return
		}
		n.reportFlow = lm.flowID
		m.onInit(ctx, n, init)
		return
	}
	if !n.verified {
		m.cut(ctx, n, &m.cfg.Stats.BadMessages, "group message before the handshake")
		return
	}
	switch msg := msg.(type) {
	case group.Begin, group.Report:
	case group.AskClose:
		// The far side has better neighbours: close, unless we have few.
		if len(m.byPeer) > 1 {
			ctx.Send(n.session, &session.Close{Reason: session.ReasonLocal})
		}
	case group.MediaInfo:
		if ref.meta != group.MetaMediaReport {
			m.cut(ctx, n, &m.cfg.Stats.BadMessages, "stream announcement out of place")
			return
		}
		m.onMediaInfo(ctx, n, lm.flowID, msg)
	case group.MediaEnd, group.FragmentsMap, group.PushMode, group.Pull:
		if ref.meta != group.MetaMediaReport || !ref.known {
			m.cut(ctx, n, &m.cfg.Stats.BadMessages, "media report before its stream")
			return
		}
		m.onMediaReport(ctx, n, m.streams[ref.lane], msg)
	case group.Fragment:
		if ref.meta != group.MetaMedia {
			m.cut(ctx, n, &m.cfg.Stats.BadMessages, "fragment out of place")
			return
		}
		m.onFragment(ctx, n, m.streams[ref.lane], msg)
	}
}

// onInit checks a neighbour's group handshake: our group, the key only a member that
// knows the specifier computes for this session, and our own peer ID (whom it meant).
func (m *member) onInit(ctx actor.Context, n *neighbor, init group.Init) {
	early := n.early
	n.early, n.earlyBytes = nil, 0
	want := group.GroupKey(m.txt, n.info.NearNonce)
	if init.Group != m.id || !bytes.Equal(init.Key[:], want[:]) || cryptoutil.PeerID(init.Peer) != m.cfg.Self {
		m.cut(ctx, n, &m.cfg.Stats.BadKey, "wrong group key")
		return
	}
	if old := m.byPeer[n.peer]; old != nil {
		// Two sessions with one member (both dialled at once): both sides keep the one
		// the smaller peer ID initiated.
		keepNew := n.initiator == lessPeer(m.cfg.Self, n.peer)
		if !keepNew {
			ctx.Send(n.session, &session.Close{Reason: session.ReasonLocal})
			n.gone = true
			return
		}
		ctx.Send(old.session, &session.Close{Reason: session.ReasonLocal})
		m.forget(old)
	} else if len(m.byPeer) >= m.cfg.MaxNeighbors {
		m.cfg.Stats.Refused.Add(1)
		if !n.sentInit {
			m.sendInit(ctx, n)
		}
		m.write(ctx, n, reportKey, group.AskClose{}.Append(nil), session.PriorityControl)
		ctx.Send(n.session, &session.Close{Reason: session.ReasonLocal})
		n.gone = true
		return
	}
	if !n.sentInit {
		m.sendInit(ctx, n)
	}
	n.verified = true
	m.byPeer[n.peer] = n
	m.cfg.Stats.Neighbors.Add(1)
	for _, s := range m.streams {
		if !s.ended && (s.source || s.hi > 0 || m.plays[s.name]) {
			m.announce(ctx, n, s)
		}
	}
	// What overtook the handshake is taken now, as if it came after it (and judged).
	for _, lm := range early {
		if n.gone {
			return
		}
		m.onMessage(ctx, n, lm)
	}
}

// maxEarlyBytes bounds what a neighbour's messages on its other flows may hold before its
// group handshake came (holdEarly).
const maxEarlyBytes = 64 << 10

// holdEarly keeps a message that came before the neighbour's group handshake on a flow
// other than the handshake's. RTMFP orders the messages of a flow, not the flows of a
// session: the neighbour we dialled answers our handshake with its own on its report flow,
// then announces its streams and posts on other flows, and when the datagram of its
// handshake is lost (a loaded machine drops datagrams) and sent again, those come first.
// That is no lie, and they are taken once the handshake came (onInit); a message on the
// report flow before the handshake still is one (onMessage). A neighbour whose handshake
// does not come while it sends more than maxEarlyBytes is let go (its session closed, not
// barred nor counted: it was not caught lying).
func (m *member) holdEarly(ctx actor.Context, n *neighbor, lm *linkMsg) {
	n.earlyBytes += len(lm.data)
	if n.earlyBytes > maxEarlyBytes {
		m.cfg.Log.Debug("group neighbour let go: too much before its handshake", zap.Stringer("peer", n.peer))
		ctx.Send(n.session, &session.Close{Reason: session.ReasonLocal})
		m.forget(n)
		n.gone, n.early = true, nil
		return
	}
	n.early = append(n.early, lm)
}

func lessPeer(a, b cryptoutil.PeerID) bool { return bytes.Compare(a[:], b[:]) < 0 }

// cut cuts a lying neighbour off: its session closes, its peer ID is barred, and what it
// sent is dropped.
func (m *member) cut(ctx actor.Context, n *neighbor, reason *atomic.Uint64, why string) {
	if n.gone {
		return
	}
	reason.Add(1)
	m.cfg.Stats.CutOff.Add(1)
	m.cfg.Log.Warn("group member cut off", zap.Stringer("peer", n.peer), zap.String("why", why))
	m.barred[n.peer] = true
	ctx.Send(n.session, &session.Close{Reason: session.ReasonFlowViolation})
	m.forget(n)
	n.gone = true
}

// drop forgets a neighbour whose link ended.
func (m *member) drop(ctx actor.Context, n *neighbor) {
	m.forget(n)
	delete(m.links, n.link.String())
	ctx.Unwatch(n.link)
}

func (m *member) forget(n *neighbor) {
	if n.verified {
		m.rejoinWait = 0 // short of a neighbour again: ask soon
		n.verified = false
		m.cfg.Stats.Neighbors.Add(-1)
		if m.byPeer[n.peer] == n {
			delete(m.byPeer, n.peer)
		}
	}
	for _, s := range m.streams {
		for b := range s.owner {
			if s.owner[b] == n {
				s.owner[b] = nil
			}
		}
	}
	// A stream announced to us that we do not play, and that no neighbour offers any more
	// (n left without its end), ends here: it holds nothing (fragments are kept only for
	// streams played here) and its lane is free again. Otherwise such streams would
	// take every lane over time, and the member's own streams would find none.
	for lane := range n.streams {
		if s := m.streams[lane]; !s.source && !s.ended && !m.plays[s.name] && !m.announcedByAny(s) {
			s.ended = true
		}
	}
}

// announcedByAny says whether a neighbour announced stream s to us.
func (m *member) announcedByAny(s *stream) bool {
	for _, o := range m.byPeer {
		if ps := o.streams[s.lane]; ps != nil && ps.farFlow != 0 {
			return true
		}
	}
	return false
}

func randomKey() (k [group.StreamKeyLen]byte) {
	k[0], k[1] = 0x21, 0x01
	_, _ = rand.Read(k[2:])
	return k
}
