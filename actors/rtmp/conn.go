package rtmp

import (
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/live"
	"github.com/actorrtmfp/actorrtmfp/actors/netconn"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// conn is the actor of one RTMP connection, a child of its listener's actor: to the
// Flash layer (its child, a netconn connection) it is what an RTMP session is to its
// connection (flows.go); to publications it is a sink (sink.go). Two goroutines of its
// own do the blocking I/O: serve (handshake, then reading: reader.go) and the writer
// (writer.go), which empties the queue into the socket. Neither waits on an actor.
type conn struct {
	cfg  *Config
	nc   net.Conn
	id   uint32
	addr netip.AddrPort
	tls  bool

	self, upper *actor.PID
	root        *actor.RootContext
	out         *queue
	flows       map[uint32]*flow
	streamIDs   map[string]uint32 // flow metadata → message stream ID (flows.go)
	bindings    *binding

	// Shared with the goroutines.
	lastIn   atomic.Int64  // node clock (ns) of the last byte read
	writing  atomic.Int64  // node clock (ns) when the write in progress began; 0: none
	inflight atomic.Int64  // bytes the reader handed the actor that it has not handled
	bytesIn  atomic.Uint64 // bytes read and written (session.QueryTraffic)
	bytesOut atomic.Uint64
	drained  chan struct{}
	done     chan struct{} // closed when the actor stops: the goroutines end

	handshaken bool
	closing    bool
	ending     bool // waiting for the Flash layer to end
	timer      clock.Timer
	started    time.Time
}

// Messages from the connection's goroutines.
type (
	// inbound is one message of the client for the Flash layer, as a Flash message.
	inbound struct {
		msid uint32
		data []byte
	}
	// handshaken says the handshake is done (digest: Flash's digest handshake).
	handshaken struct{ digest bool }
	// readEnded says the reading stopped: the client closed, or sent what is not RTMP.
	readEnded struct{ err error }
	// writeEnded says the writer stopped (err nil: it wrote everything and closed).
	writeEnded struct{ err error }
	// tick is the connection's timer: the handshake deadline, keepalive, idle.
	tick struct{}
)

// Limits of a connection.
const (
	handshakeTimeout = 10 * time.Second
	// maxQueue bounds what waits to be written: a player that cannot take even what its
	// policy lets through is closed.
	maxQueue = 16 << 20
	// maxInflight bounds what the reader has handed the actor and the actor has not
	// handled: beyond it the reader waits, and TCP slows the client down.
	maxInflight = 4 << 20
	// closeLinger bounds how long a closing connection may take to write what it queued.
	closeLinger = 3 * time.Second
)

func newConn(cfg *Config, nc net.Conn, id uint32, tls bool) *conn {
	now := func() int64 { return cfg.Clock.Now().UnixNano() }
	c := &conn{cfg: cfg, nc: nc, id: id, tls: tls, out: newQueue(now), flows: map[uint32]*flow{}, streamIDs: map[string]uint32{},
		drained: make(chan struct{}, 1), done: make(chan struct{})}
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		c.addr = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return c
}

func (c *conn) Receive(ctx actor.Context) {
	defer supervision.Repanic()
	switch m := ctx.Message().(type) {
	case *inbound:
		c.onInbound(ctx, m)
		c.handled(len(m.data))
	case *session.Write:
		c.onWrite(m)
	case *live.Media:
		c.onMedia(m)
	case *live.Batch:
		c.onBatch(m)
	case *live.Bind:
		c.onBind(ctx, m)
	case *live.Unbind:
		c.onUnbind(m)
	case *live.Gate:
		c.onGate(m)
	case *live.Resync:
		c.onResync(m)
	case *session.AcceptFlow:
		c.onAcceptFlow(ctx, m)
	case *session.RejectFlow:
		c.onRejectFlow(m)
	case *session.AbandonQueued:
		c.onAbandonQueued(m)
	case *session.Close:
		c.closeGracefully(ctx)
	case *session.QueryTraffic:
		ctx.Respond(&session.Traffic{In: c.bytesIn.Load(), Out: c.bytesOut.Load()})
	case *handshaken:
		c.onHandshaken(ctx, m)
	case *readEnded:
		c.onReadEnded(ctx, m.err)
	case *writeEnded:
		c.onWriteEnded(ctx, m.err)
	case *tick:
		c.onTick(ctx)
	case *actor.Terminated:
		if m.Who.Equal(c.upper) {
			// The Flash layer ended: after the client left, or it crashed (its supervisor
			// stopped it) and the client goes too.
			c.upper = nil
			c.finish(ctx, session.ReasonFailure)
			return
		}
		c.onFlowActorEnded(m.Who)
	case *actor.Started:
		c.onStarted(ctx)
	case *actor.Stopping:
		c.onStopping()
	}
}

func (c *conn) onStarted(ctx actor.Context) {
	c.self, c.root = ctx.Self(), ctx.ActorSystem().Root
	c.started = c.cfg.Clock.Now()
	c.lastIn.Store(c.started.UnixNano())
	if tcp, ok := tcpConn(c.nc); ok {
		// A small send buffer keeps a slow player's backlog in our queue, where the
		// policy sees it, instead of in megabytes of kernel buffer.
		_ = tcp.SetWriteBuffer(sendBuffer)
	}
	go c.serve()
	c.arm(handshakeTimeout)
	// Counted once its handshake timer runs on the node's clock: whoever sees the
	// connection open (a test that then skips the clock) sees it timed.
	c.cfg.Stats.Active.Add(1)
}

// sendBuffer is the socket send buffer of a connection (SO_SNDBUF; it turns off Linux's
// autotuning, which let a stalled loopback reader take megabytes). It allows 20 Mbit/s
// at 100 ms of round trip.
const sendBuffer = 256 << 10

func tcpConn(nc net.Conn) (*net.TCPConn, bool) {
	switch x := nc.(type) {
	case *net.TCPConn:
		return x, true
	case interface{ NetConn() net.Conn }: // *tls.Conn
		t, ok := x.NetConn().(*net.TCPConn)
		return t, ok
	}
	return nil, false
}

// onHandshaken starts the Flash layer and the writer, which first writes the server's
// protocol settings.
func (c *conn) onHandshaken(ctx actor.Context, m *handshaken) {
	if c.closing {
		return
	}
	c.handshaken = true
	var peer cryptoutil.PeerID
	_, _ = rand.Read(peer[:]) // RTMP has no peer ID: a random one keeps clients apart
	info := netconn.TCPClient{ID: c.id, PeerID: peer, Addr: c.addr, TLS: c.tls}
	props := actor.PropsFromProducer(func() actor.Actor { return c.cfg.Connections.ForTCP(info) }, c.cfg.Connections.UpperOptions()...)
	c.upper = ctx.Spawn(props)
	c.queue(item{data: controlMessage(5, windowAckSize), csid: csidControl})    // Window Acknowledgement Size
	c.queue(item{data: controlMessage(6, windowAckSize, 2), csid: csidControl}) // Set Peer Bandwidth, dynamic
	c.queue(item{data: controlMessage(1, outChunkSize), csid: csidControl})     // Set Chunk Size
	c.cfg.Log.Debug("rtmp connection", zap.Uint32("id", c.id), zap.Stringer("from", c.addr), zap.Bool("digest", m.digest), zap.Bool("tls", c.tls))
	go c.write()
	c.arm(c.cfg.Keepalive)
}

// The server's protocol settings.
const (
	windowAckSize = 2500000
	outChunkSize  = 4096
)

// queue queues an item, closing a connection whose queue grew beyond its bound.
func (c *conn) queue(it item) {
	if c.closing {
		return
	}
	if c.out.size() > maxQueue {
		c.cfg.Stats.SlowClosed.Add(1)
		c.cfg.Log.Info("rtmp client too slow: closed", zap.Uint32("id", c.id), zap.Stringer("from", c.addr))
		c.closeNow()
		return
	}
	it.born = max(it.born, 1)
	c.out.push(it)
}

// handled counts an inbound message off the reader's allowance.
func (c *conn) handled(n int) {
	if c.inflight.Add(-int64(n)) < maxInflight {
		select {
		case c.drained <- struct{}{}:
		default:
		}
	}
}

func (c *conn) arm(d time.Duration) {
	if c.timer != nil {
		c.timer.Reset(d)
		return
	}
	self, root := c.self, c.root
	c.timer = c.cfg.Clock.AfterFunc(d, func() { root.Send(self, &tick{}) })
}

// onTick ends a handshake that takes too long, pings a silent client, and closes one
// silent for the idle timeout or whose writes are stuck as long.
func (c *conn) onTick(ctx actor.Context) {
	if c.ending {
		ctx.Stop(c.self) // the Flash layer took too long to end
		return
	}
	if c.closing {
		return
	}
	now := c.cfg.Clock.Now()
	if !c.handshaken {
		if now.Sub(c.started) >= handshakeTimeout {
			c.cfg.Stats.HandshakeErrors.Add(1)
			c.cfg.Log.Info("rtmp handshake timed out", zap.Stringer("from", c.addr))
			c.closeNow()
			return
		}
		c.arm(handshakeTimeout - now.Sub(c.started))
		return
	}
	silent := now.Sub(time.Unix(0, c.lastIn.Load()))
	if w := c.writing.Load(); silent >= c.cfg.IdleTimeout || (w != 0 && now.Sub(time.Unix(0, w)) >= c.cfg.IdleTimeout) {
		c.cfg.Stats.IdleClosed.Add(1)
		c.cfg.Log.Info("rtmp client idle: closed", zap.Uint32("id", c.id), zap.Stringer("from", c.addr))
		c.finish(ctx, session.ReasonIdle)
		return
	}
	if silent >= c.cfg.Keepalive {
		c.queue(item{data: flash.PingRequest(uint32(now.Sub(c.started) / time.Millisecond)).Append(nil), csid: csidControl})
	}
	c.arm(c.cfg.Keepalive)
}

func (c *conn) onReadEnded(ctx actor.Context, err error) {
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), c.closing:
	case errors.Is(err, errBanned):
		c.cfg.Log.Info("rtmp client's address banned: closed", zap.Uint32("id", c.id), zap.Stringer("from", c.addr))
	case !c.handshaken:
		c.cfg.Stats.HandshakeErrors.Add(1)
		c.cfg.Log.Info("rtmp handshake failed", zap.Stringer("from", c.addr), zap.Error(err))
	default:
		var pe *protocolError
		if errors.As(err, &pe) {
			c.cfg.Stats.ProtocolErrors.Add(1)
			c.cfg.Log.Info("rtmp client sent what is not RTMP: closed", zap.Uint32("id", c.id), zap.Stringer("from", c.addr), zap.Error(err))
		}
	}
	c.finish(ctx, session.ReasonRemote)
}

