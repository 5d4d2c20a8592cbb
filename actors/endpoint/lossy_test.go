package endpoint

// Flows that survive real networks: a server endpoint and a client endpoint on loopback
// with a netsim relay between them that drops, duplicates, reorders and delays datagrams
// (seeded), and upper actors written for each test.
//
// The goodput and media figures are logged (go test -v), not checked: in real time they
// measure the machine; the session simulation checks them in virtual time
// (session.TestSimBulkTransferUnderLoss, TestSimLiveMedia). What these tests check holds
// whatever the timing (integrity, order, receipts), so by default they move little: 48 KiB
// of bulk data and 1.6 s of live media per loss rate. The measurement runs are
//
//	LOSSY_BULK_MB=10 LOSSY_MEDIA_SECONDS=30 go test -run 'TestLossy(Bulk|LiveMedia)' -v -count=1 ./actors/endpoint/
//
// scripts/lossy-compare.sh compares RTMFP with TCP through one impaired path (root).

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/internal/netsim"
	"github.com/actorrtmfp/actorrtmfp/actors/internal/testpar"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// slack scales time bounds under the race detector.
func slack(d time.Duration) time.Duration {
	if testpar.Race {
		return 3 * d
	}
	return d
}

// rxMsg is a message an upper actor received, stamped when it did.
type rxMsg struct {
	flow uint64
	meta string
	data []byte
	at   time.Time
}

// recorder is a server upper actor: it accepts every flow (unless onOpen says otherwise)
// and reports what it gets on events.
type recorder struct {
	events chan<- any
	metas  map[uint64]string
	// onOpen, if set, decides about a new flow (it must accept or reject it).
	onOpen func(ctx actor.Context, m *session.FlowOpened)
	// onMsg, if set, runs on each message after it is reported.
	onMsg func(ctx actor.Context, m *rxMsg)
}

func (r *recorder) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *session.FlowOpened:
		if r.metas == nil {
			r.metas = map[uint64]string{}
		}
		r.metas[m.FlowID] = string(m.Metadata)
		if r.onOpen != nil {
			r.onOpen(ctx, m)
		} else {
			ctx.Send(ctx.Parent(), &session.AcceptFlow{FlowID: m.FlowID, PID: ctx.Self()})
		}
		r.events <- m
	case *session.FlowMessage:
		rx := &rxMsg{flow: m.FlowID, meta: r.metas[m.FlowID], data: m.Data, at: time.Now()}
		r.events <- rx
		if r.onMsg != nil {
			r.onMsg(ctx, rx)
		}
	case *session.FlowFinished:
		r.events <- m
	}
}

// clientUpper accepts the flows the server opens and reports everything the session
// tells it.
type clientUpper struct{ out chan<- any }

func (c *clientUpper) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *session.FlowOpened:
		ctx.Send(ctx.Parent(), &session.AcceptFlow{FlowID: m.FlowID, PID: ctx.Self()})
		c.out <- m
	case *session.FlowMessage, *session.FlowFinished, *session.SendFlowRejected, *session.Closing:
		c.out <- m
	}
}

// receiptSink forwards write receipts to a channel.
type receiptSink struct{ out chan<- any }

func (r *receiptSink) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *session.Delivered, *session.Abandoned, *session.Refused:
		r.out <- m
	}
}

type lossyOpts struct {
	link         netsim.Link
	seed         uint64
	server       func(events chan<- any) actor.Actor // the server's upper actor (default: a recorder)
	serverCfg    func(*Config)
	clientCfg    func(*Config)
	upperOptions []actor.PropsOption // server upper props options (default: none)
}

// lossyEnv is a dialled session through a relay.
type lossyEnv struct {
	t              *testing.T
	sys            *actor.ActorSystem
	server, client *Endpoint
	relay          *netsim.Relay
	session        *actor.PID // the client's session
	clientEvents   chan any
	events         chan any // the server recorder's
	receipts       chan any
	receiptPID     *actor.PID
}

func newLossyEnv(t *testing.T, o lossyOpts) *lossyEnv {
	t.Helper()
	env := &lossyEnv{t: t, clientEvents: make(chan any, 1<<12), events: make(chan any, 1<<15), receipts: make(chan any, 1<<15)}
	env.sys = actors.NewActorSystem(testLogger(t))
	if o.server == nil {
		o.server = func(events chan<- any) actor.Actor { return &recorder{events: events} }
	}
	env.server = startServer(t, env.sys, func(c *Config) {
		c.Accept.Upper = func(SessionInfo) actor.Actor { return o.server(env.events) }
		c.Accept.UpperOptions = o.upperOptions
		if o.serverCfg != nil {
			o.serverCfg(c)
		}
	})
	// Cleanups run last-in first-out: the client stops first, while the relay still
	// carries its close to the server (whose session then ends at once when it stops).
	var err error
	// The session is opened over a clean path (handshake retries under loss only slow the
	// tests down); the link conditions apply from the first flow on.
	if env.relay, err = netsim.New(env.server.Addr(), netsim.Link{Delay: o.link.Delay}, netsim.Link{Delay: o.link.Delay}, o.seed); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.relay.Close() })
	ccfg := Config{Listen: "127.0.0.1:0", Log: testLogger(t)}
	if o.clientCfg != nil {
		o.clientCfg(&ccfg)
	}
	if env.client, err = Start(env.sys.Root, ccfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		env.relay.SetLinks(netsim.Link{}, netsim.Link{}) // a clean path for the close
		env.relay.Cut(false)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = env.client.Stop(ctx)
	})
	env.receiptPID = env.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &receiptSink{out: env.receipts} }))

	key, err := cryptoutil.GenerateDHKey(cryptoutil.Group2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan DialResult, 1)
	env.client.Dial(DialOptions{
		URL: fmt.Sprintf("rtmfp://%s/app", env.server.Addr()), Addrs: []netip.AddrPort{env.relay.Addr()},
		Keys: []*cryptoutil.DHKey{key}, Policy: cryptoutil.FlashInitiatorPolicy(), Timeout: 30 * time.Second,
		Upper: func(SessionInfo) actor.Actor {
			return &clientUpper{out: env.clientEvents}
		},
	}, func(r DialResult) { res <- r })
	select {
	case r := <-res:
		if r.Err != nil {
			t.Fatalf("dial through the relay: %v", r.Err)
		}
		env.session = r.PID
	case <-time.After(40 * time.Second):
		t.Fatal("dial never finished")
	}
	env.relay.SetLinks(o.link, o.link)
	return env
}

