package netconn

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
)

// Clients is the table of a node's connected clients, for operators: the status API
// lists and closes them, the metrics count them by protocol and dialect and read their
// round-trip times when scraped. A connection enters it when the application accepts its
// connect and leaves it when it leaves; nothing on the path of a packet reads it.
type Clients struct {
	next atomic.Uint64
	mu   sync.RWMutex
	byID map[uint64]*Connected
}

// Connected is one connected client.
type Connected struct {
	ID     uint64 // unique in the node, in order of connection
	Client app.Client
	// Transport is the client's session (RTMFP) or RTMP connection: it answers
	// session.QueryTraffic.
	Transport *actor.PID
	Dialect   string // DialectFlash or DialectRFC7425 for RTMFP; "" for RTMP
	FlashVer  string // the connect's flashVer
	Since     time.Time

	// Written by the connection actor alone, for its "left" event line.
	reason  string
	traffic session.Traffic
}

// The dialects of RTMFP clients (docs: dialects).
const (
	DialectFlash   = "flash"
	DialectRFC7425 = "rfc7425"
)

// NewClients returns an empty table.
func NewClients() *Clients { return &Clients{byID: map[uint64]*Connected{}} }

func (cs *Clients) add(c *Connected) uint64 {
	c.ID = cs.next.Add(1)
	cs.mu.Lock()
	cs.byID[c.ID] = c
	cs.mu.Unlock()
	return c.ID
}

func (cs *Clients) remove(id uint64) {
	cs.mu.Lock()
	delete(cs.byID, id)
	cs.mu.Unlock()
}

// Len returns how many clients are connected.
func (cs *Clients) Len() int {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	return len(cs.byID)
}

// Get returns the client of id, or nil.
func (cs *Clients) Get(id uint64) *Connected {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	return cs.byID[id]
}

// Each calls f for every connected client, in no order, under the table's read lock: f
// must not block.
func (cs *Clients) Each(f func(*Connected)) {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	for _, c := range cs.byID {
		f(c)
	}
}

// List returns the connected clients whose application path is app (every client if app
// is empty) in order of connection: the offset-th and up to limit after it, and how many
// there are in all.
func (cs *Clients) List(app string, offset, limit int) ([]*Connected, int) {
	var all []*Connected
	cs.Each(func(c *Connected) {
		if app == "" || c.Client.Path() == app {
			all = append(all, c)
		}
	})
	slices.SortFunc(all, func(a, b *Connected) int { return cmp.Compare(a.ID, b.ID) })
	total := len(all)
	if offset >= total {
		return nil, total
	}
	all = all[offset:]
	if limit < len(all) {
		all = all[:limit]
	}
	return all, total
}

// enterTable puts a client whose connect was accepted in the table of clients and
// writes its "connected" event line.
func (c *connection) enterTable() {
	obj := c.client.ConnectObject()
	flashVer, _ := obj.GetString("flashVer")
	e := &Connected{Client: c.client, Transport: c.session, Dialect: c.dialect(), FlashVer: flashVer, Since: time.Now()}
	c.connected = e
	if c.cfg.Clients != nil {
		c.cfg.Clients.add(e)
	}
	c.cfg.Events.Event("client connected", c.clientFields(zap.String("flash_version", flashVer))...)
}

// logLeft writes the "left" event line of a client that was connected.
func (c *connection) logLeft() {
	e := c.connected
	if e == nil {
		return
	}
	c.connected = nil
	reason := e.reason
	if reason == "" {
		reason = session.ReasonLocal.String()
	}
	c.cfg.Events.Event("client left", c.clientFields(zap.String("reason", reason), zap.Duration("duration", time.Since(e.Since).Round(time.Millisecond)),
		zap.Uint64("bytes_in", e.traffic.In), zap.Uint64("bytes_out", e.traffic.Out))...)
}

// clientFields are the fields that name a client in an event line, then more.
func (c *connection) clientFields(more ...zap.Field) []zap.Field {
	fields := []zap.Field{zap.String("protocol", c.client.Protocol()), zap.Stringer("addr", c.client.Address()), zap.String("app", c.client.path)}
	if c.client.peer() {
		fields = append(fields, zap.Stringer("peer_id", c.client.peerID), zap.String("dialect", c.dialect()))
	}
	return append(fields, more...)
}

// dialect is the client's RTMFP dialect (Connected.Dialect): "" for an RTMP client.
func (c *connection) dialect() string {
	switch {
	case !c.client.peer():
		return ""
	case c.client.rfc7425:
		return DialectRFC7425
	}
	return DialectFlash
}
