// Package netconn is the Flash layer of a server's RTMFP sessions: the NetConnection of
// each client (connect, setPeerInfo, createStream/deleteStream, calls in both directions,
// relay, close) as the session's upper actor, and as its children the actors of the
// client's NetStreams (publish, play and their commands) and of its NetGroup flows.
package netconn

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unique"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/access"
	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/apphost"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/endpoint"
	"github.com/actorrtmfp/actorrtmfp/actors/eventlog"
	"github.com/actorrtmfp/actorrtmfp/actors/live"
	"github.com/actorrtmfp/actorrtmfp/actors/media"
	"github.com/actorrtmfp/actorrtmfp/actors/netgroup"
	"github.com/actorrtmfp/actorrtmfp/actors/p2p"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/messages"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// Stats counts what the Flash layer of the server did.
type Stats struct {
	Connections      atomic.Uint64 // sessions whose Flash layer started
	ConnectsAccepted atomic.Uint64
	ConnectsRejected atomic.Uint64
	AuthRefused      atomic.Uint64 // connects refused by the auth file (counted in ConnectsRejected too)
	Disconnections   atomic.Uint64 // connected clients that left
	Calls            atomic.Uint64 // client → server calls passed to applications
	Streams          atomic.Int64  // NetStreams open (their actors alive)
	RejectedFlows    atomic.Uint64
	BadMessages      atomic.Uint64 // undecodable Flash messages
	EncodeErrors     atomic.Uint64
	StreamFailures   supervision.Counter // stream and group flow actors stopped after a panic
}

// Config is what every connection of a node shares; New makes the connections.
type Config struct {
	// KeepaliveServer and KeepalivePeer are told to clients (Set Keepalive).
	KeepaliveServer, KeepalivePeer time.Duration
	GroupsPerClient                int // NetGroups one client may be in at once
	Node                           string
	// The node's services.
	Apps         *actor.PID // apphost
	Directory    *actor.PID // p2p directory
	Publications *actor.PID // live registry
	Groups       *actor.PID // netgroup registry
	Library      *actor.PID // media library (nil: no recordings)
	// Media records publications and plays recordings (nil or disabled: neither).
	Media *media.Media
	// Cluster, if set, carries relays to clients of other nodes (package cluster).
	Cluster    *actor.PID
	Clock      clock.Clock
	Log        *zap.Logger
	Stats      *Stats
	RelayStats *p2p.RelayStats
	GroupStats *netgroup.Stats
	// ChildOptions are the props options of the connections' children (stream and group
	// flow actors): dispatcher and mailbox.
	ChildOptions []actor.PropsOption
	// GroupFlowMiddleware wraps the group flow actors' receive functions, after
	// supervision's (server.Options.GroupFlowMiddleware: tests inject faults with it).
	GroupFlowMiddleware []actor.ReceiverMiddleware
	// Clients, if set, is the node's table of connected clients (operators' view).
	Clients *Clients
	// Events, if set, writes the operator's event lines (connected, left, published…).
	Events *eventlog.Log
	// Auth, if set, are the operator's auth-file rules, checked against the pageUrl and
	// swfUrl of every connect before the application sees it (Stats.AuthRefused).
	Auth *access.AuthRules
}

// Connections makes the upper actors of a node's sessions.
type Connections struct{ cfg Config }

// New returns the maker of connections for cfg.
func New(cfg Config) *Connections {
	cfg.Clock = clock.Or(cfg.Clock)
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	return &Connections{cfg: cfg}
}

// Upper returns the connection of a new session (endpoint.Accept.Upper).
func (cs *Connections) Upper(info endpoint.SessionInfo) actor.Actor {
	return &connection{cfg: &cs.cfg, client: &client{sessionID: info.LocalID, peerID: info.PeerID, addr: info.Addr,
		rfc7425: info.Mode.HMACLength > 0 || info.Mode.SequenceNumbers}}
}

// TCPClient describes a client that came by RTMP.
type TCPClient struct {
	ID     uint32            // unique among the node's RTMP connections (app.Client.SessionID)
	PeerID cryptoutil.PeerID // random: RTMP has none
	Addr   netip.AddrPort
	TLS    bool // RTMPS
}