func (env *lossyEnv) write(key session.FlowKey, prio session.Priority, data []byte, tag uint64) {
	env.sys.Root.Send(env.session, &session.Write{Key: key, Data: data, Priority: prio, Receipt: &session.Receipt{To: env.receiptPID, Tag: tag}})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testPayload is message i of a test stream: its index, then bytes derived from it.
func testPayload(i, size int) []byte {
	b := make([]byte, max(size, 8))
	binary.BigEndian.PutUint64(b, uint64(i))
	r := mrand.New(mrand.NewPCG(uint64(i), 2))
	for j := 8; j < len(b); j += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		copy(b[j:], w[:])
	}
	return b
}

// bulkSize gives varied message sizes: mostly 1,000 bytes, some multi-fragment
// messages of 3–9 KB, some tiny ones.
func bulkSize(i int) int {
	switch i % 10 {
	case 3:
		return 3000 + (i*7919)%6000
	case 7:
		return 12
	default:
		return 1000
	}
}

type bulkResult struct {
	bytes, messages, refused, abandoned int
	elapsed                             time.Duration
	goodput                             float64 // bytes per second of application data
	up, down                            [4]uint64
}

// runBulk sends total bytes of reliable messages from the client to the server through
// env, keeping at most maxWindow messages unsettled, and checks that the server got every
// message intact, once, and in the order the session accepted them. Backpressure: a
// refused write is retried later, and the window shrinks by a quarter (it grows back by
// one per window of delivered messages), as an application would do.
//
// It runs on a goroutine of its own beside other runs, so it reports failure as an error.
func runBulk(env *lossyEnv, total, maxWindow int, timeout time.Duration) (bulkResult, error) {
	key := session.FlowKey{Metadata: "bulk"}
	count, sum := 0, 0
	for sum < total {
		sum += bulkSize(count)
		count++
	}
	var (
		attempts  []int  // attempt (receipt tag) → message index
		fates     []byte // attempt → 'D', 'A', 'R' or 0
		unsettled int
		next      int
		retry     []int
		received  []int
		rxBytes   int
		res       bulkResult
		hash      = sha256.New()
	)
	deadline := time.After(timeout)
	start := time.Now()
	var last time.Time
	window, grow := maxWindow, 0
	retryTick := time.NewTicker(20 * time.Millisecond)
	defer retryTick.Stop()
	pump := func() {
		for unsettled < window {
			var i int
			switch {
			case len(retry) > 0:
				i, retry = retry[0], retry[1:]
			case next < count:
				i = next
				next++
			default:
				return
			}
			attempts = append(attempts, i)
			fates = append(fates, 0)
			unsettled++
			env.write(key, session.PriorityData, testPayload(i, bulkSize(i)), uint64(len(attempts)-1))
		}
	}
	paused := false
	pump()
	for len(received) < count || unsettled > 0 {
		select {
		case ev := <-env.events:
			m, ok := ev.(*rxMsg)
			if !ok {
				continue
			}
			if len(m.data) < 8 {
				return res, fmt.Errorf("%d-byte message", len(m.data))
			}
			i := int(binary.BigEndian.Uint64(m.data))
			if i >= count || !bytes.Equal(m.data, testPayload(i, bulkSize(i))) {
				return res, fmt.Errorf("message %d corrupted (%d bytes)", i, len(m.data))
			}
			received = append(received, i)
			rxBytes += len(m.data)
			hash.Write(m.data)
			last = m.at
		case r := <-env.receipts:
			switch r := r.(type) {
			case *session.Delivered:
				fates[r.Tag] = 'D'
				if grow++; grow >= window {
					window, grow = min(window+1, maxWindow), 0
				}
				paused = false // room was freed
			case *session.Abandoned:
				fates[r.Tag] = 'A'
				res.abandoned++
			case *session.Refused:
				fates[r.Tag] = 'R'
				res.refused++
				retry = append(retry, attempts[r.Tag])
				window = max(8, min(window, unsettled)*3/4)
				paused = true // until something is delivered (or the retry tick)
			}
			unsettled--
			if !paused {
				pump()
			}
		case <-retryTick.C:
			paused = false
			pump()
		case <-deadline:
			return res, fmt.Errorf("after %v: %d of %d messages received, %d unsettled, %d refused so far (relay up %+v)",
				timeout, len(received), count, unsettled, res.refused, counters(&env.relay.Up))
		}
	}
	if res.abandoned > 0 {
		return res, fmt.Errorf("%d reliable messages abandoned", res.abandoned)
	}
	// In order: the order in which the session accepted the writes.
	var want []int
	for a, i := range attempts {
		if fates[a] != 'R' {
			want = append(want, i)
		}
	}
	if !slices.Equal(received, want) {
		return res, fmt.Errorf("delivery order differs from write order (%d received, %d accepted writes)", len(received), len(want))
	}
	sorted := slices.Clone(received)
	slices.Sort(sorted)
	for i, v := range sorted {
		if v != i {
			return res, fmt.Errorf("message %d missing or duplicated", i)
		}
	}
	wantHash := sha256.New()
	for _, i := range want {
		wantHash.Write(testPayload(i, bulkSize(i)))
	}
	if !bytes.Equal(hash.Sum(nil), wantHash.Sum(nil)) {
		return res, fmt.Errorf("stream hash differs")
	}
	res.bytes, res.messages = rxBytes, count
	res.elapsed = last.Sub(start)
	res.goodput = float64(rxBytes) / res.elapsed.Seconds()
	res.up, res.down = counters(&env.relay.Up), counters(&env.relay.Down)
	return res, nil
}

func counters(c *netsim.Counters) [4]uint64 {
	return [4]uint64{c.Forwarded.Load(), c.Dropped.Load(), c.Duplicated.Load(), c.Reordered.Load()}
}

