package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/rtmp/handshake"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/codec/flv"
)

// needFFmpeg returns the paths of ffmpeg and ffprobe, or fails the test naming the
// script that installs them: the interop tests never skip silently.
func needFFmpeg(t testing.TB) (ffmpeg, ffprobe string) {
	t.Helper()
	var err error
	if ffmpeg, err = exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is not installed: run scripts/test-deps (it installs Debian's ffmpeg package), or scripts/test")
	}
	if ffprobe, err = exec.LookPath("ffprobe"); err != nil {
		t.Fatal("ffprobe is not installed: run scripts/test-deps (it installs Debian's ffmpeg package), or scripts/test")
	}
	return ffmpeg, ffprobe
}

// readRate is ffmpeg's -readrate for the clips these tests publish where the pace is not
// what they test: four times real time.
const readRate = "4"

// makeClip makes a test clip with ffmpeg itself: seconds of 320x240 test pattern at 25
// fps (H.264, a key frame every second) and a 440 Hz tone (AAC), as FLV.
func makeClip(t testing.TB, seconds int) string {
	t.Helper()
	ffmpeg, _ := needFFmpeg(t)
	clips.mu.Lock()
	c := clips.made[seconds]
	if c == nil {
		c = &clip{}
		clips.made[seconds] = c
	}
	clips.mu.Unlock()
	c.once.Do(func() { c.path, c.err = encodeClip(ffmpeg, clips.dir, seconds) })
	if c.err != nil {
		t.Fatal(c.err)
	}
	return c.path
}

// clips are the package's test clips, one per length, encoded once (libx264 takes a
// second of CPU or more for each, and the tests only read them) in a folder TestMain
// removes.
var clips = struct {
	mu   sync.Mutex
	dir  string
	made map[int]*clip
}{made: map[int]*clip{}}

type clip struct {
	once sync.Once
	path string
	err  error
}

func encodeClip(ffmpeg, dir string, seconds int) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("clip%ds.flv", seconds))
	frames := strconv.Itoa(25 * seconds)
	out, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", strconv.Itoa(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
		"-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "64k", "-ar", "44100", "-frames:v", frames, "-shortest", "-f", "flv", path).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("making the test clip: %v\n%s", err, out)
	}
	return path, nil
}

// probe returns ffprobe's count of frames per codec of a file.
func probe(t *testing.T, path string) map[string]int {
	t.Helper()
	_, ffprobe := needFFmpeg(t)
	out, err := exec.Command(ffprobe, "-v", "error", "-count_frames", "-show_entries", "stream=codec_name,nb_read_frames",
		"-of", "csv=p=0", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, out)
	}
	counts := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		codec, n, ok := strings.Cut(strings.TrimSpace(line), ",")
		if !ok {
			continue
		}
		if v, err := strconv.Atoi(strings.TrimSpace(n)); err == nil && codec != "" {
			counts[codec] += v
		}
	}
	return counts
}

// clipTags reads every tag of an FLV file.
func clipTags(t testing.TB, path string) []flv.Tag {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := flv.ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	var tags []flv.Tag
	for b = b[h.DataOffset+flv.PrevSizeLen:]; len(b) > 0; {
		tag, n, err := flv.ParseTag(b)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		tags = append(tags, tag)
		b = b[n:]
	}
	return tags
}

// frames are the audio and video frames of a stream (bodies, in order per kind), without
// codec configurations, metadata or end-of-sequence tags: what a player must receive.
type frames struct {
	audio, video [][]byte
}

func (f *frames) add(typ byte, body []byte) {
	switch {
	case typ == flash.TypeAudio && !flash.IsAudioSequenceHeader(body):
		f.audio = append(f.audio, bytes.Clone(body))
	case typ == flash.TypeVideo && !flash.IsVideoSequenceHeader(body) && !flash.IsVideoSequenceEnd(body):
		f.video = append(f.video, bytes.Clone(body))
	}
}

func tagFrames(tags []flv.Tag) *frames {
	var f frames
	for _, tag := range tags {
		f.add(tag.Message().Type, tag.Body)
	}
	return &f
}

// same reports how got differs from want ("" if it does not): every frame, in order.
func (f *frames) same(got *frames) string {
	for _, k := range []struct {
		name      string
		want, got [][]byte
	}{{"audio", f.audio, got.audio}, {"video", f.video, got.video}} {
		if len(k.got) != len(k.want) {
			i := 0
			for i < min(len(k.got), len(k.want)) && bytes.Equal(k.got[i], k.want[i]) {
				i++
			}
			return fmt.Sprintf("%d %s frames, want %d (the first difference at frame %d)", len(k.got), k.name, len(k.want), i)
		}
		for i := range k.want {
			if !bytes.Equal(k.got[i], k.want[i]) {
				return fmt.Sprintf("%s frame %d differs", k.name, i)
			}
		}
	}
	return ""
}

// collector gathers the frames a player receives, safe for the player's goroutine.
type collector struct {
	mu     sync.Mutex
	f      frames
	first  []byte // types of the first messages, in order (metadata, configs, frames)
	signal chan struct{}
}

func newCollector() *collector { return &collector{signal: make(chan struct{}, 1)} }

