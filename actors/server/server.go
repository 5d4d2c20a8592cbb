// Package server is an RTMFP server node: the root actor that parents everything the
// node runs, started by Start from the top of an actor system or from inside an
// embedding program's actor. See docs/architecture.md for the tree:
//
//	node                      root of one node (a child of Start's parent)
//	├── directory             peer ID → session (p2p; protobuf: the cluster seam)
//	├── rendezvous            P2P introductions (p2p)
//	├── apps                  one actor per application path (apphost)
//	├── publications          one actor per live stream (live)
//	├── groups                one actor per NetGroup (netgroup)
//	├── multicast             the node as a NetGroup member: its socket, a member per group (multicast)
//	├── library               questions about recordings (media)
//	├── handshake (per socket) answers handshakes; parent of the socket's sessions (endpoint)
//	│   └── session           one per RTMFP session (session)
//	│       └── connection    its NetConnection (netconn)
//	│           └── streams, group flows; a stream's recorder or player (media)
//	└── rtmp (per address)    accepts RTMP or RTMPS; parent of its connections (rtmp)
//	    └── conn              one per TCP connection, a live sink
//	        └── connection    its NetConnection (netconn), as above
//
// With cluster settings the node is one of a cluster (package cluster, docs/cluster.md):
// Start starts remote first, and the cluster's actors join the node's services.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/access"
	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/apphost"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/cluster"
	"github.com/actorrtmfp/actorrtmfp/actors/endpoint"
	"github.com/actorrtmfp/actorrtmfp/actors/eventlog"
	"github.com/actorrtmfp/actorrtmfp/actors/live"
	"github.com/actorrtmfp/actorrtmfp/actors/media"
	"github.com/actorrtmfp/actorrtmfp/actors/multicast"
	"github.com/actorrtmfp/actorrtmfp/actors/netconn"
	"github.com/actorrtmfp/actorrtmfp/actors/netgroup"
	"github.com/actorrtmfp/actorrtmfp/actors/netgroup/member"
	"github.com/actorrtmfp/actorrtmfp/actors/p2p"
	"github.com/actorrtmfp/actorrtmfp/actors/rtmp"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/messages"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// Stats counts what the node did, by concern.
type Stats struct {
	NetConn    netconn.Stats
	Relay      p2p.RelayStats
	Rendezvous p2p.RendezvousStats
	Live       live.Stats
	Groups     netgroup.Stats
	Multicast  member.Stats // the server's own NetGroup members (multicast ingest, posting)
	Apps       apphost.Stats
	RTMP       rtmp.Stats
	Media      media.Stats
	Node       supervision.Counter // panics of the node's own actors (directory, rendezvous…)
	Cluster    cluster.Stats       // the cluster layer (nothing without cluster settings)
}

// Options are what an embedding program passes besides the configuration.
type Options struct {
	// Apps maps application paths to applications; nil serves every path with
	// app.Default (accept everyone).
	Apps app.Registry
	// Log receives the server's logs; nil discards them.
	Log *zap.Logger
	// Clock drives every timer of the node (nil: the real clock). Tests give a
	// clock.Warp and skip long timeouts instead of sleeping through them.
	Clock clock.Clock
	// Session overrides session tunables (tests shorten timers); zero fields keep the
	// values derived from the configuration.
	Session session.Config
	// SessionMiddleware wraps every session actor's receive function (instrumentation;
	// tests inject faults with it).
	SessionMiddleware []actor.ReceiverMiddleware
	// CookieTTL overrides the cookie lifetime (default 95 s).
	CookieTTL time.Duration
	// Rendezvous, if set, is asked about introductions to peers that are not here.
	Rendezvous app.RendezvousHandler
	// PublicationMiddleware wraps every publication actor's receive function (tests
	// inject faults with it).
	PublicationMiddleware []actor.ReceiverMiddleware
	// ClusterLost, if set, is called once when a clustered node finds it is no longer a
	// member (its etcd lease expired, or every other member left it out): the command
	// exits so that its supervisor restarts it as a new member. nil: logged only.
	ClusterLost func(reason string)
	// GroupFlowMiddleware wraps every NetGroup flow actor's receive function (tests
	// inject faults with it).
	GroupFlowMiddleware []actor.ReceiverMiddleware
	// LosslessMedia sends live media to RTMFP and RTMP players without lifetimes: a
	// player that falls behind receives every frame late instead of losing media to the
	// live policy (live.Policy.Lossless), up to the backlog bounds that keep memory
	// bounded. For a node whose players record what they receive; tests whose subject is
	// delivery use it so that a busy machine cannot make the server give media up. The
	// server's NetGroup members then keep what they multicast by bytes, not for a window
	// in time (member.Config.Lossless).
	LosslessMedia bool
}

