package endpoint

import (
	"net/netip"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/ratelimit"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
)

// What a responder keeps per source address (ratelimit.Source) to decide whom it answers
// and whom it lets in — all of it in the handshake actor, which alone reads and writes it:
//
//   - Reflection: it never sends an address that has not proved it receives (by echoing
//     a cookie minted for it) more than amplificationFactor times the bytes that address
//     sent it. An RHello is about 180 bytes, a typical IHello 68, the smallest one 20: the
//     smallest is answered once a few of them have arrived, never at a profit to a
//     spoofer (QUIC caps an unvalidated path the same way).
//   - IHellos are answered at Config.HelloRate per second per address (a burst of twice
//     that).
//   - Pending sessions — handshake done, RIKeying sent, nothing heard yet — cost a
//     responder its Diffie-Hellman work and a session each, and the initiator nothing if
//     it never speaks: they are freed after Config.PendingTimeout, each address may hold
//     Config.PendingPerAddress of them (an eighth of that when the session table is
//     nearly full), and a full table makes room by dropping the oldest one.

// amplificationFactor bounds what a responder sends an unvalidated address, as a
// multiple of what it received from it.
const amplificationFactor = 3

// maxSources bounds the addresses whose rate and byte counts are remembered; beyond it a
// random one is forgotten (a forgotten address starts again from nothing received: the
// bound stays safe).
const maxSources = 1 << 16

// unheardEvictAge is how long a pending session must have waited before a full table
// drops it for a newcomer: a fifth of the pending timeout (a second at the default). An
// initiator that is going to speak does so within a round trip; an operator who allows
// slow initiators a longer pending timeout allows them a longer grace here too.
func (h *handshake) unheardEvictAge() time.Duration { return h.e.cfg.PendingTimeout / 5 }

// source is what the handshake actor remembers of one source address.
type source struct {
	hellos ratelimit.Bucket
	rx, tx int64 // startup bytes received from it and sent to it (answers that need no proof)
}

// unheardSession is a session that has not heard from its initiator yet.
type unheardSession struct {
	src netip.Prefix
	at  time.Duration // when its RIKeying went out
	pid *actor.PID
}

// unheardEntry is an entry of the expiry queue, in the order the sessions opened.
type unheardEntry struct {
	id uint32
	at time.Duration
}

// admission is the handshake actor's per-address state.
type admission struct {
	sources map[netip.Prefix]*source
	unheard map[uint32]unheardSession
	queue   []unheardEntry // expiry order; entries of sessions heard since are skipped
	pending map[netip.Prefix]int
}

func newAdmission() admission {
	return admission{sources: map[netip.Prefix]*source{}, unheard: map[uint32]unheardSession{}, pending: map[netip.Prefix]int{}}
}

// source returns the state of an address's source, made at first sight.
func (a *admission) source(p netip.Prefix) *source {
	s := a.sources[p]
	if s == nil {
		if len(a.sources) >= maxSources {
			for k := range a.sources { // a random one: map iteration order
				delete(a.sources, k)
				break
			}
		}
		s = &source{}
		a.sources[p] = s
	}
	return s
}

// received counts a startup datagram from an address.
func (h *handshake) received(from netip.AddrPort, size int) {
	h.adm.source(ratelimit.Source(from.Addr())).rx += int64(size)
	h.e.Stats.StartupBytesIn.Add(uint64(size))
}

// mayAnswer reports whether n more bytes may go to an address that has not proved it
// receives, and counts them if so; a refusal is counted and logged.
func (h *handshake) mayAnswer(to netip.AddrPort, n int) bool {
	s := h.adm.source(ratelimit.Source(to.Addr()))
	if s.tx+int64(n) > amplificationFactor*s.rx {
		st := &h.e.Stats
		st.AnswersWithheld.Add(1)
		h.refusals.Info("handshake answer withheld: more than 3× what the address sent", zap.Stringer("addr", to),
			zap.Int64("received", s.rx), zap.Int64("sent", s.tx), zap.Uint64("withheld", st.AnswersWithheld.Load()))
		return false
	}
	s.tx += int64(n)
	return true
}

// helloAllowed takes a token of the IHello rate of an address.
func (h *handshake) helloAllowed(from netip.AddrPort) bool {
	rate := float64(h.e.cfg.HelloRate)
	if h.adm.source(ratelimit.Source(from.Addr())).hellos.Take(rate, 2*rate, h.e.clock.Now()) {
		return true
	}
	st := &h.e.Stats
	st.HelloRateLimited.Add(1)
	h.refusals.Info("IHello not answered: beyond the rate of its address", zap.Stringer("addr", from),
		zap.Int("per_second", h.e.cfg.HelloRate), zap.Uint64("refused", st.HelloRateLimited.Load()))
	return false
}

