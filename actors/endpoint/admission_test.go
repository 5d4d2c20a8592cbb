package endpoint

import (
	"net/netip"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/ratelimit"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
)

// TestHeardSessionOutlivesTheHandshakeActorsBacklog: a pending session whose shard has
// opened a datagram of it is not freed as unheard when the handshake actor, behind on a
// burst of handshakes, reaches its expiry before the news (sessionHeard) that waits behind
// that work. It was: 4 of 101 clients of TestHundredSubscribersByteIdentical, connecting at
// once on a starved machine, were forgotten after answering at once, and retransmitted
// their connect to a session the server no longer had (dropped as unknown) until the
// test's 60 s were up.
func TestHeardSessionOutlivesTheHandshakeActorsBacklog(t *testing.T) {
	t.Parallel()
	const pending = 5 * time.Second
	e := &Endpoint{cfg: Config{PendingTimeout: pending}}
	e.shards = []*shard{newShard(e, 0)}
	h := &handshake{e: e, answers: map[uint32]*answer{}, adm: newAdmission()}
	sys := actors.NewActorSystem(testLogger(t))
	t.Cleanup(sys.Shutdown)
	closed := make(chan *session.Close, 2)
	sess := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*session.Close); ok {
			closed <- m
		}
	}))
	const heardID, unheardID = 7, 8
	heard, unheard := &entry{pid: sess}, &entry{pid: sess}
	e.register(heardID, heard)
	e.register(unheardID, unheard)
	from := netip.MustParseAddrPort("127.0.0.1:1935")
	h.opened(heardID, from, sess, 0)
	h.opened(unheardID, from, sess, 0)
	heard.heard.Store(true) // the shard opened the session's first datagram

	// The expiry, late, in the handshake actor (a session is closed from its context).
	done := make(chan struct{})
	runner := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*tick); ok {
			h.ctx = c
			h.expireUnheard(pending + time.Second)
			h.ctx = nil
			close(done)
		}
	}))
	sys.Root.Send(runner, &tick{})
	<-done

	if n := e.Stats.PendingExpired.Load(); n != 1 {
		t.Errorf("%d sessions freed as unheard, want 1 (the one no datagram came for)", n)
	}
	if _, ok := h.adm.unheard[heardID]; ok {
		t.Error("the heard session is still pending")
	}
	if n := h.adm.pending[ratelimit.Source(from.Addr())]; n != 0 {
		t.Errorf("its address still counts %d pending sessions", n)
	}
	if m := <-closed; m.Reason != session.ReasonUnheard {
		t.Errorf("the unheard session was closed with %v", m.Reason)
	}
}
