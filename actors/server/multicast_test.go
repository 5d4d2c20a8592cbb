package server_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// testSpec is a group specifier: a multicast-capable group named "multicast" (records
// 01 01 and 0E "multicast", then the end-of-options marker).
var testSpec = "G:0101" + "0a0e" + hex.EncodeToString([]byte("multicast")) + "00"

// viewer is a Go client that is a member of the group and plays its multicast.
type viewer struct {
	mb    *client.Member
	bytes atomic.Int64 // audio and video body bytes received
	posts chan any
}

// newViewer joins the group with the options o (their OnMedia and OnPost are the viewer's).
func newViewer(t testing.TB, ctx context.Context, f *fixture, name string, play bool, o client.MemberOptions) *viewer {
	t.Helper()
	v := &viewer{posts: make(chan any, 16)}
	c, err := client.Dial(ctx, f.sys, f.url, client.Options{AcceptPeers: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	o.OnMedia = func(_ string, m client.Media) {
		if m.Type == flash.TypeAudio || m.Type == flash.TypeVideo {
			v.bytes.Add(int64(len(m.Data)))
		}
	}
	o.OnPost = func(body []byte) {
		val, _, err := amf.DecodeAMF0(body)
		if err == nil {
			v.posts <- val
		}
	}
	v.mb, err = c.JoinGroupSpec(ctx, testSpec, o)
	if err != nil {
		t.Fatal(err)
	}
	if play {
		v.mb.Play(name)
	}
	return v
}

// waitFor waits until cond holds, checking it every 100 ms (the conditions are on
// counters and on answers of the members' actors). It is waitUntil for a testing.TB: the
// multicast tests also run as a benchmark.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	waitForf(t, func() string { return what }, d, cond)
}

// waitForf is waitFor with a description made when it times out.
func waitForf(t testing.TB, what func() string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	check := time.NewTicker(100 * time.Millisecond)
	defer check.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what())
		case <-check.C:
		}
	}
}

// streamBytes sums the audio and video body bytes of a clip's tags.
func streamBytes(t testing.TB, clip string) int64 {
	var n int64
	for _, tag := range clipTags(t, clip) {
		if tag.Type == flash.TypeAudio || tag.Type == flash.TypeVideo {
			n += int64(len(tag.Body))
		}
	}
	return n
}

// testMulticastIngest: ffmpeg publishes over RTMP a stream the server multicasts into a
// group (ACTORRTMFP_MULTICAST); every one of n viewers, Go client members of the group
// that play it through the group, receives at least 90 % of the stream's bytes, while
// the server keeps at most its configured neighbours and sends each fragment at most that
// many times. Its subject is delivery through the group, not the multicast window: the
// server's member and the viewers are lossless (LosslessMedia, MemberOptions.Lossless),
// so that a busy machine, whose members fall seconds behind the stream, cannot make them
// give fragments up for their age.
func testMulticastIngest(t testing.TB, n, seconds int, readrate string) (perViewer int64) {
	const neighbors = 2
	clip := makeClip(t, seconds)
	total := streamBytes(t, clip)
	f := startServer(t, server.Options{LosslessMedia: true}, func(c *server.Config) {
		c.Multicast = "live/mc=" + testSpec
		c.MulticastListen = "127.0.0.1:0"
		c.MulticastNeighbors = neighbors
	})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	svc := f.srv.Multicast()
	viewers := make([]*viewer, n)
	for i := range viewers {
		viewers[i] = newViewer(t, ctx, f, "mc", true, client.MemberOptions{Lossless: true})
	}
	// The mesh: every viewer has a neighbour, the server its own (never more than set).
	waitFor(t, "the mesh", 60*time.Second, func() bool {
		for _, v := range viewers {
			if k, err := v.mb.Neighbors(ctx); err != nil || k == 0 {
				return false
			}
		}
		k, err := svc.Neighbors(ctx, testSpec)
		return err == nil && k > 0
	})
	before := serverBytesOut(f)
	runFFmpeg(t, ctx, "-readrate", readrate, "-i", clip, "-c", "copy", "-f", "flv", rtmpURL(f)+"/mc")
	for i, v := range viewers {
		waitForf(t, func() string {
			st := v.mb.Stats
			return fmt.Sprintf("viewer %d to receive 90%% of %d bytes (has %d: %d fragments in, %d duplicates, %d pulls, %d lost, %d messages; %d neighbours)",
				i, total, v.bytes.Load(), st.FragmentsIn.Load(), st.Duplicates.Load(), st.Pulls.Load(), st.Lost.Load(), st.MessagesOut.Load(), st.Neighbors.Load())
		}, 60*time.Second, func() bool {
			return v.bytes.Load()*10 >= total*9
		})
	}
	perViewer = int64(serverBytesOut(f)-before) / int64(n)
	st := svc.Stats()
	k, err := svc.Neighbors(ctx, testSpec)
	if err != nil || k > neighbors {
		t.Fatalf("the server has %d neighbours (%v), at most %d set", k, err, neighbors)
	}
	// Each fragment left the server at most once per neighbour (the configuration
	// repeated before each key frame aside: a few hundred bytes a second).
	if out := int64(st.BytesOut.Load()); out > total*neighbors+total/10 {
		t.Fatalf("the server sent %d media bytes for a stream of %d and %d neighbours", out, total, neighbors)
	}
	var relayed uint64
	for _, v := range viewers {
		relayed += v.mb.Stats.FragmentsOut.Load()
	}
	if n > neighbors && relayed == 0 {
		t.Fatal("no viewer relayed anything: the server served them all")
	}
	var cut, bad uint64
	for _, v := range viewers {
		cut += v.mb.Stats.CutOff.Load()
		bad += v.mb.Stats.BadMessages.Load() + v.mb.Stats.BadFragments.Load() + v.mb.Stats.BadKey.Load()
	}
	if cut+st.CutOff.Load() != 0 || bad != 0 {
		t.Fatalf("honest members were cut off: viewers %d (%d bad), server %d (%d bad messages, %d bad fragments, %d bad keys)",
			cut, bad, st.CutOff.Load(), st.BadMessages.Load(), st.BadFragments.Load(), st.BadKey.Load())
	}
	t.Logf("%d viewers, stream %d bytes: server sent %d media bytes (%d fragment copies, %d neighbours), %d UDP bytes per viewer; viewers relayed %d fragments, refused %d",
		n, total, st.BytesOut.Load(), st.FragmentsOut.Load(), k, perViewer, relayed, st.Refused.Load())
	return perViewer
}