// ForTCP returns the connection of an RTMP client. Its parent — the RTMP connection
// actor, which spawns it with UpperOptions — plays the part of an RTMFP session: it opens
// a flow per message stream ID (session.FlowOpened, FlowMessage: the NetConnection's is
// stream 0, a NetStream's its ID), writes what the connection and its streams write
// (session.Write, whose keys carry the stream ID in their flash.Metadata), and is the
// sink of its plays. The connection never registers such a client in the directory.
func (cs *Connections) ForTCP(info TCPClient) actor.Actor {
	t := overRTMP
	if info.TLS {
		t = overRTMPS
	}
	return &connection{cfg: &cs.cfg, client: &client{sessionID: info.ID, transport: t, peerID: info.PeerID, addr: info.Addr}}
}

// UpperOptions are the props options of the connections (endpoint.Accept.UpperOptions):
// their children, the stream and group flow actors, are stopped when they panic.
func (cs *Connections) UpperOptions() []actor.PropsOption {
	return append(slices.Clone(cs.cfg.ChildOptions), actor.WithSupervisor(supervision.StopOnPanic(cs.cfg.Log, "stream", &cs.cfg.Stats.StreamFailures)))
}

// connState is where a NetConnection stands.
type connState uint8

const (
	connIdle       connState = iota // no connect yet
	connConnecting                  // connect sent to the application, waiting for its answer
	connConnected
	connRefused // rejected: waiting for the client to close
)

// connection is the Flash layer of one server session (its "upper" actor): the
// NetConnection — connect, setPeerInfo, createStream/deleteStream, calls in both
// directions, close — and, as children, the actors of its streams and groups.
type connection struct {
	cfg     *Config
	session *actor.PID
	self    *actor.PID
	// client is what the application sees of the connection; it holds the session's ID,
	// the peer ID and the far address, which the connection reads there too.
	client *client

	state      connState
	haveNC     bool
	closing    bool
	badLogged  bool // a malformed message of this client was logged (once per client)
	ending     bool // an RTMP client is gone: the connection ends when its streams have
	ncFlow     uint64
	ncKey      session.FlowKey
	appPID     *actor.PID
	connect    *pendingConnect       // the connect being decided, nil otherwise
	streams    map[uint32]*actor.PID // stream actors by stream ID
	groupFlows map[uint64]*actor.PID // group flow actors by receive flow
	relay      *p2p.Relay            // made by the first relay call
	connected  *Connected            // its entry in Config.Clients while connected
}

// pendingConnect is a connect the application is deciding on.
type pendingConnect struct {
	txn      float64         // its transaction, for the answer
	encoding float64         // the client's objectEncoding, echoed in the connect result
	amf3     bool            // it came as AMF3 (so does the answer)
	enhanced bool            // the client speaks Enhanced RTMP (its connect said so)
	calls    []flash.Command // calls received meanwhile, run once it is accepted
}

// refusedLinger is how long a refused client gets to read its _error before the server
// closes the session itself.
const refusedLinger = 3 * time.Second

type closeRefused struct{}

// closeLater asks the connection to close the session after refusedLinger, time for the
// client to read the error that says why (a stream played a malformed recording).
type closeLater struct{}

