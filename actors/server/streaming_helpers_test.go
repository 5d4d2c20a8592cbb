package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// This file holds the tools of the live-streaming tests: a paced publisher that remembers
// every frame it wrote (avFeed), a recorder that keeps what a player received in the order
// the client connection delivered it, statuses included (playRecord), and the check that
// a recording is exactly what was published from a key frame on (feedCheck).

// avFeed publishes an avSource through a client.Publisher and remembers every frame by its
// sequence number, with the moment it was written (reliably: avSource).
type avFeed struct {
	fx  *fixture
	pub *client.Publisher
	src *avSource

	mu       sync.Mutex
	headers  []client.Media
	audio    []client.Media // by sequence number
	video    []client.Media
	videoAt  []time.Time // when each video frame was written
	written  int         // messages written, headers included
	ticks    int
	maxLate  time.Duration // worst lateness of a tick against the schedule
	maxWrite time.Duration // slowest Publisher.Write
	errs     []error

	// keepUp, if set, is called by run before each tick and returns once the players have
	// received everything written so far (waitCaughtUp): the stream then waits for its
	// players instead of running ahead of them. The media policy of the server's sessions
	// is in wall-clock time (lifetimes, the catch-up at a key frame): a player left a
	// second behind by a busy machine loses media by design, which a test that wants
	// every frame must not provoke. keptUp is the time run spent waiting for them.
	keepUp func()
	keptUp time.Duration

	// clockPace, if set, is the stream's pace on the server's clock (fx.clock, a
	// clock.Warp): before each tick (after keepUp), run skips that clock on to at least
	// clockPace a tick since the first, however fast the ticks go in real time. The
	// server's media ages (a send flow's lifetimes and backlog, an RTMP queue's) are read
	// on that clock, so a stream written at a fast period ages in the server's eyes as
	// one at clockPace. A tick that took clockPace of real time or more is not skipped: on
	// a busy machine the stream runs as on the real clock. Whatever the server holds when
	// the clock moves ages too: keepUp should wait until the server's sessions took what
	// was written (sessionsTook), or a session running late would take a group of ticks
	// at once, born together, and the players it waits for hold nothing then but what
	// they received and did not acknowledge yet.
	clockPace time.Duration
}

func newFeed(fx *fixture, pub *client.Publisher, src *avSource) *avFeed {
	return &avFeed{fx: fx, pub: pub, src: src}
}

// lossless sets the server option of the tests whose subject is delivery (every frame,
// byte-identical, after a crash, from a key frame): the server's live media policy is
// wall-clock (lifetimes, the catch-up at a key frame, a lane judged behind after seconds),
// and a player left a second behind by a busy machine loses media to it by design; with
// server.Options.LosslessMedia it receives everything late instead. The tests of that
// policy (a slow player loses video to a key frame) keep it.
func lossless(o server.Options) server.Options {
	o.LosslessMedia = true
	return o
}

// diag describes the server's counters, for failure messages.
func (f *avFeed) diag() string {
	st := &f.fx.srv.Endpoints()[0].SessionStats
	ps := f.fx.srv.PublicationStats()
	return fmt.Sprintf("server: media %d fanout %d publication failures %d; sessions: media dropped %d writes refused %d retransmissions %d resent %d fragments refused %d",
		ps.Media.Load(), ps.Fanout.Load(), ps.Registry.Failures.Load(), st.MediaDropped.Load(), st.WritesRefused.Load(),
		st.Retransmissions.Load(), st.FragmentsResent.Load(), st.DropFragment.Load())
}

func (f *avFeed) write(m client.Media) {
	start := time.Now()
	err := f.pub.Write(m)
	d := time.Since(start)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maxWrite = max(f.maxWrite, d)
	if err != nil {
		f.errs = append(f.errs, err)
		return
	}
	f.written++
}

// writeHeaders writes the metadata and the AAC and AVC sequence headers.
func (f *avFeed) writeHeaders() {
	hs := f.src.headers()
	f.mu.Lock()
	f.headers = hs
	f.mu.Unlock()
	for _, m := range hs {
		f.write(m)
	}
}

