package session

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
)

// simPayload is message i of a test stream: its index, then bytes derived from it.
func simPayload(i, size int) []byte {
	b := make([]byte, max(size, 8))
	binary.BigEndian.PutUint64(b, uint64(i))
	r := rand.New(rand.NewPCG(uint64(i), 1))
	for j := 8; j < len(b); j++ {
		b[j] = byte(r.Uint32())
	}
	return b
}

// simBulk writes count messages on one flow of node, keeping at most window of them
// unsettled (receipts), and retrying refused ones.
type simBulk struct {
	n          *simNode
	key        FlowKey
	prio       Priority
	count      int
	size       func(i int) int
	window     int
	next       int
	unsettled  int
	retry      []int
	delivered  int
	abandoned  int
	refused    int
	lastSettle time.Duration
}

func (b *simBulk) start() {
	prev := b.n.onReceipt
	b.n.onReceipt = func(msg any) {
		if key, ok := receiptKey(msg); ok && key != b.key {
			if prev != nil {
				prev(msg) // another bulk transfer's
			}
			return
		}
		switch m := msg.(type) {
		case *Delivered:
			b.delivered++
			b.unsettled--
		case *Abandoned:
			b.abandoned++
			b.unsettled--
		case *Refused:
			b.refused++
			b.unsettled--
			b.retry = append(b.retry, int(m.Tag))
			// Retry a little later (as an application would on backpressure).
			b.n.sim.after(5*time.Millisecond, b.pump)
			return
		}
		b.lastSettle = b.n.sim.clock.now
		b.pump()
	}
	b.pump()
}

// receiptKey returns the flow key of a write's receipt (Delivered, Abandoned, Refused).
func receiptKey(msg any) (FlowKey, bool) {
	switch m := msg.(type) {
	case *Delivered:
		return m.Key, true
	case *Abandoned:
		return m.Key, true
	case *Refused:
		return m.Key, true
	}
	return FlowKey{}, false
}

func (b *simBulk) pump() {
	for b.unsettled < b.window {
		var i int
		switch {
		case len(b.retry) > 0:
			i, b.retry = b.retry[0], b.retry[1:]
		case b.next < b.count:
			i = b.next
			b.next++
		default:
			return
		}
		b.unsettled++
		b.n.write(&Write{Key: b.key, Data: simPayload(i, b.size(i)), Priority: b.prio, Receipt: &Receipt{To: b.n.receiptTo, Tag: uint64(i)}})
	}
}

func (b *simBulk) done() bool { return b.delivered+b.abandoned == b.count }

// simSink checks that a flow's messages arrive whole, once and in order.
type simSink struct {
	t      testing.TB
	size   func(i int) int
	next   int
	bytes  int
	sum    []byte
	lastAt time.Duration
	maxGap time.Duration
	clock  *simClock
}

func (k *simSink) take(data []byte) {
	if len(data) < 8 {
		k.t.Fatalf("message of %d bytes", len(data))
	}
	i := int(binary.BigEndian.Uint64(data))
	if i != k.next {
		k.t.Fatalf("message %d arrived, want %d (duplicate or out of order)", i, k.next)
	}
	if !bytes.Equal(data, simPayload(i, k.size(i))) {
		k.t.Fatalf("message %d corrupted", i)
	}
	k.next++
	k.bytes += len(data)
	if k.lastAt != 0 {
		k.maxGap = max(k.maxGap, k.clock.now-k.lastAt)
	}
	k.lastAt = k.clock.now
}

func variedSize(i int) int {
	switch i % 10 {
	case 0:
		return 5000 + i%3000 // several fragments
	case 1:
		return 10
	default:
		return 1000
	}
}

type bulkResult struct {
	bytes    int
	duration time.Duration
	maxGap   time.Duration
	resent   uint64
	probes   int
}

func runSimBulk(t *testing.T, seed uint64, link simLink, count int, size func(int) int, cfg Config) bulkResult {
	t.Helper()
	m, client, server := newSim(t, seed, link, link, cfg)
	sink := &simSink{t: t, size: size, clock: &m.clock}
	var flow uint64
	server.onMessage = func(id uint64, data []byte) {
		if flow == 0 {
			flow = id
		}
		if id != flow {
			t.Fatalf("message on flow %d", id)
		}
		sink.take(data)
	}
	b := &simBulk{n: client, key: FlowKey{Metadata: "bulk"}, count: count, size: size, window: 64}
	start := m.clock.now
	b.start()
	if !m.run(start+10*time.Minute, func() bool { return b.done() && sink.next == count }) {
		t.Fatalf("seed %d: transfer stalled: %d of %d delivered (%d receipts delivered, %d abandoned, %d refused), sink at %d, cwnd %d, outstanding %d",
			seed, sink.next, count, b.delivered, b.abandoned, b.refused, sink.next, client.s.cc.cwnd, client.s.outstanding)
	}
	if b.abandoned != 0 {
		t.Fatalf("%d reliable messages abandoned", b.abandoned)
	}
	return bulkResult{bytes: sink.bytes, duration: m.clock.now - start, maxGap: sink.maxGap,
		resent: m.stats.FragmentsResent.Load(), probes: server.inbound[rtmfp.ChunkBufferProbe]}
}

