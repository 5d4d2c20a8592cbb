package server

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
	"unique"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/endpoint"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/messages"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

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
	sh      *shared
	session *actor.PID
	self    *actor.PID
	// client is what the application sees of the connection; it holds the session's ID,
	// the peer ID and the far address, which the connection reads there too.
	client *client

	state      connState
	haveNC     bool
	closing    bool
	ncFlow     uint64
	ncKey      session.FlowKey
	appPID     *actor.PID
	connect    *pendingConnect       // the connect being decided, nil otherwise
	streams    map[uint32]*actor.PID // stream actors by stream ID
	groupFlows map[uint64]*actor.PID // group flow actors by receive flow
	relay      *relayState           // made by the first relay call
}

// pendingConnect is a connect the application is deciding on.
type pendingConnect struct {
	txn      float64         // its transaction, for the answer
	encoding float64         // the client's objectEncoding, echoed in the connect result
	amf3     bool            // it came as AMF3 (so does the answer)
	calls    []flash.Command // calls received meanwhile, run once it is accepted
}

// relayState is what Cirrus-style relay calls need: few clients make them, so it is kept
// out of every connection.
type relayState struct {
	pending    map[uint64]pendingRelay // directory lookups of relay targets
	nextLookup uint64
	limit      bucket
}

type pendingRelay struct {
	txn  float64
	amf3 bool
	args []byte
}

// Relay limits: calls per second per client (burst twice that) and payload size.
const (
	relaysPerSecond = 50
	maxRelayPayload = 64 << 10
)

func newConnection(sh *shared, info endpoint.SessionInfo) *connection {
	return &connection{sh: sh, client: &client{sessionID: info.LocalID, peerID: info.PeerID, addr: info.Addr}}
}

// refusedLinger is how long a refused client gets to read its _error before the server
// closes the session itself.
const refusedLinger = 3 * time.Second

type closeRefused struct{}

func (c *connection) Receive(ctx actor.Context) {
	defer supervision.Repanic() // instead of the receiver middleware: see Repanic
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.self, c.session = ctx.Self(), ctx.Parent()
		c.client.root, c.client.conn = ctx.ActorSystem().Root, c.self
		c.sh.stats.Connections.Add(1)
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
	case *appConnectResult:
		c.onConnectResult(ctx, m)
	case *appCallResult:
		c.onCallResult(ctx, m)
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
	case *session.Closing:
		// The session is over (it may linger to answer a close): streams and groups end
		// now, so that publications and groups see their members leave at once.
		for _, pid := range c.streams {
			ctx.Stop(pid)
		}
		for _, pid := range c.groupFlows {
			ctx.Stop(pid)
		}
		c.leave(ctx)
	case *actor.Stopping:
		c.leave(ctx)
	}
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
		if c.state != connConnected || len(c.groupFlows) >= c.sh.cfg.GroupsPerClient {
			c.sh.groups.stats.Refused.Add(1)
			c.reject(ctx, m.FlowID)
			return
		}
		proto := newGroupFlow(c, m.FlowID)
		pid := ctx.Spawn(c.sh.props(func() actor.Actor { gf := *proto; return &gf },
			actor.WithReceiverMiddleware(supervision.Middleware)))
		if c.groupFlows == nil {
			c.groupFlows = map[uint64]*actor.PID{}
		}
		c.groupFlows[m.FlowID] = pid // a child: its Terminated comes to us unasked
		ctx.Send(c.session, &session.AcceptFlow{FlowID: m.FlowID, PID: pid})
	default:
		c.reject(ctx, m.FlowID)
	}
}

func (c *connection) reject(ctx actor.Context, flowID uint64) {
	c.sh.stats.RejectedFlows.Add(1)
	ctx.Send(c.session, &session.RejectFlow{FlowID: flowID})
}

// onNetConnectionMessage handles one message of the NetConnection flow.
func (c *connection) onNetConnectionMessage(ctx actor.Context, data []byte) {
	msg, err := flash.ParseMessage(data)
	if err != nil {
		c.sh.stats.BadMessages.Add(1)
		return
	}
	switch msg.Type {
	case flash.TypeCommandAMF0, flash.TypeCommandAMF3:
		cmd, err := parseCommand(msg)
		if err != nil {
			c.sh.stats.BadMessages.Add(1)
			return
		}
		c.onCommand(ctx, cmd)
	case flash.TypeUserControl:
		// Set Buffer Length and the like from the client: nothing to do for a live server.
	default:
		c.sh.stats.BadMessages.Add(1)
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
					ctx.Stop(pid)
					delete(c.streams, uint32(id))
				}
			}
		}
	case flash.CommandClose:
		c.closeSession(ctx)
	case "relay":
		c.onRelay(ctx, cmd)
	case flash.CommandInitStream:
		// Sent by Flash before multicast publishing; nothing to answer (Cumulus ignores it).
	case "releaseStream", "FCPublish", "FCUnpublish", "getStreamLength":
		// RTMP encoder habits: acknowledge so that such clients proceed.
		if cmd.TransactionID != 0 {
			c.reply(ctx, cmd, flash.CommandResult, nil)
		}
	default:
		c.sh.stats.Calls.Add(1)
		ctx.Send(c.appPID, &appCall{client: c.client, txn: cmd.TransactionID, amf3: cmd.AMF3, method: cmd.Name, args: cmd.Args})
	}
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
	tcURL, _ := obj.GetString("tcUrl")
	var path string
	var query map[string][]string
	if tcURL != "" {
		path, query = splitURL(tcURL)
	} else {
		appName, _ := obj.GetString("app")
		path, query = splitURL(appName)
	}
	// Written before the application first sees the client (appConnect below).
	c.client.path, c.client.query, c.client.connect = path, query, encodeConnectObject(obj)
	c.appPID = c.sh.apps.lookup(path)
	if c.appPID == nil {
		c.sh.stats.ConnectsRejected.Add(1)
		c.state = connRefused
		c.replyError(ctx, cmd, flash.ConnectInvalidApp(fmt.Sprintf("Application '%s' doesn't exist", path)))
		c.refuse(ctx)
		return
	}
	c.state, c.connect = connConnecting, pc
	ctx.Send(c.appPID, &appConnect{client: c.client, args: cmd.Args})
}