// tick writes the next 40 ms of media (two audio frames, one video frame).
func (f *avFeed) tick() {
	ms := f.src.next()
	f.mu.Lock()
	for _, m := range ms {
		if m.Type == flash.TypeAudio {
			f.audio = append(f.audio, m)
		} else {
			f.video = append(f.video, m)
			f.videoAt = append(f.videoAt, time.Now())
		}
	}
	f.ticks++
	f.mu.Unlock()
	for _, m := range ms {
		f.write(m)
	}
}

// audioBurst writes n extra audio frames at once (they take the next audio sequence
// numbers), reliably: a busy machine may delay the burst but the publisher never gives
// part of it up, so the publication gets all of it.
func (f *avFeed) audioBurst(n int) {
	for range n {
		b := make([]byte, 2+4+120)
		b[0], b[1] = 0xAF, 0x01
		binary.BigEndian.PutUint32(b[2:], uint32(f.src.audioSeq))
		fill(b[6:], f.src.audioSeq)
		m := client.Media{Type: flash.TypeAudio, Timestamp: f.src.clock, Data: b, Reliable: true}
		f.src.audioSeq++
		f.mu.Lock()
		f.audio = append(f.audio, m)
		f.mu.Unlock()
		f.write(m)
	}
}

// run writes ticks ticks, one every period, calling before(i) ahead of tick i (to join,
// cut or crash at a known point of the stream; the schedule moves by the time before
// takes, and by the time keepUp waits). It returns when the last tick is written.
func (f *avFeed) run(ticks int, period time.Duration, before func(i int)) {
	start := time.Now()
	var clockStart time.Time
	for i := range ticks {
		due := start.Add(time.Duration(i) * period)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		late := time.Since(due)
		if f.keepUp != nil {
			t0 := time.Now()
			f.keepUp()
			waited := time.Since(t0)
			start = start.Add(waited)
			f.mu.Lock()
			f.keptUp += waited
			f.mu.Unlock()
		}
		if f.clockPace > 0 {
			if i == 0 {
				clockStart = f.fx.clock.Now()
			}
			paceClock(f.fx.clock, clockStart, i, f.clockPace)
		}
		if before != nil {
			t0 := time.Now()
			before(i)
			start = start.Add(time.Since(t0))
		}
		f.mu.Lock()
		f.maxLate = max(f.maxLate, late)
		f.mu.Unlock()
		f.tick()
	}
}

// paceClock skips the server's clock w on to at least tick i × pace after start (the
// first tick's reading), however fast the ticks go in real time; a tick that took longer
// than that is not skipped.
func paceClock(w *clock.Warp, start time.Time, i int, pace time.Duration) {
	if d := start.Add(time.Duration(i) * pace).Sub(w.Now()); d > 0 {
		w.Skip(d)
	}
}

// streamWhile writes ticks in the background, one every tickPeriod, while fn runs.
func (f *avFeed) streamWhile(fn func()) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(tickPeriod)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				f.tick()
			}
		}
	}()
	defer func() {
		close(stop)
		<-done
	}()
	fn()
}

// counts returns the audio and video frames written so far and the messages written.
func (f *avFeed) counts() (audio, video, written int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.audio), len(f.video), f.written
}

func (f *avFeed) writeErrors() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.errs...)
}

// waitProcessed waits until the server's publications processed media messages total (so
// that what happens next happens between two known frames of the stream).
func waitProcessed(t *testing.T, srv *server.Server, total uint64) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("the publication to process %d media messages", total), 10*time.Second,
		func() bool { return srv.PublicationStats().Media.Load() >= total })
}

