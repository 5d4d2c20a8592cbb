// Package multicast makes the server a NetGroup member: multicast ingest (a live stream,
// published over RTMFP or RTMP, injected into a group's peer-to-peer multicast under its
// name, so that members relay it among themselves and the server sends only a few
// copies) and posting (the applications post to groups and receive their posts).
//
// The server's members are member actors (package netgroup/member, the same as the Go
// client's) on a UDP socket of their own, with a peer ID of their own: the server's group
// actors introduce that peer ID to joiners like any member's, the directory knows its
// address, and members open sessions to it through the server's rendezvous. The server's
// members never dial: they accept up to Neighbors sessions per group and ask the rest to
// close, so the server sends each fragment at most Neighbors times.
package multicast

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/endpoint"
	"github.com/actorrtmfp/actorrtmfp/actors/live"
	"github.com/actorrtmfp/actorrtmfp/actors/netgroup"
	"github.com/actorrtmfp/actorrtmfp/actors/netgroup/member"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/codec/group"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/messages"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// Mapping injects the live stream Stream of application App into the multicast of the
// group of Spec, under the same name.
type Mapping struct{ App, Stream, Spec string }

// ParseMappings parses ACTORRTMFP_MULTICAST: comma-separated app/stream=G:groupspec
// pairs. The application path is what comes before the first "/" (empty: the root
// application), the stream name the rest.
func ParseMappings(s string) ([]Mapping, error) {
	var out []Mapping
	seen := map[[2]string]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		path, spec, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want app/stream=G:groupspec", item)
		}
		appPath, stream, ok := strings.Cut(path, "/")
		if !ok || stream == "" {
			return nil, fmt.Errorf("%q: want app/stream before the =", item)
		}
		if _, _, err := group.GroupText(spec); err != nil {
			return nil, fmt.Errorf("%q: %w", item, err)
		}
		if seen[[2]string{appPath, stream}] {
			return nil, fmt.Errorf("%q: the stream %s/%s is mapped twice", item, appPath, stream)
		}
		seen[[2]string{appPath, stream}] = true
		out = append(out, Mapping{App: appPath, Stream: stream, Spec: spec})
	}
	return out, nil
}

// Config configures the server's membership of groups.
type Config struct {
	Mappings []Mapping
	// Listen is the UDP address of the members' socket; an unspecified IP announces the
	// IPs of Announce (the server's own listen addresses) or, without them, loopback.
	Listen   string
	Announce []netip.AddrPort
	// Neighbors bounds the sessions of each of the server's members.
	Neighbors int
	// Lossless gives the members no window in time (member.Config.Lossless): what the
	// server injects is kept for its neighbours until the byte bound pushes it out.
	Lossless bool
	// Publications, Groups and Directory are the node's services.
	Publications, Groups, Directory *actor.PID
	Session                         session.Config
	Node                            string
	Clock                           clock.Clock
	Log                             *zap.Logger
	Stats                           *member.Stats
	// Options are the props options of the service's actors (dispatcher, mailbox).
	Options []actor.PropsOption
}

// Service is the server's membership of groups. Its methods are safe for concurrent use.
type Service struct {
	cfg  Config
	root *actor.RootContext
	pid  *actor.PID
	key  *cryptoutil.DHKey
	peer cryptoutil.PeerID

	mu        sync.Mutex
	ep        *endpoint.Endpoint // the members' socket, opened at the first group joined
	addr      netip.AddrPort
	members   map[[32]byte]*actor.PID
	listeners map[[32]byte]map[string]func(app.GroupID, []byte) // who receives each group's posts, by key
}

// Start starts the service as a child of ctx, with the mappings. Its socket opens (and
// its peer ID enters the directory) when it joins its first group: a server that is in
// no group has no extra port.
func Start(ctx actor.Context, cfg Config) (*Service, error) {
	cfg.Clock = clock.Or(cfg.Clock)
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Stats == nil {
		cfg.Stats = &member.Stats{}
	}
	key, err := cryptoutil.GenerateDHKey(cryptoutil.Group2, rand.Reader)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, root: ctx.ActorSystem().Root, members: map[[32]byte]*actor.PID{}, listeners: map[[32]byte]map[string]func(app.GroupID, []byte){},
		key: key, peer: cryptoutil.PeerIDFromCertificate(cryptoutil.AppendStaticCertificate(nil, key))}
	ready := make(chan error, 1)
	st := &state{subs: map[uint64]*sub{}, byChannel: map[uint64]*sub{}}
	s.pid = ctx.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &service{s: s, ready: ready, state: st}
	}, append([]actor.PropsOption{actor.WithReceiverMiddleware(supervision.Middleware)}, cfg.Options...)...))
	if err := <-ready; err != nil {
		return nil, err
	}
	return s, nil
}

