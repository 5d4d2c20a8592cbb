package rtmp

import (
	"encoding/binary"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/live"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// The Flash layer of a connection (package netconn: the NetConnection, its NetStreams,
// the applications) is the one RTMFP sessions have. It talks to its parent — here the
// connection — in the messages of package session, and names streams as RTMFP does, by
// flow metadata carrying the NetStream's ID: the number RTMP carries as message stream
// ID. So the connection opens a "flow" per message stream ID for the layer (the
// NetConnection's is stream 0), and maps what the layer writes under a flow key back to a
// message stream and a chunk stream.

// Chunk stream IDs of what the connection writes.
const (
	csidControl = 2 // protocol control and user control events
	csidCommand = 3 // NetConnection commands and results
	csidStream  = 5 // NetStream statuses and data
	csidAudio   = 6
	csidVideo   = 7
)

// flow is a message stream as the Flash layer sees it.
type flow struct {
	pid  *actor.PID // accepted: where its messages go
	held [][]byte   // messages before the layer accepted the flow
	size int        // bytes held
}

// maxHeld bounds what a flow holds until the Flash layer accepts or refuses it.
const maxHeld = 1 << 20

// flowID is the flow ID the Flash layer knows message stream msid by.
func flowID(msid uint32) uint64 { return uint64(msid) + 1 }

// onInbound hands a message of the client to the flow of its message stream, opening it
// (session.FlowOpened) at its first message.
func (c *conn) onInbound(ctx actor.Context, m *inbound) {
	if c.upper == nil || c.closing {
		return
	}
	f := c.flows[m.msid]
	if f == nil {
		if len(c.flows) >= maxFlows {
			c.cfg.Stats.BadMessages.Add(1)
			return
		}
		f = &flow{}
		c.flows[m.msid] = f
		kind := flash.KindNetStream
		if m.msid == 0 {
			kind = flash.KindNetConnection
		}
		md := flash.Metadata{Kind: kind, StreamID: uint64(m.msid)}.Append(nil)
		ctx.Send(c.upper, &session.FlowOpened{FlowID: flowID(m.msid), Metadata: md, Assoc: flowID(0), HasAssoc: m.msid != 0})
	}
	if f.pid != nil {
		ctx.Send(f.pid, &session.FlowMessage{FlowID: flowID(m.msid), Data: m.data})
		return
	}
	if f.size+len(m.data) > maxHeld {
		c.cfg.Stats.BadMessages.Add(1)
		return
	}
	f.held = append(f.held, m.data)
	f.size += len(m.data)
}

// maxFlows bounds the message streams a client may use at once (netconn allows 256
// NetStreams; a flow refused by the layer is forgotten).
const maxFlows = 512

func (c *conn) onAcceptFlow(ctx actor.Context, m *session.AcceptFlow) {
	msid := uint32(m.FlowID - 1)
	f := c.flows[msid]
	if f == nil || f.pid != nil {
		return
	}
	f.pid = m.PID
	if !m.PID.Equal(c.upper) {
		ctx.Watch(m.PID) // a stream actor: when it ends, its message stream is free again
	}
	for i, data := range f.held {
		ctx.Send(f.pid, &session.FlowMessage{FlowID: m.FlowID, Data: data})
		f.held[i] = nil
	}
	f.held, f.size = nil, 0
}

// onRejectFlow forgets a message stream the layer refused (one that was never created):
// its held messages are dropped, and a later message opens it anew.
func (c *conn) onRejectFlow(m *session.RejectFlow) {
	msid := uint32(m.FlowID - 1)
	if f := c.flows[msid]; f != nil && f.pid == nil {
		c.cfg.Stats.BadMessages.Add(uint64(len(f.held)))
		delete(c.flows, msid)
	}
}

// onFlowActorEnded forgets the message streams of a stream actor that stopped
// (deleteStream, closeStream's end, a crash).
func (c *conn) onFlowActorEnded(who *actor.PID) {
	for msid, f := range c.flows {
		if f.pid != nil && f.pid.Equal(who) {
			delete(c.flows, msid)
		}
	}
}

// streamOf returns the message stream of a flow key (its flash metadata's stream ID).
func (c *conn) streamOf(k session.FlowKey) (uint32, bool) {
	if msid, ok := c.streamIDs[k.Metadata]; ok {
		return msid, true
	}
	md, err := flash.ParseMetadata([]byte(k.Metadata))
	if err != nil || md.Kind == flash.KindNetGroup || md.StreamID > 1<<24 {
		return 0, false
	}
	if len(c.streamIDs) < maxFlows {
		c.streamIDs[k.Metadata] = uint32(md.StreamID)
	}
	return uint32(md.StreamID), true
}

// onWrite queues what the Flash layer writes on a flow: a command or a status (never
// given up), or a user control event, on the chunk stream of its kind.
func (c *conn) onWrite(w *session.Write) {
	msid, ok := c.streamOf(w.Key)
	if !ok || len(w.Data) < 5 {
		c.cfg.Stats.BadMessages.Add(1)
		return
	}
	it := item{data: w.Data, msid: msid, csid: csidStream, born: c.cfg.Clock.Now().UnixNano()}
	switch k := live.Kind(w.Key.Lane); {
	case w.Data[0] == flash.TypeUserControl:
		it.msid, it.csid = 0, csidControl
	case msid == 0:
		it.csid = csidCommand
	case k == live.KindAudio || k == live.KindVideo:
		it.csid, it.kind = csids[k], k
	}
	if w.Lifetime > 0 {
		it.media, it.deadline = true, it.born+w.Lifetime.Nanoseconds()
	}
	c.queue(it)
}

// onAbandonQueued gives up the media queued on a message stream's lane (a recording's
// player seeking).
func (c *conn) onAbandonQueued(m *session.AbandonQueued) {
	msid, ok := c.streamOf(m.Key)
	k := live.Kind(m.Key.Lane)
	if !ok || k != live.KindAudio && k != live.KindVideo {
		return
	}
	c.out.drop(func(it *item) bool { return it.msid == msid && it.kind == k })
}

// controlMessage returns a protocol control message (types 1–6) with a u32 body, and
// more bytes if given.
func controlMessage(typ byte, v uint32, more ...byte) []byte {
	b := flash.AppendMessageHeader(make([]byte, 0, 10), typ, 0)
	b = binary.BigEndian.AppendUint32(b, v)
	return append(b, more...)
}
