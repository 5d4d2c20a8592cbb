package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/rtmp/rtmpclient"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/codec/flv"
)

// waitStatus waits for a stream status with code, and fails on another error status.
func waitStatus(t *testing.T, ch <-chan flash.Status, code string, d time.Duration) flash.Status {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case s := <-ch:
			if s.Code == code {
				return s
			}
			if s.Level == flash.LevelError {
				t.Fatalf("%s (%s) while waiting for %s", s.Code, s.Description, code)
			}
		case <-timeout:
			t.Fatalf("no %s within %s", code, d)
		}
	}
}

// playOut waits until a collector has what it waits for: a recording's player paces its
// tags on the node's clock, which runs at real speed (skipping it would age the tags
// queued for the player past their lifetimes), a second ahead of their time.
func playOut(t *testing.T, c *collector, audio, video int) {
	t.Helper()
	c.waitFor(t, audio, video, 20*time.Second)
}

// recordRTMP publishes steps of src on name with typ and unpublishes, waiting for the
// recording to be closed (closed is the count expected then).
func recordRTMP(t *testing.T, f *fixture, name, typ string, src *avSource, steps int, want *frames, closed uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pub, err := rtmpDial(t, f, rtmpclient.Options{}).Publish(ctx, name, typ)
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, pub.Status, flash.CodeRecordStart, 5*time.Second)
	writeRTMP(t, pub, src.headers())
	for range steps {
		writeRTMP(t, pub, want.sent(src.next()))
	}
	writeRTMP(t, pub, []client.Media{{Type: flash.TypeVideo, Timestamp: src.clock, Data: []byte{0x17, 0x02, 0, 0, 0}}}) // end of sequence
	if err := pub.Delete(); err != nil {
		t.Fatal(err)
	}
	waitCounter(t, "recordings closed", &f.srv.MediaStats().Closed, closed, 10*time.Second)
}