func (c *conn) onWriteEnded(ctx actor.Context, err error) {
	if err != nil && !c.closing {
		c.cfg.Log.Debug("rtmp write failed", zap.Uint32("id", c.id), zap.Error(err))
	}
	c.finish(ctx, session.ReasonRemote)
}

// closeGracefully ends the connection once what it queued is written (the Flash layer
// closes it: a refused connect, close()), within closeLinger.
func (c *conn) closeGracefully(ctx actor.Context) {
	if c.closing {
		return
	}
	c.tellClosing(ctx, session.ReasonLocal)
	c.closing = true
	c.out.close()
	nc := c.nc
	c.cfg.Clock.AfterFunc(closeLinger, func() { _ = nc.Close() })
	if !c.handshaken {
		_ = nc.Close()
	}
}

// closeNow closes the socket: the goroutines end, and the actor with them.
func (c *conn) closeNow() {
	c.closing = true
	c.out.close()
	_ = c.nc.Close()
}

// finish ends the connection: the socket closes and the Flash layer is told; its streams
// handle what they were sent (a publisher's last media reaches its recording) and leave
// their publications, then it ends, and the actor after it (or after closeLinger).
func (c *conn) finish(ctx actor.Context, reason session.CloseReason) {
	c.tellClosing(ctx, reason)
	c.closeNow()
	if c.upper == nil {
		ctx.Stop(c.self)
		return
	}
	if !c.ending {
		c.ending = true
		c.arm(closeLinger)
	}
}

func (c *conn) tellClosing(ctx actor.Context, reason session.CloseReason) {
	if c.upper != nil && !c.closing {
		ctx.Send(c.upper, &session.Closing{Reason: reason, Traffic: session.Traffic{In: c.bytesIn.Load(), Out: c.bytesOut.Load()}})
	}
}

func (c *conn) onStopping() {
	if c.timer != nil {
		c.timer.Stop()
	}
	c.closeNow()
	close(c.done)
	c.cfg.Stats.Active.Add(-1)
}

// supervisor stops a connection's Flash layer when it panics; the connection then ends.
func upperSupervisor(cfg *Config) actor.SupervisorStrategy {
	return supervision.StopOnPanic(cfg.Log, "rtmp connection's Flash layer", &cfg.Stats.Failures)
}
