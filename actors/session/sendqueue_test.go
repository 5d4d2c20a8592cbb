package session

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// TestSendQueueInvariants drives a session's send flows through random writes (reliable,
// with lifetimes, without retransmission, video frames), packets sent, acknowledgements
// cumulative and selective over a lossy path, losses, timeouts, abandons, closes and
// flow exceptions, and after each step checks what the send queue's hints stand for
// against a walk of the whole queue: the first fragment waiting to be sent (sendAt), the
// first live one (liveAt), readiness, the bytes queued and in flight, that an
// acknowledgement takes exactly the fragments it covers and that every receipt is
// answered once.
func TestSendQueueInvariants(t *testing.T) {
	for seed := range uint64(16) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runSendQueueModel(t, seed, 1000) })
	}
}

// FuzzSendQueueInvariants is TestSendQueueInvariants from other seeds (go test -fuzz).
func FuzzSendQueueInvariants(f *testing.F) {
	f.Add(uint64(1000))
	f.Fuzz(func(t *testing.T, seed uint64) { runSendQueueModel(t, seed, 600) })
}

type sendQueueModel struct {
	t      *testing.T
	rng    *rand.Rand
	s      *Session
	clock  *simClock
	log    settledLog
	tags   uint64
	keys   []FlowKey
	got    map[uint64]map[uint64]bool // flow ID → sequence numbers the receiver holds
	closed map[uint64]bool            // flow IDs closed or rejected
}

func runSendQueueModel(t *testing.T, seed uint64, steps int) {
	clock := &simClock{now: time.Second}
	sh := NewShared(Shared{Writer: nopWriter{}, Clock: clock, Scheduler: nopScheduler{}, Log: zap.NewNop(),
		Config: Config{SendQueue: 64 << 10, SessionSendBuffer: 256 << 10, RetransmitLimit: time.Hour}})
	m := &sendQueueModel{t: t, rng: rand.New(rand.NewPCG(seed, 18)), clock: clock,
		s:   newSession(Params{Shared: sh, Role: cryptoutil.Responder, Encrypt: cryptoutil.NewStartupEncrypter()}),
		got: map[uint64]map[uint64]bool{}, closed: map[uint64]bool{}}
	m.s.rtt.sample(20 * time.Millisecond)
	for i := range 3 {
		m.keys = append(m.keys, FlowKey{Metadata: fmt.Sprint("flow", i)})
	}
	for step := range steps {
		op := m.step()
		m.check(fmt.Sprintf("seed %d step %d (%s)", seed, step, op))
		if t.Failed() {
			return
		}
	}
	// The session ends: every receipt not answered yet is, once.
	for f := range m.s.send.values() {
		f.onException()
	}
	if int(m.tags) != len(m.log.tags) {
		t.Fatalf("%d receipts asked, %d answered", m.tags, len(m.log.tags))
	}
	seen := map[uint64]bool{}
	for _, tag := range m.log.tags {
		if seen[tag] {
			t.Fatalf("receipt %d answered twice", tag)
		}
		seen[tag] = true
	}
}