func (c *connection) Receive(ctx actor.Context) {
	defer supervision.Repanic() // instead of the receiver middleware: see Repanic
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.self, c.session = ctx.Self(), ctx.Parent()
		c.client.root, c.client.conn = ctx.ActorSystem().Root, c.self
		c.cfg.Stats.Connections.Add(1)
	case *session.FlowOpened:
		c.onFlowOpened(ctx, m)
	case *session.FlowMessage:
		if c.haveNC && m.FlowID == c.ncFlow {
			c.onNetConnectionMessage(ctx, m.Data)
		}
	case *session.FlowFinished:
		if c.haveNC && m.FlowID == c.ncFlow {
			// The client closed its NetConnection flow: the connection is over.
			c.closeSession(ctx)
		}
	case *session.AddressChanged:
		c.onAddressChanged(ctx, m.To)
	case *session.RTTChanged:
		c.client.ping.Store(int64(m.Smoothed))
	case *apphost.ConnectResult:
		c.onConnectResult(ctx, m)
	case *apphost.CallResult:
		c.onCallResult(ctx, m)
	case *media.LengthResult:
		c.send(ctx, flash.Command{Name: flash.CommandResult, TransactionID: m.Txn, AMF3: m.AMF3, Args: []any{m.Seconds}})
	case *callClient:
		if c.state == connConnected {
			c.send(ctx, flash.Command{Name: m.method, Object: nil, Args: m.args})
		}
	case *closeClient:
		c.closeSession(ctx)
	case *messages.LookupPeerResult:
		c.onRelayTarget(ctx, m)
	case *messages.RelayMessage:
		c.onRelayed(ctx, m)
	case *closeRefused:
		c.closeSession(ctx)
	case *closeLater:
		self, root := c.self, ctx.ActorSystem().Root
		c.cfg.Clock.AfterFunc(refusedLinger, func() { root.Send(self, &closeRefused{}) })
	case *netgroup.FlowRefused:
		c.onGroupFlowRefused(ctx, m)
	case *actor.Terminated:
		// A child ended (a crash, or a stream deleted): its slot is free again.
		for f, pid := range c.groupFlows {
			if pid.Equal(m.Who) {
				delete(c.groupFlows, f)
			}
		}
		for id, pid := range c.streams {
			if pid.Equal(m.Who) {
				delete(c.streams, id)
			}
		}
		if c.ending && len(c.streams) == 0 {
			ctx.Stop(c.self)
		}
	case *session.Closing:
		if c.connected != nil {
			c.connected.reason, c.connected.traffic = m.Reason.String(), m.Traffic
		}
		c.onClosing(ctx, m.Reason)
		c.logLeft() // now: a session closed by its client lingers a while before it stops
	case *actor.Stopping:
		c.leave(ctx, "")
		c.logLeft()
	}
}

// onClosing ends the streams and groups of a session that is over (it may linger to
// answer a close) at once, so that publications and groups see their members leave. The
// streams of an RTMP connection first handle what they were sent — the last media of a
// publisher, the end of its recording — and the connection ends after them: its
// transport stops when it does.
func (c *connection) onClosing(ctx actor.Context, reason session.CloseReason) {
	if c.client.peer() {
		for _, pid := range c.streams {
			ctx.Stop(pid)
		}
	} else {
		for _, pid := range c.streams {
			ctx.Poison(pid)
		}
		c.ending = true
		if len(c.streams) == 0 {
			ctx.Stop(c.self)
		}
	}
	for _, pid := range c.groupFlows {
		ctx.Stop(pid)
	}
	c.leave(ctx, failure(reason))
}

func (c *connection) onFlowOpened(ctx actor.Context, m *session.FlowOpened) {
	md, err := flash.ParseMetadata(m.Metadata)
	if err != nil {
		c.reject(ctx, m.FlowID)
		return
	}
	switch md.Kind {
	case flash.KindNetConnection:
		if c.haveNC {
			c.reject(ctx, m.FlowID) // one NetConnection per session
			return
		}
		c.ncFlow, c.haveNC = m.FlowID, true
		c.ncKey = session.FlowKey{Metadata: string(m.Metadata), Assoc: m.FlowID, HasAssoc: true}
		ctx.Send(c.session, &session.AcceptFlow{FlowID: m.FlowID, PID: c.self})
	case flash.KindNetStream:
		pid := c.streams[uint32(md.StreamID)]
		if c.state != connConnected || md.StreamID > 1<<24 || pid == nil {
			c.reject(ctx, m.FlowID) // a stream that was never created (Mona, zenomt)
			return
		}
		// Every flow of the stream (commands, audio, video, data) goes to its actor.
		ctx.Send(c.session, &session.AcceptFlow{FlowID: m.FlowID, PID: pid})
	case flash.KindNetGroup:
		if c.state != connConnected || len(c.groupFlows) >= c.cfg.GroupsPerClient {
			c.cfg.GroupStats.Refused.Add(1)
			c.reject(ctx, m.FlowID)
			return
		}
		flow := netgroup.NewFlow(netgroup.FlowParams{Session: c.session, Client: c.client, App: c.appPID, Groups: c.cfg.Groups,
			FlowID: m.FlowID, Stats: c.cfg.GroupStats, Events: c.cfg.Events})
		pid := ctx.Spawn(c.childProps(func() actor.Actor { return flow }, actor.WithReceiverMiddleware(c.cfg.GroupFlowMiddleware...)))
		if c.groupFlows == nil {
			c.groupFlows = map[uint64]*actor.PID{}
		}
		c.groupFlows[m.FlowID] = pid // a child: its Terminated comes to us unasked
		ctx.Send(c.session, &session.AcceptFlow{FlowID: m.FlowID, PID: pid})
	default:
		c.reject(ctx, m.FlowID)
	}
}