func (c *connection) onConnectResult(ctx actor.Context, r *appConnectResult) {
	if c.state != connConnecting {
		return
	}
	pc := c.connect
	c.connect = nil
	reply := flash.Command{Name: flash.CommandConnect, TransactionID: pc.txn, AMF3: pc.amf3}
	if r.err != nil {
		c.sh.stats.ConnectsRejected.Add(1)
		c.state = connRefused
		c.replyError(ctx, reply, flash.ConnectRejected(r.err.Error()))
		c.refuse(ctx)
		return
	}
	c.state = connConnected
	c.sh.stats.ConnectsAccepted.Add(1)
	status := flash.ConnectSuccess(pc.encoding)
	status.Extra = append(status.Extra, r.props...)
	c.reply(ctx, reply, flash.CommandResult, status)
	ctx.Send(c.sh.directory, &messages.RegisterPeer{Peer: &messages.Peer{
		PeerId: c.client.peerID[:], SessionId: c.client.sessionID, Session: c.session, Connection: c.self,
		PublicAddress: c.client.Address().String(), Node: c.sh.node,
	}})
	for _, cmd := range pc.calls {
		c.onCommand(ctx, cmd)
	}
}

// refuse sends the `close` invocation that follows a refused connect and makes sure the
// session ends even if the client does not close it.
func (c *connection) refuse(ctx actor.Context) {
	c.send(ctx, flash.Command{Name: flash.CommandClose})
	self, root := c.self, ctx.ActorSystem().Root
	time.AfterFunc(refusedLinger, func() { root.Send(self, &closeRefused{}) })
}

func (c *connection) onCallResult(ctx actor.Context, r *appCallResult) {
	if r.txn == 0 {
		return // the client expects no answer
	}
	cmd := flash.Command{Name: r.method, TransactionID: r.txn, AMF3: r.amf3}
	switch {
	case r.err == nil:
		c.reply(ctx, cmd, flash.CommandResult, r.results...)
	case errors.Is(r.err, app.ErrMethodNotFound):
		c.replyError(ctx, cmd, flash.CallFailed(fmt.Sprintf("Method '%s' not found", r.method)))
	default:
		c.replyError(ctx, cmd, flash.CallFailed(r.err.Error()))
	}
}