// Server is a running RTMFP server node.
type Server struct {
	cfg        Config
	opts       Options
	sys        *actor.ActorSystem
	log        *zap.Logger
	root       *actor.PID
	stats      Stats
	endpoints  []*endpoint.Endpoint
	rtmp       []*rtmp.Listener
	rtmps      []*rtmp.Listener
	rtmpIDs    atomic.Uint32
	served     atomic.Pointer[[]*endpoint.Endpoint] // endpoints, once all started (read by the cluster)
	directory  *actor.PID
	groups     groupsRef // the node's NetGroup membership (multicast)
	dispatcher actors.PoolDispatcher
	banned     endpoint.Banlist // the applications' blacklist (app.Host.Ban)
	budget     *session.Budget  // receive buffers per address and in all, shared by the endpoints
	ipAccess   access.IPList    // the operator's IP deny and allow lists (DENY, ALLOW)
	auth       access.AuthRules // the operator's auth file (AUTH_FILE)
	started    time.Time
	// What operators see (package httpapi, metrics): read when asked, never on the
	// path of a packet.
	clients    *netconn.Clients
	pubs       *live.Index
	groupIndex *netgroup.Index
	events     *eventlog.Log
	done       chan struct{} // closed when the node has stopped
	cluster    clusterState  // cluster.go; nothing without cluster settings
}

// Start validates cfg, starts the node as a child of parent — the actor system's root
// (sys.Root), or an embedding program's actor (its Context, from its Receive) — binds
// every listen address and returns once the node serves them. Stopping the parent stops
// the node and frees its ports; Stop does the same gracefully.
func Start(parent actor.SpawnerContext, cfg Config, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.Apps == nil {
		opts.Apps = app.Everyone()
	}
	opts.Clock = clock.Or(opts.Clock)
	s := &Server{cfg: cfg, opts: opts, sys: parent.ActorSystem(), log: opts.Log, done: make(chan struct{}),
		budget:  session.NewBudget(int64(cfg.RecvBudgetAddress), cfg.RecvBudgetTotal()),
		started: time.Now(), clients: netconn.NewClients(), pubs: live.NewIndex(opts.Clock), groupIndex: netgroup.NewIndex(),
		events: eventlog.New(opts.Log, opts.Clock, 0, 0)}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	// The server's actors run on a fixed pool of goroutines: sessions are the bulk of
	// the work (every packet, every subscriber of a fan-out), and protoactor's default
	// dispatcher would start a goroutine — and grow its stack — at every wake-up.
	s.dispatcher = actors.NewPoolDispatcher(0, 300)
	if cfg.Clustered() {
		// Remote first: a PID made before it starts keeps the address "nonhost" for ever.
		if err := s.startRemote(); err != nil {
			s.dispatcher.Close()
			return nil, err
		}
	}
	ready := make(chan error, 1)
	props := actor.PropsFromProducer(func() actor.Actor { return &node{s: s, ready: ready} },
		actor.WithSupervisor(supervision.RestartOnPanic(opts.Log, "node service", 10, &s.stats.Node)))
	s.root = parent.Spawn(props)
	if err := <-ready; err != nil {
		_ = s.sys.Root.StopFuture(s.root).Wait()
		<-s.done
		s.stopCluster()
		return nil, err
	}
	return s, nil
}

// node is the root actor of a node: it starts the node's services and endpoints as its
// children, and when it stops (Stop, or its parent stopping) they stop with it.
type node struct {
	s     *Server
	ready chan<- error
}

func (n *node) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		n.ready <- n.start(ctx)
	case *actor.Stopping:
		n.s.stopCluster() // its parent stopped the node without Stop
	case *actor.Stopped:
		n.s.dispatcher.Close()
		close(n.s.done)
	}
}

// props returns the props of one of the node's own actors: on the pool dispatcher, with a
// compact mailbox (no queue memory while idle, for every connection and stream a server
// holds; actors.CompactMailbox).
func (s *Server) propsOptions(opts ...actor.PropsOption) []actor.PropsOption {
	return append(opts, actor.WithDispatcher(s.dispatcher), actor.WithMailbox(actors.CompactMailbox()))
}