// TestSimBulkTransferUnderLoss: reliable data arrives intact and in order through loss,
// duplication and reordering, in virtual time, without stalling, and at 100 KB/s at least
// when nothing is lost (the goodput endpoint.TestLossyBulkReliable used to require on the
// wall clock, where it measured the machine).
func TestSimBulkTransferUnderLoss(t *testing.T) {
	t.Parallel() // CPU-bound, self-contained (its own simulated clock and network)
	count := 2000
	if testing.Short() {
		count = 500
	}
	for _, loss := range []float64{0, 0.05, 0.2} {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("loss%.0f%%/seed%d", loss*100, seed), func(t *testing.T) {
				t.Parallel() // independent, CPU-bound runs: spread over the cores
				link := simLink{Loss: loss, Duplicate: 0.01, Reorder: 0.02, Delay: 20 * time.Millisecond, Jitter: 2 * time.Millisecond}
				r := runSimBulk(t, seed, link, count, variedSize, Config{})
				t.Logf("%d bytes in %v (virtual): %.0f KB/s, longest gap %v, %d fragments resent",
					r.bytes, r.duration, float64(r.bytes)/r.duration.Seconds()/1000, r.maxGap, r.resent)
				if loss < 0.1 && r.maxGap > 3*time.Second {
					t.Fatalf("delivery stalled for %v", r.maxGap)
				}
				if goodput := float64(r.bytes) / r.duration.Seconds(); loss == 0 && goodput < 100e3 {
					t.Fatalf("goodput %.0f B/s without loss", goodput)
				}
			})
		}
	}
}

// TestSimBulkThroughBottleneck: a rate-limited link with a drop-tail queue — the
// congestion controller must find the rate, and the transfer complete.
func TestSimBulkThroughBottleneck(t *testing.T) {
	t.Parallel() // CPU-bound, self-contained (its own simulated clock and network)
	link := simLink{Delay: 20 * time.Millisecond, Rate: 1 << 20, Queue: 32 << 10}
	r := runSimBulk(t, 1, link, 2000, func(int) int { return 1000 }, Config{})
	rate := float64(r.bytes) / r.duration.Seconds()
	t.Logf("%.0f KB/s through a 1 MiB/s bottleneck, %d fragments resent", rate/1000, r.resent)
	if rate < 0.5*(1<<20)*1000/1200 { // payload share of a 1 MiB/s link, halved
		t.Fatalf("goodput %.0f B/s: far below the bottleneck rate", rate)
	}
}

// TestSimMessagesLargerThanReceiveBuffer: messages bigger than the receiver's buffer
// still get through (the window never closes on fragments that wait for fragments).
func TestSimMessagesLargerThanReceiveBuffer(t *testing.T) {
	t.Parallel() // CPU-bound, self-contained (its own simulated clock and network)
	for _, loss := range []float64{0, 0.1} {
		t.Run(fmt.Sprintf("loss%.0f%%", loss*100), func(t *testing.T) {
			link := simLink{Loss: loss, Delay: 10 * time.Millisecond}
			r := runSimBulk(t, 3, link, 10, func(int) int { return 100 << 10 }, Config{FlowBuffer: 32 << 10})
			t.Logf("%d bytes in %v", r.bytes, r.duration)
		})
	}
}