func (m *sendQueueModel) step() string {
	s, rng, now := m.s, m.rng, m.s.now()
	switch r := rng.IntN(100); {
	case r < 30:
		key := m.keys[rng.IntN(len(m.keys))]
		w := &Write{Key: key, Data: make([]byte, rng.IntN(3*maxFragment)), Priority: Priority(rng.IntN(int(numPriorities)))}
		switch rng.IntN(4) {
		case 0:
			w.Lifetime = time.Duration(1+rng.IntN(300)) * time.Millisecond
			w.Frame = Frame(rng.IntN(3))
		case 1:
			w.NoRetransmit = true
		case 2:
			w.Lifetime = time.Duration(1+rng.IntN(300)) * time.Millisecond
			w.AbandonWaiting = time.Duration(rng.IntN(200)) * time.Millisecond
		}
		if rng.IntN(2) == 0 {
			m.tags++
			w.Receipt = &Receipt{Tag: m.tags}
		}
		if s.queue(nil, w) {
			if f := s.sendByKey.get(key); f.owner != &m.log {
				f.owner = &m.log
			}
		} else if w.Receipt != nil {
			m.log.settled(nil, w.Receipt, false) // refused: answered by the session's Refused
		}
		return "write"
	case r < 55:
		s.cc.cwnd = 1200 * (1 + rng.IntN(40))
		for range 1 + rng.IntN(4) {
			pw := rtmfp.NewPacketWriter(nil, s.header(now), maxPacket)
			if wrote, _ := s.writeData(&pw, now); !wrote {
				break
			}
			s.nextTSN++
			// The path loses some of what was sent.
			for f := range s.send.values() {
				for _, fr := range f.queue {
					if fr.inFlight && fr.tsn == s.nextTSN-1 && rng.IntN(5) != 0 {
						m.receive(f.id, fr.seq)
					}
				}
			}
		}
		return "send"
	case r < 85:
		ids := slices.Sorted(func(yield func(uint64) bool) {
			for f := range s.send.values() {
				if !yield(f.id) {
					return
				}
			}
		})
		if len(ids) == 0 {
			return "ack (no flow)"
		}
		m.ack(ids[rng.IntN(len(ids))])
		return "ack"
	case r < 90:
		m.clock.now += time.Duration(rng.IntN(100)) * time.Millisecond
		return "time"
	case r < 93:
		if s.outstanding > 0 {
			s.onRTO(nil, now)
		}
		return "timeout"
	case r < 96:
		if f := s.sendByKey.get(m.keys[rng.IntN(len(m.keys))]); f != nil {
			f.abandonQueued(rng.IntN(2) == 0)
			s.waitedOn(f.key)
		}
		return "abandon"
	case r < 98:
		if f := s.sendByKey.get(m.keys[rng.IntN(len(m.keys))]); f != nil {
			f.close()
			s.sendByKey.del(f.key)
			m.closed[f.id] = true
		}
		return "close"
	default:
		if f := s.sendByKey.get(m.keys[rng.IntN(len(m.keys))]); f != nil {
			s.onFlowException(nil, rtmfp.FlowException{FlowID: f.id})
			m.closed[f.id] = true
		}
		return "exception"
	}
}

// receive records that the receiver holds seq of flow id.
func (m *sendQueueModel) receive(id, seq uint64) {
	if m.got[id] == nil {
		m.got[id] = map[uint64]bool{}
	}
	m.got[id][seq] = true
}

// ack sends the receiver's acknowledgement of flow id: what it holds, as a cumulative
// acknowledgement and ranges (the forward sequence number is not modelled: the receiver
// acknowledges what it got), and checks that exactly the fragments covered left the queue.
func (m *sendQueueModel) ack(id uint64) {
	s, f := m.s, m.s.send.get(id)
	// The cumulative acknowledgement: everything up to the first gap, or the fragments
	// trimmed (abandoned and gone) before the queue's head.
	head := f.nextSN
	if len(f.queue) > 0 {
		head = f.queue[0].seq
	}
	got := m.got[id]
	for seq := range got {
		if seq < head {
			delete(got, seq) // acknowledged or given up for good
		}
	}
	seqs := slices.Sorted(func(yield func(uint64) bool) {
		for seq := range got {
			if !yield(seq) {
				return
			}
		}
	})
	a := rtmfp.AckRanges{FlowID: id, BufferBlocks: uint64(m.rng.IntN(200))}
	a.CumulativeAck = head - 1
	for _, seq := range seqs {
		if seq <= a.CumulativeAck {
			continue
		}
		if seq != a.CumulativeAck+1 {
			break
		}
		a.CumulativeAck = seq
	}
	covered := map[uint64]bool{} // above the cumulative acknowledgement
	cursor := a.CumulativeAck
	for i := 0; i < len(seqs); {
		if seqs[i] <= cursor+1 {
			i++
			continue
		}
		j := i
		for j+1 < len(seqs) && seqs[j+1] == seqs[j]+1 {
			j++
		}
		if m.rng.IntN(4) != 0 { // a range the receiver leaves out (truncated)
			r, ok := rtmfp.MakeAckRange(cursor, rtmfp.SeqRange{From: seqs[i], To: seqs[j]})
			if !ok {
				m.t.Fatalf("range %d–%d after %d", seqs[i], seqs[j], cursor)
			}
			a.Ranges = append(a.Ranges, r)
			for seq := seqs[i]; seq <= seqs[j]; seq++ {
				covered[seq] = true
			}
			cursor = seqs[j]
		}
		i = j + 1
	}
	var want []uint64
	wantBytes := 0
	for _, fr := range f.queue {
		if fr.seq > a.CumulativeAck && !covered[fr.seq] {
			want = append(want, fr.seq)
		} else if fr.inFlight {
			wantBytes += fr.wireSize
		}
	}
	pre := s.outstanding
	b, tsn := s.onAck(a, s.now())
	if b != wantBytes {
		m.t.Fatalf("ack of flow %d: %d bytes acknowledged in flight, want %d", id, b, wantBytes)
	}
	if s.send.get(id) == f {
		var left []uint64
		for _, fr := range f.queue {
			left = append(left, fr.seq)
		}
		if !slices.Equal(left, want) {
			m.t.Fatalf("ack of flow %d (cumulative %d, ranges %v): queue %v, want %v", id, a.CumulativeAck, a.Ranges, left, want)
		}
	} else if len(want) != 0 || f.state != sfComplete {
		m.t.Fatalf("flow %d forgotten with %v unacknowledged", id, want)
	}
	s.afterAcks(b, tsn, pre, s.now())
}