func (n *node) start(ctx actor.Context) error {
	s := n.s
	cfg, opts, st := s.cfg, s.opts, &s.stats
	cl := s.clusterPIDs() // all nil without cluster settings
	s.directory = ctx.Spawn(p2p.DirectoryProps(p2p.DirectoryConfig{Replicator: cl.p2p, Clock: opts.Clock},
		s.propsOptions(actor.WithReceiverMiddleware(supervision.Middleware))...))
	// The registry's optional interfaces (package app): asynchronous rendezvous answers,
	// handshake redirects, applications that start with the server.
	resolver, _ := opts.Apps.(app.RendezvousResolver)
	handshakes, _ := opts.Apps.(app.HandshakeHandler)
	rendezvous := ctx.Spawn(p2p.RendezvousProps(p2p.RendezvousConfig{
		Directory: s.directory, Cluster: cl.p2p, Unknown: opts.Rendezvous, Resolver: resolver, LookupsPerSecond: float64(cfg.RendezvousRate),
		Clock: opts.Clock, Log: opts.Log, Stats: &st.Rendezvous,
	}, s.propsOptions(actor.WithReceiverMiddleware(supervision.Middleware))...))
	pubs := ctx.Spawn(live.Props(live.Config{Clock: opts.Clock, Log: opts.Log, Stats: &st.Live, Observer: cl.streams, Index: s.pubs,
		Options: s.propsOptions(actor.WithReceiverMiddleware(opts.PublicationMiddleware...))}))
	root := ctx.ActorSystem().Root
	// Applications run user code, which may block: protoactor's default dispatcher.
	apps := ctx.Spawn(apphost.Props(apphost.Config{
		Apps: opts.Apps, Clock: opts.Clock, Log: opts.Log, Stats: &st.Apps,
		Publish: func(path, name string) (app.Publisher, error) {
			return live.NewServerPublisher(root, pubs, live.Key{App: path, Name: name}), nil
		},
		Ban: func(ip netip.Addr, banned bool) {
			if banned {
				s.banned.Ban(ip)
			} else {
				s.banned.Unban(ip)
			}
		},
		Groups: &s.groups,
	}))
	if p, ok := opts.Apps.(app.Preloader); ok {
		// The preloaded applications start before the sockets open: a client's first
		// IHello already meets their onHandshake.
		var started []chan struct{}
		for _, path := range p.Preload() {
			done := make(chan struct{})
			started = append(started, done)
			ctx.Send(apps, &apphost.Start{Path: path, Done: done})
		}
		waitStarted(started, preloadWait, opts.Log)
	}
	groups := ctx.Spawn(netgroup.Props(netgroup.Config{MaxMembers: cfg.GroupMaxMembers, Neighbors: cfg.GroupNeighbors,
		Clock: opts.Clock, Log: opts.Log, Stats: &st.Groups, Index: s.groupIndex, Options: s.propsOptions(), Home: cl.groups}))
	md := s.media()
	var library *actor.PID
	if md.Enabled() {
		library = ctx.Spawn(md.LibraryProps())
	}
	host, _ := os.Hostname()
	conns := netconn.New(netconn.Config{
		KeepaliveServer: cfg.KeepaliveServer, KeepalivePeer: cfg.KeepalivePeer, GroupsPerClient: cfg.GroupsPerClient, Node: host,
		Apps: apps, Directory: s.directory, Publications: pubs, Groups: groups, Library: library, Media: md, Cluster: cl.p2p,
		Clock: opts.Clock, Log: opts.Log, Stats: &st.NetConn, RelayStats: &st.Relay, GroupStats: &st.Groups, Auth: &s.auth,
		Clients: s.clients, Events: s.events,
		ChildOptions: s.propsOptions(), GroupFlowMiddleware: opts.GroupFlowMiddleware,
	})
	hello := &p2p.HelloHandler{Root: root, Rendezvous: rendezvous, Handshakes: handshakes}
	if s.cfg.Clustered() {
		hello.LoadRedirect = s.loadRedirect
		if err := s.runCluster(pubs, groups); err != nil {
			return err
		}
	}
	dump, _ := endpoint.ParseDumpMode(cfg.Dump)
	shards := cfg.Shards
	if shards == 0 {
		shards = runtime.NumCPU()
	}
	sc := opts.Session
	if sc.Keepalive == 0 {
		sc.Keepalive = cfg.KeepaliveServer
	}
	if sc.IdleTimeout == 0 {
		sc.IdleTimeout = cfg.IdleTimeout
	}
	if sc.MaxMessage == 0 {
		sc.MaxMessage = cfg.MaxMessageSize
	}
	if sc.RecvBudget == 0 {
		sc.RecvBudget = cfg.RecvBudgetSession
	}
	if sc.FlowStallTimeout == 0 {
		sc.FlowStallTimeout = cfg.FlowStallTimeout
	}
	sc.LosslessMedia = sc.LosslessMedia || opts.LosslessMedia
	buffer := max(cfg.UDPBuffer, 0) // -1: the OS default (endpoint: 0)
	for _, l := range cfg.Listen {
		e, err := endpoint.Start(ctx, endpoint.Config{
			Listen: l, Shards: shards, UDPBuffer: buffer, Dump: dump, Session: sc, Clock: opts.Clock,
			MaxSessions: cfg.MaxSessions, Log: opts.Log, SessionMiddleware: opts.SessionMiddleware, CookieTTL: opts.CookieTTL,
			PendingTimeout: cfg.PendingTimeout, PendingPerAddress: cfg.PendingPerAddress, HelloRate: cfg.HelloRate,
			RecvBudget: s.budget, Dispatcher: s.dispatcher, Banned: &s.banned, Access: &s.ipAccess,
			Accept: &endpoint.Accept{Hello: hello, Upper: conns.Upper, UpperOptions: conns.UpperOptions()},
		})
		if err != nil {
			return fmt.Errorf("listen on %s: %w", l, err)
		}
		s.endpoints = append(s.endpoints, e)
	}
	if err := s.startMulticast(ctx, pubs, groups, sc, host); err != nil {
		return err
	}
	s.served.Store(&s.endpoints)
	return s.startRTMP(ctx, conns, sc)
}