// bulkTotal is how many bytes TestLossyBulkReliable moves per loss rate: 48 KiB, or
// LOSSY_BULK_MB megabytes.
//
// 48 KiB (34 messages, four of them of several fragments, up to 8.8 KB) is enough for what
// the test checks: at 20 % loss each way the relay drops a fifth of the datagrams, data
// and acknowledgements, so fragments are lost and must be sent again; with the send queue
// a quarter of the data (12 KiB, a few messages) writes are still refused and retried.
// With lost fragments given up instead of resent (sendFrag.onLoss as for a message without
// retransmission) every run fails, messages missing (at 0 % too, where a datagram held
// back by the 2 % reordering can be declared lost). The run at 20 % loss, the longest, is a
// chain of retransmission timeouts (each at least 250 ms): its duration grows with the
// data.
func bulkTotal() int {
	if mb, err := strconv.Atoi(os.Getenv("LOSSY_BULK_MB")); err == nil && mb > 0 {
		return mb << 20
	}
	return 48 << 10
}

// TestLossyBulkReliable: reliable messages cross 0 %, 5 % and 20 % loss (with 1 %
// duplication, 2 % reordering and 20 ms each way) intact and in order, with the sender
// respecting backpressure. The client's send queue is small (a quarter of the data, at
// most 256 KiB) so that writes are refused now and then and retried. The three loss rates
// run at once.
func TestLossyBulkReliable(t *testing.T) {
	t.Parallel()
	total := bulkTotal()
	losses := []float64{0, 0.05, 0.20}
	envs := make([]*lossyEnv, len(losses))
	for k, loss := range losses {
		envs[k] = newLossyEnv(t, lossyOpts{
			link: netsim.Link{Loss: loss, Duplicate: 0.01, Reorder: 0.02, Delay: 20 * time.Millisecond},
			seed: 100 + uint64(loss*100),
			clientCfg: func(c *Config) {
				c.Session.SendQueue = min(256<<10, total/4)
			},
		})
	}
	results := make([]bulkResult, len(losses))
	errs := make([]error, len(losses))
	var wg sync.WaitGroup
	for k := range losses {
		wg.Go(func() {
			timeout := slack(90*time.Second) * time.Duration(max(1, total>>20))
			results[k], errs[k] = runBulk(envs[k], total, 512, timeout)
		})
	}
	wg.Wait()
	for k, loss := range losses {
		t.Run(fmt.Sprintf("loss%.0f%%", loss*100), func(t *testing.T) {
			r := results[k]
			if errs[k] != nil {
				t.Fatal(errs[k])
			}
			// Goodput is logged, not checked: in real time it measures the machine (issue 26:
			// 31 KB/s without loss under the race detector beside a CPU hog, where the
			// transport gives 180–200 KB/s in virtual time, which
			// session.TestSimBulkTransferUnderLoss checks).
			t.Logf("BULK loss=%.0f%% bytes=%d messages=%d elapsed=%v goodput=%.0f KB/s refused=%d relay up fwd/drop/dup/reorder=%v down=%v race=%v",
				loss*100, r.bytes, r.messages, r.elapsed.Round(time.Millisecond), r.goodput/1000, r.refused, r.up, r.down, testpar.Race)
		})
	}
}

// media stream payload: kind (1 audio, 2 video), key-frame flag, sequence number, send
// time (ns since the stream started), padding.
const (
	mediaAudio = 1
	mediaVideo = 2
)

func mediaPayload(kind byte, key bool, seq uint64, sent time.Duration, size int) []byte {
	b := make([]byte, max(size, 18))
	b[0] = kind
	if key {
		b[1] = 1
	}
	binary.BigEndian.PutUint64(b[2:], seq)
	binary.BigEndian.PutUint64(b[10:], uint64(sent))
	return b
}

type mediaRx struct {
	seq      uint64
	key      bool
	lateness time.Duration
	at       time.Time
}

type mediaResult struct {
	loss                 float64
	sent, got, abandoned [3]int
	p50, p99, maxGap     [3]time.Duration
	keySent, keyGot      int
	receiptsPending      int
	streamEnd            time.Time
	settle               time.Duration
	lateAudio            int // audio later than its lifetime plus a round trip
	audioLifetime        time.Duration
}

