package client

import (
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

type callRequest struct {
	method string
	args   []any
	reply  chan callReply           // nil: no answer wanted
	raw    func(txn float64) []byte // the message as it is (CallRaw), instead of method and args
}

type callReply struct {
	values []any
	err    error
}

const connectTxn = 1

// connActor is the Flash layer of a client session: it sends connect, matches replies to
// calls, hands the server's calls to the handler and reports the end of the session.
type connActor struct {
	c          *Conn
	ncKey      session.FlowKey
	returnFlow uint64
	haveReturn bool
	connected  bool
	ended      bool
	nextTxn    float64
	calls      map[float64]func(callReply)
	dec        amf.Decoder

	streams    map[uint32]*streamState
	flowStream map[uint64]uint32 // receive flow → stream ID

	groups     map[uint8]*Group  // by lane of our group flow
	groupFlows map[uint64]*Group // by the server's return flow
	nextLane   uint8
}

func newConnActor(c *Conn) actor.Actor {
	return &connActor{c: c, ncKey: session.FlowKey{Metadata: "TC\x04\x00"}, nextTxn: connectTxn + 1,
		calls: map[float64]func(callReply){}, streams: map[uint32]*streamState{}, flowStream: map[uint64]uint32{},
		groups: map[uint8]*Group{}, groupFlows: map[uint64]*Group{}}
}

// streamRequest opens a NetStream to play or publish.
type streamRequest struct {
	player    *Player
	publisher *Publisher
}

// streamClose ends a NetStream.
type streamClose struct{ id uint32 }

// streamDelete forgets a closing NetStream whose closeStream went unanswered.
type streamDelete struct{ id uint32 }

// streamCommand sends a command (receiveAudio, receiveVideo, pause) on a NetStream.
type streamCommand struct {
	id   uint32
	data []byte
}

// closeStreamWait bounds how long a closed stream waits for the server's answer
// (NetStream.Play.Stop or NetStream.Unpublish.Success) before it is deleted anyway.
const closeStreamWait = 3 * time.Second

func (a *connActor) Receive(ctx actor.Context) {
	defer supervision.Repanic()
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.c.conn = ctx.Self()
		a.c.sessionPID.Store(ctx.Parent())
		a.sendConnect(ctx)
	case *session.FlowOpened:
		a.onFlowOpened(ctx, m)
	case *session.FlowMessage:
		if a.haveReturn && m.FlowID == a.returnFlow {
			a.onMessage(ctx, m.Data)
		} else if g := a.groupFlows[m.FlowID]; g != nil {
			a.onGroupMessage(g, m.Data)
		} else if id, ok := a.flowStream[m.FlowID]; ok && !a.ended {
			if st := a.streams[id]; st != nil {
				code := onStreamMessage(st, m.Data, a.c.arrived(m.At), &a.dec)
				if st.closing && (code == flash.CodePlayStop || code == flash.CodeUnpublishSuccess) {
					a.deleteStream(ctx, id)
				}
			}
		}
	case *session.FlowFinished:
		delete(a.flowStream, m.FlowID)
	case *callRequest:
		a.onCallRequest(ctx, m)
	case *streamRequest:
		a.onStreamRequest(ctx, m)
	case *streamClose:
		a.closeStream(ctx, m.id)
	case *session.Delivered:
		a.settle(ctx, uint32(m.Tag))
	case *session.Abandoned:
		a.settle(ctx, uint32(m.Tag))
	case *session.Refused:
		a.settle(ctx, uint32(m.Tag))
	case *streamDelete:
		if st := a.streams[m.id]; st != nil && st.closing {
			a.deleteStream(ctx, m.id)
		}
	case *streamCommand:
		if st := a.streams[m.id]; st != nil && !st.closing && !a.ended {
			a.writeStream(ctx, st, m.data)
		}
	case *groupRequest:
		a.onGroupRequest(ctx, m)
	case *session.SendFlowRejected:
		if m.Key.Metadata == "GC" {
			if g := a.groups[m.Key.Lane]; g != nil {
				close(g.rejected)
				delete(a.groups, m.Key.Lane)
			}
		}
	case *session.Closing:
		a.end(m.Reason)
	case *actor.Stopping:
		a.end(session.ReasonNone)
	}
}