// check compares the hints with walks of every queue.
func (m *sendQueueModel) check(at string) {
	t, s := m.t, m.s
	t.Helper()
	total := 0
	inFlight := map[*sendFrag]bool{}
	for f := range s.send.values() {
		queued, outstanding := 0, 0
		waiting, live := len(f.queue), len(f.queue)
		for i, fr := range f.queue {
			if i > 0 && fr.seq <= f.queue[i-1].seq {
				t.Fatalf("%s: flow %d queue out of order at %d", at, f.id, i)
			}
			if fr.acked {
				t.Fatalf("%s: flow %d: acknowledged fragment %d left in the queue", at, f.id, fr.seq)
			}
			queued += len(fr.data)
			if fr.inFlight {
				outstanding += fr.wireSize
				inFlight[fr] = true
			} else if waiting == len(f.queue) {
				waiting = i
			}
			if !fr.msg.abandoned && live == len(f.queue) {
				live = i
			}
		}
		if int(f.sendAt) > waiting || int(f.liveAt) > live {
			t.Fatalf("%s: flow %d: hints %d and %d past the first waiting %d and live %d", at, f.id, f.sendAt, f.liveAt, waiting, live)
		}
		wantReady := !f.exception && f.state != sfComplete && waiting < len(f.queue) &&
			(f.outstanding < f.rxWindow || f.queue[waiting].msg.abandoned)
		if got := f.ready(); got != wantReady {
			t.Fatalf("%s: flow %d ready %v, want %v", at, f.id, got, wantReady)
		}
		if got := f.firstWaiting(); got != waiting {
			t.Fatalf("%s: flow %d: first waiting %d, want %d", at, f.id, got, waiting)
		}
		if got := f.firstLive(); got != live {
			t.Fatalf("%s: flow %d: first live %d, want %d", at, f.id, got, live)
		}
		if queued != f.queued || outstanding != f.outstanding {
			t.Fatalf("%s: flow %d: queued %d outstanding %d, counted %d and %d", at, f.id, f.queued, f.outstanding, queued, outstanding)
		}
		for i := range f.queue {
			if got := f.indexOf(f.queue[i].seq); got != i {
				t.Fatalf("%s: flow %d: indexOf(%d) = %d, want %d", at, f.id, f.queue[i].seq, got, i)
			}
		}
		total += outstanding
	}
	if total != s.outstanding {
		t.Fatalf("%s: session outstanding %d, flows' %d", at, s.outstanding, total)
	}
	for i, fr := range s.flight {
		if i > 0 && fr.tsn < s.flight[i-1].tsn {
			t.Fatalf("%s: the flight list is out of transmission order at %d", at, i)
		}
		delete(inFlight, fr)
	}
	if len(inFlight) != 0 {
		t.Fatalf("%s: %d fragments in flight missing from the session's flight list", at, len(inFlight))
	}
}