// TestSimZeroWindowProbe: a receiver that accepts its flow late holds the messages, its
// window closes, the sender probes, and resumes promptly once the flow is accepted.
func TestSimZeroWindowProbe(t *testing.T) {
	link := simLink{Delay: 20 * time.Millisecond}
	m, client, server := newSim(t, 1, link, link, Config{FlowBuffer: 16 << 10})
	server.acceptDelay = -1
	const count = 200
	size := func(int) int { return 1000 }
	sink := &simSink{t: t, size: size, clock: &m.clock}
	server.onMessage = func(_ uint64, data []byte) { sink.take(data) }
	b := &simBulk{n: client, key: FlowKey{Metadata: "late"}, count: count, size: size, window: count}
	b.start()
	m.run(m.clock.now+5*time.Second, nil)
	if len(server.opened) != 1 {
		t.Fatalf("%d flows opened", len(server.opened))
	}
	f := server.s.recv.get(server.opened[0].FlowID)
	if f.buffered < 16<<10 || f.windowBlocks() != 0 {
		t.Fatalf("held %d bytes, window %d blocks: the window did not close", f.buffered, f.windowBlocks())
	}
	if server.inbound[rtmfp.ChunkBufferProbe] < 2 {
		t.Fatalf("%d buffer probes in 5 s of zero window", server.inbound[rtmfp.ChunkBufferProbe])
	}
	if sf := client.s.sendByKey.get(b.key); sf == nil || sf.outstanding > 0 || sf.rxWindow != 0 {
		t.Fatal("the sender does not know the window is closed")
	}
	accepted := m.clock.now
	server.deliver(&AcceptFlow{FlowID: server.opened[0].FlowID, PID: server.upper})
	if !m.run(m.clock.now+time.Minute, func() bool { return sink.next == count && b.done() }) {
		t.Fatalf("after accept: %d of %d delivered", sink.next, count)
	}
	// Resuming must not wait for the next probe (≥ 1 s): the window update is sent at once.
	if d := m.clock.now - accepted; d > 800*time.Millisecond {
		t.Fatalf("the rest took %v after the flow was accepted", d)
	}
}

// TestSimFlowCompletesBeforeAccept: a short flow (messages, then close) that completes
// before its upper layer accepted it keeps its messages.
func TestSimFlowCompletesBeforeAccept(t *testing.T) {
	link := simLink{Delay: 5 * time.Millisecond}
	m, client, server := newSim(t, 2, link, link, Config{})
	server.acceptDelay = 300 * time.Millisecond
	key := FlowKey{Metadata: "short"}
	for i := range 3 {
		client.write(&Write{Key: key, Data: simPayload(i, 3000)})
	}
	client.deliver(&CloseFlow{Key: key})
	if !m.run(m.clock.now+5*time.Second, func() bool { return len(server.finished) == 1 }) {
		t.Fatal("flow never finished")
	}
	id := server.opened[0].FlowID
	if got := len(server.msgs[id]); got != 3 {
		t.Fatalf("%d of 3 messages delivered", got)
	}
	for i, d := range server.msgs[id] {
		if !bytes.Equal(d, simPayload(i, 3000)) {
			t.Fatalf("message %d corrupted", i)
		}
	}
}

// TestSimRejectFlow: the receiver rejects a flow mid-stream; the sender's upper layer is
// told, the queued messages are abandoned, and another flow carries on.
func TestSimRejectFlow(t *testing.T) {
	link := simLink{Delay: 10 * time.Millisecond}
	m, client, server := newSim(t, 4, link, link, Config{})
	size := func(int) int { return 1000 }
	doomed := &simBulk{n: client, key: FlowKey{Metadata: "doomed"}, count: 300, size: size, window: 300}
	other := &simBulk{n: client, key: FlowKey{Metadata: "other"}, count: 300, size: size, window: 4}
	sink := &simSink{t: t, size: size, clock: &m.clock}
	got := 0
	server.onMessage = func(id uint64, data []byte) {
		switch string(server.s.recv.get(id).meta) {
		case "doomed":
			got++
			if got == 20 {
				server.deliver(&RejectFlow{FlowID: id, Code: 7})
			}
		case "other":
			sink.take(data)
		}
	}
	doomed.start()
	other.start()
	if !m.run(m.clock.now+time.Minute, func() bool { return doomed.done() && other.done() && sink.next == 300 }) {
		t.Fatalf("doomed %d/%d settled, other %d/%d, sink %d", doomed.delivered+doomed.abandoned, doomed.count,
			other.delivered+other.abandoned, other.count, sink.next)
	}
	if len(client.rejected) != 1 || client.rejected[0].Key != doomed.key || client.rejected[0].Code != 7 {
		t.Fatalf("rejections %+v", client.rejected)
	}
	if doomed.abandoned == 0 || doomed.delivered < 20 || doomed.delivered > got {
		t.Fatalf("doomed flow: %d delivered receipts, %d abandoned, %d received", doomed.delivered, doomed.abandoned, got)
	}
	if other.abandoned != 0 {
		t.Fatal("the other flow lost messages")
	}
}

