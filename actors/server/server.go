// Package server is the RTMFP server: Flash-profile sessions (NetConnection, calls in
// both directions), the directory of peers, the applications, and one endpoint per
// listening address.
//
// The actor tree of one node:
//
//	server                    root: owns the directory, restarts it if it crashes
//	├── directory             peer ID → session (protobuf messages: the cluster seam)
//	apps/<path>               one actor per application, called one event at a time
//	endpoint (per address)    socket, reader shards, handshake actor, sessions supervisor
//	└── sessions/<id>         session actor (transport)
//	    └── connection        Flash layer: NetConnection, and its streams and groups
package server

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/endpoint"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/messages"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// Stats counts what the Flash layer of the server did.
type Stats struct {
	Connections      atomic.Uint64 // sessions whose Flash layer started
	ConnectsAccepted atomic.Uint64
	ConnectsRejected atomic.Uint64
	Disconnections   atomic.Uint64 // connected clients that left
	Calls            atomic.Uint64 // client → server calls passed to applications
	RejectedFlows    atomic.Uint64
	BadMessages      atomic.Uint64 // undecodable Flash messages
	EncodeErrors     atomic.Uint64
	StreamFailures   supervision.Counter // stream actors stopped after a panic
	Relays           atomic.Uint64       // relay calls
	RelaysLimited    atomic.Uint64       // refused by the rate or size limits
	RelaysUnknown    atomic.Uint64       // target not connected
}

// shared is what every connection actor of the server uses.
type shared struct {
	cfg       Config
	log       *zap.Logger
	apps      *appHost
	pubs      *pubHost
	groups    *groupHost
	directory *actor.PID
	stats     *Stats
	node      string
	// dispatcher runs the server's own actors (sessions, connections, streams,
	// publications, groups, directory, rendezvous): none of them blocks. Application
	// actors, which run user code, keep protoactor's default dispatcher.
	dispatcher actor.Dispatcher
}

// props returns the props of one of the server's actors, on the server's dispatcher.
func (sh *shared) props(producer actor.Producer, opts ...actor.PropsOption) *actor.Props {
	return actor.PropsFromProducer(producer, sh.propsOptions(opts...)...)
}

// propsOptions adds to opts the server's dispatcher and a compact mailbox (no queue memory
// while idle, for every connection and stream a server holds; actors.CompactMailbox).
func (sh *shared) propsOptions(opts ...actor.PropsOption) []actor.PropsOption {
	if sh.dispatcher != nil {
		opts = append(opts, actor.WithDispatcher(sh.dispatcher))
	}
	return append(opts, actor.WithMailbox(actors.CompactMailbox()))
}

// Server is a running RTMFP server.
type Server struct {
	cfg        Config
	sys        *actor.ActorSystem
	log        *zap.Logger
	sh         *shared
	root       *actor.PID
	endpoints  []*endpoint.Endpoint
	stats      Stats
	rvStats    RendezvousStats
	rv         *actor.PID
	dispatcher actors.PoolDispatcher
}

// Options are what an embedding program passes besides the configuration.
type Options struct {
	// Apps maps application paths to applications; nil serves every path with
	// app.Default (accept everyone).
	Apps app.Registry
	// Log receives the server's logs; nil discards them.
	Log *zap.Logger
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
}