func (a *connActor) sendConnect(ctx actor.Context) {
	enc := 3.0
	if a.c.opts.Dialect == RFC7425 {
		enc = 0
	}
	path, _ := splitPath(a.c.url)
	obj := amf.NewObject(
		amf.Property{Key: "app", Value: path},
		amf.Property{Key: "flashVer", Value: "GO 1,0,0,0"},
		amf.Property{Key: "swfUrl", Value: amf.Undefined{}},
		amf.Property{Key: "tcUrl", Value: a.c.url},
		amf.Property{Key: "fpad", Value: false},
		amf.Property{Key: "capabilities", Value: 235.0},
		amf.Property{Key: "audioCodecs", Value: 3575.0},
		amf.Property{Key: "videoCodecs", Value: 252.0},
		amf.Property{Key: "videoFunction", Value: 1.0},
		amf.Property{Key: "pageUrl", Value: amf.Undefined{}},
		amf.Property{Key: "objectEncoding", Value: enc},
	)
	for _, p := range a.c.opts.ConnectObject {
		obj.Set(p.Key, p.Value)
	}
	a.write(ctx, flash.Command{Name: flash.CommandConnect, TransactionID: connectTxn, Object: obj, Args: a.c.opts.Args})
}

func (a *connActor) onFlowOpened(ctx actor.Context, m *session.FlowOpened) {
	md, err := flash.ParseMetadata(m.Metadata)
	switch {
	case err != nil:
	case md.Kind == flash.KindNetConnection && !a.haveReturn:
		a.returnFlow, a.haveReturn = m.FlowID, true
		ctx.Send(ctx.Parent(), &session.AcceptFlow{FlowID: m.FlowID, PID: ctx.Self()})
		return
	case md.Kind == flash.KindNetGroup:
		if a.onGroupFlow(ctx, m) {
			return
		}
	case md.Kind == flash.KindNetStream && a.streams[uint32(md.StreamID)] != nil:
		a.flowStream[m.FlowID] = uint32(md.StreamID)
		ctx.Send(ctx.Parent(), &session.AcceptFlow{FlowID: m.FlowID, PID: ctx.Self()})
		return
	}
	ctx.Send(ctx.Parent(), &session.RejectFlow{FlowID: m.FlowID})
}

// onStreamRequest creates a stream, then plays or publishes on it.
func (a *connActor) onStreamRequest(ctx actor.Context, r *streamRequest) {
	fail := func(err error) {
		if r.player != nil {
			r.player.started <- err
		} else {
			r.publisher.started <- err
		}
	}
	if !a.connected || a.ended || !a.haveReturn {
		fail(errNotConnected)
		return
	}
	txn := a.nextTxn
	a.nextTxn++
	a.calls[txn] = func(rep callReply) {
		if rep.err != nil {
			fail(rep.err)
			return
		}
		var id float64
		if len(rep.values) > 0 {
			id, _ = amf.AsNumber(rep.values[len(rep.values)-1])
		}
		if id < 1 {
			fail(errors.New("createStream returned no stream ID"))
			return
		}
		st := &streamState{id: uint32(id), player: r.player, publisher: r.publisher,
			key: session.FlowKey{Metadata: streamMetadata(uint32(id)), Assoc: a.returnFlow, HasAssoc: true}}
		a.streams[st.id] = st
		sess := ctx.Parent()
		root := ctx.ActorSystem().Root
		self := ctx.Self()
		if r.player != nil {
			r.player.closeFn = func() { root.Send(self, &streamClose{id: st.id}) }
			done := a.c.done
			r.player.cmdFn = func(name string, args ...any) error {
				select {
				case <-done:
					return ErrClosed
				default:
				}
				b, err := flash.AppendCommand(nil, flash.Command{Name: name, Args: args})
				if err != nil {
					return err
				}
				root.Send(self, &streamCommand{id: st.id, data: b})
				return nil
			}
			args := []any{r.player.Name}
			if r.player.hasStart {
				args = append(args, r.player.start)
			}
			a.writeStream(ctx, st, commandBytes(flash.CommandPlay, args...))
			return
		}
		pub := r.publisher
		pub.closeFn = func() { root.Send(self, &streamClose{id: st.id}) }
		// Every media message asks the session for its fate, so that Close can wait for
		// the last ones (settle). The stream's ID tells whose: it is not reused before
		// deleteStream, which comes after the last of them.
		receipt := &session.Receipt{To: self, Tag: uint64(st.id)}
		pub.write = func(m Media) error {
			select {
			case <-a.c.done:
				return ErrClosed
			default:
			}
			w := mediaWrite(st.key, m)
			w.Receipt = receipt
			pub.unsettled.Add(1)
			root.Send(sess, w)
			return nil
		}
		a.writeStream(ctx, st, commandBytes(flash.CommandPublish, r.publisher.Name, r.publisher.typ))
	}
	a.write(ctx, flash.Command{Name: flash.CommandCreateStream, TransactionID: txn})
}