// announced is the address members reach the socket at.
func announced(local netip.AddrPort, server []netip.AddrPort) netip.AddrPort {
	if !local.Addr().IsUnspecified() {
		return local
	}
	for _, a := range server {
		if !a.Addr().IsUnspecified() {
			return netip.AddrPortFrom(a.Addr(), local.Port())
		}
	}
	// The machine's first non-loopback address (IPv4 first), as Flash announces its own.
	var v6 netip.Addr
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil || !p.Addr().IsGlobalUnicast() {
			continue
		}
		if p.Addr().Is4() {
			return netip.AddrPortFrom(p.Addr(), local.Port())
		}
		if !v6.IsValid() && local.Addr().Is6() {
			v6 = p.Addr()
		}
	}
	if v6.IsValid() {
		return netip.AddrPortFrom(v6, local.Port())
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), local.Port())
}

// PeerID is the peer ID of the server's members.
func (s *Service) PeerID() cryptoutil.PeerID { return s.peer }

// Addr is the address the server's members are reached at (invalid before the first
// group is joined).
func (s *Service) Addr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Stats are the counters of the server's members.
func (s *Service) Stats() *member.Stats { return s.cfg.Stats }

// Endpoint is the members' socket (nil before the first group is joined).
func (s *Service) Endpoint() *endpoint.Endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ep
}

// Stop closes the members' sessions and their socket (Server.Stop, before the node
// stops).
func (s *Service) Stop(ctx context.Context) error {
	if ep := s.Endpoint(); ep != nil {
		return ep.Stop(ctx)
	}
	return nil
}

// open opens the members' socket and enters the peer ID in the directory.
func (a *service) open(ctx actor.Context) error {
	s := a.s
	if s.Endpoint() != nil {
		return nil
	}
	uppers := append([]actor.PropsOption{actor.WithMailbox(actors.CompactMailbox())}, s.cfg.Options...)
	// A top-level actor: the socket outlives a restart of the service's actor; the
	// service's end (Stopping) and Server.Stop close it.
	ep, err := endpoint.Start(s.root, endpoint.Config{
		Listen: s.cfg.Listen, Shards: 1, Session: s.cfg.Session, Clock: s.cfg.Clock, Log: s.cfg.Log,
		Accept: &endpoint.Accept{StaticKeys: []*cryptoutil.DHKey{s.key}, UpperOptions: uppers,
			Upper: func(info endpoint.SessionInfo) actor.Actor { return member.NewAcceptedLink(info, s.member) }},
	})
	if err != nil {
		return fmt.Errorf("the NetGroup member's socket (ACTORRTMFP_MULTICAST_LISTEN=%s): %w", s.cfg.Listen, err)
	}
	s.mu.Lock()
	s.ep, s.addr = ep, announced(ep.Addr(), s.cfg.Announce)
	addr := s.addr
	s.mu.Unlock()
	ctx.Send(s.cfg.Directory, &messages.RegisterPeer{Peer: &messages.Peer{
		PeerId: s.peer[:], Session: ctx.Self(), Connection: ctx.Self(),
		PublicAddress: addr.String(), HasPeerInfo: true, Node: s.cfg.Node,
	}})
	return nil
}

func (s *Service) member(id [32]byte) *actor.PID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.members[id]
}

// Join makes the server a member of the group of spec (if it is not yet); if onPost is
// set, the group's posts go to it (once per key: a second Join with the same key replaces
// the first). onPost runs on the member's actor and must not block.
func (s *Service) Join(spec, key string, onPost func(app.GroupID, []byte)) (app.GroupID, error) {
	_, id, err := group.GroupText(spec)
	if err != nil {
		return app.GroupID{}, err
	}
	if onPost != nil {
		s.mu.Lock()
		if s.listeners[id] == nil {
			s.listeners[id] = map[string]func(app.GroupID, []byte){}
		}
		s.listeners[id][key] = onPost
		s.mu.Unlock()
	}
	done := make(chan error, 1)
	s.root.Send(s.pid, &join{spec: spec, done: done})
	return app.GroupID(id), <-done
}