// startMulticast makes the node a NetGroup member: its own socket and peer ID, the
// streams of ACTORRTMFP_MULTICAST injected into their groups, the applications' posts.
func (s *Server) startMulticast(ctx actor.Context, pubs, groups *actor.PID, sc session.Config, host string) error {
	mappings, err := multicast.ParseMappings(s.cfg.Multicast)
	if err != nil {
		return err
	}
	svc, err := multicast.Start(ctx, multicast.Config{
		Mappings: mappings, Listen: s.cfg.MulticastListen, Announce: s.Addrs(), Neighbors: s.cfg.MulticastNeighbors, Lossless: sc.LosslessMedia,
		Publications: pubs, Groups: groups, Directory: s.directory, Session: sc, Node: host,
		Clock: s.opts.Clock, Log: s.log, Stats: &s.stats.Multicast, Options: s.propsOptions(),
	})
	if err != nil {
		return err
	}
	s.groups.svc.Store(svc)
	return nil
}

// groupsRef is the node's NetGroup membership as the applications reach it: the service
// starts after the applications' host, which holds this reference.
type groupsRef struct {
	svc atomic.Pointer[multicast.Service]
}

var errNoMulticast = errors.New("the server's NetGroup member has not started")

func (g *groupsRef) Join(spec, key string, onPost func(app.GroupID, []byte)) (app.GroupID, error) {
	if svc := g.svc.Load(); svc != nil {
		return svc.Join(spec, key, onPost)
	}
	return app.GroupID{}, errNoMulticast
}

func (g *groupsRef) Post(spec string, body []byte) error {
	if svc := g.svc.Load(); svc != nil {
		return svc.Post(spec, body)
	}
	return errNoMulticast
}

func (g *groupsRef) Multicast(appPath, stream, spec string) error {
	if svc := g.svc.Load(); svc != nil {
		return svc.Multicast(appPath, stream, spec)
	}
	return errNoMulticast
}

// Multicast returns the node's NetGroup membership (multicast ingest, posting).
func (s *Server) Multicast() *multicast.Service { return s.groups.svc.Load() }

// media returns the node's recordings: the Media folder, if it is not off.
func (s *Server) media() *media.Media {
	folder := s.cfg.Media
	if folder == Off {
		folder = ""
	} else if fi, err := os.Stat(folder); err != nil || !fi.IsDir() {
		s.log.Warn("the media folder does not exist: recording is refused and only live streams play",
			zap.String("folder", folder), zap.String("setting", "ACTORRTMFP_MEDIA"))
	}
	return media.New(media.Config{Folder: folder, Clock: s.opts.Clock, Log: s.log, Stats: &s.stats.Media})
}

