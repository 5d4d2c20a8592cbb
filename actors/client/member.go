package client

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/endpoint"
	"github.com/actorrtmfp/actorrtmfp/actors/netgroup/member"
	"github.com/actorrtmfp/actorrtmfp/codec/group"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// MemberOptions configure a NetGroup membership with its peer-to-peer side.
type MemberOptions struct {
	// MaxNeighbors bounds the sessions with other members (default member.DefaultNeighbors);
	// the member dials Target of them (default half).
	MaxNeighbors, Target int
	// OnMedia receives the messages of the streams played with Play, whole and in order.
	// It runs on the member's actor and must not block.
	OnMedia func(name string, m Media)
	// OnPost receives the group's posts (one AMF0 value each). Same rules.
	OnPost func(body []byte)
	// Window, FetchPeriod, Lossless: see member.Config (0, false: the defaults).
	Window, FetchPeriod time.Duration
	Lossless            bool
}

// Member is a connection's membership of a NetGroup as Flash Player has one: the server
// introduces other members (Group), and the member keeps sessions with some of them to
// receive and relay the group's streams and posts.
type Member struct {
	Group *Group
	Stats *member.Stats
	c     *Conn
	pid   *actor.PID
	id    [32]byte
	stop  chan struct{}
	once  sync.Once
	group atomic.Pointer[Group] // Group, for the member's actor
}

// groupMembers are the members of a connection, by group ID: accepted sessions find
// theirs by the group handshake.
type groupMembers struct {
	mu sync.Mutex
	m  map[[32]byte]*actor.PID
}

func (g *groupMembers) get(id [32]byte) *actor.PID {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.m[id]
}

func (g *groupMembers) set(id [32]byte, pid *actor.PID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = map[[32]byte]*actor.PID{}
	}
	if pid == nil {
		delete(g.m, id)
	} else {
		g.m[id] = pid
	}
}

// JoinGroupSpec joins the NetGroup of a group specifier ("G:…", which the group
// handshake between members needs, not only its ID) as a full member: the server's
// introductions are dialled, and members that dial us are accepted. The connection must
// accept peers (Options.AcceptPeers).
func (c *Conn) JoinGroupSpec(ctx context.Context, spec string, o MemberOptions) (*Member, error) {
	if !c.opts.AcceptPeers {
		return nil, errors.New("rtmfp: a NetGroup member needs Options.AcceptPeers")
	}
	_, id, err := group.GroupText(spec)
	if err != nil {
		return nil, err
	}
	if c.members.get(id) != nil {
		return nil, errors.New("rtmfp: already a member of this group")
	}
	mb := &Member{c: c, id: id, Stats: &member.Stats{}, stop: make(chan struct{})}
	cfg := member.Config{Spec: spec, Self: c.PeerID(), MaxNeighbors: o.MaxNeighbors, Target: o.Target, Window: o.Window, FetchPeriod: o.FetchPeriod,
		Lossless: o.Lossless, Clock: c.ep.clock, Log: c.ep.log, Stats: mb.Stats, OnPost: o.OnPost}
	if o.OnMedia != nil {
		cfg.OnMedia = func(name string, typ byte, ts uint32, body []byte) {
			o.OnMedia(name, Media{Type: typ, Timestamp: ts, Data: body})
		}
	}
	cfg.Dial = func(peer cryptoutil.PeerID) { c.dialMember(mb, peer) }
	cfg.Rejoin = func() {
		if g := mb.group.Load(); g != nil {
			g.Rejoin()
		}
	}
	props, err := member.Props(cfg)
	if err != nil {
		return nil, err
	}
	mb.pid = c.root.Spawn(props)
	c.members.set(id, mb.pid)
	g, err := c.JoinGroup(ctx, id)
	if err != nil {
		mb.Leave()
		return nil, err
	}
	mb.Group = g
	mb.group.Store(g)
	go mb.introduce()
	return mb, nil
}

// introduce passes the server's introductions on to the member.
func (mb *Member) introduce() {
	for {
		select {
		case p := <-mb.Group.Neighbors:
			mb.c.root.Send(mb.pid, &member.Introduce{Peers: []cryptoutil.PeerID{p}})
		case <-mb.stop:
			return
		case <-mb.c.done:
			mb.Leave()
			return
		}
	}
}

// dialMember opens a session to a member the server introduced (rendezvous by peer ID).
func (c *Conn) dialMember(mb *Member, peer cryptoutil.PeerID) {
	pid := mb.pid
	c.ep.ep.Dial(endpoint.DialOptions{
		Peer: peer, Addrs: []netip.AddrPort{c.server}, Keys: c.keys, Policy: cryptoutil.FlashInitiatorPolicy(), Timeout: c.opts.HandshakeTimeout,
		Upper:        func(info endpoint.SessionInfo) actor.Actor { return member.NewLink(pid, info) },
		UpperOptions: c.ep.uppers,
	}, func(r endpoint.DialResult) {
		if r.Err != nil {
			c.root.Send(pid, member.DialFailed(peer))
		}
	})
}

// Play plays a stream of the group by name: its messages go to MemberOptions.OnMedia.
func (mb *Member) Play(name string) { mb.c.root.Send(mb.pid, &member.Play{Name: name}) }

// Post posts one AMF0 value (as encoded) to the group; an empty post or one larger than
// group.MaxPost is refused.
func (mb *Member) Post(body []byte) error {
	if _, err := group.ParsePost(body); err != nil {
		return err
	}
	mb.c.root.Send(mb.pid, &member.Post{Body: body})
	return nil
}

// Neighbors returns how many members this one has sessions with.
func (mb *Member) Neighbors(ctx context.Context) (int, error) {
	return member.Neighbors(ctx, mb.c.root, mb.pid)
}

// Leave ends the membership: the sessions with other members close, and the group flow.
func (mb *Member) Leave() {
	mb.once.Do(func() {
		close(mb.stop)
		mb.c.members.set(mb.id, nil)
		mb.c.root.Send(mb.pid, &member.Leave{})
		if mb.Group != nil {
			mb.Group.Leave()
		}
	})
}