// onPost hands a post of a group to whoever listens.
func (s *Service) onPost(id app.GroupID, body []byte) {
	s.mu.Lock()
	fns := make([]func(app.GroupID, []byte), 0, len(s.listeners[id]))
	for _, fn := range s.listeners[id] {
		fns = append(fns, fn)
	}
	s.mu.Unlock()
	for _, fn := range fns {
		fn(id, body)
	}
}

// Post posts one AMF0 value (as encoded) to the group of spec, joining it first if needed.
func (s *Service) Post(spec string, body []byte) error {
	if _, err := group.ParsePost(body); err != nil {
		return err
	}
	id, err := s.Join(spec, "", nil)
	if err != nil {
		return err
	}
	if pid := s.member(id); pid != nil {
		s.root.Send(pid, &member.Post{Body: body})
	}
	return nil
}

// Multicast injects the live stream of appPath named stream into the multicast of the
// group of spec.
func (s *Service) Multicast(appPath, stream, spec string) error {
	m := Mapping{App: appPath, Stream: stream, Spec: spec}
	if _, _, err := group.GroupText(m.Spec); err != nil {
		return err
	}
	done := make(chan error, 1)
	s.root.Send(s.pid, &multicast{m: m, done: done})
	return <-done
}

// Neighbors returns how many sessions the server's member of spec has.
func (s *Service) Neighbors(ctx context.Context, spec string) (int, error) {
	_, id, err := group.GroupText(spec)
	if err != nil {
		return 0, err
	}
	pid := s.member(id)
	if pid == nil {
		return 0, errors.New("the server is not a member of this group")
	}
	return member.Neighbors(ctx, s.root, pid)
}

type (
	join struct {
		spec string
		done chan error
	}
	multicast struct {
		m    Mapping
		done chan error
	}
)

// sub is one live stream the service injects.
type sub struct {
	m           Mapping
	binding     uint64
	member      *actor.PID
	publication *actor.PID
}

// service is the actor of the service: it owns the members, the directory entry, the
// group memberships and the live subscriptions (it is their sink).
type service struct {
	s     *Service
	ready chan error
	*state
}

// state outlives a restart of the service's actor: a restarted actor joins the groups and
// subscribes to the streams again (its members, its children, stopped with it).
type state struct {
	started   bool
	specs     []string        // the groups joined
	subs      map[uint64]*sub // by binding
	byChannel map[uint64]*sub
}

func (a *service) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if a.started {
			a.restart(ctx)
			return
		}
		a.started = true
		var err error
		for _, mp := range a.s.cfg.Mappings {
			if err = a.multicast(ctx, mp); err != nil {
				break
			}
		}
		a.ready <- err
	case *join:
		_, err := a.join(ctx, m.spec)
		m.done <- err
	case *multicast:
		m.done <- a.multicast(ctx, m.m)
	case *netgroup.Neighbors:
		// The server's members do not dial: the members it is introduced to dial it.
	case *netgroup.Refused:
		a.s.cfg.Log.Warn("a group refused the server's member (ACTORRTMFP_GROUP_MAX_MEMBERS)")
	case *session.SendFIHello:
		// The socket is the server's: introduced members reach it at its address.
	case *live.Bind:
		if sb := a.subs[m.Binding]; sb != nil {
			a.byChannel[m.Channel] = sb
		}
	case *live.Media:
		a.onMedia(ctx, m)
	case *live.Batch:
		for _, x := range m.Msgs {
			a.onMedia(ctx, x)
		}
	case *live.Playing:
		for _, sb := range a.subs {
			if sb.publication == nil && a.byChannel[m.Channel] == sb {
				sb.publication = m.Publication
				ctx.Watch(m.Publication)
			}
		}
	case *actor.Terminated:
		// A publication that retired or failed: subscribe again.
		for _, sb := range a.subs {
			if sb.publication != nil && sb.publication.Equal(m.Who) {
				sb.publication = nil
				ctx.Send(sb.member, &member.EndStream{Name: sb.m.Stream})
				a.play(ctx, sb)
			}
		}
	case *actor.Stopping:
		if ep := a.s.Endpoint(); ep != nil {
			ctx.Send(a.s.cfg.Directory, &messages.UnregisterPeer{PeerId: a.s.peer[:]})
			go func() { // the node stops: the sessions are told, within a bound
				stop, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				_ = ep.Stop(stop)
			}()
		}
	}
}

