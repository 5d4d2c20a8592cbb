package rtmp

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/netconn"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// Config configures one listener.
type Config struct {
	Listen string      // TCP host:port
	TLS    *tls.Config // RTMPS: TLS with this configuration; nil: plain RTMP
	// MaxConnections bounds the listener's connections; beyond it new ones are closed at
	// once (and counted).
	MaxConnections int
	// Keepalive is how long a client may be silent before it is pinged, IdleTimeout how
	// long before it is closed (also a write stuck that long).
	Keepalive, IdleTimeout time.Duration
	// LosslessMedia gives the live media of every binding a lossless policy
	// (live.Policy.Lossless), as session.Config.LosslessMedia does for RTMFP.
	LosslessMedia bool
	// Connections makes the Flash layer of each connection.
	Connections *netconn.Connections
	// IDs numbers the node's RTMP connections (app.Client.SessionID); listeners of one
	// node share it. Nil: the listener's own.
	IDs *atomic.Uint32
	// Banned, if set, is the node's blacklist (app.Host.Ban): a banned address's
	// connections are closed, at accept and at its next message.
	Banned interface{ Banned(netip.Addr) bool }
	Clock  clock.Clock
	Log    *zap.Logger
	Stats  *Stats
	// Options are the props options of the connection actors (dispatcher, mailbox).
	Options []actor.PropsOption
}

// Stats counts what the RTMP listeners of a node did.
type Stats struct {
	Accepted        atomic.Uint64 // connections accepted
	Refused         atomic.Uint64 // connections closed at once: too many, or a banned address
	Active          atomic.Int64  // connections open
	HandshakeErrors atomic.Uint64 // handshakes (TLS or RTMP) failed or timed out
	ProtocolErrors  atomic.Uint64 // connections closed for sending what is not RTMP
	IdleClosed      atomic.Uint64 // connections closed for silence, or for writes stuck as long
	SlowClosed      atomic.Uint64 // connections closed because their queue outgrew its bound
	BadMessages     atomic.Uint64 // messages ignored: unsupported types, streams refused
	BadBindings     atomic.Uint64 // live.Bind messages whose lanes were not a stream's
	MediaDropped    atomic.Uint64 // media not sent to a player: its policy (backlog, key frame)
	MediaExpired    atomic.Uint64 // media given up in the queue: its lifetime passed
	Failures        supervision.Counter
}

// Listener is one RTMP or RTMPS listening address of a node.
type Listener struct {
	addr netip.AddrPort
	pid  *actor.PID
}

// Start listens on cfg.Listen and spawns the listener's actor as a child of parent (the
// node), which closes the socket when it stops, and with it every connection.
func Start(parent actor.SpawnerContext, cfg Config) (*Listener, error) {
	if cfg.Connections == nil {
		return nil, errors.New("rtmp: no Flash layer (Config.Connections)")
	}
	cfg.Clock = clock.Or(cfg.Clock)
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Stats == nil {
		cfg.Stats = &Stats{}
	}
	if cfg.IDs == nil {
		cfg.IDs = &atomic.Uint32{}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, err
	}
	ap, _ := netip.ParseAddrPort(ln.Addr().String())
	l := &Listener{addr: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
	props := actor.PropsFromProducer(func() actor.Actor { return &listener{cfg: &cfg, ln: ln} },
		actor.WithReceiverMiddleware(supervision.Middleware),
		actor.WithSupervisor(supervision.StopOnPanic(cfg.Log, "rtmp connection", &cfg.Stats.Failures)))
	l.pid = parent.Spawn(props)
	return l, nil
}

// Addr is the bound address.
func (l *Listener) Addr() netip.AddrPort { return l.addr }

// PID is the listener's actor.
func (l *Listener) PID() *actor.PID { return l.pid }

// listener accepts a socket's connections and parents their actors.
type listener struct {
	cfg    *Config
	ln     net.Listener
	active int
	opts   []actor.PropsOption // of the connections
}

type accepted struct{ nc net.Conn }

func (l *listener) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		l.opts = append([]actor.PropsOption{actor.WithSupervisor(upperSupervisor(l.cfg))}, l.cfg.Options...)
		go l.accept(ctx.ActorSystem().Root, ctx.Self())
	case *accepted:
		l.onAccepted(ctx, m.nc)
	case *actor.Terminated:
		l.active--
	case *actor.Stopping:
		_ = l.ln.Close()
	case *actor.Restarting:
		_ = l.ln.Close()
	}
}

// accept hands every connection to the actor until the socket closes.
func (l *listener) accept(root *actor.RootContext, self *actor.PID) {
	backoff := 5 * time.Millisecond
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and the like: wait a little and try again.
			l.cfg.Log.Warn("rtmp accept", zap.Error(err))
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		root.Send(self, &accepted{nc: nc})
	}
}

func (l *listener) onAccepted(ctx actor.Context, nc net.Conn) {
	if l.cfg.MaxConnections > 0 && l.active >= l.cfg.MaxConnections || l.banned(nc.RemoteAddr()) {
		l.cfg.Stats.Refused.Add(1)
		_ = nc.Close()
		return
	}
	tlsOn := l.cfg.TLS != nil
	if tlsOn {
		nc = tls.Server(nc, l.cfg.TLS)
	}
	l.cfg.Stats.Accepted.Add(1)
	l.active++
	c := newConn(l.cfg, nc, l.cfg.IDs.Add(1), tlsOn)
	ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return c }, l.opts...))
}

// banned reports whether a connection comes from a banned address.
func (l *listener) banned(a net.Addr) bool {
	if l.cfg.Banned == nil {
		return false
	}
	ap, err := netip.ParseAddrPort(a.String())
	return err == nil && l.cfg.Banned.Banned(ap.Addr().Unmap())
}