func (a *connActor) writeStream(ctx actor.Context, st *streamState, b []byte) {
	ctx.Send(ctx.Parent(), &session.Write{Key: st.key, Data: b, Priority: session.PriorityControl})
}

// closeStream ends a stream: closeStream on it, then, once the server answered it (its
// statuses still reach the player or publisher) or after closeStreamWait, deleteStream.
// A publisher's closeStream waits until the media it wrote are settled: it goes on the
// stream's command flow, of the highest priority, and would overtake the media still
// queued on the audio and video flows (the server unpublishes on it).
func (a *connActor) closeStream(ctx actor.Context, id uint32) {
	st := a.streams[id]
	if st == nil || st.closing || st.draining {
		return
	}
	if a.ended {
		a.deleteStream(ctx, id)
		return
	}
	if st.publisher != nil && st.publisher.unsettled.Load() > 0 {
		st.draining = true
		return
	}
	a.sendCloseStream(ctx, st)
}

// settle counts one media message of stream id settled (its receipt came back) and sends
// the closeStream that waited for the last one.
func (a *connActor) settle(ctx actor.Context, id uint32) {
	st := a.streams[id]
	if st == nil || st.publisher == nil {
		return
	}
	if st.publisher.unsettled.Add(-1) == 0 && st.draining && !a.ended {
		st.draining = false
		a.sendCloseStream(ctx, st)
	}
}

// sendCloseStream sends closeStream and bounds the wait for the server's answer.
func (a *connActor) sendCloseStream(ctx actor.Context, st *streamState) {
	id := st.id
	st.closing = true
	a.writeStream(ctx, st, commandBytes(flash.CommandCloseStream))
	self, root := ctx.Self(), ctx.ActorSystem().Root
	a.c.ep.clock.AfterFunc(closeStreamWait, func() { root.Send(self, &streamDelete{id: id}) })
}

// deleteStream forgets a stream: deleteStream on the NetConnection, its flows closed.
func (a *connActor) deleteStream(ctx actor.Context, id uint32) {
	st := a.streams[id]
	if st == nil {
		return
	}
	delete(a.streams, id)
	// The server's flows of the stream stay mapped to its ID until they finish: a server
	// reuses a deleted stream's ID (the lowest free one) and may go on writing that stream's
	// messages on the same flows.
	if a.ended {
		return
	}
	a.write(ctx, flash.Command{Name: flash.CommandDeleteStream, Args: []any{float64(id)}})
	closeStreamFlows(func(m *session.CloseFlow) { ctx.Send(ctx.Parent(), m) }, st.key)
}

func (a *connActor) onMessage(ctx actor.Context, data []byte) {
	msg, err := flash.ParseMessage(data)
	if err != nil {
		return
	}
	switch msg.Type {
	case flash.TypeCommandAMF0, flash.TypeCommandAMF3:
		cmd, err := flash.ParseCommand(msg, &a.dec)
		if err != nil {
			return
		}
		a.onCommand(ctx, cmd)
	case flash.TypeUserControl:
		uc, err := flash.ParseUserControl(msg)
		if err != nil {
			return
		}
		if server, peer, ok := uc.Keepalive(); ok {
			select {
			case a.c.keepalive <- [2]uint32{server, peer}:
			default:
			}
			ctx.Send(ctx.Parent(), &session.SetKeepalive{Period: time.Duration(server) * time.Millisecond})
		}
	}
}