// onGroupFlowRefused frees the client's group slot of a group flow whose join was refused,
// then rejects the flow and stops its actor: the client hears of the refusal from the
// session after the slot is free (netgroup.Flow.refuse).
func (c *connection) onGroupFlowRefused(ctx actor.Context, m *netgroup.FlowRefused) {
	if pid := c.groupFlows[m.FlowID]; pid != nil && pid.Equal(m.Flow) {
		delete(c.groupFlows, m.FlowID)
	}
	ctx.Send(c.session, &session.RejectFlow{FlowID: m.FlowID})
	ctx.Stop(m.Flow)
}

func (c *connection) reject(ctx actor.Context, flowID uint64) {
	c.cfg.Stats.RejectedFlows.Add(1)
	ctx.Send(c.session, &session.RejectFlow{FlowID: flowID})
}

// onNetConnectionMessage handles one message of the NetConnection flow.
func (c *connection) onNetConnectionMessage(ctx actor.Context, data []byte) {
	msg, err := flash.ParseMessage(data)
	if err != nil {
		c.badMessage(ctx, flash.Command{}, err)
		return
	}
	switch msg.Type {
	case flash.TypeCommandAMF0, flash.TypeCommandAMF3:
		cmd, err := parseCommand(msg)
		if err != nil {
			c.badMessage(ctx, commandHead(msg), err)
			return
		}
		c.onCommand(ctx, cmd)
	case flash.TypeUserControl:
		// Set Buffer Length and the like from the client: nothing to do for a live server.
	default:
		c.cfg.Stats.BadMessages.Add(1)
	}
}

func (c *connection) onCommand(ctx actor.Context, cmd flash.Command) {
	switch cmd.Name {
	case flash.CommandConnect:
		c.onConnect(ctx, cmd)
		return
	}
	switch c.state {
	case connConnecting:
		if len(c.connect.calls) < 64 {
			c.connect.calls = append(c.connect.calls, cmd)
		}
		return
	case connIdle:
		c.replyError(ctx, cmd, flash.CallFailed("Client must be connected before remote procedure calling"))
		return
	case connRefused:
		return
	}
	switch cmd.Name {
	case flash.CommandSetPeerInfo:
		c.onSetPeerInfo(ctx, cmd)
	case flash.CommandCreateStream:
		c.onCreateStream(ctx, cmd)
	case flash.CommandDeleteStream:
		if len(cmd.Args) > 0 {
			if id, ok := amf.AsNumber(cmd.Args[0]); ok {
				if pid := c.streams[uint32(id)]; pid != nil {
					// After what it was sent (a publisher's last media); its ID is free once
					// it has ended (Terminated).
					ctx.Poison(pid)
				}
			}
		}
	case flash.CommandClose:
		c.closeSession(ctx)
	case flash.CommandInitStream:
		// Sent by Flash before multicast publishing; nothing to answer (Cumulus ignores it).
	case "getStreamLength":
		c.onStreamLength(ctx, cmd)
	case "releaseStream", "FCPublish", "FCUnpublish", "FCSubscribe", "_checkbw":
		// RTMP encoder habits: acknowledge so that such clients proceed.
		if cmd.TransactionID != 0 {
			c.reply(ctx, cmd, flash.CommandResult, nil)
		}
	default:
		// relay too: the application's own relay, if it has one, comes first
		// (onCallResult falls back to the server's).
		c.cfg.Stats.Calls.Add(1)
		ctx.Send(c.appPID, &apphost.Call{Client: c.client, Txn: cmd.TransactionID, AMF3: cmd.AMF3, Method: cmd.Name, Args: cmd.Args, ReplyTo: c.self})
	}
}

// onStreamLength answers getStreamLength(name) with the duration of the recording of
// that name, in seconds (0: none, or a live stream), as Flash Media Server does; RTMP
// players (ffmpeg) ask it before every play.
func (c *connection) onStreamLength(ctx actor.Context, cmd flash.Command) {
	if cmd.TransactionID == 0 {
		return
	}
	name := ""
	if len(cmd.Args) > 0 {
		name, _ = cmd.Args[0].(string)
	}
	if c.cfg.Library == nil || name == "" {
		c.reply(ctx, cmd, flash.CommandResult, 0.0)
		return
	}
	ctx.Send(c.cfg.Library, &media.Length{Key: live.Key{App: c.client.path, Name: streamName(name)}, Txn: cmd.TransactionID, AMF3: cmd.AMF3, ReplyTo: c.self})
}