// TestSimRetransmitLimit: the far end vanishes with data outstanding; the session gives up
// after the retransmit limit and closes.
func TestSimRetransmitLimit(t *testing.T) {
	link := simLink{Delay: 10 * time.Millisecond}
	cfg := Config{RetransmitLimit: 2 * time.Second, NearCloseTimeout: 500 * time.Millisecond}
	m, client, server := newSim(t, 5, link, link, cfg)
	b := &simBulk{n: client, key: FlowKey{Metadata: "bulk"}, count: 10000, size: func(int) int { return 1000 }, window: 100}
	b.start()
	m.run(m.clock.now+500*time.Millisecond, nil)
	client.link.Cut, server.link.Cut = true, true
	b.window = 0 // write nothing more; what was written must all be settled at the end
	cut := m.clock.now
	if !m.run(m.clock.now+time.Minute, func() bool { return client.stopped }) {
		t.Fatal("session never closed")
	}
	if client.reason != ReasonRetransmit || client.closing == nil || client.closing.Reason != ReasonRetransmit {
		t.Fatalf("closed with %v", client.reason)
	}
	// The limit counts from the last acknowledgement; the check runs at each (backed-off)
	// retransmission timeout; then the close request waits NearCloseTimeout for its ack.
	if d := m.clock.now - cut; d < 2*time.Second || d > 5*time.Second {
		t.Fatalf("closed %v after the cut", d)
	} else {
		t.Logf("closed %v after the cut", d)
	}
	if m.stats.RetransmitTimeouts.Load() != 1 {
		t.Fatal("retransmit timeout not counted")
	}
	// Every message written got its receipt: those not acknowledged say Abandoned.
	if b.unsettled != 0 || b.abandoned == 0 {
		t.Fatalf("%d messages without a receipt after the session closed (%d delivered, %d abandoned)", b.unsettled, b.delivered, b.abandoned)
	}
}

// simMediaResult is what a simulated live stream delivered, measured in virtual time.
type simMediaResult struct {
	sent, got, abandoned [3]int           // by kind (1 audio, 2 video)
	p99, maxGap          [3]time.Duration // lateness (write to delivery) and longest time between deliveries
	keySent, keyGot      int
}

// simMedia streams audio (50/s, 200 B, 400 ms lifetime) and video (25 fps, a 20 KB key
// frame every 2 s that abandons older frames, 2–4 KB otherwise, lifetime up to the next
// key frame) for dur of virtual time, and checks: nothing arrives twice or out of order
// on a flow, and every missing message was reported Abandoned to its sender. It measures
// lateness and gaps in virtual time: no scheduling delay of the machine enters them.
func simMedia(t *testing.T, seed uint64, link simLink, dur time.Duration) (r simMediaResult) {
	t.Helper()
	m, client, server := newSim(t, seed, link, link, Config{})
	audioKey := FlowKey{Metadata: "av", Lane: 1}
	videoKey := FlowKey{Metadata: "av", Lane: 2}
	fate := map[uint64]string{}
	client.onReceipt = func(msg any) {
		switch r := msg.(type) {
		case *Delivered:
			fate[r.Tag] = "delivered"
		case *Abandoned:
			fate[r.Tag] = "abandoned"
		case *Refused:
			t.Fatalf("seed %d: message %#x refused", seed, r.Tag)
		}
	}
	last := map[byte]int64{1: -1, 2: -1}
	seen := map[uint64]bool{}
	written := map[uint64]time.Duration{} // tag → when written
	var lastAt [3]time.Duration
	var late [3][]time.Duration
	server.onMessage = func(_ uint64, data []byte) {
		kind, seq := data[0], int64(binary.BigEndian.Uint64(data[1:]))
		if seq <= last[kind] {
			t.Fatalf("seed %d: kind %d message %d after %d", seed, kind, seq, last[kind])
		}
		last[kind] = seq
		tag := uint64(kind)<<32 | uint64(seq)
		seen[tag] = true
		r.got[kind]++
		now := m.clock.now
		late[kind] = append(late[kind], now-written[tag])
		if lastAt[kind] != 0 {
			r.maxGap[kind] = max(r.maxGap[kind], now-lastAt[kind])
		}
		lastAt[kind] = now
		if kind == 2 && seq%50 == 0 {
			r.keyGot++
		}
	}
	rng := rand.New(rand.NewPCG(seed, 9))
	payload := func(kind byte, seq int, size int) []byte {
		b := make([]byte, size)
		b[0] = kind
		binary.BigEndian.PutUint64(b[1:], uint64(seq))
		return b
	}
	start := m.clock.now
	var tick func()
	n := 0
	tick = func() {
		if m.clock.now-start >= dur {
			return
		}
		written[1<<32|uint64(r.sent[1])] = m.clock.now
		client.write(&Write{Key: audioKey, Priority: PriorityAudio, Lifetime: 400 * time.Millisecond,
			Data: payload(1, r.sent[1], 200), Receipt: &Receipt{To: client.receiptTo, Tag: 1<<32 | uint64(r.sent[1])}})
		r.sent[1]++
		if n%2 == 0 {
			v := r.sent[2]
			key := v%50 == 0
			size := 2000 + rng.IntN(2000)
			if key {
				size = 20000
				r.keySent++
			}
			written[2<<32|uint64(v)] = m.clock.now
			client.write(&Write{Key: videoKey, Priority: PriorityVideo, Lifetime: time.Duration(50-v%50) * 40 * time.Millisecond,
				AbandonWaiting: abandonOlder(key), Data: payload(2, v, size), Receipt: &Receipt{To: client.receiptTo, Tag: 2<<32 | uint64(v)}})
			r.sent[2]++
		}
		n++
		m.after(20*time.Millisecond, tick)
	}
	tick()
	if !m.run(start+dur+time.Minute, func() bool { return m.clock.now-start > dur && len(fate) == r.sent[1]+r.sent[2] }) {
		t.Fatalf("seed %d: %d of %d receipts", seed, len(fate), r.sent[1]+r.sent[2])
	}
	for kind := byte(1); kind <= 2; kind++ {
		for seq := 0; seq < r.sent[kind]; seq++ {
			tag := uint64(kind)<<32 | uint64(seq)
			if fate[tag] == "abandoned" {
				r.abandoned[kind]++
			}
			if !seen[tag] && fate[tag] != "abandoned" {
				t.Fatalf("seed %d: kind %d message %d missing, its receipt says %q", seed, kind, seq, fate[tag])
			}
		}
		if l := late[kind]; len(l) > 0 {
			slices.Sort(l)
			r.p99[kind] = l[len(l)*99/100]
		}
	}
	return r
}