func (a *connActor) onCommand(ctx actor.Context, cmd flash.Command) {
	switch cmd.Name {
	case flash.CommandResult, flash.CommandError:
		a.onReply(ctx, cmd)
	case flash.CommandClose:
		ctx.Send(ctx.Parent(), &session.Close{Reason: session.ReasonRemote})
	case flash.CommandOnStatus:
		// NetConnection status events (e.g. Connect.Closed: the close itself ends us) go
		// to the handler too.
		if h := a.c.opts.Handler; h != nil && a.connected {
			h(cmd.Name, cmd.Args)
		}
	default:
		if h := a.c.opts.Handler; h != nil && a.connected {
			h(cmd.Name, cmd.Args)
		}
	}
}

func (a *connActor) onReply(ctx actor.Context, cmd flash.Command) {
	var info any
	if len(cmd.Args) > 0 {
		info = cmd.Args[0]
	}
	if cmd.TransactionID == connectTxn && !a.connected {
		st, err := flash.ParseStatus(info)
		switch {
		case err != nil:
			a.c.connected <- err
		case cmd.Name == flash.CommandResult && st.Code == flash.CodeConnectSuccess:
			a.connected = true
			a.c.mu.Lock()
			a.c.result = st
			a.c.mu.Unlock()
			a.sendPeerInfo(ctx)
			a.c.connected <- nil
		default:
			a.c.connected <- &ConnectError{Status: st}
		}
		return
	}
	reply := a.calls[cmd.TransactionID]
	if reply == nil {
		return
	}
	delete(a.calls, cmd.TransactionID)
	if cmd.Name == flash.CommandResult {
		reply(callReply{values: cmd.Args})
		return
	}
	st, err := flash.ParseStatus(info)
	if err != nil {
		reply(callReply{err: errors.New("call failed without a status object")})
		return
	}
	reply(callReply{err: &CallError{Status: st}})
}

func (a *connActor) sendPeerInfo(ctx actor.Context) {
	if a.c.opts.SkipPeerInfo {
		return
	}
	args := make([]any, 0, len(a.c.opts.PeerInfo))
	for _, ap := range a.c.opts.PeerInfo {
		args = append(args, ap.String())
	}
	// Newer Flash Players send setPeerInfo as an AMF3 command (0x11), rtmfp-cpp as 0x14.
	a.write(ctx, flash.Command{Name: flash.CommandSetPeerInfo, Args: args, AMF3: a.c.opts.Dialect == Flash})
}

func (a *connActor) onCallRequest(ctx actor.Context, m *callRequest) {
	if !a.connected || a.ended {
		if m.reply != nil {
			m.reply <- callReply{err: ErrClosed}
		}
		return
	}
	cmd := flash.Command{Name: m.method, Args: m.args}
	if m.reply != nil {
		cmd.TransactionID = a.nextTxn
		a.nextTxn++
		reply := m.reply
		a.calls[cmd.TransactionID] = func(r callReply) { reply <- r }
	}
	if m.raw != nil {
		ctx.Send(ctx.Parent(), &session.Write{Key: a.ncKey, Data: m.raw(cmd.TransactionID), Priority: session.PriorityControl})
		return
	}
	a.write(ctx, cmd)
}

func (a *connActor) write(ctx actor.Context, cmd flash.Command) {
	b, err := flash.AppendCommand(nil, cmd)
	if err != nil {
		if r := a.calls[cmd.TransactionID]; r != nil {
			delete(a.calls, cmd.TransactionID)
			r(callReply{err: err})
		}
		return
	}
	ctx.Send(ctx.Parent(), &session.Write{Key: a.ncKey, Data: b, Priority: session.PriorityControl})
}

// end fails everything pending and marks the connection done (once).
func (a *connActor) end(reason session.CloseReason) {
	if a.ended {
		return
	}
	a.ended = true
	for txn, r := range a.calls {
		r(callReply{err: ErrClosed})
		delete(a.calls, txn)
	}
	for _, st := range a.streams {
		if st.player != nil {
			st.player.end()
		}
	}
	clear(a.streams)
	if !a.connected {
		select {
		case a.c.connected <- ErrClosed:
		default:
		}
	}
	a.c.mu.Lock()
	if a.c.closeBy == session.ReasonNone {
		a.c.closeBy = reason
	}
	a.c.mu.Unlock()
	close(a.c.done)
	a.c.ep.forget(a.c)
}