// expectedMetadata is the onMetaData message body subscribers get for the source's
// @setDataFrame (the server strips "@setDataFrame").
func expectedMetadata(t *testing.T, headers []client.Media) []byte {
	t.Helper()
	msg := flash.Message{Type: flash.TypeDataAMF0, Body: headers[0].Data}
	var dec amf.Decoder
	d, err := flash.ParseData(msg, &dec)
	if err != nil || len(d.Values) < 2 || d.Values[0] != "@setDataFrame" {
		t.Fatalf("source metadata is not a @setDataFrame: %v %v", d.Values, err)
	}
	b, err := flash.AppendData(nil, flash.Data{Values: d.Values[1:]})
	if err != nil {
		t.Fatal(err)
	}
	m, err := flash.ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), m.Body...)
}

// playEvent is one thing a player received: an onStatus (code set) or a media message.
type playEvent struct {
	code string
	desc string
	m    client.Media
	at   time.Time
}

// playRecord records everything a player receives, statuses and media in the order the
// client connection delivered them: before each media message it takes the statuses that
// are already waiting (the connection hands a status over before the media that follow
// it, so they are waiting by then).
type playRecord struct {
	name string
	p    *client.Player

	mu     sync.Mutex
	events []playEvent
	last   [2]int // last sequence number of audio, video (-1: none)
	closed bool

	stop chan struct{}
	done chan struct{}
}

func recordPlayer(t *testing.T, name string, p *client.Player) *playRecord {
	r := &playRecord{name: name, p: p, last: [2]int{-1, -1}, stop: make(chan struct{}), done: make(chan struct{})}
	go r.loop()
	t.Cleanup(r.halt)
	return r
}

func (r *playRecord) halt() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}

func (r *playRecord) addStatus(s flash.Status) {
	r.mu.Lock()
	r.events = append(r.events, playEvent{code: s.Code, desc: s.Description, at: time.Now()})
	r.mu.Unlock()
}

func (r *playRecord) drainStatus() {
	for {
		select {
		case s := <-r.p.Status:
			r.addStatus(s)
		default:
			return
		}
	}
}

func (r *playRecord) loop() {
	defer close(r.done)
	for {
		r.drainStatus()
		select {
		case m, ok := <-r.p.C:
			r.drainStatus()
			r.mu.Lock()
			if !ok {
				r.closed = true
				r.mu.Unlock()
				return
			}
			r.events = append(r.events, playEvent{m: m, at: time.Now()})
			if (m.Type == flash.TypeAudio && !flash.IsAACSequenceHeader(m.Data)) ||
				(m.Type == flash.TypeVideo && !flash.IsVideoSequenceHeader(m.Data)) {
				r.last[kindIndex(m.Type)] = seqOf(m.Data, m.Type == flash.TypeVideo)
			}
			r.mu.Unlock()
		case s := <-r.p.Status:
			r.addStatus(s)
		case <-r.stop:
			return
		}
	}
}

func kindIndex(typ byte) int {
	if typ == flash.TypeVideo {
		return 1
	}
	return 0
}

func (r *playRecord) snapshot() []playEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]playEvent(nil), r.events...)
}

// lastSeq returns the last audio and video sequence numbers received (-1: none).
func (r *playRecord) lastSeq() (audio, video int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last[0], r.last[1]
}

// has reports whether the player received status code.
func (r *playRecord) has(code string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.code == code {
			return true
		}
	}
	return false
}

// caughtUp reports whether every recorder received the last audio and video frames the
// feed wrote.
func caughtUp(feed *avFeed, recs []*playRecord) (behind []string) {
	na, nv, _ := feed.counts()
	for _, r := range recs {
		if a, v := r.lastSeq(); a != na-1 || v != nv-1 {
			behind = append(behind, fmt.Sprintf("%s at audio %d/%d video %d/%d", r.name, a, na-1, v, nv-1))
		}
	}
	return behind
}