// TestSimLiveMedia runs the live audio/video stream of the lossy-link tests
// (endpoint.TestLossyLiveMedia) in virtual time over many seeds, and checks what the
// transport promises of it there, where a seed fixes the run and no scheduling delay of
// the machine enters the measures:
//
//   - loss costs some media, not most of it: audio delivery ratio at least 1 - 2·loss - 5 %,
//     at least half the key frames, all audio and key frames on a lossless path;
//   - up to 5 % loss, fresh audio: p99 lateness within its lifetime plus what it takes to
//     learn that an expired message in flight was lost (a retransmission timeout, ≥ 250 ms)
//     and a round trip for that news; and audio never stalls for a second.
//
// Not promised, so only logged (worst cases over 200 seeds, issue 26): at 5 % loss video
// may stall for more than a second (1.45 s: a tail loss in a window of three packets waits
// for the retransmission timeout, which acknowledgements of the lone audio packets that
// still get through keep pushing back); at 20 % loss the audio of the first packets waits
// for the initial 3 s retransmission timeout when they are lost before any round trip
// was measured, and audio p99 lateness reaches 0.8 s.
//
// Each seed's run is a parallel subtest: the runs are independent and CPU-bound, and one
// after the other they made this test the package's longest (60 runs on one core).
func TestSimLiveMedia(t *testing.T) {
	t.Parallel() // CPU-bound, self-contained (its own simulated clock and network)
	seeds := uint64(20)
	if testing.Short() {
		seeds = 4
	}
	const (
		audioLifetime = 400 * time.Millisecond // simMedia's
		rtt           = 40 * time.Millisecond
	)
	losses := []float64{0, 0.05, 0.2}
	var mu sync.Mutex
	worst := make([]simMediaResult, len(losses))
	t.Run("runs", func(t *testing.T) { // returns once every run has
		for i, loss := range losses {
			for seed := uint64(1); seed <= seeds; seed++ {
				t.Run(fmt.Sprintf("loss%.0f%%/seed%d", loss*100, seed), func(t *testing.T) {
					t.Parallel()
					link := simLink{Loss: loss, Delay: 20 * time.Millisecond, Jitter: 2 * time.Millisecond}
					r := simMedia(t, seed, link, 30*time.Second)
					if seed == 1 {
						t.Logf("loss %.0f%%: audio %d/%d (%d abandoned), video %d/%d (%d abandoned)", loss*100, r.got[1], r.sent[1], r.abandoned[1], r.got[2], r.sent[2], r.abandoned[2])
					}
					mu.Lock()
					for k := range r.p99 {
						worst[i].p99[k], worst[i].maxGap[k] = max(worst[i].p99[k], r.p99[k]), max(worst[i].maxGap[k], r.maxGap[k])
					}
					mu.Unlock()
					fail := func(format string, args ...any) {
						t.Helper()
						t.Fatalf("loss %.0f%% seed %d: %s", loss*100, seed, fmt.Sprintf(format, args...))
					}
					if minRatio := 1 - 2*loss - 0.05; float64(r.got[1]) < minRatio*float64(r.sent[1]) {
						fail("audio delivered %d/%d, below %.2f", r.got[1], r.sent[1], minRatio)
					}
					if r.keyGot*2 < r.keySent {
						fail("only %d of %d key frames arrived", r.keyGot, r.keySent)
					}
					if loss == 0 && (r.got[1] != r.sent[1] || r.keyGot != r.keySent) {
						fail("lossless path lost media: audio %d/%d, key frames %d/%d", r.got[1], r.sent[1], r.keyGot, r.keySent)
					}
					if loss > 0.1 {
						return
					}
					if bound := audioLifetime + 2*rtt + 250*time.Millisecond; r.p99[1] > bound {
						fail("audio p99 lateness %v above %v", r.p99[1], bound)
					}
					if r.maxGap[1] > time.Second {
						fail("audio stalled: longest gap %v", r.maxGap[1])
					}
				})
			}
		}
	})
	for i, loss := range losses {
		w := worst[i]
		t.Logf("loss %.0f%%, seeds 1–%d: worst audio p99 lateness %v, longest gap %v; video %v, %v", loss*100, seeds,
			w.p99[1], w.maxGap[1], w.p99[2], w.maxGap[2])
	}
}