// onConnect starts a connect: the application decides.
func (c *connection) onConnect(ctx actor.Context, cmd flash.Command) {
	if c.state != connIdle {
		c.replyError(ctx, cmd, flash.CallFailed("already connected"))
		return
	}
	obj, _ := cmd.Object.(*amf.Object)
	if obj == nil {
		obj = amf.NewObject()
	}
	pc := &pendingConnect{txn: cmd.TransactionID, amf3: cmd.AMF3}
	if enc, ok := obj.GetNumber("objectEncoding"); ok && enc == 3 {
		pc.encoding = 3
	}
	_, fourCCs := obj.Get("fourCcList")
	_, infoMap := obj.Get("videoFourCcInfoMap")
	pc.enhanced = fourCCs || infoMap
	tcURL, _ := obj.GetString("tcUrl")
	var path string
	var query map[string][]string
	if tcURL != "" {
		path, query = app.SplitURL(tcURL)
	} else {
		appName, _ := obj.GetString("app")
		path, query = app.SplitURL(appName)
	}
	// Written before the application first sees the client (appConnect below).
	c.client.path, c.client.query, c.client.connect = path, query, encodeConnectObject(obj)
	pageURL, _ := obj.GetString("pageUrl")
	swfURL, _ := obj.GetString("swfUrl")
	if err := c.cfg.Auth.Check(pageURL, swfURL); err != nil {
		c.cfg.Events.Event("client refused", c.clientFields(zap.String("why", "auth file"), zap.String("page_url", pageURL), zap.String("swf_url", swfURL))...)
		c.cfg.Stats.AuthRefused.Add(1)
		c.cfg.Stats.ConnectsRejected.Add(1)
		c.state = connRefused
		c.replyError(ctx, flash.Command{Name: flash.CommandConnect, TransactionID: pc.txn, AMF3: pc.amf3}, flash.ConnectRejected(err.Error()))
		c.refuse(ctx)
		return
	}
	c.state, c.connect = connConnecting, pc
	ctx.Send(c.cfg.Apps, &apphost.Connect{Client: c.client, Args: cmd.Args, ReplyTo: c.self})
}

func (c *connection) onConnectResult(ctx actor.Context, r *apphost.ConnectResult) {
	if c.state != connConnecting {
		return
	}
	pc := c.connect
	c.connect = nil
	reply := flash.Command{Name: flash.CommandConnect, TransactionID: pc.txn, AMF3: pc.amf3}
	switch {
	case errors.Is(r.Err, apphost.ErrNoApplication):
		c.cfg.Events.Event("client refused", c.clientFields(zap.String("why", "no such application"))...)
		c.cfg.Stats.ConnectsRejected.Add(1)
		c.state = connRefused
		c.replyError(ctx, reply, flash.ConnectInvalidApp(fmt.Sprintf("Application '%s' doesn't exist", c.client.path)))
		c.refuse(ctx)
		return
	case r.Err != nil:
		c.cfg.Events.Event("client refused", c.clientFields(zap.String("why", "application: "+r.Err.Error()))...)
		c.cfg.Stats.ConnectsRejected.Add(1)
		c.state = connRefused
		c.replyError(ctx, reply, flash.ConnectRejected(r.Err.Error()))
		c.refuse(ctx)
		return
	}
	c.state, c.appPID = connConnected, r.App
	c.cfg.Stats.ConnectsAccepted.Add(1)
	c.enterTable()
	status := flash.ConnectSuccess(pc.encoding)
	status.Extra = append(status.Extra, r.Props...)
	if !c.client.peer() {
		// RTMP clients read the server's properties in the command object.
		c.send(ctx, flash.Command{Name: flash.CommandResult, TransactionID: pc.txn, AMF3: pc.amf3,
			Object: serverProperties(pc.enhanced), Args: []any{status}})
	} else {
		// Registered before the client is told it is connected: a peer it then gives its
		// peer ID to finds it.
		ctx.Send(c.cfg.Directory, &messages.RegisterPeer{Peer: &messages.Peer{
			PeerId: c.client.peerID[:], SessionId: c.client.sessionID, Session: c.session, Connection: c.self,
			PublicAddress: c.client.Address().String(), Node: c.cfg.Node,
		}})
		c.reply(ctx, reply, flash.CommandResult, status)
	}
	for _, cmd := range pc.calls {
		c.onCommand(ctx, cmd)
	}
}