// startRTMP starts the RTMP and RTMPS listeners, whose connections have the same Flash
// layer, timeouts and limits as the sessions.
func (s *Server) startRTMP(ctx actor.Context, conns *netconn.Connections, sc session.Config) error {
	cfg := s.cfg
	rc := rtmp.Config{MaxConnections: cfg.MaxSessions, Keepalive: sc.Keepalive, IdleTimeout: sc.IdleTimeout, LosslessMedia: sc.LosslessMedia,
		Connections: conns, IDs: &s.rtmpIDs, Banned: refused{&s.banned, &s.ipAccess}, Clock: s.opts.Clock, Log: s.log, Stats: &s.stats.RTMP, Options: s.propsOptions()}
	if cfg.RTMP != Off {
		rc.Listen = cfg.RTMP
		l, err := rtmp.Start(ctx, rc)
		if err != nil {
			return fmt.Errorf("RTMP on %s: %w", cfg.RTMP, err)
		}
		s.rtmp = append(s.rtmp, l)
	}
	if cfg.RTMPS != "" {
		cert, err := tls.LoadX509KeyPair(cfg.RTMPSCert, cfg.RTMPSKey)
		if err != nil {
			return &ConfigError{"RTMPS_CERT", cfg.RTMPSCert, "with ACTORRTMFP_RTMPS_KEY, not a certificate and key: " + err.Error()}
		}
		rc.Listen, rc.TLS = cfg.RTMPS, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		l, err := rtmp.Start(ctx, rc)
		if err != nil {
			return fmt.Errorf("RTMPS on %s: %w", cfg.RTMPS, err)
		}
		s.rtmps = append(s.rtmps, l)
	}
	return nil
}

// refused is who the RTMP listeners turn away: the applications' blacklist and the
// operator's IP lists.
type refused struct {
	banned *endpoint.Banlist
	ip     *access.IPList
}

func (r refused) Banned(a netip.Addr) bool { return r.banned.Banned(a) || r.ip.Denied(a) }

// Reload reads the access lists anew from the configuration and the files it names (the
// command calls it on SIGHUP): DENY, ALLOW and AUTH_FILE. Clients already connected
// stay, unless the new IP lists deny their address. A list that fails to load keeps what
// it had, and the error names its setting.
func (s *Server) Reload() error {
	if err := s.ipAccess.Load(s.cfg.Deny, s.cfg.Allow); err != nil {
		if le, ok := errors.AsType[*access.ListError](err); ok && le.Allow {
			return &ConfigError{"ALLOW", strings.Join(s.cfg.Allow, ","), err.Error()}
		}
		return &ConfigError{"DENY", strings.Join(s.cfg.Deny, ","), err.Error()}
	}
	if err := s.auth.Load(s.cfg.AuthFile, s.cfg.AuthWhitelist); err != nil {
		return &ConfigError{"AUTH_FILE", s.cfg.AuthFile, err.Error()}
	}
	deny, allow := s.ipAccess.Sizes()
	rules, whitelist := s.auth.Len()
	s.log.Info("access lists loaded", zap.Int("deny", deny), zap.Int("allow", allow), zap.String("auth_file", s.cfg.AuthFile),
		zap.Int("auth_rules", rules), zap.Bool("auth_whitelist", whitelist))
	return nil
}

// Addrs returns the bound addresses.
func (s *Server) Addrs() []netip.AddrPort {
	out := make([]netip.AddrPort, len(s.endpoints))
	for i, e := range s.endpoints {
		out[i] = e.Addr()
	}
	return out
}

// Banned is the server's blacklist: datagrams from its addresses are dropped on receipt.
func (s *Server) Banned() *endpoint.Banlist { return &s.banned }

// RTMPAddrs returns the bound RTMP addresses (none when RTMP is off).
func (s *Server) RTMPAddrs() []netip.AddrPort { return listenerAddrs(s.rtmp) }

// RTMPSAddrs returns the bound RTMPS addresses.
func (s *Server) RTMPSAddrs() []netip.AddrPort { return listenerAddrs(s.rtmps) }

func listenerAddrs(ls []*rtmp.Listener) []netip.AddrPort {
	out := make([]netip.AddrPort, len(ls))
	for i, l := range ls {
		out[i] = l.Addr()
	}
	return out
}

// RTMPStats returns the RTMP counters.
func (s *Server) RTMPStats() *rtmp.Stats { return &s.stats.RTMP }

// MediaStats returns the counters of recordings.
func (s *Server) MediaStats() *media.Stats { return &s.stats.Media }