// abandonOlder is the Write.AbandonWaiting of a key frame that gives up every older frame.
func abandonOlder(key bool) time.Duration {
	if key {
		return time.Nanosecond
	}
	return 0
}

// TestSimWriteWithOverlongMetadataRefused: a write under a key whose metadata exceeds
// MaxFlowMetadata is refused (no flow is opened for it) and the session carries on.
func TestSimWriteWithOverlongMetadataRefused(t *testing.T) {
	m, client, server := newSim(t, 1, simLink{Delay: 10 * time.Millisecond}, simLink{Delay: 10 * time.Millisecond}, Config{})
	var refused, delivered []uint64
	client.onReceipt = func(msg any) {
		switch r := msg.(type) {
		case *Refused:
			refused = append(refused, r.Tag)
		case *Delivered:
			delivered = append(delivered, r.Tag)
		}
	}
	var got [][]byte
	server.onMessage = func(_ uint64, data []byte) { got = append(got, data) }
	long := FlowKey{Metadata: string(bytes.Repeat([]byte{'m'}, 2000))}
	client.write(&Write{Key: long, Data: []byte("lost"), Receipt: &Receipt{To: client.receiptTo, Tag: 1}})
	client.write(&Write{Key: FlowKey{Metadata: string(bytes.Repeat([]byte{'m'}, MaxFlowMetadata))}, Data: []byte("ok"), Receipt: &Receipt{To: client.receiptTo, Tag: 2}})
	m.run(m.clock.now+5*time.Second, func() bool { return len(delivered) == 1 })
	if len(refused) != 1 || refused[0] != 1 || len(delivered) != 1 || delivered[0] != 2 {
		t.Fatalf("refused %v, delivered %v", refused, delivered)
	}
	if len(got) != 1 || string(got[0]) != "ok" || client.s.send.len() != 1 || client.reason != 0 {
		t.Fatalf("server got %q; client has %d send flows, closed %v", got, client.s.send.len(), client.reason)
	}
}

// TestSimReorderingIsNotLoss: on a path that reorders and jitters but loses nothing,
// bulk goodput stays within half of the clean path's: losses declared on reordered
// fragments are recognised as spurious and their window reductions undone (virtual time).
func TestSimReorderingIsNotLoss(t *testing.T) {
	goodput := func(link simLink) (float64, *Session) {
		m, client, server := newSim(t, 1, link, link, Config{})
		got, n := 0, 0
		server.onMessage = func(_ uint64, data []byte) { got++; n += len(data) }
		b := &simBulk{n: client, key: FlowKey{Metadata: "bulk"}, count: 3000, size: func(int) int { return 1000 }, window: 256}
		start := m.clock.now
		b.start()
		if !m.run(start+5*time.Minute, func() bool { return got == 3000 }) {
			t.Fatalf("%+v: %d of 3000 messages", link, got)
		}
		return float64(n) / (m.clock.now - start).Seconds(), client.s
	}
	clean, _ := goodput(simLink{Delay: 20 * time.Millisecond})
	for _, link := range []simLink{
		{Delay: 20 * time.Millisecond, Reorder: 0.02, ReorderDelay: 5 * time.Millisecond},
		{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond},
	} {
		g, s := goodput(link)
		t.Logf("reorder %.0f%% by %v, jitter %v: %.0f KB/s (clean %.0f KB/s), %d reductions undone, NAK threshold %d",
			link.Reorder*100, link.ReorderDelay, link.Jitter, g/1000, clean/1000, s.cc.undone, s.cc.nakThreshold)
		if g < clean/2 {
			t.Errorf("reorder %.0f%% by %v, jitter %v: %.0f KB/s against %.0f KB/s on the clean path", link.Reorder*100, link.ReorderDelay, link.Jitter, g/1000, clean/1000)
		}
	}
}