// TestRTMPRecordAppendAndPlayBack: an RTMP publisher records, then appends; the file has
// every frame once, the metadata first with the final duration, timestamps that go on
// from the first part, no end of sequence inside; it plays back as VOD, paced on the
// node's clock, with the statuses that start and end a recording's play, and
// getStreamLength answers its duration.
func TestRTMPRecordAppendAndPlayBack(t *testing.T) {
	t.Parallel()
	var media string
	f, _ := startWatchServer(t, func(c *server.Config) { media = c.Media })
	var want frames
	recordRTMP(t, f, "show", "record", &avSource{keyEvery: 10, videoBytes: 200}, 30, &want, 1)
	recordRTMP(t, f, "show", "append", &avSource{keyEvery: 10, videoBytes: 200}, 20, &want, 2)

	file := filepath.Join(media, "live", "show.flv")
	tags := clipTags(t, file)
	if diff := want.same(tagFrames(tags)); diff != "" {
		t.Fatalf("the file: %s", diff)
	}
	if tags[0].Type != flv.TagScript || !flv.Patchable(tags[0].Body) {
		t.Fatal("the file does not start with its onMetaData")
	}
	var last uint32
	for i, tag := range tags {
		if i > 0 && tag.Type == flv.TagScript {
			t.Fatalf("a second script tag at %d", i)
		}
		if tag.Type == flv.TagVideo && flash.IsVideoSequenceEnd(tag.Body) {
			t.Fatalf("an end of sequence at tag %d", i)
		}
		if tag.Type != flv.TagScript && tag.Timestamp+40 < last {
			t.Fatalf("tag %d goes back in time: %d after %d", i, tag.Timestamp, last)
		}
		last = max(last, tag.Timestamp)
	}
	if d := flv.Duration(tags[0].Body); d != float64(last)/1000 || d < 1.9 {
		t.Fatalf("duration %v, the last timestamp %d", d, last)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := rtmpDial(t, f, rtmpclient.Options{})
	if got, err := c.Call(ctx, "getStreamLength", "show"); err != nil || len(got) != 1 || got[0] != float64(last)/1000 {
		t.Fatalf("getStreamLength: %v %v, want %v", got, err, float64(last)/1000)
	}
	if got, err := c.Call(ctx, "getStreamLength", "nothing"); err != nil || len(got) != 1 || got[0] != 0.0 {
		t.Fatalf("getStreamLength of no recording: %v %v", got, err)
	}
	got := newCollector()
	s, err := c.Play(ctx, "show", -2000, rtmpCollect(got))
	if err != nil {
		t.Fatal(err)
	}
	playOut(t, got, len(want.audio), len(want.video))
	waitStatus(t, s.Status, "NetStream.Play.Complete", 5*time.Second)
	waitStatus(t, s.Status, flash.CodePlayStop, 5*time.Second)
	if diff := want.same(got.frames()); diff != "" {
		t.Fatalf("played back: %s", diff)
	}
	events := map[uint16]bool{}
	for len(s.Events) > 0 {
		events[<-s.Events] = true
	}
	if !events[flash.EventStreamBegin] || !events[flash.EventStreamIsRecord] || !events[flash.EventStreamEOF] {
		t.Fatalf("user control events %v: want Stream Begin, Is Recorded and EOF", events)
	}
	if st := f.srv.MediaStats(); st.Plays.Load() != 1 || st.Recordings.Load() != 2 {
		t.Fatalf("%d plays, %d recordings", st.Plays.Load(), st.Recordings.Load())
	}
}

// TestAPlayOfARecordingThatEndsIsLoggedStopped: a recording played to its end has its
// "stopped" event line after its "played" one, as a play the client closes has.
func TestAPlayOfARecordingThatEndsIsLoggedStopped(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.InfoLevel)
	a := newWatchApp()
	f := startServer(t, server.Options{Apps: app.Static{Apps: map[string]app.Application{"live": a}},
		Log: zap.New(zapcore.NewTee(logger(t).Core(), core))}, nil)
	var want frames
	recordRTMP(t, f, "short", "record", &avSource{keyEvery: 25, videoBytes: 200}, 10, &want, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := rtmpDial(t, f, rtmpclient.Options{}).Play(ctx, "short", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s.Status, flash.CodePlayStop, 20*time.Second)
	lines := func(msg string) int {
		n := 0
		for _, e := range logs.FilterMessage(msg).All() {
			if e.ContextMap()["stream"] == "short" && e.ContextMap()["protocol"] == "rtmp" {
				n++
			}
		}
		return n
	}
	// The recording's publisher writes "published" and "unpublished": these are the player's.
	waitUntil(t, "the played recording's stopped event line", 10*time.Second, func() bool { return lines("stopped") == 1 })
	if n := lines("played"); n != 1 {
		t.Fatalf("%d played event lines, want 1", n)
	}
}

// TestRecordingSeekPauseAndMissingNames: a play of a recording seeks to the key frame at
// or before the time asked (NetStream.Seek.Notify first); a play of a recording that does
// not exist fails with NetStream.Play.StreamNotFound, over RTMFP too; a play of "any" name
// that is neither live nor recorded waits for its publisher.
func TestRecordingSeekPauseAndMissingNames(t *testing.T) {
	t.Parallel()
	f, _ := startWatchServer(t, nil)
	var want frames
	recordRTMP(t, f, "movie", "record", &avSource{keyEvery: 25, videoBytes: 200}, 100, &want, 1) // 4 s, key frames every second
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := rtmpDial(t, f, rtmpclient.Options{})
	got := newCollector()
	s, err := c.Play(ctx, "movie", 0, rtmpCollect(got))
	if err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, 0, 10, 10*time.Second) // the first second, sent ahead
	if err := s.Command(flash.CommandPause, true, 0.0); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s.Status, "NetStream.Pause.Notify", 5*time.Second)
	if err := s.Command(flash.CommandSeek, 2500.0); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s.Status, "NetStream.Seek.Notify", 5*time.Second)
	_, before := got.counts()
	if err := s.Command(flash.CommandPause, false, 0.0); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s.Status, "NetStream.Unpause.Notify", 5*time.Second)
	playOut(t, got, 0, before+1)
	v := got.frames().video[before]
	if seq := binary.BigEndian.Uint32(v[5:]); seq != 50 || !flash.IsKeyFrame(v) {
		t.Fatalf("after the seek to 2.5 s the video goes on at frame %d (key %v), want the key frame 50 (2 s)", seq, flash.IsKeyFrame(v))
	}
	if err := s.Command(flash.CommandSeek, 60000.0); err != nil {
		t.Fatal(err)
	}
	if st := <-s.Status; st.Code != flash.CodeSeekInvalidTime {
		t.Fatalf("a seek past the end: %s", st.Code)
	}

	var se *rtmpclient.StatusError
	if _, err := c.Play(ctx, "nothing", 0, nil); !errors.As(err, &se) || se.Status.Code != flash.CodePlayStreamNotFound {
		t.Fatalf("a recording that does not exist: %v", err)
	}
	ep := newClientEndpoint(t, f, client.EndpointConfig{})
	rc, err := ep.Connect(ctx, f.url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ce *client.StreamError
	if _, err := rc.PlayFrom(ctx, "nothing", 0, nil); !errors.As(err, &ce) || ce.Status.Code != flash.CodePlayStreamNotFound {
		t.Fatalf("over RTMFP, a recording that does not exist: %v", err)
	}
	// "any": neither live nor recorded, the play waits for the publisher.
	later := newCollector()
	if _, err := c.Play(ctx, "later", -2000, rtmpCollect(later)); err != nil {
		t.Fatal(err)
	}
	pub, err := rc.Publish(ctx, "later")
	if err != nil {
		t.Fatal(err)
	}
	src := &avSource{keyEvery: 10, videoBytes: 100}
	var live frames
	for _, m := range append(src.headers(), live.sent(src.next())...) {
		if err := pub.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	later.waitFor(t, len(live.audio), len(live.video), 10*time.Second)
}

// TestRecordingRefusedWithoutAMediaFolder: with no media folder, a publish "record" is
// published live all the same, and told NetStream.Record.NoAccess; a name that would
// leave the folder is refused the same way where there is one.
func TestRecordingRefusedWithoutAMediaFolder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		media, name string
	}{{server.Off, "rec"}, {"", "../escape"}} {
		f, _ := startWatchServer(t, func(c *server.Config) {
			if tc.media != "" {
				c.Media = tc.media
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		pub, err := rtmpDial(t, f, rtmpclient.Options{}).Publish(ctx, tc.name, "record")
		if err != nil {
			t.Fatal(err)
		}
		waitStatus(t, pub.Status, flash.CodeRecordNoAccess, 5*time.Second)
		got := newCollector()
		if _, err := rtmpDial(t, f, rtmpclient.Options{}).Play(ctx, tc.name, -1000, rtmpCollect(got)); err != nil {
			t.Fatal(err)
		}
		src := &avSource{keyEvery: 10, videoBytes: 100}
		var want frames
		writeRTMP(t, pub, src.headers())
		for range 5 {
			writeRTMP(t, pub, want.sent(src.next()))
		}
		got.waitFor(t, len(want.audio), len(want.video), 10*time.Second)
		cancel()
	}
}

// TestMalformedRecordingFailsThePlayAndClosesTheClient: a file in the media folder that is
// not FLV gets its player NetStream.Play.Failed naming the problem, and the connection
// closes — RTMP or RTMFP — counted; the server goes on serving.
func TestMalformedRecordingFailsThePlayAndClosesTheClient(t *testing.T) {
	t.Parallel()
	var media string
	f, _ := startWatchServer(t, func(c *server.Config) { media = c.Media })
	if err := os.MkdirAll(filepath.Join(media, "live"), 0o755); err != nil {
		t.Fatal(err)
	}
	bad := append(flv.Header{Audio: true}.Append(nil), 0x08, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0xAF, 1, 2, 3, 4, 0, 0, 0, 99) // a wrong PreviousTagSize
	if err := os.WriteFile(filepath.Join(media, "live", "bad.flv"), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := rtmpDial(t, f, rtmpclient.Options{})
	var se *rtmpclient.StatusError
	if _, err := c.Play(ctx, "bad", 0, nil); !errors.As(err, &se) || se.Status.Code != flash.CodePlayFailed {
		t.Fatalf("playing a malformed file: %v", err)
	}
	f.clock.Skip(5 * time.Second) // the client's time to read why
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("the RTMP connection stayed open")
	}
	ep := newClientEndpoint(t, f, client.EndpointConfig{})
	rc, err := ep.Connect(ctx, f.url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ce *client.StreamError
	if _, err := rc.PlayFrom(ctx, "bad", -2000, nil); !errors.As(err, &ce) || ce.Status.Code != flash.CodePlayFailed {
		t.Fatalf("playing a malformed file over RTMFP: %v", err)
	}
	f.clock.Skip(5 * time.Second) // the client's time to read why
	select {
	case <-rc.Done():
	case <-ctx.Done():
		t.Fatal("the RTMFP session stayed open")
	}
	if n := f.srv.MediaStats().BadFiles.Load(); n != 2 {
		t.Fatalf("%d bad files counted, want 2", n)
	}
	if _, err := rtmpDial(t, f, rtmpclient.Options{}).Call(ctx, "echo", 1.0); err != nil {
		t.Fatal(err)
	}
}

// audioOnlyApp lets every play have audio only, and no sample access (app.StreamHandler).
type audioOnlyApp struct{ testApp }

func (*audioOnlyApp) OnPublishStream(app.Stream) error { return nil }
func (*audioOnlyApp) OnUnpublishStream(app.Stream)     {}
func (*audioOnlyApp) OnStopStream(app.Stream)          {}
func (*audioOnlyApp) OnPlayStream(s app.Stream) error {
	s.Receive(true, false)
	s.SampleAccess(false, false)
	return nil
}

// TestApplicationGatesAPlayOfARecording: what an application sets while it decides a play
// (audio only, no sample access) holds for a recording's play as for a live one.
func TestApplicationGatesAPlayOfARecording(t *testing.T) {
	t.Parallel()
	a := &audioOnlyApp{}
	f := startServer(t, server.Options{Apps: app.Static{Apps: map[string]app.Application{"live": a}}}, nil)
	var want frames
	recordRTMP(t, f, "gated", "record", &avSource{keyEvery: 10, videoBytes: 100}, 20, &want, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := newCollector()
	var access []byte
	var mu sync.Mutex
	s, err := rtmpDial(t, f, rtmpclient.Options{}).Play(ctx, "gated", 0, func(m rtmpclient.Message) {
		if m.Type == flash.TypeDataAMF0 && bytes.Contains(m.Body, []byte("|RtmpSampleAccess")) {
			mu.Lock()
			access = bytes.Clone(m.Body)
			mu.Unlock()
		}
		got.add(m.Type, m.Body)
	})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s.Status, flash.CodePlayStop, 20*time.Second)
	if a, v := got.counts(); a != len(want.audio) || v != 0 {
		t.Fatalf("an audio-only play of the recording got %d audio and %d video frames, want %d and none", a, v, len(want.audio))
	}
	mu.Lock()
	defer mu.Unlock()
	if want, _ := flash.AppendData(nil, flash.Data{Values: []any{"|RtmpSampleAccess", false, false}}); !bytes.HasSuffix(want, access) || len(access) == 0 {
		t.Fatalf("|RtmpSampleAccess %x, want false, false", access)
	}
}
