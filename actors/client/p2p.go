package client

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/endpoint"
	"github.com/actorrtmfp/actorrtmfp/actors/netgroup/member"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// directPublishers are the streams a connection publishes to peers directly
// (NetStream.DIRECT_CONNECTIONS): peers that open a session to us and play a name get its
// media straight from us, never through the server.
type directPublishers struct {
	mu sync.Mutex
	m  map[string]*directPub
}

type directPub struct {
	root *actor.RootContext
	mu   sync.Mutex
	subs map[string]directSub // by subscriber session PID
}

type directSub struct {
	session *actor.PID
	key     session.FlowKey
}

func (d *directPublishers) get(name string) *directPub {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m[name]
}

// PublishDirect publishes name to peers: those that PlayPeer it with our peer ID get its
// media over a direct session. The connection must have been made with AcceptPeers.
func (c *Conn) PublishDirect(name string) *Publisher {
	dp := &directPub{root: c.root, subs: map[string]directSub{}}
	c.direct.mu.Lock()
	if c.direct.m == nil {
		c.direct.m = map[string]*directPub{}
	}
	c.direct.m[name] = dp
	c.direct.mu.Unlock()
	return &Publisher{
		Name: name,
		write: func(m Media) error {
			select {
			case <-c.done:
				return ErrClosed
			default:
			}
			base := mediaWrite(session.FlowKey{}, m) // encoded once; Data is shared by the sessions
			dp.mu.Lock()
			defer dp.mu.Unlock()
			for _, s := range dp.subs {
				w := *base
				w.Key = s.key
				w.Key.Lane = base.Key.Lane
				dp.root.Send(s.session, &w)
			}
			return nil
		},
		closeFn: func() {
			c.direct.mu.Lock()
			if c.direct.m[name] == dp {
				delete(c.direct.m, name)
			}
			c.direct.mu.Unlock()
			dp.mu.Lock()
			for _, s := range dp.subs {
				closeStreamFlows(func(m *session.CloseFlow) { dp.root.Send(s.session, m) }, s.key)
			}
			clear(dp.subs)
			dp.mu.Unlock()
		},
	}
}

// Subscribers returns how many peers play the direct stream name.
func (c *Conn) Subscribers(name string) int {
	dp := c.direct.get(name)
	if dp == nil {
		return 0
	}
	dp.mu.Lock()
	defer dp.mu.Unlock()
	return len(dp.subs)
}