// waitCaughtUp waits until every recorder received the last frames the feed wrote.
func waitCaughtUp(t *testing.T, feed *avFeed, recs []*playRecord, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		behind := caughtUp(feed, recs)
		if len(behind) == 0 {
			return
		}
		if time.Now().After(deadline) {
			// What the server's sessions gave up says whether the media policy (lifetimes,
			// a group given up) or delivery stopped them.
			st := &feed.fx.srv.Endpoints()[0].SessionStats
			t.Fatalf("%d of %d players did not receive the end of the stream within %s: %s (server sessions: media dropped by the policy %d, fragments declared lost %d, writes refused %d)",
				len(behind), len(recs), d, strings.Join(firstN(behind, 10), "; "),
				st.MediaDropped.Load(), st.Retransmissions.Load(), st.WritesRefused.Load())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("… and %d more", len(s)-n))
	}
	return s
}

// feedCheck says what a recording must show.
type feedCheck struct {
	fromStart   bool // every frame from the first one (audio and video sequence 0)
	notify      bool // NetStream.Play.PublishNotify before any media
	unpublished bool // NetStream.Play.UnpublishNotify after every media message
	// firstVideo, if > 0, is the frame the video must start at (0: see fromStart).
	firstVideo int
	// videoRuns allows video to resume after gaps (each run must start on a key frame);
	// audioGaps allows that many gaps in audio. Zero: none.
	videoRuns, audioGaps int
	// noAudio/noVideo: the player must receive none of that kind.
	noAudio, noVideo bool
}

// segment is a run of consecutive sequence numbers [from, to].
type segment struct{ from, to int }

// runsOf cuts sequence numbers into runs of consecutive ones; it reports a frame that
// goes back or repeats as an error.
func runsOf(seqs []int) ([]segment, error) {
	var out []segment
	for i, s := range seqs {
		if i > 0 && s <= seqs[i-1] {
			return out, fmt.Errorf("sequence %d after %d (reorder or duplicate)", s, seqs[i-1])
		}
		if i > 0 && s == seqs[i-1]+1 {
			out[len(out)-1].to = s
			continue
		}
		out = append(out, segment{s, s})
	}
	return out, nil
}