// onSetPeerInfo stores the client's private addresses and answers with Set Keepalive.
func (c *connection) onSetPeerInfo(ctx actor.Context, cmd flash.Command) {
	var parsed [16]netip.AddrPort // at most 16 are kept
	n := 0
	for _, a := range cmd.Args {
		s, ok := a.(string)
		if !ok {
			continue
		}
		ap := parseAddr(s)
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
	ctx.Send(c.sh.directory, &messages.UpdatePeerAddresses{
		PeerId: c.client.peerID[:], SessionId: c.client.sessionID, PrivateAddresses: strs, SetPrivate: true,
	})
	ka := flash.SetKeepalive(uint32(c.sh.cfg.KeepaliveServer/time.Millisecond), uint32(c.sh.cfg.KeepalivePeer/time.Millisecond))
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
	proto := newNetStream(c, id) // built here: the producer must not read the connection
	if c.streams == nil {
		c.streams = map[uint32]*actor.PID{}
	}
	c.streams[id] = ctx.Spawn(c.sh.props(func() actor.Actor { ns := *proto; return &ns },
		actor.WithReceiverMiddleware(supervision.Middleware)))
	c.reply(ctx, cmd, flash.CommandResult, float64(id))
}

const maxStreams = 256

// onRelay handles Cirrus' relay(targetPeerID, args…): the target receives
// onRelay(senderPeerID, args…) and the caller an empty _result, or _error when the target
// is not connected (Mona's recipe, which the Cirrus samples expect).
func (c *connection) onRelay(ctx actor.Context, cmd flash.Command) {
	c.sh.stats.Relays.Add(1)
	var target cryptoutil.PeerID
	var err error
	if len(cmd.Args) > 0 {
		s, _ := cmd.Args[0].(string)
		target, err = cryptoutil.ParsePeerID(s)
	}
	if len(cmd.Args) == 0 || err != nil {
		c.replyError(ctx, cmd, flash.CallFailed("relay needs the target's peer ID (64 hex digits)"))
		return
	}
	if c.relay == nil {
		c.relay = &relayState{}
	}
	rs := c.relay
	if !rs.limit.take(relaysPerSecond, 2*relaysPerSecond, time.Now()) {
		c.sh.stats.RelaysLimited.Add(1)
		c.replyError(ctx, cmd, flash.CallFailed("relay rate limit exceeded"))
		return
	}
	var payload []byte
	for _, a := range cmd.Args[1:] {
		if payload, err = amf.AppendAMF0(payload, a); err != nil {
			c.replyError(ctx, cmd, flash.CallFailed("relay arguments cannot be encoded"))
			return
		}
	}
	if len(payload) > maxRelayPayload {
		c.sh.stats.RelaysLimited.Add(1)
		c.replyError(ctx, cmd, flash.CallFailed("relay payload too large"))
		return
	}
	if rs.pending == nil {
		rs.pending = map[uint64]pendingRelay{}
	}
	if len(rs.pending) >= 256 {
		c.sh.stats.RelaysLimited.Add(1)
		c.replyError(ctx, cmd, flash.CallFailed("too many relays in progress"))
		return
	}
	rs.nextLookup++
	rs.pending[rs.nextLookup] = pendingRelay{txn: cmd.TransactionID, amf3: cmd.AMF3, args: payload}
	ctx.Send(c.sh.directory, &messages.LookupPeer{PeerId: target[:], RequestId: rs.nextLookup, ReplyTo: c.self})
}

func (c *connection) onRelayTarget(ctx actor.Context, r *messages.LookupPeerResult) {
	if c.relay == nil {
		return
	}
	p, ok := c.relay.pending[r.RequestId]
	if !ok {
		return
	}
	delete(c.relay.pending, r.RequestId)
	cmd := flash.Command{Name: "relay", TransactionID: p.txn, AMF3: p.amf3}
	if !r.Found || r.Peer.Connection == nil {
		c.sh.stats.RelaysUnknown.Add(1)
		id, _ := cryptoutil.PeerIDFromBytes(r.PeerId)
		c.replyError(ctx, cmd, flash.CallFailed(fmt.Sprintf("peer %s not found", id)))
		return
	}
	ctx.Send(r.Peer.Connection, &messages.RelayMessage{SenderPeerId: c.client.peerID[:], Method: "onRelay", ArgsAmf0: p.args})
	if p.txn != 0 {
		c.reply(ctx, cmd, flash.CommandResult, nil)
	}
}

// onRelayed delivers a relayed message to this client: method(senderPeerID, args…).
func (c *connection) onRelayed(ctx actor.Context, m *messages.RelayMessage) {
	if c.state != connConnected {
		return
	}
	sender, ok := cryptoutil.PeerIDFromBytes(m.SenderPeerId)
	if !ok || m.Method == "" {
		return
	}
	args := []any{sender.String()}
	var dec amf.Decoder
	dec.Reset(m.ArgsAmf0)
	for dec.Len() > 0 {
		v, err := dec.ReadAMF0()
		if err != nil {
			c.sh.stats.BadMessages.Add(1)
			return
		}
		args = append(args, v)
	}
	c.send(ctx, flash.Command{Name: m.Method, Args: args})
}

// bucket is a token bucket.
type bucket struct {
	tokens float64
	last   time.Time
	used   bool
}

func (b *bucket) take(rate, burst float64, now time.Time) bool {
	if !b.used {
		b.tokens, b.last, b.used = burst, now, true
	}
	b.tokens = min(burst, b.tokens+rate*now.Sub(b.last).Seconds())
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (c *connection) onAddressChanged(ctx actor.Context, to netip.AddrPort) {
	c.client.setAddress(to)
	if c.state == connConnected {
		ctx.Send(c.sh.directory, &messages.UpdatePeerAddresses{PeerId: c.client.peerID[:], SessionId: c.client.sessionID, PublicAddress: to.String()})
	}
}

// leave tells the application and the directory that the client is gone (once).
func (c *connection) leave(ctx actor.Context) {
	if c.closing {
		return
	}
	c.closing = true
	if c.state == connConnected {
		ctx.Send(c.sh.directory, &messages.UnregisterPeer{PeerId: c.client.peerID[:], SessionId: c.client.sessionID})
		ctx.Send(c.appPID, &appDisconnect{client: c.client})
		c.sh.stats.Disconnections.Add(1)
	}
	c.state = connRefused
}

func (c *connection) closeSession(ctx actor.Context) {
	c.leave(ctx)
	ctx.Send(c.session, &session.Close{Reason: session.ReasonLocal})
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
		c.sh.log.Warn("cannot encode command", zap.String("name", cmd.Name), zap.Error(err))
		c.sh.stats.EncodeErrors.Add(1)
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