// runLiveMedia streams audio (50/s, 200 B, 400 ms lifetime) and video (25 fps, a 20 KB
// key frame every gop frames that abandons the older frames, 2–4 KB otherwise, lifetime up
// to the next key frame) for dur through env, and checks what arrived: nothing twice or out
// of order, nothing missing that the sender did not abandon. It runs on a goroutine of its
// own beside other runs, so it reports failure as an error.
func runLiveMedia(env *lossyEnv, loss float64, dur time.Duration, gop int, seed uint64) (mediaResult, error) {
	const audioLifetime = 400 * time.Millisecond
	audioKey := session.FlowKey{Metadata: "av", Lane: 1}
	videoKey := session.FlowKey{Metadata: "av", Lane: 2}
	tag := func(kind byte, seq uint64) uint64 { return uint64(kind)<<32 | seq }

	var res mediaResult
	res.loss = loss
	fate := map[uint64]byte{} // tag → 'D' / 'A' / 'R'
	rx := map[byte][]mediaRx{}
	start := time.Now()
	rng := mrand.New(mrand.NewPCG(seed, 3))

	// The sender runs on its own goroutine at real time.
	var wg sync.WaitGroup
	var sentAudio, sentVideo, sentKeys atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var aseq, vseq uint64
		for n := 0; ; n++ {
			now := time.Since(start)
			if now >= dur {
				return
			}
			env.sys.Root.Send(env.session, &session.Write{Key: audioKey, Priority: session.PriorityAudio, Lifetime: audioLifetime,
				Data: mediaPayload(mediaAudio, false, aseq, now, 200), Receipt: &session.Receipt{To: env.receiptPID, Tag: tag(mediaAudio, aseq)}})
			aseq++
			sentAudio.Add(1)
			if n%2 == 0 {
				inGOP := int(vseq % uint64(gop))
				key := inGOP == 0
				size := 2000 + rng.IntN(2000)
				if key {
					size = 20000
					sentKeys.Add(1)
				}
				life := time.Duration(gop-inGOP) * 40 * time.Millisecond
				var abandon time.Duration // a key frame gives up every older frame still waiting
				if key {
					abandon = time.Nanosecond
				}
				env.sys.Root.Send(env.session, &session.Write{Key: videoKey, Priority: session.PriorityVideo, Lifetime: life, AbandonWaiting: abandon,
					Data: mediaPayload(mediaVideo, key, vseq, now, size), Receipt: &session.Receipt{To: env.receiptPID, Tag: tag(mediaVideo, vseq)}})
				vseq++
				sentVideo.Add(1)
			}
			<-tick.C
		}
	}()

	take := func(ev any) {
		m, ok := ev.(*rxMsg)
		if !ok {
			return
		}
		kind := m.data[0]
		seq := binary.BigEndian.Uint64(m.data[2:])
		sent := time.Duration(binary.BigEndian.Uint64(m.data[10:]))
		rx[kind] = append(rx[kind], mediaRx{seq: seq, key: m.data[1] == 1, lateness: m.at.Sub(start) - sent, at: m.at})
	}
	takeReceipt := func(r any) {
		switch r := r.(type) {
		case *session.Delivered:
			fate[r.Tag] = 'D'
		case *session.Abandoned:
			fate[r.Tag] = 'A'
		case *session.Refused:
			fate[r.Tag] = 'R'
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	streaming := true
	settleDeadline := time.Now().Add(dur + slack(30*time.Second))
	quietSince := time.Now()
	for {
		select {
		case ev := <-env.events:
			take(ev)
			quietSince = time.Now()
		case r := <-env.receipts:
			takeReceipt(r)
			quietSince = time.Now()
		case <-done:
			streaming, done = false, nil
			res.streamEnd = time.Now()
		case <-time.After(20 * time.Millisecond):
		}
		if !streaming && len(fate) == int(sentAudio.Load()+sentVideo.Load()) && time.Since(quietSince) > 300*time.Millisecond {
			res.settle = time.Since(res.streamEnd)
			break
		}
		if time.Now().After(settleDeadline) {
			res.receiptsPending = int(sentAudio.Load()+sentVideo.Load()) - len(fate)
			return res, fmt.Errorf("loss %.0f%%: %d receipts still pending long after the stream ended", loss*100, res.receiptsPending)
		}
	}
	res.sent[mediaAudio], res.sent[mediaVideo] = int(sentAudio.Load()), int(sentVideo.Load())
	res.keySent = int(sentKeys.Load())
	res.audioLifetime = audioLifetime

	rtt := 40 * time.Millisecond
	for _, kind := range []byte{mediaAudio, mediaVideo} {
		msgs := rx[kind]
		got := map[uint64]bool{}
		var late []time.Duration
		for i, m := range msgs {
			if i > 0 && m.seq <= msgs[i-1].seq {
				return res, fmt.Errorf("kind %d: message %d after %d (duplicate or out of order)", kind, m.seq, msgs[i-1].seq)
			}
			if i > 0 {
				res.maxGap[kind] = max(res.maxGap[kind], m.at.Sub(msgs[i-1].at))
			}
			got[m.seq] = true
			late = append(late, m.lateness)
			if m.key {
				res.keyGot++
			}
			if kind == mediaAudio && m.lateness > audioLifetime+rtt {
				res.lateAudio++
			}
		}
		res.got[kind] = len(msgs)
		for seq := 0; seq < res.sent[kind]; seq++ {
			f := fate[tag(kind, uint64(seq))]
			if f == 'A' {
				res.abandoned[kind]++
			}
			if !got[uint64(seq)] && f != 'A' {
				return res, fmt.Errorf("loss %.0f%%: kind %d message %d missing but its receipt says %q (not abandoned)", loss*100, kind, seq, f)
			}
			if f == 'R' {
				return res, fmt.Errorf("kind %d message %d refused", kind, seq)
			}
		}
		slices.Sort(late)
		if len(late) > 0 {
			res.p50[kind] = late[len(late)/2]
			res.p99[kind] = late[len(late)*99/100]
		}
	}
	return res, nil
}

// mediaDuration is how long TestLossyLiveMedia streams and how many frames a group of
// pictures has: 1.6 s with a key frame every 0.8 s, or LOSSY_MEDIA_SECONDS seconds with a
// key frame every 2 s (the measurements of docs/benchmarks.md).
//
// The short run streams two groups of pictures, as the 4 s run with key frames every 2 s
// that it replaces did (the video's bit rate about the same), so a second key frame gives
// up the older video still waiting, and at 5 % and 20 % loss media is given up by its
// lifetime: with abandoned messages reported delivered (sendMsg.settle passing true) the
// 5 % and 20 % runs fail ("missing but its receipt says 'D'"). The stream is paced on the
// wall clock, as media is, so the run lasts as long as the stream, and then until every
// message is settled.
func mediaDuration() (dur time.Duration, gop int) {
	if s, err := strconv.Atoi(os.Getenv("LOSSY_MEDIA_SECONDS")); err == nil && s > 0 {
		return time.Duration(s) * time.Second, 50
	}
	return 1600 * time.Millisecond, 20
}

// TestLossyLiveMedia: a live audio/video stream over 0 %, 5 % and 20 % loss (20 ms each
// way), the three at once in real time, through real sockets: only messages the sender
// abandoned are missing, nothing arrives twice or out of order, and every message is
// settled. Lateness, stalls and delivery ratios are logged here and checked in virtual
// time (session.TestSimLiveMedia): in real time they depend on how fast the machine runs
// the actors, and on which datagrams the relay's random drops happen to hit, which the
// timing of the run decides — the same bounds checked here failed on a quiet machine
// (issue 26: "video stalled: longest gap 1.106s" at 5 %, a stall the transport also shows
// in virtual time for some loss patterns).
func TestLossyLiveMedia(t *testing.T) {
	t.Parallel()
	dur, gop := mediaDuration()
	losses := []float64{0, 0.05, 0.20}
	envs := make([]*lossyEnv, len(losses))
	for k, loss := range losses {
		envs[k] = newLossyEnv(t, lossyOpts{
			link: netsim.Link{Loss: loss, Delay: 20 * time.Millisecond, Jitter: 2 * time.Millisecond},
			seed: 200 + uint64(loss*100),
		})
	}
	results := make([]mediaResult, len(losses))
	errs := make([]error, len(losses))
	var wg sync.WaitGroup
	for k, loss := range losses {
		wg.Go(func() { results[k], errs[k] = runLiveMedia(envs[k], loss, dur, gop, 200+uint64(loss*100)) })
	}
	wg.Wait()
	for k, loss := range losses {
		t.Run(fmt.Sprintf("loss%.0f%%", loss*100), func(t *testing.T) {
			if errs[k] != nil {
				t.Fatal(errs[k])
			}
			r := results[k]
			ratio := func(k int) float64 { return float64(r.got[k]) / float64(max(1, r.sent[k])) }
			t.Logf("MEDIA loss=%.0f%% audio delivered=%d/%d (%.1f%%) abandoned=%d lateness p50=%v p99=%v maxgap=%v | video delivered=%d/%d (%.1f%%) abandoned=%d keyframes=%d/%d lateness p50=%v p99=%v maxgap=%v | race=%v",
				loss*100, r.got[mediaAudio], r.sent[mediaAudio], 100*ratio(mediaAudio), r.abandoned[mediaAudio],
				r.p50[mediaAudio].Round(time.Millisecond), r.p99[mediaAudio].Round(time.Millisecond), r.maxGap[mediaAudio].Round(time.Millisecond),
				r.got[mediaVideo], r.sent[mediaVideo], 100*ratio(mediaVideo), r.abandoned[mediaVideo], r.keyGot, r.keySent,
				r.p50[mediaVideo].Round(time.Millisecond), r.p99[mediaVideo].Round(time.Millisecond), r.maxGap[mediaVideo].Round(time.Millisecond), testpar.Race)
			t.Logf("settled %v after the stream ended; %d audio messages later than lifetime + RTT", r.settle.Round(time.Millisecond), r.lateAudio)
			// Something got through, so the checks above checked something. Audio, not video:
			// a short stream on a starved machine may have all of its video abandoned (under
			// -race beside two CPU hogs at load 20, 5 % loss: 0 of 41 video frames, every one
			// reported abandoned, while 57 of 82 audio frames arrived); TestSimLiveMedia
			// checks how much video arrives, over many seeds.
			if r.got[mediaAudio] == 0 {
				t.Fatalf("nothing got through: audio %d/%d, video %d/%d", r.got[mediaAudio], r.sent[mediaAudio], r.got[mediaVideo], r.sent[mediaVideo])
			}
		})
	}
}

// TestLossyPriorities: while a bulk flow keeps the window full, control messages on a
// PriorityControl flow still get through, all of them, ahead of the bulk data queued
// before them, and the bulk flow keeps going. How soon is logged
// (session.TestSimControlGetsThroughASaturatedWindow checks it).
//
// The test writes 1,500 bulk messages (~1.5 MB, far more than the 256 KiB window), then at
// once a control message, which must overtake at least half of that queue: the bulk data
// that can reach the server first is what the session sent while it took the writes in,
// within its window. With the flows' priorities disregarded in Session.queueOn (the control
// flow placed after the bulk one) it overtakes none, and bulk written after it arrives
// first. Then, while every delivered bulk message is replaced by a new one, a control
// message goes every 25 ms until 20 have gone and bulk data arrived meanwhile.
//
// The test used to send one every 50 ms from 0.5 s to 2.5 s of the wall clock and require
// 20: a test loop starved of CPU misses ticks and sent fewer (issue 26, "19 control and 44
// bulk messages measured" at load 26 under -race; "13 control and 13 bulk" with the test
// binary held to 1.5 % of a CPU by a cgroup quota). It now stops when those events have
// happened, however many ticks that takes.
func TestLossyPriorities(t *testing.T) {
	t.Parallel()
	env := newLossyEnv(t, lossyOpts{link: netsim.Link{Delay: 20 * time.Millisecond}, seed: 300})
	bulkKey := session.FlowKey{Metadata: "bulk"}
	ctlKey := session.FlowKey{Metadata: "control"}
	start := time.Now()
	// A payload is the time it was written (since start) and a count: a bulk message's
	// index, or how many bulk messages were written before a control message.
	payload := func(size, n int) []byte {
		b := make([]byte, size)
		binary.BigEndian.PutUint64(b, uint64(time.Since(start)))
		binary.BigEndian.PutUint64(b[8:], uint64(n))
		return b
	}
	const bulkWindow = 1500 // ~1.5 MB queued at all times
	const ctlCount = 20
	bulkWritten := 0
	writeBulk := func() {
		env.write(bulkKey, session.PriorityData, payload(1000, bulkWritten), 0)
		bulkWritten++
	}
	sentCtl := 0
	writeCtl := func() {
		env.write(ctlKey, session.PriorityControl, payload(100, bulkWritten), 0)
		sentCtl++
	}
	for range bulkWindow {
		writeBulk()
	}
	writeCtl()
	var ctl, bulk []time.Duration
	var overtaken []int // per control message, the bulk messages written before it that it overtook
	bulkReceived := 0
	ctlTick := time.NewTicker(25 * time.Millisecond)
	defer ctlTick.Stop()
	measuring := true
	deadline := time.After(slack(60 * time.Second))
	for measuring || len(ctl) < sentCtl {
		select {
		case <-ctlTick.C:
			if measuring {
				writeCtl()
				measuring = sentCtl < ctlCount || len(bulk) == 0
			}
		case r := <-env.receipts:
			if _, ok := r.(*session.Delivered); ok && measuring {
				writeBulk()
			}
		case ev := <-env.events:
			m, ok := ev.(*rxMsg)
			if !ok {
				continue
			}
			lat := m.at.Sub(start) - time.Duration(binary.BigEndian.Uint64(m.data))
			n := int(binary.BigEndian.Uint64(m.data[8:]))
			if m.meta == "control" {
				ctl = append(ctl, lat)
				overtaken = append(overtaken, n-bulkReceived)
				continue
			}
			if n != bulkReceived {
				t.Fatalf("bulk message %d arrived as number %d", n, bulkReceived)
			}
			bulkReceived++
			if measuring {
				bulk = append(bulk, lat)
			}
		case <-deadline:
			t.Fatalf("%d of %d control messages arrived, %d bulk messages while they were sent", len(ctl), sentCtl, len(bulk))
		}
	}
	t.Logf("PRIORITY the control messages overtook %v bulk messages", overtaken)
	if overtaken[0] < bulkWindow/2 {
		t.Fatalf("the first control message overtook %d of the %d bulk messages queued before it", overtaken[0], bulkWindow)
	}
	slices.Sort(ctl)
	slices.Sort(bulk)
	if len(ctl) < 20 || len(bulk) == 0 {
		t.Fatalf("%d control and %d bulk messages measured", len(ctl), len(bulk))
	}
	p95 := ctl[len(ctl)*95/100]
	bulkP50 := bulk[len(bulk)/2]
	t.Logf("PRIORITY control latency p50=%v p95=%v max=%v (%d msgs); bulk latency p50=%v (%d msgs)",
		ctl[len(ctl)/2].Round(time.Millisecond), p95.Round(time.Millisecond), ctl[len(ctl)-1].Round(time.Millisecond), len(ctl),
		bulkP50.Round(time.Millisecond), len(bulk))
	// The latencies are logged, not checked: on the wall clock they also measure how fast
	// the machine runs the actors. session.TestSimControlGetsThroughASaturatedWindow checks
	// them in virtual time (control p95 within 200 ms, bulk p50 at least twice that).
}

// probeCounter counts the Buffer Probe chunks a session receives, and closes first at the
// first one.
func probeCounter(n *atomic.Int64, first chan struct{}) actor.ReceiverMiddleware {
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(ctx actor.ReceiverContext, env *actor.MessageEnvelope) {
			if in, ok := env.Message.(*session.Inbound); ok {
				for _, c := range in.Chunks {
					if c.Type == rtmfp.ChunkBufferProbe && n.Add(1) == 1 {
						close(first)
					}
				}
			}
			next(ctx, env)
		}
	}
}