// TestSimRejectedFlowsAreForgotten: flows the session refused (here: beyond MaxRecvFlows,
// before any upper actor saw them) leave the session's flow table after the linger, like
// completed ones, so that refusals never use up the table for good.
func TestSimRejectedFlowsAreForgotten(t *testing.T) {
	link := simLink{Delay: 10 * time.Millisecond}
	m, client, server := newSim(t, 5, link, link, Config{MaxRecvFlows: 2})
	for i := range 4 {
		client.deliver(&Write{Key: FlowKey{Metadata: fmt.Sprintf("flow%d", i)}, Data: []byte("x")})
	}
	if !m.run(m.clock.now+10*time.Second, func() bool { return len(client.rejected) == 2 }) {
		t.Fatalf("%d flows rejected, want 2", len(client.rejected))
	}
	if n := server.s.recv.len(); n != 4 {
		t.Fatalf("%d receive flows right after the refusals, want 4", n)
	}
	// Traffic on an accepted flow keeps packets (and acknowledgements) going.
	start := m.clock.now
	for s := 1; s <= 4; s++ {
		m.after(time.Duration(s)*time.Minute, func() { client.deliver(&Write{Key: FlowKey{Metadata: "flow0"}, Data: []byte("y")}) })
	}
	m.run(start+5*time.Minute, func() bool { return false })
	if n := server.s.recv.len(); n != 2 {
		t.Fatalf("%d receive flows 5 minutes after the refusals, want the 2 accepted ones", n)
	}
}

// TestSimRefusedFirstWriteMakesNoFlow: a write refused for the session's send buffer
// leaves no empty send flow behind.
func TestSimRefusedFirstWriteMakesNoFlow(t *testing.T) {
	link := simLink{Delay: 10 * time.Millisecond}
	_, client, _ := newSim(t, 6, link, link, Config{SessionSendBuffer: 1000})
	refused := client.s.p.Stats.WritesRefused.Load()
	client.deliver(&Write{Key: FlowKey{Metadata: "big"}, Data: make([]byte, 2000)})
	if client.s.p.Stats.WritesRefused.Load() != refused+1 {
		t.Fatal("the oversized write was not refused")
	}
	if n := client.s.send.len(); n != 0 || client.s.sendByKey.get(FlowKey{Metadata: "big"}) != nil {
		t.Fatalf("%d send flows after a refused first write", n)
	}
}

// TestSimIdleSessionReleasesItsKeys: a session that has sent nothing for KeyScheduleIdle
// gives back its encrypter's key schedule, once, and the next message goes out and
// arrives as before (the schedule is rebuilt by the first packet).
func TestSimIdleSessionReleasesItsKeys(t *testing.T) {
	link := simLink{Delay: 10 * time.Millisecond}
	m, client, server := newSim(t, 9, link, link, Config{})
	key := FlowKey{Metadata: "rpc"}
	client.write(&Write{Key: key, Data: simPayload(0, 500)})
	if !m.run(m.clock.now+time.Second, func() bool { return len(server.opened) == 1 && len(server.msgs[server.opened[0].FlowID]) == 1 }) {
		t.Fatal("first message not delivered")
	}
	if n := m.stats.KeyReleases.Load(); n != 0 {
		t.Fatalf("%d key releases while busy", n)
	}
	m.run(m.clock.now+KeyScheduleIdle+time.Second, func() bool { return false })
	if n := m.stats.KeyReleases.Load(); n != 2 {
		t.Fatalf("%d key releases after %v idle, want 2 (one per session)", n, KeyScheduleIdle)
	}
	m.run(m.clock.now+3*KeyScheduleIdle, func() bool { return false })
	if n := m.stats.KeyReleases.Load(); n != 2 {
		t.Fatalf("%d key releases: a released session released again without sending", n)
	}
	client.write(&Write{Key: key, Data: simPayload(1, 500)})
	id := server.opened[0].FlowID
	if !m.run(m.clock.now+time.Second, func() bool { return len(server.msgs[id]) == 2 }) {
		t.Fatal("message after the release not delivered")
	}
	if !bytes.Equal(server.msgs[id][1], simPayload(1, 500)) {
		t.Fatal("message after the release corrupted")
	}
}