// check verifies a recording against what the feed published: the statuses, exactly one
// metadata message and one sequence header of each kind before the media of their flow,
// then frames byte-identical to the published ones, in order, video starting on a key
// frame, with no gap (or only the gaps c allows) up to the last frame published.
func (f *avFeed) check(t *testing.T, r *playRecord, c feedCheck) error {
	t.Helper()
	f.mu.Lock()
	headers, audio, video := f.headers, f.audio, f.video
	f.mu.Unlock()
	meta := expectedMetadata(t, headers)
	events := r.snapshot()
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s [%s] [%s]", r.name, fmt.Sprintf(format, args...), summarize(events), f.diag())
	}

	idx := map[string]int{}
	firstMedia := -1
	var metaAt, aCfgAt, vCfgAt, nMeta, nACfg, nVCfg, nAccess = -1, -1, -1, 0, 0, 0, 0
	firstAudioAt, firstVideoAt, lastMediaAt := -1, -1, -1
	var aSeqs, vSeqs []int
	for i, e := range events {
		if e.code != "" {
			if _, ok := idx[e.code]; !ok {
				idx[e.code] = i
			}
			continue
		}
		m := e.m
		if isSampleAccess(m) {
			nAccess++
			if firstMedia >= 0 {
				return fail("|RtmpSampleAccess (event %d) after the stream's media", i)
			}
			if at, ok := idx[flash.CodePlayStart]; !ok || at > i {
				return fail("|RtmpSampleAccess (event %d) before NetStream.Play.Start", i)
			}
			continue
		}
		lastMediaAt = i
		if firstMedia < 0 {
			firstMedia = i
		}
		switch m.Type {
		case flash.TypeDataAMF0, flash.TypeDataAMF3:
			if isCue(m) {
				continue // NetStream.send data, checked by the tests that send it
			}
			nMeta++
			if metaAt < 0 {
				metaAt = i
			}
			if !bytes.Equal(m.Data, meta) {
				return fail("data message %x is not the published metadata %x", m.Data, meta)
			}
		case flash.TypeAudio:
			if flash.IsAACSequenceHeader(m.Data) {
				nACfg++
				aCfgAt = i
				if !bytes.Equal(m.Data, headers[1].Data) {
					return fail("AAC sequence header %x differs from the published %x", m.Data, headers[1].Data)
				}
				continue
			}
			if firstAudioAt < 0 {
				firstAudioAt = i
			}
			s := seqOf(m.Data, false)
			if s < 0 || s >= len(audio) || !bytes.Equal(m.Data, audio[s].Data) || m.Timestamp != audio[s].Timestamp {
				return fail("audio frame %d (event %d) is not the published one", s, i)
			}
			aSeqs = append(aSeqs, s)
		case flash.TypeVideo:
			if flash.IsVideoSequenceHeader(m.Data) {
				nVCfg++
				vCfgAt = i
				if !bytes.Equal(m.Data, headers[2].Data) {
					return fail("AVC sequence header %x differs from the published %x", m.Data, headers[2].Data)
				}
				continue
			}
			if firstVideoAt < 0 {
				firstVideoAt = i
			}
			s := seqOf(m.Data, true)
			if s < 0 || s >= len(video) || !bytes.Equal(m.Data, video[s].Data) || m.Timestamp != video[s].Timestamp {
				return fail("video frame %d (event %d) is not the published one", s, i)
			}
			vSeqs = append(vSeqs, s)
		default:
			return fail("unexpected message type %#x", m.Type)
		}
	}

	// Statuses.
	for _, code := range []string{flash.CodePlayReset, flash.CodePlayStart} {
		at, ok := idx[code]
		if !ok {
			return fail("no %s", code)
		}
		if firstMedia >= 0 && at > firstMedia {
			return fail("%s after the first media message", code)
		}
	}
	if c.notify {
		at, ok := idx[flash.CodePlayPublishNotify]
		if !ok || at < idx[flash.CodePlayStart] || (firstMedia >= 0 && at > firstMedia) {
			return fail("%s missing or not between Play.Start and the first media message", flash.CodePlayPublishNotify)
		}
	}
	if c.unpublished {
		at, ok := idx[flash.CodePlayUnpublishNotify]
		if !ok || at < lastMediaAt {
			return fail("%s missing or before the last media message", flash.CodePlayUnpublishNotify)
		}
	}

	// Metadata and codec configuration: once each, before the media of their flow; the
	// metadata before any frame.
	if nMeta != 1 || nACfg != 1 || nVCfg != 1 || nAccess != 1 {
		return fail("received %d |RtmpSampleAccess, %d metadata, %d AAC and %d AVC sequence headers, want one each", nAccess, nMeta, nACfg, nVCfg)
	}
	if firstAudioAt >= 0 && (aCfgAt > firstAudioAt || metaAt > firstAudioAt) {
		return fail("first audio frame (event %d) before the AAC sequence header (%d) or the metadata (%d)", firstAudioAt, aCfgAt, metaAt)
	}
	if firstVideoAt >= 0 && (vCfgAt > firstVideoAt || metaAt > firstVideoAt) {
		return fail("first video frame (event %d) before the AVC sequence header (%d) or the metadata (%d)", firstVideoAt, vCfgAt, metaAt)
	}

	// Video: runs of consecutive frames, each starting on a key frame, the last one
	// reaching the last frame published.
	if c.noVideo {
		if len(vSeqs) > 0 {
			return fail("received %d video frames, want none", len(vSeqs))
		}
	} else {
		runs, err := runsOf(vSeqs)
		if err != nil {
			return fail("video: %v", err)
		}
		if len(runs) == 0 {
			return fail("no video")
		}
		if len(runs) > max(1, c.videoRuns) {
			return fail("video has %d runs %v, want at most %d (a gap)", len(runs), runs, max(1, c.videoRuns))
		}
		for _, run := range runs {
			if !flash.IsKeyFrame(video[run.from].Data) {
				return fail("video run %v does not start on a key frame", run)
			}
		}
		if c.fromStart && runs[0].from != 0 {
			return fail("video starts at frame %d, want 0", runs[0].from)
		}
		if c.firstVideo > 0 && runs[0].from != c.firstVideo {
			return fail("video starts at frame %d, want %d", runs[0].from, c.firstVideo)
		}
		if end := runs[len(runs)-1].to; end != len(video)-1 {
			return fail("video ends at frame %d, want %d", end, len(video)-1)
		}
	}

	if c.noAudio {
		if len(aSeqs) > 0 {
			return fail("received %d audio frames, want none", len(aSeqs))
		}
		return nil
	}
	runs, err := runsOf(aSeqs)
	if err != nil {
		return fail("audio: %v", err)
	}
	if len(runs) == 0 {
		return fail("no audio")
	}
	if len(runs) > 1+c.audioGaps {
		return fail("audio has %d runs %v, want at most %d", len(runs), runs, 1+c.audioGaps)
	}
	if c.fromStart && runs[0].from != 0 {
		return fail("audio starts at frame %d, want 0", runs[0].from)
	}
	if end := runs[len(runs)-1].to; end != len(audio)-1 {
		return fail("audio ends at frame %d, want %d", end, len(audio)-1)
	}
	// No gap at the start: audio begins no later than the first video frame (a replayed
	// group of pictures holds the audio of its key frame's own 40 ms, though the publisher
	// sends it before the key frame).
	if len(vSeqs) > 0 && audio[runs[0].from].Timestamp > video[vSeqs[0]].Timestamp {
		return fail("audio starts at %d ms, after the first video frame at %d ms", audio[runs[0].from].Timestamp, video[vSeqs[0]].Timestamp)
	}
	return nil
}