// restart joins the groups again and subscribes to the streams again, after a panic.
func (a *service) restart(ctx actor.Context) {
	a.s.mu.Lock()
	clear(a.s.members)
	a.s.mu.Unlock()
	specs := a.specs
	a.specs = nil
	for _, spec := range specs {
		_, _ = a.join(ctx, spec)
	}
	clear(a.byChannel)
	for _, sb := range a.subs {
		sb.member = a.s.member(groupID(sb.m.Spec))
		if sb.publication != nil {
			ctx.Unwatch(sb.publication)
			sb.publication = nil
		}
		a.play(ctx, sb)
	}
}

func groupID(spec string) [32]byte {
	_, id, _ := group.GroupText(spec)
	return id
}

// join makes (or finds) the server's member of a group.
func (a *service) join(ctx actor.Context, spec string) (*actor.PID, error) {
	_, id, err := group.GroupText(spec)
	if err != nil {
		return nil, err
	}
	if pid := a.s.member(id); pid != nil {
		return pid, nil
	}
	if err := a.open(ctx); err != nil {
		return nil, err
	}
	gid := app.GroupID(id)
	cfg := member.Config{Spec: spec, Self: a.s.peer, MaxNeighbors: a.s.cfg.Neighbors, Lossless: a.s.cfg.Lossless, Clock: a.s.cfg.Clock, Log: a.s.cfg.Log,
		Stats: a.s.cfg.Stats, OnPost: func(body []byte) { a.s.onPost(gid, body) }}
	props, err := member.Props(cfg)
	if err != nil {
		return nil, err
	}
	pid := ctx.Spawn(props)
	a.specs = append(a.specs, spec)
	a.s.mu.Lock()
	a.s.members[id] = pid
	a.s.mu.Unlock()
	ctx.Send(a.s.cfg.Groups, &netgroup.Join{Group: gid, Peer: a.s.peer, Flow: ctx.Self()})
	return pid, nil
}

func (a *service) multicast(ctx actor.Context, m Mapping) error {
	for _, sb := range a.subs {
		if sb.m.App == m.App && sb.m.Stream == m.Stream {
			if sb.m.Spec == m.Spec {
				return nil
			}
			return fmt.Errorf("%s/%s is multicast already (into another group)", m.App, m.Stream)
		}
	}
	pid, err := a.join(ctx, m.Spec)
	if err != nil {
		return err
	}
	sb := &sub{m: m, binding: uint64(len(a.subs) + 1), member: pid}
	a.subs[sb.binding] = sb
	a.play(ctx, sb)
	return nil
}

func (a *service) play(ctx actor.Context, sb *sub) {
	ctx.Send(a.s.cfg.Publications, &live.Play{Key: live.Key{App: sb.m.App, Name: sb.m.Stream},
		Stream: ctx.Self(), Sink: ctx.Self(), Binding: sb.binding})
}

var unpublishNotify = []byte("NetStream.Play.UnpublishNotify")

// onMedia injects one message of a live stream into its group.
func (a *service) onMedia(ctx actor.Context, m *live.Media) {
	sb := a.byChannel[m.Channel]
	if sb == nil {
		return
	}
	msg, err := flash.ParseMessage(m.Data)
	if err != nil {
		return
	}
	switch msg.Type {
	case flash.TypeAudio, flash.TypeVideo, flash.TypeDataAMF0, flash.TypeDataAMF3:
		ctx.Send(sb.member, &member.Inject{Name: sb.m.Stream, Type: msg.Type, Time: msg.Timestamp, Body: msg.Body,
			Config: m.Config, KeyFrame: m.KeyFrame})
	case flash.TypeCommandAMF0, flash.TypeCommandAMF3:
		if bytes.Contains(msg.Body, unpublishNotify) {
			ctx.Send(sb.member, &member.EndStream{Name: sb.m.Stream})
		}
	}
}