// TestSimMessageArrivalTime: a delivered message carries the receive time of the packet
// that completed it, also when it was held until the upper layer accepted its flow. The
// messages span three fragments each and the link jitters, so the fragments of one
// message arrive at different times (virtual time: the simulation delivers a packet at
// the instant it arrives, so that time is the clock's).
func TestSimMessageArrivalTime(t *testing.T) {
	link := simLink{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond}
	m, client, server := newSim(t, 1, link, link, Config{})
	server.acceptDelay = 70 * time.Millisecond // the first messages wait for the accept
	start := m.clock.now
	var got, held int
	server.onArrival = func(fm *FlowMessage) {
		got++
		switch {
		case fm.At == m.clock.now:
		case fm.At > start && fm.At < m.clock.now && m.clock.now < start+200*time.Millisecond:
			held++ // released by the accept
		default:
			t.Errorf("message %d: At %v, delivered at %v (started at %v)", got, fm.At, m.clock.now, start)
		}
	}
	const count = 20
	for i := range count {
		m.after(time.Duration(i)*30*time.Millisecond, func() {
			client.write(&Write{Key: FlowKey{Metadata: "media"}, Data: simPayload(i, 3000)})
		})
	}
	if !m.run(m.clock.now+time.Minute, func() bool { return got == count }) {
		t.Fatalf("%d of %d messages", got, count)
	}
	if held == 0 {
		t.Error("no message was held for the accept")
	}
}

// TestSimControlGetsThroughASaturatedWindow: while a bulk flow keeps the window full
// (about 1.5 MB queued at all times), control messages on a PriorityControl flow are not
// held behind its queue — p95 latency within 200 ms on a 40 ms round trip — while the bulk
// flow's messages wait far longer. In virtual time: endpoint.TestLossyPriorities runs the
// same through real sockets, where the latency also measures how fast the machine runs the
// actors, and logs it.
func TestSimControlGetsThroughASaturatedWindow(t *testing.T) {
	t.Parallel()
	link := simLink{Delay: 20 * time.Millisecond}
	m, client, server := newSim(t, 1, link, link, Config{})
	bulkKey, ctlKey := FlowKey{Metadata: "bulk"}, FlowKey{Metadata: "control"}
	const (
		bulkWindow = 1500 // messages of 1000 bytes unsettled
		from, end  = 500 * time.Millisecond, 3500 * time.Millisecond
	)
	stamp := func(kind byte, size int) []byte {
		b := make([]byte, size)
		b[0] = kind
		binary.BigEndian.PutUint64(b[1:], uint64(m.clock.now))
		return b
	}
	measuring := func() bool { return m.clock.now < end }
	var ctl, bulk []time.Duration
	server.onMessage = func(_ uint64, data []byte) {
		lat := m.clock.now - time.Duration(binary.BigEndian.Uint64(data[1:]))
		if data[0] == 'c' {
			ctl = append(ctl, lat)
		} else if measuring() && m.clock.now > from {
			bulk = append(bulk, lat)
		}
	}
	writeBulk := func() {
		client.write(&Write{Key: bulkKey, Data: stamp('b', 1000), Priority: PriorityData, Receipt: &Receipt{To: client.receiptTo}})
	}
	client.onReceipt = func(msg any) {
		if _, ok := msg.(*Delivered); ok && measuring() {
			writeBulk()
		}
	}
	for range bulkWindow {
		writeBulk()
	}
	sent := 0
	var tick func()
	tick = func() {
		if !measuring() {
			return
		}
		if m.clock.now > from {
			client.write(&Write{Key: ctlKey, Data: stamp('c', 100), Priority: PriorityControl})
			sent++
		}
		m.after(50*time.Millisecond, tick)
	}
	tick()
	if !m.run(end+time.Minute, func() bool { return !measuring() && len(ctl) == sent }) {
		t.Fatalf("%d of %d control messages arrived", len(ctl), sent)
	}
	slices.Sort(ctl)
	slices.Sort(bulk)
	if len(ctl) < 20 || len(bulk) == 0 {
		t.Fatalf("%d control and %d bulk messages measured", len(ctl), len(bulk))
	}
	p95, bulkP50 := ctl[len(ctl)*95/100], bulk[len(bulk)/2]
	t.Logf("control latency p50=%v p95=%v max=%v (%d msgs); bulk latency p50=%v (%d msgs)",
		ctl[len(ctl)/2], p95, ctl[len(ctl)-1], len(ctl), bulkP50, len(bulk))
	if p95 > 200*time.Millisecond {
		t.Fatalf("control p95 latency %v above 200ms while bulk data saturates the window", p95)
	}
	if bulkP50 < 2*p95 {
		t.Fatalf("bulk p50 latency %v: the bulk flow did not saturate the window (control p95 %v)", bulkP50, p95)
	}
}