// isSampleAccess reports whether m is the |RtmpSampleAccess data message of a play.
func isSampleAccess(m client.Media) bool {
	var dec amf.Decoder
	d, err := flash.ParseData(flash.Message{Type: m.Type, Body: m.Data}, &dec)
	return err == nil && d.Name() == "|RtmpSampleAccess"
}

// cue is a NetStream.send-style data message ("onCue", n) a publisher broadcasts.
func cue(n int) client.Media {
	b, _ := flash.AppendData(nil, flash.Data{Values: []any{"onCue", float64(n)}})
	m, _ := flash.ParseMessage(b)
	return client.Media{Type: flash.TypeDataAMF0, Data: m.Body}
}

// cueNumber returns the number of an onCue data message, or -1.
func cueNumber(m client.Media) int {
	if m.Type != flash.TypeDataAMF0 {
		return -1
	}
	var dec amf.Decoder
	d, err := flash.ParseData(flash.Message{Type: m.Type, Body: m.Data}, &dec)
	if err != nil || d.Name() != "onCue" || len(d.Values) < 2 {
		return -1
	}
	n, ok := d.Values[1].(float64)
	if !ok {
		return -1
	}
	return int(n)
}

func isCue(m client.Media) bool { return cueNumber(m) >= 0 }

// videoLatency returns the longest time between the writing of a video frame in
// [from, to) and its arrival at r.
func (f *avFeed) videoLatency(r *playRecord, from, to int) time.Duration {
	f.mu.Lock()
	at := append([]time.Time(nil), f.videoAt...)
	f.mu.Unlock()
	var worst time.Duration
	for _, e := range r.snapshot() {
		if e.code != "" || e.m.Type != flash.TypeVideo || flash.IsVideoSequenceHeader(e.m.Data) {
			continue
		}
		if s := seqOf(e.m.Data, true); s >= from && s < to && s < len(at) {
			worst = max(worst, e.at.Sub(at[s]))
		}
	}
	return worst
}

// summarize describes a recording briefly for failure messages.
func summarize(events []playEvent) string {
	var b strings.Builder
	var audio, video, data int
	var codes []string
	for _, e := range events {
		switch {
		case e.code != "":
			codes = append(codes, strings.TrimPrefix(e.code, "NetStream."))
		case e.m.Type == flash.TypeAudio:
			audio++
		case e.m.Type == flash.TypeVideo:
			video++
		default:
			data++
		}
	}
	fmt.Fprintf(&b, "statuses %v, %d audio, %d video, %d data", codes, audio, video, data)
	return b.String()
}