// PlayPeer plays name directly from the peer with the given peer ID: the server
// introduces us (rendezvous), we open a session to the peer and play its stream over it.
// It waits for NetStream.Play.Start or a refusal.
func (c *Conn) PlayPeer(ctx context.Context, peer cryptoutil.PeerID, name string) (*Player, error) {
	p := newPlayer(name, nil)
	dw := newDialWait(c.root)
	timeout := c.opts.HandshakeTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	c.ep.ep.Dial(endpoint.DialOptions{
		Peer: peer, Addrs: []netip.AddrPort{c.server}, Keys: c.keys, Policy: cryptoutil.FlashInitiatorPolicy(), Timeout: timeout,
		Upper:        func(info endpoint.SessionInfo) actor.Actor { return newPeerActor(c, info, name, p) },
		UpperOptions: c.ep.uppers,
	}, dw.done)
	r, err := dw.wait(ctx)
	if err != nil {
		return nil, err
	}
	sess := r.PID
	p.closeFn = func() { c.root.Send(sess, &session.Close{Reason: session.ReasonLocal}) }
	ended := make(chan struct{}) // the player's own end is reported through started
	if err := waitStarted(ctx, p.started, ended); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// peerActor is the Flash layer of a direct session between two peers. As initiator it
// plays one stream (player); as responder it serves the direct publications of its
// connection to whoever plays them.
type peerActor struct {
	c      *Conn
	info   endpoint.SessionInfo
	name   string
	player *Player
	st     *streamState
	flows  map[uint64]session.FlowKey // responder: receive flow → our return key
	subs   map[uint64]*directPub      // responder: receive flow → publication it plays
	dec    amf.Decoder
	ended  bool
	sess   *actor.PID
	// link, once a member opened a NetGroup flow, is what the session is: a session
	// between members of a group (JoinGroupSpec), handled by its member.
	link *member.Link
}

func newPeerActor(c *Conn, info endpoint.SessionInfo, name string, player *Player) actor.Actor {
	return &peerActor{c: c, info: info, name: name, player: player,
		flows: map[uint64]session.FlowKey{}, subs: map[uint64]*directPub{}}
}

func (a *peerActor) Receive(ctx actor.Context) {
	defer supervision.Repanic()
	if a.link != nil {
		a.link.Receive(ctx)
		return
	}
	if m, ok := ctx.Message().(*session.FlowOpened); ok && a.player == nil && len(a.flows) == 0 && member.IsGroupFlow(m.Metadata) {
		a.link = member.NewAcceptedLink(a.info, a.c.members.get)
		a.link.Attach(ctx)
		a.link.Receive(ctx)
		return
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.sess = ctx.Parent()
		if a.player != nil {
			a.st = &streamState{id: 1, key: session.FlowKey{Metadata: streamMetadata(1)}, player: a.player}
			ctx.Send(ctx.Parent(), &session.Write{Key: a.st.key, Data: commandBytes(flash.CommandPlay, a.name), Priority: session.PriorityControl})
		}
	case *session.FlowOpened:
		md, err := flash.ParseMetadata(m.Metadata)
		if err != nil || md.Kind != flash.KindNetStream {
			ctx.Send(ctx.Parent(), &session.RejectFlow{FlowID: m.FlowID})
			return
		}
		a.flows[m.FlowID] = session.FlowKey{Metadata: string(m.Metadata), Assoc: m.FlowID, HasAssoc: true}
		ctx.Send(ctx.Parent(), &session.AcceptFlow{FlowID: m.FlowID, PID: ctx.Self()})
	case *session.FlowMessage:
		if a.ended {
			return
		}
		if a.st != nil {
			onStreamMessage(a.st, m.Data, a.c.arrived(m.At), &a.dec)
			return
		}
		a.onPlayerMessage(ctx, m)
	case *session.Closing:
		a.end()
	case *actor.Stopping:
		a.end()
	}
}

// onPlayerMessage serves a peer's play or closeStream.
func (a *peerActor) onPlayerMessage(ctx actor.Context, m *session.FlowMessage) {
	key, ok := a.flows[m.FlowID]
	if !ok {
		return
	}
	msg, err := flash.ParseMessage(m.Data)
	if err != nil || (msg.Type != flash.TypeCommandAMF0 && msg.Type != flash.TypeCommandAMF3) {
		return
	}
	cmd, err := flash.ParseCommand(msg, &a.dec)
	if err != nil {
		return
	}
	switch cmd.Name {
	case flash.CommandPlay:
		name := ""
		if len(cmd.Args) > 0 {
			name, _ = cmd.Args[0].(string)
		}
		dp := a.c.direct.get(name)
		if dp == nil {
			a.onStatus(ctx, key, flash.PlayStreamNotFound(name))
			return
		}
		a.onStatus(ctx, key, flash.PlayReset(name))
		a.onStatus(ctx, key, flash.PlayStart(name))
		dp.mu.Lock()
		dp.subs[ctx.Parent().String()] = directSub{session: ctx.Parent(), key: key}
		dp.mu.Unlock()
		a.subs[m.FlowID] = dp
	case flash.CommandCloseStream:
		a.unsubscribe(ctx.Parent(), m.FlowID)
	}
}

func (a *peerActor) onStatus(ctx actor.Context, key session.FlowKey, s flash.Status) {
	b, _ := flash.AppendOnStatus(nil, s)
	ctx.Send(ctx.Parent(), &session.Write{Key: key, Data: b, Priority: session.PriorityControl})
}

func (a *peerActor) unsubscribe(sess *actor.PID, flow uint64) {
	if dp := a.subs[flow]; dp != nil {
		dp.mu.Lock()
		delete(dp.subs, sess.String())
		dp.mu.Unlock()
		delete(a.subs, flow)
		closeStreamFlows(func(m *session.CloseFlow) { a.c.root.Send(sess, m) }, a.flows[flow])
	}
}

func (a *peerActor) end() {
	if a.ended {
		return
	}
	a.ended = true
	if a.player != nil {
		select {
		case a.player.started <- ErrClosed:
		default:
		}
		a.player.end()
	}
	for _, dp := range a.subs {
		dp.mu.Lock()
		delete(dp.subs, a.sess.String())
		dp.mu.Unlock()
	}
	clear(a.subs)
}
