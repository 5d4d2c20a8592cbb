package session

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// queueBench is a session with one send flow of n one-fragment messages, a window's worth
// of them in flight, driven by hand: the send queue's work per acknowledgement and per
// send opportunity, without the network, the crypto or the actor around it.
type queueBench struct {
	s     *Session
	f     *sendFlow
	clock *simClock
	buf   []byte
	msg   []byte
	cwnd  int
	hole  uint64 // the fragment never acknowledged (selective), 0 if none
	acked uint64 // highest sequence number acknowledged
}

// newQueueBench queues n messages of 1,000 bytes (a fragment each) and sends window of
// them (the congestion window is kept at that many packets).
func newQueueBench(tb testing.TB, n, window int, selective bool) *queueBench {
	clock := &simClock{now: time.Second}
	sh := NewShared(Shared{Writer: nopWriter{}, Clock: clock, Scheduler: nopScheduler{}, Log: zap.NewNop(),
		Config: Config{SendQueue: 64 << 20, SessionSendBuffer: 64 << 20}})
	s := newSession(Params{Shared: sh, Role: cryptoutil.Responder, Encrypt: cryptoutil.NewStartupEncrypter()})
	s.rtt.sample(500 * time.Microsecond) // below a millisecond the pacer lets a burst go at once
	q := &queueBench{s: s, clock: clock, buf: make([]byte, 0, 2048), msg: make([]byte, 1000), cwnd: 1 << 30}
	key := FlowKey{Metadata: "bench"}
	for range n {
		if !s.queue(nil, &Write{Key: key, Data: q.msg}) {
			tb.Fatal("write refused")
		}
	}
	q.f = s.sendByKey.get(key)
	q.f.rxWindow = 1 << 30 // as the acknowledgements below advertise
	q.send()
	q.cwnd = window * q.f.queue[0].wireSize
	for q.send() {
	}
	if inFlight := len(s.flight); inFlight != window {
		tb.Fatalf("%d fragments in flight, want %d", inFlight, window)
	}
	if selective {
		q.hole = q.f.queue[0].seq
		q.acked = q.hole
	}
	return q
}

// send writes one packet of data as flush does; it reports whether any left.
func (q *queueBench) send() bool {
	q.s.cc.cwnd = q.cwnd // the congestion controller is not under test
	pw := rtmfp.NewPacketWriter(q.buf[:0], q.s.header(q.s.now()), maxPacket)
	wrote, _ := q.s.writeData(&pw, q.s.now())
	if wrote {
		q.s.nextTSN++
	}
	return wrote
}

// ack acknowledges the next fragment as the receiver's next Ack Ranges chunk does:
// cumulatively, or after the hole that stays.
func (q *queueBench) ack() {
	q.acked++
	a := rtmfp.AckRanges{FlowID: q.f.id, BufferBlocks: 1 << 20, CumulativeAck: q.acked}
	var ranges [1]rtmfp.AckRange
	if q.hole != 0 {
		a.CumulativeAck = q.hole - 1
		r, ok := rtmfp.MakeAckRange(a.CumulativeAck, rtmfp.SeqRange{From: q.hole + 1, To: q.acked})
		if !ok {
			panic("ack range")
		}
		ranges[0] = r
		a.Ranges = ranges[:]
	}
	now := q.s.now()
	pre := q.s.outstanding
	b, tsn := q.s.onAck(a, now)
	q.s.afterAcks(b, tsn, pre, now)
}

// BenchmarkSendQueue: one operation is what a sender does for one acknowledged packet of
// a flow with n fragments queued and a window of 64 in flight (or 512, with the longest
// queue) — apply the acknowledgement, send the next fragment, queue one more message —
// acknowledged cumulatively, or selectively behind one fragment that never arrives (loss
// recovery). ack-ns/op and send-ns/op split the time between the first two.
func BenchmarkSendQueue(b *testing.B) {
	type size struct{ n, window int }
	for _, mode := range []string{"cumulative", "selective"} {
		for _, sz := range []size{{100, 64}, {1000, 64}, {4000, 64}, {4000, 512}} {
			n, window := sz.n, sz.window
			b.Run(fmt.Sprintf("%s/queue=%d/window=%d", mode, n, window), func(b *testing.B) {
				q := newQueueBench(b, n, window, mode == "selective")
				var ackTime, sendTime time.Duration
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					q.clock.now += 10 * time.Microsecond
					t0 := time.Now()
					q.ack()
					t1 := time.Now()
					q.send()
					sendTime += time.Since(t1)
					ackTime += t1.Sub(t0)
					if !q.s.queue(nil, &Write{Key: q.f.key, Data: q.msg}) {
						b.Fatal("write refused")
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(ackTime.Nanoseconds())/float64(b.N), "ack-ns/op")
				b.ReportMetric(float64(sendTime.Nanoseconds())/float64(b.N), "send-ns/op")
				if got := len(q.f.queue); got < n-window || got > n+window {
					b.Fatalf("queue drifted to %d fragments", got)
				}
				if q.hole != 0 && (q.f.queue[0].seq != q.hole || b.N > 3 && q.s.p.Stats.Retransmissions.Load() == 0) {
					b.Fatal("the hole was not kept open")
				}
			})
		}
	}
}