// serverProperties is the command object of an RTMP client's connect result, what Flash
// Media Server answers (fmsVer, capabilities, mode); to an Enhanced RTMP client it adds
// that every codec is forwarded as it is (Enhanced RTMP v2, FourCcInfoMask.CanForward).
func serverProperties(enhanced bool) *amf.Object {
	o := amf.NewObject(amf.Property{Key: "fmsVer", Value: "FMS/3,5,7,7009"}, amf.Property{Key: "capabilities", Value: 31.0},
		amf.Property{Key: "mode", Value: 1.0})
	if enhanced {
		const canForward = 4.0
		forward := func() *amf.Object { return amf.NewObject(amf.Property{Key: "*", Value: canForward}) }
		o.Props = append(o.Props, amf.Property{Key: "videoFourCcInfoMap", Value: forward()}, amf.Property{Key: "audioFourCcInfoMap", Value: forward()})
	}
	return o
}

// refuse sends the `close` invocation that follows a refused connect and makes sure the
// session ends even if the client does not close it.
func (c *connection) refuse(ctx actor.Context) {
	c.send(ctx, flash.Command{Name: flash.CommandClose})
	self, root := c.self, ctx.ActorSystem().Root
	c.cfg.Clock.AfterFunc(refusedLinger, func() { root.Send(self, &closeRefused{}) })
}

func (c *connection) onCallResult(ctx actor.Context, r *apphost.CallResult) {
	cmd := flash.Command{Name: r.Method, TransactionID: r.Txn, AMF3: r.AMF3}
	if r.Method == "relay" && errors.Is(r.Err, app.ErrMethodNotFound) {
		if !c.client.peer() {
			c.replyError(ctx, cmd, flash.CallFailed("relay reaches RTMFP peers only; this client came by "+c.client.Protocol()))
			return
		}
		cmd.Args = r.Args
		c.onRelay(ctx, cmd)
		return
	}
	if r.Txn == 0 {
		return // the client expects no answer
	}
	switch {
	case r.Err == nil:
		c.reply(ctx, cmd, flash.CommandResult, r.Results...)
	case errors.Is(r.Err, app.ErrMethodNotFound):
		c.replyError(ctx, cmd, flash.CallFailed(fmt.Sprintf("Method '%s' not found", r.Method)))
	default:
		c.replyError(ctx, cmd, flash.CallFailed(r.Err.Error()))
	}
}

// onSetPeerInfo stores the client's private addresses and answers with Set Keepalive.
func (c *connection) onSetPeerInfo(ctx actor.Context, cmd flash.Command) {
	if !c.client.peer() {
		return // an RTMP client has no addresses to offer peers
	}
	var parsed [16]netip.AddrPort // at most 16 are kept
	n := 0
	for _, a := range cmd.Args {
		s, ok := a.(string)
		if !ok {
			continue
		}
		ap := p2p.ParseAddr(s)
		if !ap.IsValid() || n == len(parsed) {
			continue
		}
		parsed[n] = ap
		n++
	}
	// The client keeps them for as long as it is connected: exactly as many as there are.
	addrs := slices.Clone(parsed[:n])
	strs := make([]string, n)
	for i, ap := range addrs {
		strs[i] = ap.String()
	}
	c.client.setPrivate(addrs)
	ctx.Send(c.cfg.Directory, &messages.UpdatePeerAddresses{
		PeerId: c.client.peerID[:], SessionId: c.client.sessionID, PrivateAddresses: strs, SetPrivate: true,
	})
	ka := flash.SetKeepalive(uint32(c.cfg.KeepaliveServer/time.Millisecond), uint32(c.cfg.KeepalivePeer/time.Millisecond))
	c.write(ctx, ka.Append(nil))
}

