package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/rtmp/rtmpclient"
)

// runFanout publishes a synthetic A/V stream at -bitrate and plays it with -n
// subscribers. The publisher starts first; the subscribers join (at -rate per second, 0:
// as fast as -concurrency allows) while it streams; the measured window opens at the
// first key frame once every subscriber plays and lasts -duration, then the publisher
// stops and the tool waits up to -drain for the last frames. Delivery is counted over
// the window only, so every subscriber was playing for every frame counted as expected
// (and a server that starts a late subscriber at the next key frame is not penalised).
func runFanout(ctx context.Context, b *bench) (*Result, error) {
	cfg := b.cfg
	res := newResult()
	res.Params["bitrate"] = cfg.Bitrate
	res.Params["duration"] = cfg.Duration.String()
	res.Params["drain"] = cfg.Drain.String()
	res.LatencyOf = "added (publish → delivery)"

	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	name := "bench-" + hex.EncodeToString(suffix[:])
	res.Params["stream"] = name

	// The publisher: RTMFP on a socket of its own, or RTMP.
	b.setPhase("publish", nil)
	res.Params["ingest"] = cfg.ingest
	res.Params["players"] = cfg.Players
	write, closePub, err := b.publisher(ctx, name)
	if err != nil {
		return nil, err
	}
	defer closePub()
	pl := newPubLoop(b, write, newAVStream(cfg.Bitrate))
	res.Params["audio_frame_bytes"] = len(pl.av.audio)
	res.Params["video_inter_frame_bytes"] = len(pl.av.inter)
	res.Params["video_key_frame_bytes"] = len(pl.av.key)
	go pl.run()
	defer pl.halt()

	// The subscribers.
	if cfg.Players == "rtmfp" {
		if _, err := b.endpoints(); err != nil {
			return nil, err
		}
	}
	subs := make([]*fanSub, cfg.N)
	var joinLat histogram
	b.setPhase("subscribe", func() string { return fmt.Sprintf("published %d frames", pl.sent.Load()) })
	pace(ctx, cfg.N, cfg.Rate, cfg.Concurrency, func(i int) {
		cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		t := time.Now()
		s := &fanSub{lastA: -1, lastV: -1}
		if err := b.subscribe(cctx, i, name, s, pl); err != nil {
			return
		}
		joinLat.record(time.Since(t))
		subs[i] = s
		b.prog.ok.Add(1)
	})
	res.Latencies["subscribe (connect + play)"] = joinLat.summary()
	var live []*fanSub
	for _, s := range subs {
		if s != nil {
			live = append(live, s)
		}
	}
	res.Counts["subscribers"] = uint64(len(live))
	finish := func() {
		b.setPhase("close", nil)
		pl.halt()
		var conns []*client.Conn
		for _, s := range live {
			if s.conn != nil {
				conns = append(conns, s.conn)
			}
			if s.rtmp != nil {
				s.rtmp.Close()
			}
		}
		closeConns(conns, 10*time.Second)
		closePub()
	}
	if len(live) == 0 || ctx.Err() != nil {
		finish()
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		return res, errors.New("no subscriber could play the stream")
	}

	// The measured window: from the next key frame, for -duration.
	received := func() (n uint64) {
		for _, s := range live {
			n += s.recvA.Load() + s.recvV.Load()
		}
		return n
	}
	b.setPhase("measure", func() string {
		return fmt.Sprintf("published %d, received in window %d", pl.sent.Load(), received())
	})
	pl.arm.Store(true)
	select {
	case <-pl.windowOpen:
	case <-pl.done:
		finish()
		return res, fmt.Errorf("publisher stopped: %v", pl.err)
	case <-ctx.Done():
		finish()
		return res, ctx.Err()
	}
	before := b.sample()
	t := time.NewTimer(cfg.Duration - time.Since(pl.windowAt))
	select {
	case <-t.C:
	case <-ctx.Done():
		res.Notes = append(res.Notes, "interrupted: the window is shorter than -duration")
	}
	pl.halt()
	stopped := b.sample()
	window := pl.endAt.Sub(pl.windowAt)
	winA := uint64(int64(pl.aSeq) - pl.startA.Load())
	winV := uint64(int64(pl.vSeq) - pl.startV.Load())
	expected := uint64(len(live)) * (winA + winV)

	// Drain: wait for the last frames, at most -drain.
	b.setPhase("drain", func() string { return fmt.Sprintf("received %d of %d", received(), expected) })
	drainStart := time.Now()
	for received() < expected && time.Since(drainStart) < cfg.Drain && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	after := b.sample()

	var recvA, recvV, early, reorder uint64
	minRatio, complete := math.Inf(1), 0
	for _, s := range live {
		a, v := s.recvA.Load(), s.recvV.Load()
		recvA, recvV = recvA+a, recvV+v
		early += s.early.Load()
		reorder += s.reorder.Load()
		if winA+winV > 0 {
			r := float64(a+v) / float64(winA+winV)
			minRatio = math.Min(minRatio, r)
			if a+v >= winA+winV {
				complete++
			}
		}
	}
	res.ElapsedS = round3(window.Seconds())
	res.Counts["published_audio"] = winA
	res.Counts["published_video"] = winV
	res.Counts["expected_frames"] = expected
	res.Counts["received_audio"] = recvA
	res.Counts["received_video"] = recvV
	res.Counts["received_before_window"] = early
	res.Counts["out_of_order"] = reorder
	res.Counts["subscribers_complete"] = uint64(complete)
	res.Rates["publisher_frames_per_s"] = perSecond(winA+winV, window)
	res.Rates["subscriber_frames_per_s_total"] = perSecond(recvA+recvV, window)
	keys := (winV + gopFrames - 1) / gopFrames // the window opens on a key frame
	bits := float64(winA*uint64(len(pl.av.audio))+(winV-keys)*uint64(len(pl.av.inter))+keys*uint64(len(pl.av.key))) * 8
	res.Rates["stream_bits_per_s"] = round3(bits / window.Seconds())
	// The same bits over the media time they encode: the stream's own rate (-bitrate),
	// whatever the machine's pace; stream_bits_per_s is what the publisher achieved.
	if winV > 0 {
		res.Rates["encoded_bits_per_s"] = round3(bits / (time.Duration(winV) * videoPeriod).Seconds())
	}
	res.Ratios = map[string]float64{}
	if expected > 0 {
		res.Ratios["delivery"] = round6(float64(recvA+recvV) / float64(expected))
		res.Ratios["min_subscriber_delivery"] = round6(minRatio)
	}
	if winA > 0 {
		res.Ratios["audio_loss"] = round6(1 - float64(recvA)/float64(winA*uint64(len(live))))
	}
	if winV > 0 {
		res.Ratios["video_loss"] = round6(1 - float64(recvV)/float64(winV*uint64(len(live))))
	}
	la, lv := pl.latA.summary(), pl.latV.summary()
	var all histogram
	all.merge(&pl.latA)
	all.merge(&pl.latV)
	res.Latency = all.summary()
	res.Latencies["audio"], res.Latencies["video"] = la, lv
	var sock histogram
	sock.merge(&pl.sockA)
	sock.merge(&pl.sockV)
	if cfg.Players == "rtmfp" { // RTMP players have no kernel receive time
		res.Latencies["at the socket"] = sock.summary()
		res.Latencies["at the socket, audio"], res.Latencies["at the socket, video"] = pl.sockA.summary(), pl.sockV.summary()
	}
	if pl.err != nil {
		res.Notes = append(res.Notes, "the publisher's write failed: "+pl.err.Error())
	}
	// CPU per message counts the drain (the last frames are still being sent); the
	// cores busy are those of the window itself.
	res.Server = b.probe.figures(before, after, "delivered_media_message", recvA+recvV)
	if w := b.probe.figures(before, stopped, "", 0); w != nil {
		res.Server.CPUCores = w.CPUCores
	}
	res.Others = b.otherFigures(before, after, "delivered_media_message", recvA+recvV)
	res.Tool = toolFigures(before, after)
	res.Tool.CPUCores = toolFigures(before, stopped).CPUCores
	res.Net = netFigures(before, after)
	finish()
	return res, nil
}