// TestLossyZeroWindow: the server's upper actor holds the flows it is offered, unaccepted.
// The held messages close the window (32 KiB), the client probes, and once the flows are
// accepted everything arrives, in order (how soon: session.TestSimZeroWindowProbe); a
// short flow that the client closed meanwhile (complete before it was accepted) keeps its
// messages.
//
// The flows are accepted when the server's session receives the first probe, the event the
// test is about; if none comes the test fails at its deadline (as it does with the probe
// taken out of Session.writeControl). It used to hold them 2 s of the wall clock whatever
// happened, which assumed the sender filled the window within 2 s: a starved machine did
// not (issue 26: "the sender never probed the closed window", 2 runs of 2 with the test
// binary, built with -race, held to 1.5 % of a CPU by a cgroup quota; and once under -race
// beside a CPU hog at load 16 with the 2 s kept as a fallback). The 2 s also left time for
// a second probe a second after the first (session.TestSimZeroWindowProbe checks the
// repeated probes in virtual time). 100 KB is three windows, far more than the window as
// 400 KB was: most of it still waits for the accept behind the closed window.
func TestLossyZeroWindow(t *testing.T) {
	t.Parallel()
	var probes atomic.Int64
	firstProbe, done := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(done) })
	var acceptedAt atomic.Int64
	env := newLossyEnv(t, lossyOpts{
		link: netsim.Link{Delay: 20 * time.Millisecond, Loss: 0.02},
		seed: 400,
		serverCfg: func(c *Config) {
			c.Session.FlowBuffer = 32 << 10
			c.SessionMiddleware = append(c.SessionMiddleware, probeCounter(&probes, firstProbe))
		},
		server: func(events chan<- any) actor.Actor {
			return &recorder{events: events, onOpen: func(ctx actor.Context, m *session.FlowOpened) {
				sess, self, root, id := ctx.Parent(), ctx.Self(), ctx.ActorSystem().Root, m.FlowID
				go func() {
					select {
					case <-firstProbe:
					case <-done:
						return
					}
					acceptedAt.CompareAndSwap(0, time.Now().UnixNano())
					root.Send(sess, &session.AcceptFlow{FlowID: id, PID: self})
				}()
			}}
		},
	})
	bulkKey, shortKey := session.FlowKey{Metadata: "bulk"}, session.FlowKey{Metadata: "short"}
	const count = 100 // 100 KB: three windows
	for i := range count {
		env.write(bulkKey, session.PriorityData, testPayload(i, 1000), uint64(i))
	}
	for i := range 3 {
		env.write(shortKey, session.PriorityData, testPayload(i, 2500), uint64(1000+i))
	}
	env.sys.Root.Send(env.session, &session.CloseFlow{Key: shortKey})

	var bulk, short []int
	finished := map[string]bool{}
	metas := map[uint64]string{}
	var lastBulk time.Time
	deadline := time.After(slack(30 * time.Second))
	for len(bulk) < count || len(short) < 3 || !finished["short"] {
		select {
		case ev := <-env.events:
			switch m := ev.(type) {
			case *session.FlowOpened:
				metas[m.FlowID] = string(m.Metadata)
			case *session.FlowFinished:
				finished[metas[m.FlowID]] = true
			case *rxMsg:
				if acceptedAt.Load() == 0 {
					t.Fatal("a message was delivered before its flow was accepted")
				}
				i := int(binary.BigEndian.Uint64(m.data))
				switch m.meta {
				case "bulk":
					if !bytes.Equal(m.data, testPayload(i, 1000)) || i != len(bulk) {
						t.Fatalf("bulk message %d arrived as number %d", i, len(bulk))
					}
					bulk = append(bulk, i)
					lastBulk = m.at
				case "short":
					if !bytes.Equal(m.data, testPayload(i, 2500)) || i != len(short) {
						t.Fatalf("short message %d arrived as number %d", i, len(short))
					}
					short = append(short, i)
				}
			}
		case <-deadline:
			t.Fatalf("bulk %d/%d, short %d/3 finished %v; %d probes (the flows are accepted at the first)", len(bulk), count, len(short), finished["short"], probes.Load())
		}
	}
	probesBefore := probes.Load()
	resume := lastBulk.Sub(time.Unix(0, acceptedAt.Load()))
	t.Logf("ZEROWINDOW %d buffer probes; the %d KB arrived %v after the flows were accepted", probesBefore, count, resume.Round(time.Millisecond))
	if probesBefore == 0 {
		t.Fatal("the sender never probed the closed window")
	}
	// How soon the rest arrives once the flows are accepted (at once, without waiting for
	// the next probe, ≥ 1 s) is logged, not checked: on the wall clock it also measures the
	// machine. session.TestSimZeroWindowProbe checks it in virtual time.
}