// serverBytesOut is what the server's sockets sent (UDP payload): its RTMFP sockets and
// its members'.
func serverBytesOut(f *fixture) uint64 {
	var n uint64
	for _, e := range f.srv.Endpoints() {
		n += e.Stats.BytesOut.Load()
	}
	if svc := f.srv.Multicast(); svc != nil && svc.Endpoint() != nil {
		n += svc.Endpoint().Stats.BytesOut.Load()
	}
	return n
}

// testLiveFanout is testMulticastIngest's stream played by n RTMFP players the plain
// way (each its own copy from the server); it returns the server's bytes per player.
func testLiveFanout(t testing.TB, n int) (perViewer int64) {
	clip := makeClip(t, 6)
	total := streamBytes(t, clip)
	f := startServer(t, server.Options{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	got := make([]atomic.Int64, n)
	for i := range n {
		c, err := client.Dial(ctx, f.sys, f.url, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if _, err := c.PlayFunc(ctx, "plain", func(m client.Media) {
			if m.Type == flash.TypeAudio || m.Type == flash.TypeVideo {
				got[i].Add(int64(len(m.Data)))
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	before := serverBytesOut(f)
	runFFmpeg(t, ctx, "-re", "-i", clip, "-c", "copy", "-f", "flv", rtmpURL(f)+"/plain")
	for i := range got {
		waitFor(t, fmt.Sprintf("player %d to receive 90%% of %d bytes", i, total), 60*time.Second, func() bool {
			return got[i].Load()*10 >= total*9
		})
	}
	perViewer = int64(serverBytesOut(f)-before) / int64(n)
	t.Logf("%d players, stream %d bytes: %d UDP bytes per player", n, total, perViewer)
	return perViewer
}

// The tests stream a 6 s clip, as the benchmark does: viewers must receive 90 % of its
// bytes, which a 3 s clip did not reach on a loaded machine (80–87 %; issue 26). They
// publish it at four times real time (readRate): the members are lossless, the pace is
// not what they test; the benchmark publishes in real time.
func TestFFmpegMulticastIngestTwoViewers(t *testing.T) {
	t.Parallel()
	testMulticastIngest(t, 2, 6, readRate)
}

func TestFFmpegMulticastIngestTenViewers(t *testing.T) {
	t.Parallel()
	testMulticastIngest(t, 10, 6, readRate)
}

// BenchmarkServerBytesPerViewer measures what the server sends per viewer of one stream
// for 10 viewers, through NetGroup multicast and as plain live players
// (docs/benchmarks.md). One pass is a 6 s stream: run it with -benchtime=1x.
//
//	go test ./actors/server/ -run '^$' -bench ServerBytesPerViewer -benchtime=1x -count=3
func BenchmarkServerBytesPerViewer(b *testing.B) {
	for _, c := range []struct {
		name string
		run  func(testing.TB, int) int64
	}{{"multicast", func(tb testing.TB, n int) int64 { return testMulticastIngest(tb, n, 6, "1") }}, {"live", testLiveFanout}} {
		b.Run(c.name, func(b *testing.B) {
			var sum int64
			for range b.N {
				sum += c.run(b, 10)
			}
			b.ReportMetric(float64(sum)/float64(b.N), "server-bytes/viewer")
		})
	}
}

// TestServerPostReachesEveryMember: a post the server makes to a group (the application
// API) reaches every member, those the server is not a neighbour of through the others;
// a post a member makes reaches the server's application.
func TestServerPostReachesEveryMember(t *testing.T) {
	t.Parallel()
	f := startServer(t, server.Options{}, func(c *server.Config) {
		c.MulticastListen = "127.0.0.1:0"
		c.MulticastNeighbors = 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	svc := f.srv.Multicast()
	var mu sync.Mutex
	var got []string
	if _, err := svc.Join(testSpec, "test", func(_ app.GroupID, body []byte) {
		v, _, _ := amf.DecodeAMF0(body)
		mu.Lock()
		got = append(got, fmt.Sprint(v))
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	viewers := make([]*viewer, 5)
	for i := range viewers {
		viewers[i] = newViewer(t, ctx, f, "", false, client.MemberOptions{})
	}
	waitFor(t, "the mesh", 60*time.Second, func() bool {
		for _, v := range viewers {
			if k, err := v.mb.Neighbors(ctx); err != nil || k == 0 {
				return false
			}
		}
		k, err := svc.Neighbors(ctx, testSpec)
		return err == nil && k == 1
	})
	body, _ := amf.AppendAMF0(nil, "hello members")
	if err := svc.Post(testSpec, body); err != nil {
		t.Fatal(err)
	}
	for i, v := range viewers {
		select {
		case p := <-v.posts:
			if p != "hello members" {
				t.Fatalf("viewer %d got %v", i, p)
			}
		case <-ctx.Done():
			t.Fatalf("viewer %d never received the post", i)
		}
	}
	reply, _ := amf.AppendAMF0(nil, "hello server")
	if err := viewers[4].mb.Post(nil); err == nil {
		t.Fatal("the member took an empty post")
	}
	if err := viewers[4].mb.Post(reply); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the member's post at the server", 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1 && got[0] == "hello server"
	})
}

// multicastApp is a Go application that uses the server's NetGroup membership.
type multicastApp struct {
	app.Default
	host  chan app.Host
	posts chan any
}

func (a *multicastApp) OnStart(h app.Host)                   { a.host <- h }
func (a *multicastApp) OnStop()                              {}
func (a *multicastApp) OnGroupPost(_ app.GroupID, value any) { a.posts <- value }

// TestGoApplicationMulticastsAndPosts: a Go application maps an RTMFP publisher's stream
// into a group (app.GroupHost.Multicast), which a member plays through the group, and
// receives a member's post (app.GroupPostHandler) after JoinGroup.
func TestGoApplicationMulticastsAndPosts(t *testing.T) {
	t.Parallel()
	ga := &multicastApp{host: make(chan app.Host, 1), posts: make(chan any, 4)}
	f := startServer(t, server.Options{Apps: app.Static{Apps: map[string]app.Application{"live": ga}}}, func(c *server.Config) {
		c.MulticastListen = "127.0.0.1:0"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	v := newViewer(t, ctx, f, "cam", true, client.MemberOptions{})
	gh, ok := (<-ga.host).(app.GroupHost)
	if !ok {
		t.Fatal("the host is not an app.GroupHost")
	}
	if err := gh.Multicast("cam", testSpec); err != nil {
		t.Fatal(err)
	}
	if _, err := gh.JoinGroup("G:zz"); err == nil {
		t.Fatal("a malformed specifier was joined")
	}
	if _, err := gh.JoinGroup(testSpec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the viewer's session with the server's member", 30*time.Second, func() bool {
		n, err := v.mb.Neighbors(ctx)
		return err == nil && n == 1
	})
	pc, err := client.Dial(ctx, f.sys, f.url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	pub, err := pc.Publish(ctx, "cam")
	if err != nil {
		t.Fatal(err)
	}
	key := append([]byte{0x17, 0x01, 0, 0, 0}, make([]byte, 3000)...) // a key frame of 4 fragments
	var sent int64
	for i := 0; i < 20; i++ {
		// Reliable: written back to back, the key frames would give up each other's
		// waiting predecessors in the publisher's session on a busy machine (its
		// catch-up at a key frame), and the test waits for all their bytes.
		_ = pub.Write(client.Media{Type: flash.TypeVideo, Timestamp: uint32(i * 40), Data: key, Reliable: true})
		sent += int64(len(key))
	}
	waitFor(t, "the multicast", 30*time.Second, func() bool { return v.bytes.Load() >= sent })
	body, _ := amf.AppendAMF0(nil, "to the application")
	if err := v.mb.Post(body); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-ga.posts:
		if p != "to the application" {
			t.Fatalf("the application got %v", p)
		}
	case <-ctx.Done():
		t.Fatal("the application never got the post")
	}
}