// pubLoop sends the stream on time: each frame when it is due (catching up if late),
// stamped just before it is written.
type pubLoop struct {
	b     *bench
	write func(client.Media) error // the publisher's
	av    *avStream

	arm        atomic.Bool  // open the window at the next key frame
	startA     atomic.Int64 // first audio / video sequence number of the window
	startV     atomic.Int64
	windowOpen chan struct{}
	windowAt   time.Time
	sent       atomic.Uint64

	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	// Valid after done: the next sequence numbers (the window's end) and when it ended.
	aSeq, vSeq uint32
	endAt      time.Time
	err        error

	latA, latV histogram // added latency per kind, recorded by the subscribers
	// Added latency up to the subscriber's socket: from the send stamp to the kernel's
	// receive time of the datagram that completed the frame, which leaves out the tool's
	// own work and queueing on the receiving side (decryption, acknowledgements, its
	// actors, the subscriber's goroutine).
	sockA, sockV histogram
}

func newPubLoop(b *bench, write func(client.Media) error, av *avStream) *pubLoop {
	p := &pubLoop{b: b, write: write, av: av, windowOpen: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	p.startA.Store(math.MaxInt64)
	p.startV.Store(math.MaxInt64)
	return p
}

// halt stops the publisher and waits for it.
func (p *pubLoop) halt() {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.done
}

func (p *pubLoop) run() {
	defer close(p.done)
	for _, m := range p.av.headers() {
		if err := p.write(m); err != nil {
			p.err, p.endAt = err, time.Now()
			return
		}
	}
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var a, v uint32
	for {
		select {
		case <-p.stop:
			p.aSeq, p.vSeq, p.endAt = a, v, time.Now()
			return
		case <-timer.C:
		}
		elapsed := time.Since(start)
		for {
			aDue, vDue := time.Duration(a)*audioPeriod, time.Duration(v)*videoPeriod
			if aDue > elapsed && vDue > elapsed {
				timer.Reset(min(aDue, vDue) - time.Since(start))
				break
			}
			var m client.Media
			if vDue <= aDue { // video first on a tie: the window opens on a key frame
				if v%gopFrames == 0 && p.arm.Load() && p.startV.Load() == math.MaxInt64 {
					p.startA.Store(int64(a))
					p.startV.Store(int64(v))
					p.windowAt = time.Now()
					close(p.windowOpen)
				}
				m = p.av.videoFrame(v, p.b.now())
				v++
			} else {
				m = p.av.audioFrame(a, p.b.now())
				a++
			}
			if err := p.write(m); err != nil {
				p.err = err
				p.aSeq, p.vSeq, p.endAt = a, v, time.Now()
				return
			}
			p.sent.Add(1)
		}
	}
}

// fanSub is one subscriber. Its frames are handed to receive on its connection's actor
// (client.Conn.PlayFunc), one at a time, as they are delivered: no queue and no
// goroutine of its own, whose wake-ups would add the tool's scheduling to the latency.
type fanSub struct {
	conn *client.Conn     // an RTMFP player's
	rtmp *rtmpclient.Conn // an RTMP player's

	recvA, recvV atomic.Uint64 // frames of the window received
	early        atomic.Uint64 // frames from before the window (catch-up, warm-up)
	reorder      atomic.Uint64 // frames not newer than the previous one of their kind
	lastA, lastV int64         // the last sequence numbers seen (receive's own)
}

// receive accounts for one frame.
func (s *fanSub) receive(b *bench, pl *pubLoop, m client.Media) {
	video, seq, sent, ok := parseFrame(m)
	if !ok {
		return
	}
	at := b.now()
	last, start, recv, lat, sock := &s.lastA, pl.startA.Load(), &s.recvA, &pl.latA, &pl.sockA
	if video {
		last, start, recv, lat, sock = &s.lastV, pl.startV.Load(), &s.recvV, &pl.latV, &pl.sockV
	}
	if int64(seq) <= *last {
		s.reorder.Add(1)
	}
	*last = int64(seq)
	if int64(seq) < start {
		s.early.Add(1)
		return
	}
	recv.Add(1)
	lat.record(at - sent)
	if !m.Arrived.IsZero() {
		sock.record(b.since(m.Arrived) - sent)
	}
}

// publisher publishes name over the -ingest protocol and returns its writer and closer.
func (b *bench) publisher(ctx context.Context, name string) (write func(client.Media) error, closeFn func(), err error) {
	cfg := b.cfg
	pctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if cfg.ingest == "rtmp" {
		c, err := rtmpclient.Dial(pctx, cfg.RTMPURL, rtmpclient.Options{})
		if err != nil {
			return nil, nil, fmt.Errorf("RTMP publisher: %w", err)
		}
		s, err := c.Publish(pctx, name, "live")
		if err != nil {
			c.Close()
			return nil, nil, fmt.Errorf("publish %q over RTMP: %w", name, err)
		}
		var once sync.Once
		return func(m client.Media) error { return s.Write(m.Type, m.Timestamp, m.Data) }, func() { once.Do(func() { c.Close() }) }, nil
	}
	pubEP, err := client.NewEndpoint(b.sys, client.EndpointConfig{Listen: cfg.Bind[0], Log: b.log, UDPBuffer: cfg.UDPBuffer, Dispatcher: b.disp})
	if err != nil {
		return nil, nil, err
	}
	b.extra = append(b.extra, pubEP)
	closeEP := func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = pubEP.Close(cctx)
	}
	pubConn, err := pubEP.Connect(pctx, cfg.URL, b.options())
	if err != nil {
		closeEP()
		return nil, nil, fmt.Errorf("publisher: %w", err)
	}
	pub, err := pubConn.Publish(pctx, name)
	if err != nil {
		closeEP()
		return nil, nil, fmt.Errorf("publish %q: %w", name, err)
	}
	var once sync.Once
	return pub.Write, func() {
		once.Do(func() {
			closeConns([]*client.Conn{pubConn}, 10*time.Second)
			closeEP()
		})
	}, nil
}

// subscribe makes player i of name over the -players protocol, its frames accounted in s.
func (b *bench) subscribe(ctx context.Context, i int, name string, s *fanSub, pl *pubLoop) error {
	if b.cfg.Players == "rtmp" {
		c, err := rtmpclient.Dial(ctx, b.cfg.RTMPURL, rtmpclient.Options{})
		if err != nil {
			b.fail("connect", err)
			return err
		}
		s.rtmp = c
		if _, err := c.Play(ctx, name, -1000, func(m rtmpclient.Message) {
			s.receive(b, pl, client.Media{Type: m.Type, Timestamp: m.Timestamp, Data: m.Body})
		}); err != nil {
			b.fail("play", err)
			c.Close()
			return err
		}
		return nil
	}
	c, err := b.eps[i%len(b.eps)].Connect(ctx, b.cfg.PlayURLs[i%len(b.cfg.PlayURLs)], b.options())
	if err != nil {
		b.fail("connect", err)
		return err
	}
	s.conn = c
	if _, err := c.PlayFunc(ctx, name, func(m client.Media) { s.receive(b, pl, m) }); err != nil {
		b.fail("play", err)
		_ = c.Close()
		return err
	}
	return nil
}