// checkAll runs check on every recording and fails the test with the first few failures.
func (f *avFeed) checkAll(t *testing.T, recs []*playRecord, c func(r *playRecord) feedCheck) {
	t.Helper()
	var errs []string
	for _, r := range recs {
		if err := f.check(t, r, c(r)); err != nil {
			errs = append(errs, err.Error())
		}
		if n := r.p.Dropped(); n != 0 {
			errs = append(errs, fmt.Sprintf("%s: the player dropped %d messages (not read in time)", r.name, n))
		}
	}
	if len(errs) > 0 {
		t.Fatalf("%d problems among %d players:\n%s", len(errs), len(recs), strings.Join(firstN(errs, 8), "\n"))
	}
}

// waitFanout waits until, media flowing, each media message of the server's publications
// goes to want subscriber sessions: it polls until the ratio over a window is exactly
// want or d elapses (a window boundary may fall inside the processing of one message).
func waitFanout(t *testing.T, srv *server.Server, want uint64, d time.Duration) {
	t.Helper()
	st := srv.PublicationStats()
	deadline := time.Now().Add(d)
	var dm, df uint64
	for time.Now().Before(deadline) {
		m0, f0 := st.Media.Load(), st.Fanout.Load()
		time.Sleep(250 * time.Millisecond)
		m1, f1 := st.Media.Load(), st.Fanout.Load()
		dm, df = m1-m0, f1-f0
		if dm > 0 && df == want*dm {
			return
		}
	}
	t.Fatalf("the publication sent %d channel messages for %d media messages in the last window, want %d per message", df, dm, want)
}

// connectInFlight bounds the handshakes connectMany runs at once. A hundred at once on a
// starved machine (load 20, GOMAXPROCS=1) made some clients send their first packet more
// than the server's pending timeout (5 s of wall time, a flood defence) after its
// RIKeying: the server freed their sessions as unheard, by design, and the clients, which
// nothing tells, retransmitted their connect into them until the 60 s wait was up.
// Connecting a hundred clients is these tests' setup, not what they check
// (TestFiveHundredClientsConnectAtOnce is the burst test).
const connectInFlight = 8

// connectMany connects n clients over the given endpoints, alternating dialects, at most
// connectInFlight at a time: a client starts its handshake when another one has connected.
func connectMany(t *testing.T, f *fixture, eps []*client.Endpoint, n int) []*client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conns := make([]*client.Conn, n)
	errs := make([]error, n)
	slots := make(chan struct{}, connectInFlight)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			d := client.Flash
			if i%2 == 1 {
				d = client.RFC7425
			}
			conns[i], errs[i] = eps[i%len(eps)].Connect(ctx, f.url, client.Options{Dialect: d, HandshakeTimeout: 30 * time.Second})
		}()
	}
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
		}
	}
	for i, err := range errs {
		if err != nil {
			// What the server's endpoints did with the handshakes and sessions, to tell a
			// lost handshake from a session the server gave up on.
			var stats []string
			for _, ep := range f.srv.Endpoints() {
				st := &ep.Stats
				stats = append(stats, fmt.Sprintf("pending expired %d, evicted %d, refused %d/%d/%d; dropped: unknown session %d, overload %d, handshake backlog %d",
					st.PendingExpired.Load(), st.PendingEvicted.Load(), st.PendingLimit.Load(), st.PendingNearFull.Load(), st.SessionLimit.Load(),
					st.DropUnknownSession.Load(), st.DropOverload.Load(), st.DropHandshakeBacklog.Load()))
			}
			t.Fatalf("client %d: %v (%d of %d clients failed; server endpoints: %s)", i, err, failed, n, strings.Join(stats, "; "))
		}
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	return conns
}