// onCreateStream allocates the lowest free stream ID (Mona's rule; IDs are per session).
func (c *connection) onCreateStream(ctx actor.Context, cmd flash.Command) {
	if len(c.streams) >= maxStreams {
		c.replyError(ctx, cmd, flash.CallFailed("too many streams"))
		return
	}
	id := uint32(1)
	for c.streams[id] != nil {
		id++
	}
	ns := newNetStream(c, id) // built here: the producer must not read the connection
	if c.streams == nil {
		c.streams = map[uint32]*actor.PID{}
	}
	c.streams[id] = ctx.Spawn(c.childProps(func() actor.Actor { return ns }))
	c.reply(ctx, cmd, flash.CommandResult, float64(id))
}

const maxStreams = 256

// onRelay handles Cirrus' relay(targetPeerID, args…) (p2p.Relay).
func (c *connection) onRelay(ctx actor.Context, cmd flash.Command) {
	if c.relay == nil {
		c.relay = &p2p.Relay{}
	}
	if err := c.relay.Start(ctx, c.cfg.Directory, c.self, c.cfg.RelayStats, cmd.TransactionID, cmd.AMF3, cmd.Args, c.cfg.Clock.Now()); err != nil {
		c.replyError(ctx, cmd, flash.CallFailed(err.Error()))
	}
}

func (c *connection) onRelayTarget(ctx actor.Context, r *messages.LookupPeerResult) {
	if c.relay == nil {
		return
	}
	call, ok, err := c.relay.Deliver(ctx, r, c.client.peerID, c.cfg.Cluster, c.cfg.RelayStats)
	if !ok {
		return
	}
	cmd := flash.Command{Name: "relay", TransactionID: call.Txn, AMF3: call.AMF3}
	if err != nil {
		c.replyError(ctx, cmd, flash.CallFailed(err.Error()))
		return
	}
	if call.Txn != 0 {
		c.reply(ctx, cmd, flash.CommandResult, nil)
	}
}

// onRelayed delivers a relayed message to this client: method(senderPeerID, args…).
func (c *connection) onRelayed(ctx actor.Context, m *messages.RelayMessage) {
	if c.state != connConnected {
		return
	}
	method, args, err := p2p.Relayed(m)
	if err != nil {
		c.cfg.Stats.BadMessages.Add(1)
		return
	}
	c.send(ctx, flash.Command{Name: method, Args: args})
}

func (c *connection) onAddressChanged(ctx actor.Context, to netip.AddrPort) {
	c.client.setAddress(to)
	if c.state == connConnected && c.client.peer() {
		ctx.Send(c.cfg.Directory, &messages.UpdatePeerAddresses{PeerId: c.client.peerID[:], SessionId: c.client.sessionID, PublicAddress: to.String()})
	}
}

// leave tells the application and the directory that the client is gone (once);
// failure, if not empty, says why its session failed.
func (c *connection) leave(ctx actor.Context, failure string) {
	if c.closing {
		return
	}
	c.closing = true
	if c.state == connConnected {
		if c.client.peer() {
			ctx.Send(c.cfg.Directory, &messages.UnregisterPeer{PeerId: c.client.peerID[:], SessionId: c.client.sessionID})
		}
		ctx.Send(c.appPID, &apphost.Disconnect{Client: c.client, Failure: failure})
		c.cfg.Stats.Disconnections.Add(1)
		if c.connected != nil && c.cfg.Clients != nil {
			c.cfg.Clients.remove(c.connected.ID)
		}
	}
	c.state = connRefused
}

func (c *connection) closeSession(ctx actor.Context) {
	c.leave(ctx, "")
	ctx.Send(c.session, &session.Close{Reason: session.ReasonLocal})
}

// failure names why a session ended if it failed rather than closed (app.Failer).
func failure(r session.CloseReason) string {
	switch r {
	case session.ReasonIdle:
		return "session timed out: nothing received for the idle timeout"
	case session.ReasonRetransmit:
		return "session failed: data unacknowledged for too long"
	case session.ReasonFailure:
		return "session failed: internal error"
	case session.ReasonFlowViolation:
		return "session failed: flow rules broken"
	}
	return ""
}

