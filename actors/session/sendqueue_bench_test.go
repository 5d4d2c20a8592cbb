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

// benchWindow is the fragments in flight: a congestion window of 64 packets of one
// 1,000-byte message each.
const benchWindow = 64

func newQueueBench(tb testing.TB, n int, selective bool) *queueBench {
	clock := &simClock{now: time.Second}
	sh := NewShared(Shared{Writer: nopWriter{}, Clock: clock, Scheduler: nopScheduler{}, Log: zap.NewNop(),
		Config: Config{SendQueue: 64 << 20, SessionSendBuffer: 64 << 20}})
	s := newSession(Params{Shared: sh, Role: cryptoutil.Responder, Encrypt: cryptoutil.NewStartupEncrypter()})
	s.rtt.sample(500 * time.Microsecond) // below a millisecond the pacer lets a burst go at once
	q := &queueBench{s: s, clock: clock, buf: make([]byte, 0, 2048), msg: make([]byte, 1000), cwnd: benchWindow * 1010}
	key := FlowKey{Metadata: "bench"}
	for range n {
		if !s.queue(nil, &Write{Key: key, Data: q.msg}) {
			tb.Fatal("write refused")
		}
	}
	q.f = s.sendByKey.get(key)
	for q.send() {
	}
	if inFlight := len(s.flight); inFlight < benchWindow || inFlight > benchWindow+1 {
		tb.Fatalf("%d fragments in flight, want %d", inFlight, benchWindow)
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
// a flow with n fragments queued and a window of 64 in flight — apply the acknowledgement,
// send the next fragment, queue one more message — acknowledged cumulatively, or
// selectively behind one fragment that never arrives (loss recovery).
func BenchmarkSendQueue(b *testing.B) {
	for _, mode := range []string{"cumulative", "selective"} {
		for _, n := range []int{100, 1000, 4000} {
			b.Run(fmt.Sprintf("%s/queue=%d", mode, n), func(b *testing.B) {
				q := newQueueBench(b, n, mode == "selective")
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
				if got := len(q.f.queue); got < n-benchWindow || got > n+benchWindow {
					b.Fatalf("queue drifted to %d fragments", got)
				}
				if q.hole != 0 && (q.f.queue[0].seq != q.hole || b.N > 3 && q.s.p.Stats.Retransmissions.Load() == 0) {
					b.Fatal("the hole was not kept open")
				}
			})
		}
	}
}
