package server_test

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// A 250 kbit/s stream: 50 audio frames of 126 bytes and 25 video frames a second, a key
// frame (5 × 860 bytes) every second.
const (
	rateVideoBytes = 860
	rateKeyEvery   = 25
	tickPeriod     = 40 * time.Millisecond
	// fastTickPeriod paces the streams of tests whose players are lossless
	// (server.Options.LosslessMedia) and that the stream waits for (keepUp) or reads at
	// the end: the pace is not what they test, and the media's timestamps stay those of
	// 25 frames a second.
	fastTickPeriod = 10 * time.Millisecond
)

// TestHundredSubscribersByteIdentical publishes a 250 kbit/s A/V stream to 100 Go
// subscribers on four client endpoints, both dialects: 10 play before the stream is
// published (they get NetStream.Play.PublishNotify), 70 as it starts, 20 join at random
// points of it. Each must receive the metadata and both sequence headers once, then every
// frame byte-identical and in order — from the first one, or for the late joiners from a
// key frame — with nothing dropped, and NetStream.Play.UnpublishNotify when the publisher
// unpublishes.
func TestHundredSubscribersByteIdentical(t *testing.T) {
	t.Parallel()
	const (
		early, atStart, late = 10, 70, 20
		subscribers          = early + atStart + late
		ticks                = 100 // 4 s of media
		seed                 = 20261121
	)
	began := time.Now()
	f := startServer(t, lossless(server.Options{}), nil)
	srvEP := f.srv.Endpoints()[0]
	// 25 players share each socket: give it a buffer like the server's, or a burst of key
	// frames to all of them overflows the default one when the machine is busy.
	eps := make([]*client.Endpoint, 4)
	for i := range eps {
		eps[i] = newClientEndpoint(t, f, client.EndpointConfig{UDPBuffer: 4 << 20})
	}
	conns := connectMany(t, f, eps, subscribers+1)
	pubConn, subConns := conns[0], conns[1:] // connectMany: even indexes Flash, odd RFC 7425
	t.Logf("%d clients connected in %s", len(conns), time.Since(began).Round(time.Millisecond))

	recs := make([]*playRecord, subscribers)
	var recMu sync.Mutex
	play := func(i int) error {
		p, err := subConns[i].Play(ctxT(t, 15*time.Second), "hundred")
		if err != nil {
			return fmt.Errorf("subscriber %d: play: %w", i, err)
		}
		group := map[bool]string{true: "early", false: "at the start"}[i < early]
		if i >= early+atStart {
			group = "late"
		}
		r := recordPlayer(t, fmt.Sprintf("subscriber %d (%s, %s)", i, group, client.Dialect((i+1)%2)), p)
		recMu.Lock()
		recs[i] = r
		recMu.Unlock()
		return nil
	}
	playAll := func(from, to int) {
		t.Helper()
		errs := make(chan error, to-from)
		for i := from; i < to; i++ {
			go func() { errs <- play(i) }()
		}
		for range to - from {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}

	// Subscribers waiting for the stream.
	playAll(0, early)
	pub, err := pubConn.Publish(ctxT(t, 10*time.Second), "hundred")
	if err != nil {
		t.Fatal(err)
	}
	feed := newFeed(f, pub, &avSource{keyEvery: rateKeyEvery, videoBytes: rateVideoBytes})
	feed.writeHeaders()
	// Subscribers at the start.
	playAll(early, early+atStart)

	// Late joiners, at seeded random ticks between 0.4 s and 1 s before the end.
	rng := rand.New(rand.NewPCG(seed, seed))
	joinAt := map[int][]int{}
	var lateTicks []int
	for i := early + atStart; i < subscribers; i++ {
		tick := 10 + rng.IntN(ticks-35)
		joinAt[tick] = append(joinAt[tick], i)
		lateTicks = append(lateTicks, tick)
	}
	sort.Ints(lateTicks)
	t.Logf("seed %d: late joiners at ticks %v", seed, lateTicks)
	lateErrs := make(chan error, late)
	var joining atomic.Int32 // late plays started and not yet answered
	// Every frame must arrive, so no player may fall behind the wall-clock media policy
	// (audio lifetime, key-frame catch-up): each tick waits until the late plays started
	// so far are answered and every player received the previous ticks. On a busy machine
	// the stream slows down rather than the server giving media up, as it must for a
	// player that lags (issue 26).
	feed.keepUp = func() {
		waitUntil(t, "the late plays to start", 20*time.Second, func() bool { return joining.Load() == 0 })
		recMu.Lock()
		var playing []*playRecord
		for _, r := range recs {
			if r != nil {
				playing = append(playing, r)
			}
		}
		recMu.Unlock()
		waitCaughtUp(t, feed, playing, 20*time.Second)
	}
	streamStart := time.Now()
	feed.run(ticks, fastTickPeriod, func(i int) {
		for _, s := range joinAt[i] {
			joining.Add(1)
			go func() {
				err := play(s)
				joining.Add(-1)
				lateErrs <- err
			}()
		}
	})
	for range late {
		if err := <-lateErrs; err != nil {
			t.Fatal(err)
		}
	}
	waitCaughtUp(t, feed, recs, 20*time.Second)
	streamed := time.Since(streamStart)
	pub.Close()
	waitUntil(t, "NetStream.Play.UnpublishNotify at every subscriber", 10*time.Second, func() bool {
		for _, r := range recs {
			if !r.has(flash.CodePlayUnpublishNotify) {
				return false
			}
		}
		return true
	})

	if errs := feed.writeErrors(); len(errs) > 0 {
		t.Fatalf("publisher writes failed: %v", errs)
	}
	_, _, written := feed.counts()
	if got := f.srv.PublicationStats().Media.Load(); got != uint64(written) {
		t.Fatalf("the publication processed %d media messages, the publisher wrote %d", got, written)
	}
	if n := srvEP.SessionStats.MediaDropped.Load(); n != 0 {
		t.Fatalf("the subscriber policy dropped %d media messages on loopback at 250 kbit/s", n)
	}
	if n := srvEP.SessionStats.WritesRefused.Load(); n != 0 {
		t.Fatalf("the server refused %d writes", n)
	}
	feed.checkAll(t, recs, func(r *playRecord) feedCheck {
		return feedCheck{fromStart: !strings.Contains(r.name, "late"), notify: strings.Contains(r.name, "early"), unpublished: true}
	})
	na, nv, _ := feed.counts()
	t.Logf("%d subscribers got %d audio and %d video frames (%d late joiners from a key frame); streaming took %s for %s of media (%s waiting for the players), worst tick lateness %s, slowest write %s; whole test %s",
		subscribers, na, nv, late, streamed.Round(time.Millisecond), time.Duration(ticks)*tickPeriod, feed.keptUp.Round(time.Millisecond),
		feed.maxLate.Round(time.Millisecond), feed.maxWrite, time.Since(began).Round(time.Millisecond))
}

// TestLateSubscriberStartsOnAKeyFrame joins a subscriber in the middle of a group of
// pictures, at a known point of the stream (everything published before was processed by
// the publication, nothing after): with the group cached, the subscriber is replayed the
// group from its key frame, then follows live without a gap; when the cache was given up
// (a burst of audio beyond its caps), it waits for the next key frame, its earlier video
// dropped by the subscriber policy. Either way it gets the metadata and both sequence
// headers first.
func TestLateSubscriberStartsOnAKeyFrame(t *testing.T) {
	t.Parallel()
	const (
		keyEvery = 25 // key frames at video 0, 25, 50
		joinTick = 35 // 10 frames into the second group
		ticks    = 65
	)
	for _, tc := range []struct {
		name  string
		burst bool // give up the cache before the join
	}{{"cached group of pictures", false}, {"cache given up", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := startServer(t, lossless(server.Options{}), nil)
			srvEP := f.srv.Endpoints()[0]
			pubConn := dial(t, f, f.url, client.Options{})
			early := dial(t, f, f.url, client.Options{Dialect: client.RFC7425})
			lateConn := dial(t, f, f.url, client.Options{})
			pub, err := pubConn.Publish(ctxT(t, 10*time.Second), "mid")
			if err != nil {
				t.Fatal(err)
			}
			p0, err := early.Play(ctxT(t, 10*time.Second), "mid")
			if err != nil {
				t.Fatal(err)
			}
			recs := []*playRecord{recordPlayer(t, "from the start", p0)}
			feed := newFeed(f, pub, &avSource{keyEvery: keyEvery, videoBytes: rateVideoBytes})
			feed.writeHeaders()
			var audioAtJoin, videoAtJoin int
			var droppedBefore uint64
			var joinErr error
			// The players must keep up with the wall-clock media policy (issue 26): each
			// tick waits until they received what was written before it. The late joiner
			// is waited for only when it is replayed the cached group: otherwise the video
			// before the next key frame is dropped for it by design.
			feed.keepUp = func() {
				playing := recs[:1]
				if !tc.burst {
					playing = recs
				}
				waitCaughtUp(t, feed, playing, 20*time.Second)
			}
			feed.run(ticks, fastTickPeriod, func(i int) {
				switch i {
				case joinTick - 5:
					if tc.burst {
						feed.audioBurst(2001) // beyond the 2,000-message cap of the cache
					}
				case joinTick:
					_, _, written := feed.counts()
					waitProcessed(t, f.srv, uint64(written))
					audioAtJoin, videoAtJoin, _ = feed.counts()
					droppedBefore = srvEP.SessionStats.MediaDropped.Load()
					p, err := lateConn.Play(ctxT(t, 10*time.Second), "mid")
					if err != nil {
						joinErr = err
						return
					}
					recs = append(recs, recordPlayer(t, "late joiner", p))
				}
			})
			if joinErr != nil {
				t.Fatalf("late play: %v", joinErr)
			}
			waitCaughtUp(t, feed, recs, 15*time.Second)
			if videoAtJoin != joinTick {
				t.Fatalf("joined after video frame %d, want %d", videoAtJoin-1, joinTick-1)
			}
			dropped := srvEP.SessionStats.MediaDropped.Load() - droppedBefore
			if err := feed.check(t, recs[0], feedCheck{fromStart: true}); err != nil {
				t.Fatal(err)
			}
			wantVideo, wantDropped := 25, uint64(0) // the cached key frame, nothing dropped
			if tc.burst {
				wantVideo, wantDropped = 50, 50-joinTick // the next key frame; the frames before it dropped
			}
			if err := feed.check(t, recs[1], feedCheck{firstVideo: wantVideo}); err != nil {
				t.Fatal(err)
			}
			if dropped != wantDropped {
				t.Fatalf("the subscriber policy dropped %d messages, want %d (video frames %d..%d waiting for a key frame)", dropped, wantDropped, joinTick, wantVideo-1)
			}
			firstAudio := -1
			for _, e := range recs[1].snapshot() {
				if e.code == "" && e.m.Type == flash.TypeAudio && !flash.IsAACSequenceHeader(e.m.Data) {
					firstAudio = seqOf(e.m.Data, false)
					break
				}
			}
			feed.mu.Lock()
			keyTS := feed.video[wantVideo].Timestamp
			firstAudioTS := feed.audio[firstAudio].Timestamp
			feed.mu.Unlock()
			if tc.burst {
				// Live from the join: the first audio published after it.
				if firstAudio != audioAtJoin {
					t.Fatalf("late joiner's audio starts at frame %d, want %d (the first after the join)", firstAudio, audioAtJoin)
				}
			} else if firstAudio != 2*wantVideo || firstAudioTS != keyTS {
				// Replayed: the audio of the key frame's own period (the publisher wrote it
				// before the key frame) and everything after.
				t.Fatalf("late joiner's audio starts at frame %d (%d ms), want %d (%d ms, the key frame's)", firstAudio, firstAudioTS, 2*wantVideo, keyTS)
			}
			t.Logf("joined at video frame %d (%d ms), %d ms after the key frame; first video %d, first audio %d (%d ms), %d dropped",
				joinTick, feed.video[joinTick].Timestamp, feed.video[joinTick].Timestamp-feed.video[25].Timestamp, wantVideo, firstAudio, firstAudioTS, dropped)
		})
	}
}