// Start validates cfg, binds every listen address and starts the actor tree.
func Start(sys *actor.ActorSystem, cfg Config, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.Apps == nil {
		opts.Apps = app.Everyone()
	}
	s := &Server{cfg: cfg, sys: sys, log: opts.Log}
	// The server's actors run on a fixed pool of goroutines: sessions are the bulk of
	// the work (every packet, every subscriber of a fan-out), and protoactor's default
	// dispatcher would start a goroutine — and grow its stack — at every wake-up.
	s.dispatcher = actors.NewPoolDispatcher(0, 300)
	host, _ := os.Hostname()
	s.sh = &shared{cfg: cfg, log: opts.Log, stats: &s.stats, node: host, dispatcher: s.dispatcher}
	s.sh.apps = newAppHost(sys, opts.Apps, opts.Log)
	s.sh.pubs = newPubHost(sys, s.sh, opts.Log, opts.PublicationMiddleware)
	s.sh.groups = newGroupHost(sys, s.sh, opts.Log)

	dirReady := make(chan *actor.PID, 1)
	rootProps := actor.PropsFromProducer(func() actor.Actor { return &serverRoot{ready: dirReady, sh: s.sh} },
		actor.WithSupervisor(supervision.RestartOnPanic(opts.Log, "directory", 10, nil)))
	s.root = sys.Root.Spawn(rootProps)
	s.sh.directory = <-dirReady

	s.rv = sys.Root.Spawn(s.sh.props(func() actor.Actor { return newRendezvous(s.sh, opts.Rendezvous, &s.rvStats) },
		actor.WithReceiverMiddleware(supervision.Middleware)))
	hello := &helloHandler{root: sys.Root, rendezvous: s.rv}
	dump, _ := endpoint.ParseDumpMode(cfg.Dump)
	streamSupervisor := actor.WithSupervisor(supervision.StopOnPanic(opts.Log, "stream", &s.stats.StreamFailures))
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
	for _, l := range cfg.Listen {
		e, err := endpoint.Start(sys, endpoint.Config{
			Listen: l, Shards: shards, UDPBuffer: cfg.UDPBuffer, Dump: dump, Session: sc,
			MaxSessions: cfg.MaxSessions, Log: opts.Log, SessionMiddleware: opts.SessionMiddleware, CookieTTL: opts.CookieTTL,
			Dispatcher: s.dispatcher,
			Accept: &endpoint.Accept{
				Hello: hello,
				// Connections are never restarted: their session's supervisor stops them.
				Upper:        func(info endpoint.SessionInfo) actor.Actor { return newConnection(s.sh, info) },
				UpperOptions: s.sh.propsOptions(streamSupervisor),
			},
		})
		if err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = s.Stop(ctx)
			cancel()
			return nil, fmt.Errorf("listen on %s: %w", l, err)
		}
		s.endpoints = append(s.endpoints, e)
	}
	return s, nil
}

// serverRoot is the root actor of the node; the directory is its child.
type serverRoot struct {
	ready chan *actor.PID
	sh    *shared
}

func (r *serverRoot) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*actor.Started); ok && r.ready != nil {
		pid, err := ctx.SpawnNamed(r.sh.props(newDirectory, actor.WithReceiverMiddleware(supervision.Middleware)), "directory")
		if err != nil {
			pid = ctx.Spawn(r.sh.props(newDirectory, actor.WithReceiverMiddleware(supervision.Middleware)))
		}
		r.ready <- pid
		r.ready = nil
	}
}

// Addrs returns the bound addresses.
func (s *Server) Addrs() []netip.AddrPort {
	out := make([]netip.AddrPort, len(s.endpoints))
	for i, e := range s.endpoints {
		out[i] = e.Addr()
	}
	return out
}

// Endpoints returns the server's endpoints (one per listen address).
func (s *Server) Endpoints() []*endpoint.Endpoint { return s.endpoints }

// Stats returns the Flash-layer counters.
func (s *Server) Stats() *Stats { return &s.stats }

// PublicationStats returns the publication counters.
func (s *Server) PublicationStats() *PublicationStats { return &s.sh.pubs.stats }

// Publications returns the number of live publications.
func (s *Server) Publications() int { return s.sh.pubs.count() }

// GroupStats returns the NetGroup counters.
func (s *Server) GroupStats() *GroupStats { return &s.sh.groups.stats }

// Groups returns the number of live groups.
func (s *Server) Groups() int { return s.sh.groups.count() }

// RendezvousStats returns the introduction counters.
func (s *Server) RendezvousStats() *RendezvousStats { return &s.rvStats }

// ApplicationPanics returns how many application handler calls panicked.
func (s *Server) ApplicationPanics() uint64 { return s.sh.apps.panics.Load() }

// Sessions returns the number of live sessions on every endpoint.
func (s *Server) Sessions() int {
	n := 0
	for _, e := range s.endpoints {
		n += e.Sessions()
	}
	return n
}

// Peers asks the directory how many peers it holds.
func (s *Server) Peers() (int, error) {
	r, err := s.sys.Root.RequestFuture(s.sh.directory, &messages.CountPeers{}, 5*time.Second).Result()
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
func (s *Server) Directory() *actor.PID { return s.sh.directory }

// Stop closes every session (each client is sent a close), waits up to the shutdown
// timeout or ctx for the clients to acknowledge, and stops the actors.
func (s *Server) Stop(ctx context.Context) error {
	if s.cfg.ShutdownTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
		defer cancel()
	}
	var first error
	for _, e := range s.endpoints {
		if err := e.Stop(ctx); err != nil && first == nil {
			first = err
		}
	}
	s.sh.pubs.stop()
	s.sh.groups.stop()
	s.sh.apps.stop()
	if s.rv != nil {
		_ = s.sys.Root.StopFuture(s.rv).Wait()
	}
	if s.root != nil {
		_ = s.sys.Root.StopFuture(s.root).Wait()
	}
	s.dispatcher.Close()
	return first
}
