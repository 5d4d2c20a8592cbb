package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/rtmp/rtmpclient"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/codec/flv"
)

// rtmpURL is the fixture's RTMP URL of application "live".
func rtmpURL(f *fixture) string { return fmt.Sprintf("rtmp://%s/live", f.srv.RTMPAddrs()[0]) }

// rtmpDial connects an RTMP client to the fixture, closed with the test.
func rtmpDial(t *testing.T, f *fixture, opts rtmpclient.Options) *rtmpclient.Conn {
	t.Helper()
	c, err := rtmpDialURL(rtmpURL(f), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func rtmpDialURL(url string, opts rtmpclient.Options) (*rtmpclient.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return rtmpclient.Dial(ctx, url, opts)
}

// writeRTMP publishes client media on an RTMP stream.
func writeRTMP(t *testing.T, s *rtmpclient.Stream, ms []client.Media) {
	t.Helper()
	for _, m := range ms {
		if err := s.Write(m.Type, m.Timestamp, m.Data); err != nil {
			t.Fatal(err)
		}
	}
}

// sent accumulates the frames a test publishes.
func (f *frames) sent(ms []client.Media) []client.Media {
	for _, m := range ms {
		f.add(m.Type, m.Data)
	}
	return ms
}

func rtmpCollect(c *collector) func(rtmpclient.Message) {
	return func(m rtmpclient.Message) { c.add(m.Type, m.Body) }
}

func rtmfpCollect(c *collector) func(client.Media) {
	return func(m client.Media) { c.add(m.Type, m.Data) }
}

// TestRTMPPublisherReachesRTMPAndRTMFPPlayers: players of both protocols wait for a name;
// an RTMP encoder publishes it; both receive the metadata and the codec configuration
// first, then every frame in order, and the application sees who came by what.
func TestRTMPPublisherReachesRTMPAndRTMFPPlayers(t *testing.T) {
	t.Parallel()
	f, a := startWatchServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	viaRTMP, viaRTMFP := newCollector(), newCollector()
	if _, err := rtmpDial(t, f, rtmpclient.Options{Digest: true}).Play(ctx, "s", -2000, rtmpCollect(viaRTMP)); err != nil {
		t.Fatal(err)
	}
	a.waitEvent(t, "play rtmp s", 5*time.Second)
	ep := newClientEndpoint(t, f, client.EndpointConfig{})
	rc, err := ep.Connect(ctx, f.url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.PlayFunc(ctx, "s", rtmfpCollect(viaRTMFP)); err != nil {
		t.Fatal(err)
	}
	a.waitEvent(t, "play rtmfp s", 5*time.Second)
	waitPublications(t, f, 1, 5*time.Second)

	pub, err := rtmpDial(t, f, rtmpclient.Options{}).Publish(ctx, "s", "live")
	if err != nil {
		t.Fatal(err)
	}
	a.waitEvent(t, "publish rtmp s", 5*time.Second)
	var want frames
	src := &avSource{keyEvery: 10, videoBytes: 300}
	writeRTMP(t, pub, src.headers())
	for range 50 {
		writeRTMP(t, pub, want.sent(src.next()))
	}
	for name, c := range map[string]*collector{"RTMP": viaRTMP, "RTMFP": viaRTMFP} {
		c.waitFor(t, len(want.audio), len(want.video), 10*time.Second)
		if diff := want.same(c.frames()); diff != "" {
			t.Errorf("%s player: %s", name, diff)
		}
	}
	// The RTMP player, on one message stream, gets them in the publisher's order.
	if got := viaRTMP.first; !bytes.HasPrefix(got, []byte{flash.TypeDataAMF0, flash.TypeAudio, flash.TypeVideo}) {
		t.Errorf("the RTMP player's first messages are of types %x, want metadata and the configurations first", got)
	}
	if err := pub.Delete(); err != nil {
		t.Fatal(err)
	}
	a.waitEvent(t, "unpublish rtmp s", 5*time.Second)
}

// TestRTMPLateJoinerStartsOnAKeyFrame: an RTMFP publisher streams; an RTMP player joins in
// the middle of a group of pictures and starts with the metadata, the configurations and
// the group's key frame, then every frame.
func TestRTMPLateJoinerStartsOnAKeyFrame(t *testing.T) {
	t.Parallel()
	f, a := startWatchServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ep := newClientEndpoint(t, f, client.EndpointConfig{})
	pc, err := ep.Connect(ctx, f.url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pc.Publish(ctx, "late")
	if err != nil {
		t.Fatal(err)
	}
	src := &avSource{keyEvery: 10, videoBytes: 300}
	for _, m := range src.headers() {
		if err := pub.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	var all frames
	for range 14 { // a key frame at 0 and 10: the player joins at frame 14
		for _, m := range all.sent(src.next()) {
			if err := pub.Write(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitProcessed(t, f.srv, uint64(3+14*3))
	got := newCollector()
	if _, err := rtmpDial(t, f, rtmpclient.Options{}).Play(ctx, "late", -1000, rtmpCollect(got)); err != nil {
		t.Fatal(err)
	}
	a.waitEvent(t, "play rtmp late", 5*time.Second)
	for range 10 {
		for _, m := range all.sent(src.next()) {
			if err := pub.Write(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	// From the key frame of frame 10 on: video frames 10–23, and the audio of their
	// period (the publication also keeps the audio just before the key frame).
	got.waitFor(t, 1, 14, 10*time.Second)
	r := got.frames()
	if first := binary.BigEndian.Uint32(r.video[0][5:]); !flash.IsKeyFrame(r.video[0]) || first != 10 {
		t.Fatalf("the late player's first video frame is %d (key %v), want the key frame 10", first, flash.IsKeyFrame(r.video[0]))
	}
	if diff := (&frames{video: all.video[10:], audio: r.audio}).same(r); diff != "" || len(r.video) != 14 {
		t.Fatalf("late player: %s (%d video frames)", diff, len(r.video))
	}
	if !bytes.HasPrefix(got.first, []byte{flash.TypeDataAMF0, flash.TypeAudio, flash.TypeVideo, flash.TypeVideo}) {
		t.Fatalf("the late player's first messages are of types %x, want metadata, configurations, key frame", got.first)
	}
}

// Enhanced RTMP (FourCC) bodies: HEVC and Opus as OBS 30 and ffmpeg 6.1+ send them.
var (
	hevcStart = append([]byte{0x90, 'h', 'v', 'c', '1'}, 0x01, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x5d) // SequenceStart, hvcC
	opusStart = append([]byte{0x90, 'O', 'p', 'u', 's'}, []byte("OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00")...)
)

func hevcFrame(seq int, key bool) []byte {
	b := []byte{0xa1, 'h', 'v', 'c', '1', 0, 0, 0} // CodedFrames, inter, CTS 0
	if key {
		b[0] = 0x91
	}
	b = binary.BigEndian.AppendUint32(b, uint32(seq))
	return append(b, bytes.Repeat([]byte{byte(seq)}, 200)...)
}

func opusFrame(seq int) []byte {
	return append([]byte{0x91, 'O', 'p', 'u', 's', byte(seq >> 8), byte(seq)}, bytes.Repeat([]byte{0xfc}, 60)...)
}

// TestEnhancedRTMPPassesThroughToBothProtocols: an Enhanced RTMP publisher (HEVC and Opus
// by FourCC) reaches RTMP and RTMFP players byte for byte, and a late RTMP player starts
// with both sequence starts and a key frame: the publication classifies FourCC tags.
func TestEnhancedRTMPPassesThroughToBothProtocols(t *testing.T) {
	t.Parallel()
	f, a := startWatchServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	early := newCollector()
	if _, err := rtmpDial(t, f, rtmpclient.Options{}).Play(ctx, "hevc", -1000, rtmpCollect(early)); err != nil {
		t.Fatal(err)
	}
	ep := newClientEndpoint(t, f, client.EndpointConfig{})
	rc, err := ep.Connect(ctx, f.url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var rtmfpGot [][]byte
	var mu sync.Mutex
	if _, err := rc.PlayFunc(ctx, "hevc", func(m client.Media) {
		if m.Type == flash.TypeAudio || m.Type == flash.TypeVideo {
			mu.Lock()
			rtmfpGot = append(rtmfpGot, bytes.Clone(m.Data))
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	waitPublications(t, f, 1, 5*time.Second)
	conn := rtmpDial(t, f, rtmpclient.Options{Props: []amf.Property{{Key: "fourCcList", Value: []any{"hvc1", "Opus"}}}})
	if props := conn.Properties(); props == nil {
		t.Fatal("no server properties in the connect result")
	} else if m, ok := props.Get("videoFourCcInfoMap"); !ok || m == nil {
		t.Fatalf("an Enhanced RTMP client is not told the codecs are forwarded: %v", props)
	}
	pub, err := conn.Publish(ctx, "hevc", "live")
	if err != nil {
		t.Fatal(err)
	}
	a.waitEvent(t, "publish rtmp hevc", 5*time.Second)
	var sent [][]byte
	write := func(typ byte, ts uint32, body []byte) {
		sent = append(sent, body)
		if err := pub.Write(typ, ts, body); err != nil {
			t.Fatal(err)
		}
	}
	write(flash.TypeVideo, 0, hevcStart)
	write(flash.TypeAudio, 0, opusStart)
	for i := range 25 {
		write(flash.TypeAudio, uint32(i*20), opusFrame(i))
		write(flash.TypeVideo, uint32(i*40), hevcFrame(i, i%10 == 0))
	}
	waitProcessed(t, f.srv, uint64(len(sent)))
	late := newCollector()
	if _, err := rtmpDial(t, f, rtmpclient.Options{}).Play(ctx, "hevc", -1000, rtmpCollect(late)); err != nil {
		t.Fatal(err)
	}
	a.waitEvent(t, "play rtmp hevc", 5*time.Second)
	for i := 25; i < 30; i++ {
		write(flash.TypeAudio, uint32(i*20), opusFrame(i))
		write(flash.TypeVideo, uint32(i*40), hevcFrame(i, false))
	}
	early.waitFor(t, 30, 30, 10*time.Second)
	e := early.frames()
	for i := range 30 {
		if !bytes.Equal(e.video[i], hevcFrame(i, i%10 == 0)) || !bytes.Equal(e.audio[i], opusFrame(i)) {
			t.Fatalf("frame %d differs at the early RTMP player", i)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(rtmfpGot)
		mu.Unlock()
		if n >= len(sent) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the RTMFP player got %d of %d tags", n, len(sent))
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	for _, b := range sent {
		found := false
		for _, g := range rtmfpGot {
			found = found || bytes.Equal(g, b)
		}
		if !found {
			t.Fatalf("the RTMFP player lacks the tag %x…", b[:8])
		}
	}
	mu.Unlock()
	late.waitFor(t, 1, 10, 10*time.Second)
	l := late.frames()
	if !bytes.Equal(l.video[0], hevcFrame(20, true)) {
		t.Fatalf("the late player starts on %x…, want the key frame 20", l.video[0][:12])
	}
	if !bytes.HasPrefix(late.first, []byte{flash.TypeAudio, flash.TypeVideo, flash.TypeVideo}) {
		t.Fatalf("the late player's first messages are of types %x, want the sequence starts first", late.first)
	}
}

// TestRTMPClientsFollowTheApplicationsRules: an RTMP client meets the application as an
// RTMFP client does — its connect decided (with the same statuses), its calls answered,
// its publishes refused by the same rule — and it is not a peer: no directory entry, no
// relay.
func TestRTMPClientsFollowTheApplicationsRules(t *testing.T) {
	t.Parallel()
	f, a := startWatchServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var se *rtmpclient.StatusError
	if _, err := rtmpDialURL(rtmpURL(f), rtmpclient.Options{Args: []any{"reject"}}); !errors.As(err, &se) || se.Status.Code != flash.CodeConnectRejected {
		t.Fatalf("a refused connect: %v", err)
	}
	if _, err := rtmpDialURL(fmt.Sprintf("rtmp://%s/nosuchapp", f.srv.RTMPAddrs()[0]), rtmpclient.Options{}); !errors.As(err, &se) ||
		se.Status.Code != flash.CodeConnectInvalidApp {
		t.Fatalf("a connect to no application: %v", err)
	}
	c := rtmpDial(t, f, rtmpclient.Options{})
	if c.Result().Code != flash.CodeConnectSuccess {
		t.Fatalf("connect: %+v", c.Result())
	}
	if greeting, _ := c.Result().Extra[1].Value.(string); greeting != "hello live" {
		t.Fatalf("the application's connect properties: %+v", c.Result().Extra)
	}
	if v, _ := c.Properties().GetString("fmsVer"); v == "" {
		t.Fatalf("no fmsVer in the connect result's properties: %v", c.Properties())
	}
	if got, err := c.Call(ctx, "echo", "x"); err != nil || len(got) != 1 || got[0] != "x" {
		t.Fatalf("echo: %v %v", got, err)
	}
	if _, err := c.Call(ctx, "nosuchmethod"); !errors.As(err, &se) || se.Status.Code != flash.CodeCallFailed {
		t.Fatalf("an unknown method: %v", err)
	}
	if _, err := c.Call(ctx, "relay", "00", "hi"); !errors.As(err, &se) || se.Status.Code != flash.CodeCallFailed {
		t.Fatalf("relay from RTMP: %v", err)
	}
	if _, err := c.Publish(ctx, "forbidden", "live"); !errors.As(err, &se) || se.Status.Code != flash.CodePublishBadName {
		t.Fatalf("a publish the application refuses: %v", err)
	}
	a.waitEvent(t, "publish rtmp forbidden", 5*time.Second)
	if n, err := f.srv.Peers(); err != nil || n != 0 {
		t.Fatalf("the directory holds %d peers (%v): RTMP clients are not peers", n, err)
	}
	// The same name published over RTMFP and over RTMP is one stream.
	ep := newClientEndpoint(t, f, client.EndpointConfig{})
	rc, err := ep.Connect(ctx, f.url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Publish(ctx, "taken"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, "taken", "live"); !errors.As(err, &se) || se.Status.Code != flash.CodePublishBadName {
		t.Fatalf("publishing over RTMP a name published over RTMFP: %v", err)
	}
}

// TestRTMPGarbageIsClosedAndCounted: clients that do not speak RTMP, or break it after the
// handshake, are closed with the reason counted, and a player of the same server goes on.
func TestRTMPGarbageIsClosedAndCounted(t *testing.T) {
	t.Parallel()
	f, _ := startWatchServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pub, err := rtmpDial(t, f, rtmpclient.Options{}).Publish(ctx, "steady", "live")
	if err != nil {
		t.Fatal(err)
	}
	got := newCollector()
	if _, err := rtmpDial(t, f, rtmpclient.Options{}).Play(ctx, "steady", -1000, rtmpCollect(got)); err != nil {
		t.Fatal(err)
	}
	src := &avSource{keyEvery: 10, videoBytes: 100}
	var want frames
	writeRTMP(t, pub, src.headers())
	addr := f.srv.RTMPAddrs()[0].String()
	raw := func(b []byte, handshake bool) {
		t.Helper()
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if handshake {
			if err := clientHandshake(nc); err != nil {
				t.Fatal(err)
			}
		}
		_, _ = nc.Write(b)
		expectClosed(t, nc)
		writeRTMP(t, pub, want.sent(src.next()))
	}
	st := f.srv.RTMPStats()
	raw([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false)
	raw(append([]byte{6}, make([]byte, 1536)...), false) // RTMPE
	waitCounter(t, "handshake errors", &st.HandshakeErrors, 2, 5*time.Second)
	garbage := bytes.Repeat([]byte{0xC5, 0x12, 0x34}, 200) // type-3 chunks on a fresh chunk stream
	raw(garbage, true)
	bigChunk := append([]byte{0x02, 0, 0, 0, 0, 0, 4, 0x01, 0, 0, 0, 0}, 0x7F, 0xFF, 0xFF, 0xFF) // Set Chunk Size 2^31-1
	raw(bigChunk, true)
	waitCounter(t, "protocol errors", &st.ProtocolErrors, 2, 5*time.Second)
	for range 10 {
		writeRTMP(t, pub, want.sent(src.next()))
	}
	got.waitFor(t, len(want.audio), len(want.video), 10*time.Second)
	if diff := want.same(got.frames()); diff != "" {
		t.Fatalf("the player beside the garbage: %s", diff)
	}
}

// clientHandshake is a plain RTMP client handshake.
func clientHandshake(rw io.ReadWriter) error { return rtmpHandshake(rw) }

// TestSilentRTMPClientsAreClosed: a connection that never handshakes is closed after the
// handshake timeout, one that says nothing (nor answers pings) after the idle timeout;
// both on the node's clock.
func TestSilentRTMPClientsAreClosed(t *testing.T) {
	t.Parallel()
	f, _ := startWatchServer(t, nil)
	addr := f.srv.RTMPAddrs()[0].String()
	mute, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if err := clientHandshake(silent); err != nil {
		t.Fatal(err)
	}
	// The server's settings (Window Acknowledgement Size…) come once it took the handshake.
	if _, err := io.ReadFull(silent, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	st := f.srv.RTMPStats()
	waitActive := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for st.Active.Load() != n {
			if time.Now().After(deadline) {
				t.Fatalf("%d RTMP connections open, want %d", st.Active.Load(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitActive(2)
	f.clock.Skip(11 * time.Second)
	waitCounter(t, "handshake errors", &st.HandshakeErrors, 1, 5*time.Second)
	waitActive(1)
	f.clock.Skip(server.Defaults().IdleTimeout)
	waitCounter(t, "idle closed", &st.IdleClosed, 1, 5*time.Second)
	waitActive(0)
	for _, c := range []net.Conn{mute, silent} {
		expectClosed(t, c)
	}
}

// TestRTMPConnectionIsCountedOnceTimed: a connection counts as open (RTMPStats.Active)
// only once its handshake timer runs on the node's clock, so that a test that sees it
// open and skips the clock (TestSilentRTMPClientsAreClosed) skips its timer too. The
// connection's arming of that timer is held until the test has looked at the count: were
// the connection counted first, the count would already be 1 (issue 26: a busy machine
// paused a connection's actor between the two, the skip went by and the handshake timeout
// came 10 s of real time later).
func TestRTMPConnectionIsCountedOnceTimed(t *testing.T) {
	t.Parallel()
	held := &holdingClock{Warp: clock.NewWarp(), d: 10 * time.Second, arming: make(chan struct{}), release: make(chan struct{})}
	f, _ := watchServer(t, server.Options{Clock: held}, nil)
	nc, err := net.Dial("tcp", f.srv.RTMPAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	select {
	case <-held.arming:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection armed no handshake timer")
	}
	st := f.srv.RTMPStats()
	n := st.Active.Load()
	close(held.release)
	if n != 0 {
		t.Fatalf("%d connections counted open before the handshake timer was armed", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for st.Active.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d RTMP connections open, want 1", st.Active.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// holdingClock is a clock.Warp whose first AfterFunc of duration d waits until release
// is closed, having closed arming.
type holdingClock struct {
	*clock.Warp
	d       time.Duration
	once    sync.Once
	arming  chan struct{}
	release chan struct{}
}

func (c *holdingClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	if d == c.d {
		c.once.Do(func() {
			close(c.arming)
			<-c.release
		})
	}
	return c.Warp.AfterFunc(d, f)
}

// expectClosed reads nc until the server closes it (or resets it: it closed with our
// bytes unread), and fails if it stays open.
func expectClosed(t *testing.T, nc net.Conn) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server did not close the connection")
	}
}

// TestSlowRTMPPlayerLosesVideoToTheNextKeyFrame: a player that stops reading loses video
// back to a key frame (its backlog judged where its queue is, as an RTMFP subscriber's)
// and resumes on a key frame when it reads again; a fast player beside it misses nothing
// and the publisher is never held up.
func TestSlowRTMPPlayerLosesVideoToTheNextKeyFrame(t *testing.T) {
	t.Parallel()
	f, _ := startLiveWatchServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pub, err := rtmpDial(t, f, rtmpclient.Options{}).Publish(ctx, "busy", "live")
	if err != nil {
		t.Fatal(err)
	}
	const keyEvery = 25
	src := &avSource{keyEvery: keyEvery, videoBytes: 12000}
	writeRTMP(t, pub, src.headers())
	fast := newCollector()
	if _, err := rtmpDial(t, f, rtmpclient.Options{}).Play(ctx, "busy", -1000, rtmpCollect(fast)); err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	var blocked sync.Once
	stalled := make(chan struct{})
	slow := newCollector()
	slowConn := rtmpDial(t, f, rtmpclient.Options{})
	if err := slowConn.NetConn().(*net.TCPConn).SetReadBuffer(32 << 10); err != nil {
		t.Fatal(err)
	}
	if _, err := slowConn.Play(ctx, "busy", -1000, func(m rtmpclient.Message) {
		slow.add(m.Type, m.Body)
		if m.Type == flash.TypeVideo && len(m.Body) > 8 && binary.BigEndian.Uint32(m.Body[5:]) == 3 {
			blocked.Do(func() { close(stalled) })
			<-gate // the player stops reading
			// A small receive buffer made the stall show at once; it would also cap the
			// player's throughput below the stream's.
			_ = slowConn.NetConn().(*net.TCPConn).SetReadBuffer(4 << 20)
		}
	}); err != nil {
		t.Fatal(err)
	}
	// The stream goes at twice its pace on the server's clock (40 ms of media every
	// 20 ms), 2.4 Mbit/s of it, and faster in real time (issue 18): before each tick, once
	// the fast player has everything written so far (the server's queue to it holds
	// nothing then), the server's clock moves on to pace a tick since the first, so the
	// stalled player's queue ages on it as in a stream paced at 20 ms of real time (a tick
	// that took that long is not skipped). The media policy judges ages on that clock.
	const pace, realPace = 20 * time.Millisecond, 2 * time.Millisecond
	var want frames
	tick := time.NewTicker(realPace)
	defer tick.Stop()
	clockStart, ticks := f.clock.Now(), 0
	step := func() {
		fast.waitFor(t, len(want.audio), len(want.video), 20*time.Second)
		ticks++
		paceClock(f.clock, clockStart, ticks, pace)
		<-tick.C
		writeRTMP(t, pub, want.sent(src.next()))
	}
	st := f.srv.RTMPStats()
	for i := 0; st.MediaDropped.Load() == 0; i++ {
		if i > 1000 {
			t.Fatal("1000 frames published and nothing dropped for the stalled player")
		}
		step()
	}
	<-stalled
	t.Logf("dropping after %d frames", len(want.video))
	for range 2 * keyEvery {
		step()
	}
	close(gate)
	t.Logf("released at %d", len(want.video))
	// It reads again: the stream goes on until the slow player is back on it live (its
	// backlog gone, it gets every frame of a group), then for one more group.
	lastSlow := func() int {
		v := slow.frames().video
		if len(v) == 0 {
			return -1
		}
		return int(binary.BigEndian.Uint32(v[len(v)-1][5:]))
	}
	released := len(want.video)
	for i := 0; lastSlow() < released+keyEvery; i++ {
		if i > 50*keyEvery {
			t.Fatalf("the slow player did not come back: its last video frame is %d", lastSlow())
		}
		step()
	}
	t.Logf("back at %d", len(want.video))
	for range keyEvery {
		step()
	}
	fast.waitFor(t, len(want.audio), len(want.video), 20*time.Second)
	if diff := want.same(fast.frames()); diff != "" {
		t.Fatalf("the fast player: %s", diff)
	}
	last := len(want.video) - 1
	deadline := time.Now().Add(20 * time.Second)
	for lastSlow() != last {
		if time.Now().After(deadline) {
			t.Fatalf("the slow player did not catch up: its last video frame is %d of %d", lastSlow(), last)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var seqs []int
	for _, v := range slow.frames().video {
		seqs = append(seqs, int(binary.BigEndian.Uint32(v[5:])))
	}
	runs, _ := runsOf(seqs)
	t.Logf("slow player's video: %v; dropped %d, expired %d", runs, st.MediaDropped.Load(), st.MediaExpired.Load())
	prev, gaps := -1, 0
	for _, v := range slow.frames().video {
		seq := int(binary.BigEndian.Uint32(v[5:]))
		if seq <= prev {
			t.Fatalf("the slow player got video frame %d after %d", seq, prev)
		}
		if seq != prev+1 {
			gaps++
			if seq%keyEvery != 0 || !flash.IsKeyFrame(v) {
				t.Fatalf("after a gap (%d → %d) the slow player's video resumes on a frame that is not a key frame", prev, seq)
			}
		}
		prev = seq
	}
	if gaps == 0 {
		t.Fatal("the slow player lost no video")
	}
}

// TestLateRTMPJoinerOfABusyStreamGetsItsWholeGroup: a late joiner of a 2 Mbit/s stream
// with a key frame every 2 s is replayed about 500 KB of the current group at once; it
// must get all of it — a burst is not a backlog.
func TestLateRTMPJoinerOfABusyStreamGetsItsWholeGroup(t *testing.T) {
	t.Parallel()
	f, a := startLiveWatchServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pub, err := rtmpDial(t, f, rtmpclient.Options{}).Publish(ctx, "busy", "live")
	if err != nil {
		t.Fatal(err)
	}
	const keyEvery = 50
	src := &avSource{keyEvery: keyEvery, videoBytes: 9000} // 9 KB frames at 25 fps, 45 KB key frames
	var want frames
	writeRTMP(t, pub, src.headers())
	for range keyEvery - 2 {
		writeRTMP(t, pub, want.sent(src.next()))
	}
	waitProcessed(t, f.srv, uint64(3+3*(keyEvery-2)))
	late := newCollector()
	if _, err := rtmpDial(t, f, rtmpclient.Options{}).Play(ctx, "busy", -1000, rtmpCollect(late)); err != nil {
		t.Fatal(err)
	}
	a.waitEvent(t, "play rtmp busy", 5*time.Second)
	for range 3 {
		writeRTMP(t, pub, want.sent(src.next()))
	}
	late.waitFor(t, 0, keyEvery+1, 10*time.Second)
	if diff := (&frames{video: want.video, audio: late.frames().audio}).same(late.frames()); diff != "" {
		t.Fatalf("the late joiner: %s (dropped %d)", diff, f.srv.RTMPStats().MediaDropped.Load())
	}
}

// TestRTMPSettings: RTMP can be turned off; RTMPS needs a certificate and a key, and a
// bad one stops the start naming the setting; RTMPS serves with a good one.
func TestRTMPSettings(t *testing.T) {
	t.Parallel()
	f := startServer(t, server.Options{}, func(c *server.Config) { c.RTMP = server.Off })
	if a := f.srv.RTMPAddrs(); len(a) != 0 {
		t.Fatalf("RTMP off, yet it listens on %v", a)
	}
	base := server.Defaults()
	base.Listen, base.RTMP, base.Media = []string{"127.0.0.1:0"}, "127.0.0.1:0", server.Off
	for _, tc := range []struct {
		mut  func(*server.Config)
		want string
	}{
		{func(c *server.Config) { c.RTMP = "1935" }, "ACTORRTMFP_RTMP"},
		{func(c *server.Config) { c.RTMPS = "127.0.0.1:0" }, "ACTORRTMFP_RTMPS_CERT"},
		{func(c *server.Config) { c.RTMPS, c.RTMPSCert = "127.0.0.1:0", "cert.pem" }, "ACTORRTMFP_RTMPS_KEY"},
		{func(c *server.Config) {
			c.RTMPS, c.RTMPSCert, c.RTMPSKey = "127.0.0.1:0", "/nonexistent/cert.pem", "/nonexistent/key.pem"
		}, "ACTORRTMFP_RTMPS_CERT"},
	} {
		cfg := base
		tc.mut(&cfg)
		var ce *server.ConfigError
		err := cfg.Validate()
		if err == nil {
			sys := actors.NewActorSystem(logger(t))
			var srv *server.Server
			srv, err = server.Start(sys.Root, cfg, server.Options{Log: logger(t)})
			if srv != nil {
				_ = srv.Stop(context.Background())
			}
			sys.Shutdown()
		}
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error naming %s", cfg, err, tc.want)
		}
	}
	certFile, keyFile := testCertificate(t)
	tf := startServer(t, server.Options{}, func(c *server.Config) { c.RTMPS, c.RTMPSCert, c.RTMPSKey = "127.0.0.1:0", certFile, keyFile })
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	c, err := rtmpDialURL(fmt.Sprintf("rtmps://%s/live", tf.srv.RTMPSAddrs()[0]), rtmpclient.Options{TLS: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Result().Code != flash.CodeConnectSuccess {
		t.Fatalf("connect over RTMPS: %+v", c.Result())
	}
	// A client that does not trust the certificate fails at TLS and is counted.
	if _, err := rtmpDialURL(fmt.Sprintf("rtmps://%s/live", tf.srv.RTMPSAddrs()[0]), rtmpclient.Options{TLS: &tls.Config{ServerName: "127.0.0.1"}}); err == nil {
		t.Fatal("a client that does not trust the certificate connected")
	}
	waitCounter(t, "handshake errors", &tf.srv.RTMPStats().HandshakeErrors, 1, 5*time.Second)
}

// TestRTMPAggregateMessagesAndConnectionLimit: an aggregate message (FLV tags, as Wowza
// and some encoders send them) reaches players as its messages, at its timestamp; a
// listener takes at most ACTORRTMFP_MAX_SESSIONS connections, the one beyond is closed and
// counted.
func TestRTMPAggregateMessagesAndConnectionLimit(t *testing.T) {
	t.Parallel()
	f, _ := startWatchServer(t, func(c *server.Config) { c.MaxSessions = 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pubc := rtmpDial(t, f, rtmpclient.Options{})
	pub, err := pubc.Publish(ctx, "agg", "live")
	if err != nil {
		t.Fatal(err)
	}
	var got []rtmpclient.Message
	var mu sync.Mutex
	arrived := make(chan struct{}, 16)
	if _, err := rtmpDial(t, f, rtmpclient.Options{}).Play(ctx, "agg", -1000, func(m rtmpclient.Message) {
		if m.Type == flash.TypeAudio {
			mu.Lock()
			got = append(got, m)
			mu.Unlock()
			arrived <- struct{}{}
		}
	}); err != nil {
		t.Fatal(err)
	}
	var agg []byte
	for i, ts := range []uint32{5000, 5020, 5040} { // the tags' own clock; the aggregate's is 100
		agg, _ = flv.AppendTag(agg, flv.Tag{Type: flv.TagAudio, Timestamp: ts, Body: []byte{0xAF, 0x01, byte(i)}})
	}
	if err := pubc.WriteRaw(6, pub.ID, flash.TypeAggregate, 100, agg); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		select {
		case <-arrived:
		case <-ctx.Done():
			t.Fatal("the aggregate's messages did not arrive")
		}
	}
	mu.Lock()
	for i, m := range got {
		if m.Timestamp != uint32(100+20*i) || m.Body[2] != byte(i) {
			t.Fatalf("message %d: %d %x, want at %d", i, m.Timestamp, m.Body, 100+20*i)
		}
	}
	mu.Unlock()
	nc, err := net.Dial("tcp", f.srv.RTMPAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	expectClosed(t, nc)
	if n := f.srv.RTMPStats().Refused.Load(); n != 1 {
		t.Fatalf("%d connections refused, want 1", n)
	}
}

// TestBannedAddressesAreRefusedOverRTMP: the applications' blacklist (app.Host.Ban) closes
// an RTMP connection of a banned address at accept, and an open one at its next message.
func TestBannedAddressesAreRefusedOverRTMP(t *testing.T) {
	t.Parallel()
	f, _ := startWatchServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	open := rtmpDial(t, f, rtmpclient.Options{})
	local := netip.MustParseAddr("127.0.0.1")
	f.srv.Banned().Ban(local)
	if c, err := rtmpDialURL(rtmpURL(f), rtmpclient.Options{}); err == nil {
		c.Close()
		t.Fatal("a banned address connected")
	}
	waitCounter(t, "refused", &f.srv.RTMPStats().Refused, 1, 5*time.Second)
	_, _ = open.Call(ctx, "echo", "x")
	select {
	case <-open.Done():
	case <-ctx.Done():
		t.Fatal("the banned address's open connection stayed open")
	}
	f.srv.Banned().Unban(local)
	if _, err := rtmpDial(t, f, rtmpclient.Options{}).Call(ctx, "echo", "x"); err != nil {
		t.Fatalf("after the ban was lifted: %v", err)
	}
}