// badMessage counts a message of the NetConnection flow that cannot be read, logs the
// first of the client, and answers it with _error if its name and transaction could be
// read (a call whose arguments are not valid AMF): the client learns why it gets no
// result, other clients nothing.
func (c *connection) badMessage(ctx actor.Context, head flash.Command, err error) {
	c.cfg.Stats.BadMessages.Add(1)
	if !c.badLogged {
		c.badLogged = true
		c.cfg.Log.Warn("malformed message from a client (further ones of this client are only counted)",
			zap.Stringer("addr", c.client.Address()), zap.String("command", head.Name), zap.Error(err))
	}
	if head.Name != "" && head.TransactionID != 0 && c.state == connConnected {
		c.replyError(ctx, head, flash.CallFailed("malformed AMF in the arguments of '"+head.Name+"': "+err.Error()))
	}
}

// commandHead reads what it can of a command whose whole cannot be read: its name and
// transaction ID.
func commandHead(msg flash.Message) flash.Command {
	d := amf.NewDecoder(msg.Body)
	name, err := d.ReadAMF0String()
	if err != nil {
		return flash.Command{}
	}
	txn, err := d.ReadAMF0Number()
	if err != nil {
		return flash.Command{}
	}
	return flash.Command{Name: name, TransactionID: txn, AMF3: msg.Type == flash.TypeCommandAMF3}
}

// reply sends _result or _error for cmd's transaction, with values after the null object.
func (c *connection) reply(ctx actor.Context, cmd flash.Command, name string, values ...any) {
	c.send(ctx, flash.Command{Name: name, TransactionID: cmd.TransactionID, AMF3: cmd.AMF3, Args: values})
}

// replyError answers cmd with _error — unless it is a call made with transaction 0, which
// wants no answer, not even an error (connect is always answered).
func (c *connection) replyError(ctx actor.Context, cmd flash.Command, s flash.Status) {
	if cmd.TransactionID == 0 && cmd.Name != flash.CommandConnect {
		return
	}
	c.reply(ctx, cmd, flash.CommandError, s)
}

// send writes a command on the server's NetConnection flow.
func (c *connection) send(ctx actor.Context, cmd flash.Command) {
	b, err := flash.AppendCommand(nil, cmd)
	if err != nil {
		c.cfg.Log.Warn("cannot encode command", zap.String("name", cmd.Name), zap.Error(err))
		c.cfg.Stats.EncodeErrors.Add(1)
		if cmd.Name == flash.CommandResult {
			b, _ = flash.AppendCommand(nil, flash.Command{Name: flash.CommandError, TransactionID: cmd.TransactionID, AMF3: cmd.AMF3,
				Args: []any{flash.CallFailed("result cannot be encoded")}})
		} else {
			return
		}
	}
	c.write(ctx, b)
}

func (c *connection) write(ctx actor.Context, b []byte) {
	if !c.haveNC {
		return
	}
	ctx.Send(c.session, &session.Write{Key: c.ncKey, Data: b, Priority: session.PriorityControl})
}

// childProps returns the props of a stream or group flow actor. A stream's own children
// (its recorder, its player) are stopped when they panic: the stream tells its client.
func (c *connection) childProps(producer actor.Producer, extra ...actor.PropsOption) *actor.Props {
	opts := append([]actor.PropsOption{actor.WithReceiverMiddleware(supervision.Middleware),
		actor.WithSupervisor(supervision.StopOnPanic(c.cfg.Log, "recorder or player", &c.cfg.Stats.StreamFailures))}, c.cfg.ChildOptions...)
	return actor.PropsFromProducer(producer, append(opts, extra...)...)
}

// encodeConnectObject keeps a connect command object as AMF0: a few hundred bytes where
// the decoded object takes several times that, for every connected client.
func encodeConnectObject(obj *amf.Object) unique.Handle[string] {
	b, err := amf.AppendAMF0(nil, obj)
	if err != nil {
		b = nil
	}
	return unique.Make(string(b))
}

// decoders lends AMF decoders to the connections and streams, which parse a command now
// and then: a decoder of their own would keep its tables and string cache for as long as
// the client stays connected.
var decoders = sync.Pool{New: func() any { return new(amf.Decoder) }}

// parseCommand parses a Flash command message with a pooled decoder. The command shares
// nothing with the decoder.
func parseCommand(msg flash.Message) (flash.Command, error) {
	d := decoders.Get().(*amf.Decoder)
	cmd, err := flash.ParseCommand(msg, d)
	d.Reset(nil) // do not keep msg reachable from the pool
	decoders.Put(d)
	return cmd, err
}