// admit decides, before any Diffie-Hellman work, whether an initiator whose cookie is
// good may open a session: within its address's pending sessions, and within the table
// (making room by dropping the oldest pending session if the table is full).
func (h *handshake) admit(from netip.AddrPort, now time.Duration) bool {
	cfg, st := &h.e.cfg, &h.e.Stats
	src := ratelimit.Source(from.Addr())
	live := int(h.e.live.Load())
	limit, nearFull := cfg.PendingPerAddress, live >= cfg.MaxSessions-cfg.MaxSessions/8
	if nearFull {
		limit = max(1, limit/8)
	}
	if n := h.adm.pending[src]; n >= limit {
		if nearFull {
			st.PendingNearFull.Add(1)
		} else {
			st.PendingLimit.Add(1)
		}
		h.refusals.Info("handshake refused: its address holds too many sessions not heard from", zap.Stringer("addr", from),
			zap.Int("pending", n), zap.Bool("table_nearly_full", nearFull),
			zap.Uint64("refused", st.PendingLimit.Load()+st.PendingNearFull.Load()))
		return false
	}
	if live >= cfg.MaxSessions && !h.evictUnheard(now) {
		st.SessionLimit.Add(1)
		h.refusals.Warn("handshake refused: the session table is full", zap.Stringer("addr", from),
			zap.Int("max_sessions", cfg.MaxSessions), zap.Uint64("refused", st.SessionLimit.Load()))
		return false
	}
	return true
}

// opened records a session opened for an initiator, pending until it is heard from.
func (h *handshake) opened(id uint32, from netip.AddrPort, pid *actor.PID, now time.Duration) {
	src := ratelimit.Source(from.Addr())
	h.adm.unheard[id] = unheardSession{src: src, at: now, pid: pid}
	h.adm.queue = append(h.adm.queue, unheardEntry{id: id, at: now})
	h.adm.pending[src]++
}

// heard records that a session heard from its initiator: it is pending no more.
func (h *handshake) heard(id uint32) {
	delete(h.answers, id)
	if u, ok := h.adm.unheard[id]; ok {
		delete(h.adm.unheard, id)
		h.forgetPending(u.src)
	}
}

func (h *handshake) forgetPending(src netip.Prefix) {
	if h.adm.pending[src]--; h.adm.pending[src] <= 0 {
		delete(h.adm.pending, src)
	}
}

// expireUnheard frees the sessions that have not heard from their initiator within the
// pending timeout.
func (h *handshake) expireUnheard(now time.Duration) {
	q := h.adm.queue
	n := 0
	for ; n < len(q) && now-q[n].at >= h.e.cfg.PendingTimeout; n++ {
		if h.dropUnheard(q[n]) {
			h.e.Stats.PendingExpired.Add(1)
		}
	}
	if n > 0 {
		h.adm.queue = append(q[:0], q[n:]...)
	}
}

// evictUnheard drops the oldest pending session, if it has waited unheardEvictAge, to
// make room in a full table.
func (h *handshake) evictUnheard(now time.Duration) bool {
	for len(h.adm.queue) > 0 {
		e := h.adm.queue[0]
		if u, ok := h.adm.unheard[e.id]; ok && u.at == e.at && now-e.at < h.unheardEvictAge() {
			return false
		}
		h.adm.queue = h.adm.queue[1:]
		if h.dropUnheard(e) {
			h.e.Stats.PendingEvicted.Add(1)
			return true
		}
	}
	return false
}

// dropUnheard ends the session of a queue entry if it is still pending (the entry may be
// stale: heard since, or its ID reused), and reports whether it did.
func (h *handshake) dropUnheard(e unheardEntry) bool {
	u, ok := h.adm.unheard[e.id]
	if !ok || u.at != e.at {
		return false
	}
	if h.e.heardByShard(e.id) {
		// Its shard opened a datagram of it: the session was heard, and its sessionHeard
		// waits behind the work this actor is late with (a burst of handshakes). Judged
		// by that lateness, a client that answered at once was forgotten while it waited
		// for its connect's answer.
		h.heard(e.id)
		return false
	}
	delete(h.adm.unheard, e.id)
	delete(h.answers, e.id)
	h.forgetPending(u.src)
	// The session ignores this if it heard from its initiator meanwhile.
	h.ctx.Send(u.pid, &session.Close{Reason: session.ReasonUnheard})
	return true
}