// TestLossyFlowException: the server rejects a flow mid-stream; the client's upper actor
// is told, the queued messages are abandoned, and another flow carries on.
//
// 100 messages a flow: the rejection comes at the 20th, so most of the doomed flow is still
// queued and is abandoned, and the other flow, kept to 8 messages in flight, carries on
// through the 5 % loss — where a lost datagram among so few costs a retransmission
// timeout, so the run's length grows with the messages (it sent 300). With the flow
// exception ignored by the sending session (Session.onFlowException returning at once)
// the doomed messages are never settled and the test fails.
func TestLossyFlowException(t *testing.T) {
	t.Parallel()
	env := newLossyEnv(t, lossyOpts{
		link: netsim.Link{Delay: 10 * time.Millisecond, Loss: 0.05},
		seed: 500,
		server: func(events chan<- any) actor.Actor {
			got := 0
			return &recorder{events: events, onMsg: func(ctx actor.Context, m *rxMsg) {
				if m.meta == "doomed" {
					if got++; got == 20 {
						ctx.Send(ctx.Parent(), &session.RejectFlow{FlowID: m.flow, Code: 7})
					}
				}
			}}
		},
	})
	doomed, other := session.FlowKey{Metadata: "doomed"}, session.FlowKey{Metadata: "other"}
	const n = 100
	for i := range n {
		env.write(doomed, session.PriorityData, testPayload(i, 1000), uint64(i))
	}
	fates := map[uint64]byte{}
	var doomedRx, otherRx []int
	var rejected *session.SendFlowRejected
	nextOther, otherUnsettled := 0, 0
	pumpOther := func() {
		for otherUnsettled < 8 && nextOther < n {
			env.write(other, session.PriorityData, testPayload(nextOther, 1000), uint64(10000+nextOther))
			nextOther++
			otherUnsettled++
		}
	}
	pumpOther()
	deadline := time.After(slack(60 * time.Second))
	for len(fates) < 2*n || len(otherRx) < n || rejected == nil {
		select {
		case ev := <-env.events:
			if m, ok := ev.(*rxMsg); ok {
				i := int(binary.BigEndian.Uint64(m.data))
				if m.meta == "doomed" {
					doomedRx = append(doomedRx, i)
				} else {
					if i != len(otherRx) {
						t.Fatalf("other flow: message %d arrived as number %d", i, len(otherRx))
					}
					otherRx = append(otherRx, i)
				}
			}
		case ev := <-env.clientEvents:
			if r, ok := ev.(*session.SendFlowRejected); ok {
				rejected = r
			}
		case r := <-env.receipts:
			var tag uint64
			var f byte
			switch r := r.(type) {
			case *session.Delivered:
				tag, f = r.Tag, 'D'
			case *session.Abandoned:
				tag, f = r.Tag, 'A'
			case *session.Refused:
				tag, f = r.Tag, 'R'
			}
			if _, dup := fates[tag]; dup {
				t.Fatalf("two receipts for message %d", tag)
			}
			fates[tag] = f
			if tag >= 10000 {
				if f != 'D' {
					t.Fatalf("other flow message %d: %q", tag-10000, f)
				}
				otherUnsettled--
				pumpOther()
			}
		case <-deadline:
			t.Fatalf("receipts %d/%d, other flow %d/%d, rejected %v", len(fates), 2*n, len(otherRx), n, rejected != nil)
		}
	}
	if rejected.Key != doomed || rejected.Code != 7 {
		t.Fatalf("rejection %+v", rejected)
	}
	delivered, abandoned := 0, 0
	got := map[int]bool{}
	for _, i := range doomedRx {
		got[i] = true
	}
	// A message reported delivered reached the server's session. It may not have reached
	// its upper actor only if it waited there behind an earlier message that never came,
	// when the flow was rejected (it was acknowledged, then discarded with the flow); so
	// the first message that never reached the upper actor was not reported delivered.
	// (The session used to acknowledge the fragments a rejected flow discarded: issue 26,
	// "doomed message 25 reported delivered but never reached the server".)
	firstMissing := n
	for i := range n {
		if !got[i] {
			firstMissing = i
			break
		}
	}
	for i := range n {
		switch fates[uint64(i)] {
		case 'D':
			delivered++
			if !got[i] && i == firstMissing {
				t.Fatalf("doomed message %d reported delivered but never reached the server, and nothing before it was missing", i)
			}
		case 'A':
			abandoned++
		default:
			t.Fatalf("doomed message %d: receipt %q", i, fates[uint64(i)])
		}
	}
	t.Logf("EXCEPTION doomed flow: %d delivered, %d abandoned, %d reached the server; other flow %d/%d", delivered, abandoned, len(doomedRx), len(otherRx), n)
	if delivered < 20 || abandoned == 0 {
		t.Fatalf("doomed flow: %d delivered, %d abandoned", delivered, abandoned)
	}
	if env.client.Sessions() != 1 || env.server.Sessions() != 1 {
		t.Fatalf("sessions: client %d, server %d", env.client.Sessions(), env.server.Sessions())
	}
}