func (c *collector) add(typ byte, body []byte) {
	if (typ == flash.TypeDataAMF0 || typ == flash.TypeDataAMF3) && (bytes.Contains(body[:min(len(body), 24)], []byte("|RtmpSampleAccess")) ||
		bytes.Contains(body[:min(len(body), 24)], []byte("onPlayStatus"))) {
		return // what the server adds to a play
	}
	c.mu.Lock()
	if len(c.first) < 8 {
		c.first = append(c.first, typ)
	}
	c.f.add(typ, body)
	c.mu.Unlock()
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

func (c *collector) counts() (audio, video int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.f.audio), len(c.f.video)
}

// waitFor waits until the collector has at least audio and video frames, or fails.
func (c *collector) waitFor(t *testing.T, audio, video int, d time.Duration) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		a, v := c.counts()
		if a >= audio && v >= video {
			return
		}
		select {
		case <-c.signal:
		case <-deadline.C:
			t.Fatalf("received %d audio and %d video frames in %s, want %d and %d", a, v, d, audio, video)
		}
	}
}

// waitSame waits until a collector has want's frames and checks them.
func (c *collector) waitSame(t *testing.T, want *frames, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got := c.frames()
		diff := want.same(got)
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, diff)
		}
		select {
		case <-c.signal:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *collector) frames() *frames {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &frames{audio: c.f.audio, video: c.f.video}
}

// publishTags writes tags through write at speed times their pace (their timestamps), so
// that a stream arrives as an encoder sends it.
func publishTags(ctx context.Context, tags []flv.Tag, speed float64, write func(flv.Tag) error) error {
	start := time.Now()
	for _, tag := range tags {
		due := start.Add(time.Duration(float64(tag.Timestamp)/speed) * time.Millisecond)
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := write(tag); err != nil {
			return err
		}
	}
	return nil
}

// rtmfpWriter writes tags with an RTMFP publisher.
func rtmfpWriter(p *client.Publisher) func(flv.Tag) error {
	return func(tag flv.Tag) error {
		m := metadataTag(tag).Message()
		// Reliable: the RTMFP publisher's own policy must not give frames of the clip
		// up on a busy machine (avSource says why).
		return p.Write(client.Media{Type: m.Type, Timestamp: m.Timestamp, Data: m.Body, Reliable: true})
	}
}

// watchApp is testApp that also hears publishes and plays, with the protocol of the
// client (app.Client.Protocol).
type watchApp struct {
	testApp
	events chan string // "publish rtmp name", "play rtmfp name", "unpublish …", "stop …"
}

func newWatchApp() *watchApp { return &watchApp{events: make(chan string, 256)} }

func (a *watchApp) event(what string, c app.Client, name string) {
	select {
	case a.events <- what + " " + c.Protocol() + " " + name:
	default:
	}
}

func (a *watchApp) OnPublish(c app.Client, name string) error {
	a.event("publish", c, name)
	if name == "forbidden" {
		return errors.New("not this name")
	}
	return nil
}
func (a *watchApp) OnUnpublish(c app.Client, name string) { a.event("unpublish", c, name) }
func (a *watchApp) OnSubscribe(c app.Client, name string) error {
	a.event("play", c, name)
	return nil
}
func (a *watchApp) OnUnsubscribe(c app.Client, name string) { a.event("stop", c, name) }

// waitEvent waits for the app event want.
func (a *watchApp) waitEvent(t *testing.T, want string, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case e := <-a.events:
			if e == want {
				return
			}
		case <-timeout:
			t.Fatalf("no %q within %s", want, d)
		}
	}
}

// startWatchServer starts a fixture serving a watchApp on "live", with lossless media
// (lossless): the RTMP tests check delivery (every frame, to ffmpeg and back), which a
// busy machine must not turn into drops of the wall-clock live policy. The tests of that
// policy start theirs with startLiveWatchServer.
func startWatchServer(t *testing.T, mut func(*server.Config)) (*fixture, *watchApp) {
	return watchServer(t, lossless(server.Options{}), mut)
}

// startLiveWatchServer is startWatchServer with the live media policy of production.
func startLiveWatchServer(t *testing.T, mut func(*server.Config)) (*fixture, *watchApp) {
	return watchServer(t, server.Options{}, mut)
}

func watchServer(t *testing.T, opts server.Options, mut func(*server.Config)) (*fixture, *watchApp) {
	a := newWatchApp()
	opts.Apps = app.Static{Apps: map[string]app.Application{"live": a}}
	return startServer(t, opts, mut), a
}

// waitPublications waits until the server holds n publications.
func waitPublications(t *testing.T, f *fixture, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for f.srv.Publications() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d publications after %s, want %d", f.srv.Publications(), d, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// metadataTag turns a file's onMetaData script tag into what an encoder publishes
// (@setDataFrame("onMetaData", …)); other tags are as they are.
func metadataTag(tag flv.Tag) flv.Tag {
	if tag.Type == flv.TagScript && bytes.HasPrefix(tag.Body, amf.AppendAMF0String(nil, flv.MetadataName)) {
		tag.Body = append(amf.AppendAMF0String(nil, "@setDataFrame"), tag.Body...)
	}
	return tag
}

// safeBuffer is a bytes.Buffer safe for a process's output and a test's reading.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitCounter waits until a counter reaches n.
func waitCounter(t *testing.T, what string, c interface{ Load() uint64 }, n uint64, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for c.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d after %s, want %d", what, c.Load(), d, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rtmpHandshake is the client side of RTMP's plain handshake.
func rtmpHandshake(rw io.ReadWriter) error { return handshake.Client(rw, false) }