// Endpoints returns the server's endpoints (one per listen address).
func (s *Server) Endpoints() []*endpoint.Endpoint { return s.endpoints }

// RecvBudget returns the receive budget every session of the node shares (per source
// address and in all): what their receive flows hold.
func (s *Server) RecvBudget() *session.Budget { return s.budget }

// Clients returns the table of connected clients (RTMFP and RTMP).
func (s *Server) Clients() *netconn.Clients { return s.clients }

// PublicationIndex returns the operators' view of the live publications.
func (s *Server) PublicationIndex() *live.Index { return s.pubs }

// GroupIndex returns the operators' view of the NetGroups.
func (s *Server) GroupIndex() *netgroup.Index { return s.groupIndex }

// Events returns the log of the operator's event lines.
func (s *Server) Events() *eventlog.Log { return s.events }

// ActorSystem returns the actor system the node runs in.
func (s *Server) ActorSystem() *actor.ActorSystem { return s.sys }

// StartedAt returns when the node started.
func (s *Server) StartedAt() time.Time { return s.started }

// Stats returns the node's counters.
func (s *Server) Stats() *Stats { return &s.stats }

// PublicationStats returns the publication counters.
func (s *Server) PublicationStats() *live.Stats { return &s.stats.Live }

// Publications returns the number of live publications.
func (s *Server) Publications() int { return s.stats.Live.Publications() }

// GroupStats returns the NetGroup counters.
func (s *Server) GroupStats() *netgroup.Stats { return &s.stats.Groups }

// MulticastStats counts what the server's own NetGroup members did: neighbours, fragment
// copies and bytes sent, members cut off for lying.
func (s *Server) MulticastStats() *member.Stats { return &s.stats.Multicast }

// Groups returns the number of live groups.
func (s *Server) Groups() int { return s.stats.Groups.Groups() }

// RendezvousStats returns the introduction counters.
func (s *Server) RendezvousStats() *p2p.RendezvousStats { return &s.stats.Rendezvous }

// ApplicationPanics returns how many application handler calls panicked.
func (s *Server) ApplicationPanics() uint64 { return s.stats.Apps.Panics.Load() }

// Sessions returns the number of live sessions on every endpoint.
func (s *Server) Sessions() int {
	n := 0
	for _, e := range s.endpoints {
		n += e.Sessions()
	}
	return n
}

// Peers asks the directory how many peers it holds (for operators and tests; nothing on
// a client's path asks it).
func (s *Server) Peers() (int, error) {
	r, err := s.sys.Root.RequestFuture(s.directory, &messages.CountPeers{}, 5*time.Second).Result()
	if err != nil {
		return 0, err
	}
	c, ok := r.(*messages.PeerCount)
	if !ok {
		return 0, errors.New("unexpected directory answer")
	}
	return int(c.Count), nil
}

// Directory returns the directory actor.
func (s *Server) Directory() *actor.PID { return s.directory }

// Done is closed when the node has stopped (Stop, or its parent stopping).
func (s *Server) Done() <-chan struct{} { return s.done }

// Stop closes every session (each client is sent a close), waits up to the shutdown
// timeout or ctx for the clients to acknowledge, and stops the node.
func (s *Server) Stop(ctx context.Context) error {
	// A clustered node says goodbye first: the others drop its peers and end its streams
	// for their players at once.
	s.stopCluster()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	defer cancel()
	var first error
	for _, e := range s.endpoints {
		if err := e.Stop(ctx); err != nil && first == nil {
			first = err
		}
	}
	if svc := s.groups.svc.Load(); svc != nil {
		if err := svc.Stop(ctx); err != nil && first == nil {
			first = err
		}
	}
	_ = s.sys.Root.StopFuture(s.root).Wait()
	<-s.done
	return first
}

// preloadWait bounds how long Start waits for its preloaded applications to start (an
// application's OnStart that hangs delays the node's sockets by this much, once).
const preloadWait = 10 * time.Second

// waitStarted waits until every channel of started is closed, or max has passed.
func waitStarted(started []chan struct{}, max time.Duration, log *zap.Logger) {
	if len(started) == 0 {
		return
	}
	deadline := time.NewTimer(max)
	defer deadline.Stop()
	for _, done := range started {
		select {
		case <-done:
		case <-deadline.C:
			log.Warn("preloaded applications have not started: opening the sockets anyway", zap.Duration("waited", max))
			return
		}
	}
}