// flowChild is a per-flow actor that panics on "boom".
type flowChild struct{ events chan<- any }

func (c *flowChild) Receive(ctx actor.Context) {
	if m, ok := ctx.Message().(*session.FlowMessage); ok {
		if string(m.Data) == "boom" {
			panic("flow actor crashed")
		}
		c.events <- &rxMsg{flow: m.FlowID, data: m.Data, at: time.Now()}
	}
}

// flowSpawner is a server upper actor that gives every flow its own child actor.
type flowSpawner struct{ events chan<- any }

func (u *flowSpawner) Receive(ctx actor.Context) {
	if m, ok := ctx.Message().(*session.FlowOpened); ok {
		child := ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return &flowChild{events: u.events} },
			actor.WithReceiverMiddleware(supervision.Middleware)))
		ctx.Send(ctx.Parent(), &session.AcceptFlow{FlowID: m.FlowID, PID: child})
		u.events <- m
	}
}

// TestLossyFlowActorPanic: one flow actor panics and its supervisor stops it; that flow
// alone gets a flow exception, the other flows and the session go on.
func TestLossyFlowActorPanic(t *testing.T) {
	t.Parallel()
	env := newLossyEnv(t, lossyOpts{
		link:         netsim.Link{Delay: 10 * time.Millisecond, Loss: 0.02},
		seed:         600,
		server:       func(events chan<- any) actor.Actor { return &flowSpawner{events: events} },
		upperOptions: []actor.PropsOption{actor.WithSupervisor(supervision.StopOnPanic(testLogger(t), "flow", nil))},
	})
	a, b := session.FlowKey{Metadata: "a"}, session.FlowKey{Metadata: "b"}
	for i := range 5 {
		env.write(a, session.PriorityData, testPayload(i, 100), uint64(i))
		env.write(b, session.PriorityData, testPayload(i, 100), uint64(100+i))
	}
	env.write(a, session.PriorityData, []byte("boom"), 50)
	var rejected []*session.SendFlowRejected
	waitEvents := func(cond func() bool, what string) {
		t.Helper()
		deadline := time.After(slack(20 * time.Second))
		for !cond() {
			select {
			case ev := <-env.clientEvents:
				if r, ok := ev.(*session.SendFlowRejected); ok {
					rejected = append(rejected, r)
				}
			case <-env.events:
			case <-env.receipts:
			case <-deadline:
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitEvents(func() bool { return len(rejected) > 0 }, "the flow exception")
	if len(rejected) != 1 || rejected[0].Key != a {
		t.Fatalf("rejections %+v", rejected)
	}
	// Flow b and the session carry on: more messages on b arrive.
	var later []int
	for i := 5; i < 25; i++ {
		env.write(b, session.PriorityData, testPayload(i, 100), uint64(100+i))
	}
	deadline := time.After(slack(20 * time.Second))
	for len(later) < 20 {
		select {
		case ev := <-env.events:
			if m, ok := ev.(*rxMsg); ok {
				if i := int(binary.BigEndian.Uint64(m.data)); i >= 5 {
					later = append(later, i)
				}
			}
		case ev := <-env.clientEvents:
			if _, ok := ev.(*session.SendFlowRejected); ok {
				t.Fatal("a second flow was rejected")
			}
		case <-env.receipts:
		case <-deadline:
			t.Fatalf("flow b: %d of 20 later messages arrived", len(later))
		}
	}
	if env.server.SessionStats.FlowActorFailures.Load() != 1 {
		t.Fatalf("flow actor failures %d", env.server.SessionStats.FlowActorFailures.Load())
	}
	if env.client.Sessions() != 1 || env.server.Sessions() != 1 {
		t.Fatalf("sessions: client %d, server %d", env.client.Sessions(), env.server.Sessions())
	}
}

// TestLossyPeerNeverAcks: the path is cut with data outstanding. With a 2 s retransmit
// limit the client's session closes (retransmit-limit), every write gets its receipt, and
// the session is forgotten; the server's session, hearing nothing, idles out.
func TestLossyPeerNeverAcks(t *testing.T) {
	t.Parallel()
	// The sessions' timers run on a warp: once the path is cut, the test skips through the
	// retransmit limit and the timeouts instead of sleeping through them (skipThrough).
	warp := clock.NewWarp()
	env := newLossyEnv(t, lossyOpts{
		link: netsim.Link{Delay: 10 * time.Millisecond},
		seed: 700,
		clientCfg: func(c *Config) {
			c.Clock = warp
			c.Session.RetransmitLimit = 2 * time.Second
			c.Session.NearCloseTimeout = time.Second
		},
		serverCfg: func(c *Config) {
			c.Clock = warp
			c.Session.IdleTimeout = 4 * time.Second
			c.Session.NearCloseTimeout = time.Second
		},
	})
	key := session.FlowKey{Metadata: "bulk"}
	const n = 2000
	for i := range n {
		env.write(key, session.PriorityData, testPayload(i, 1000), uint64(i))
	}
	// Let some data through, then cut the path.
	deadline := time.After(slack(20 * time.Second))
	for got := 0; got < 50; {
		select {
		case ev := <-env.events:
			if _, ok := ev.(*rxMsg); ok {
				got++
			}
		case <-deadline:
			t.Fatal("no data crossed before the cut")
		}
	}
	env.relay.Cut(true)
	cut := warp.Now()
	var closing *session.Closing
	receipts := 0
	deadline = time.After(slack(20 * time.Second))
	skip := time.NewTicker(10 * time.Millisecond)
	defer skip.Stop()
	for closing == nil || receipts < n {
		select {
		case <-skip.C:
			if closing == nil {
				warp.Skip(skipStep)
			}
		case ev := <-env.clientEvents:
			if c, ok := ev.(*session.Closing); ok {
				closing = c
			}
		case <-env.receipts:
			receipts++
		case <-env.events:
		case <-deadline:
			t.Fatalf("closing %v, %d of %d receipts", closing, receipts, n)
		}
	}
	gaveUp := warp.Now().Sub(cut)
	t.Logf("NEVERACK client session closed (%v) %v after the cut (clock time)", closing.Reason, gaveUp.Round(time.Millisecond))
	if closing.Reason != session.ReasonRetransmit {
		t.Fatalf("closed for %v", closing.Reason)
	}
	if gaveUp < 2*time.Second {
		t.Fatalf("gave up %v after the cut, before the retransmit limit", gaveUp)
	}
	skipThrough(t, warp, slack(5*time.Second), "the client to forget the session", func() bool {
		return env.client.Sessions() == 0 && env.client.TableSize() == 0
	})
	if env.client.SessionStats.RetransmitTimeouts.Load() != 1 {
		t.Fatal("retransmit timeout not counted")
	}
	skipThrough(t, warp, slack(10*time.Second), "the server to idle out", func() bool {
		return env.server.Sessions() == 0 && env.server.TableSize() == 0
	})
}

// skipStep is how far skipThrough moves a warp at a time: less than the shortest timeout
// the tests skip through, so that the sessions' timers fire in their order.
const skipStep = 100 * time.Millisecond

// skipThrough moves warp on by skipStep every 10 ms of real time until cond holds, failing
// after d of real time.
func skipThrough(t *testing.T, warp *clock.Warp, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		warp.Skip(skipStep)
		time.Sleep(10 * time.Millisecond)
	}
}
