package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
)

// echoApp accepts everyone and answers echo with its arguments.
type echoApp struct{ app.Default }

func (echoApp) OnCall(_ app.Client, method string, args []any) ([]any, error) {
	if method == "echo" {
		return args, nil
	}
	return nil, app.ErrMethodNotFound
}

// startServer runs a server in this process on 127.0.0.1 and returns its URL.
func startServer(t *testing.T) string {
	url, _ := startServers(t)
	return url
}

// startServers runs a server in this process on 127.0.0.1 and returns its RTMFP and RTMP
// URLs.
func startServers(t *testing.T) (string, string) {
	t.Helper()
	sys := actors.NewActorSystem(zap.NewNop())
	cfg := server.Defaults()
	cfg.Listen = []string{"127.0.0.1:0"}
	cfg.RTMP, cfg.Media = "127.0.0.1:0", server.Off
	cfg.Shards = 2
	// Lossless media: the smoke runs check that the tool counts delivery right (every frame
	// of the window, within -drain), not the live policy, which gives media up for its age
	// on a starved machine (issue 26: a delivery ratio of 0.73 at load 25).
	srv, err := server.Start(sys.Root, cfg, server.Options{LosslessMedia: true,
		Apps: app.Static{Apps: map[string]app.Application{"live": echoApp{}}, Fallback: app.Default{}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
		sys.Shutdown()
	})
	return fmt.Sprintf("rtmfp://%s/live", srv.Addrs()[0]), fmt.Sprintf("rtmp://%s/live", srv.RTMPAddrs()[0])
}

// runJSON runs the tool with args (plus -json -quiet) and decodes its result.
func runJSON(t *testing.T, args ...string) *Result {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args = append(args, "-json", "-quiet", "-bind", "127.0.0.1:0", "-timeout", "10s", "-server-pid", fmt.Sprint(os.Getpid()))
	if code := run(ctx, args, nil, &out, &errb); code != 0 {
		t.Fatalf("%v exited %d: %s", args, code, errb.String())
	}
	var r Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v: output is not one JSON line: %v\n%s", args, err, out.String())
	}
	if len(r.Failures) != 0 {
		t.Errorf("%v: failures %v (%v)", args, r.Failures, r.Examples)
	}
	if r.Server == nil || r.Server.PID != os.Getpid() || r.Server.RSSEndKiB == 0 || len(r.Server.Errors) > 0 {
		t.Errorf("%v: server figures %+v", args, r.Server)
	}
	if r.Latency == nil || r.Latency.P50 > r.Latency.P99 || r.Latency.P99 > r.Latency.Max {
		t.Errorf("%v: latency %+v is not ordered", args, r.Latency)
	}
	return &r
}

func want(t *testing.T, r *Result, key string, n uint64) {
	t.Helper()
	if got := r.Counts[key]; got != n {
		t.Errorf("%s: %s = %d, want %d (counts %v)", r.Scenario, key, got, n, r.Counts)
	}
}

// TestEveryScenarioSmoke runs every scenario, smoke-sized, against an in-process server:
// the CI run that keeps the tool working.
func TestEveryScenarioSmoke(t *testing.T) {
	url, rtmpURL := startServers(t)
	base := []string{"-url", url}

	t.Run("connect", func(t *testing.T) {
		r := runJSON(t, append(base, "-scenario", "connect", "-n", "20", "-rate", "100", "-sockets", "2", "-hold", "1s")...)
		want(t, r, "connected", 20)
		want(t, r, "alive_after_hold", 20)
		if r.Latency.N != 20 || r.Rates["connects_per_s"] <= 0 || r.Server.CPUPerOpMS <= 0 && r.Server.CPUSeconds > 0 {
			t.Errorf("connect: %+v %+v %+v", r.Latency, r.Rates, r.Server)
		}
		if r.Server.RSSOpenKiB == 0 {
			t.Errorf("connect with -hold: no RSS once open: %+v", r.Server)
		}
	})
	t.Run("connect-rfc7425", func(t *testing.T) {
		r := runJSON(t, append(base, "-scenario", "connect", "-dialect", "rfc7425", "-n", "6")...)
		want(t, r, "connected", 6)
		if r.Dialect != "rfc7425" {
			t.Errorf("dialect %q", r.Dialect)
		}
	})
	t.Run("handshake", func(t *testing.T) {
		for _, d := range []string{"flash", "rfc7425"} {
			r := runJSON(t, append(base, "-scenario", "handshake", "-dialect", d, "-n", "10", "-rate", "100")...)
			want(t, r, "completed", 10)
			if r.Latency.N != 10 || r.Rates["handshakes_per_s"] <= 0 || len(r.Failures) != 0 {
				t.Errorf("handshake %s: %+v %+v %v", d, r.Latency, r.Rates, r.Failures)
			}
		}
	})
	t.Run("rpc", func(t *testing.T) {
		r := runJSON(t, append(base, "-scenario", "rpc", "-n", "4", "-rate", "200", "-duration", "1s")...)
		want(t, r, "sessions", 4)
		want(t, r, "results", 200)
		want(t, r, "error_replies", 0)
		if r.Latency.N != 200 {
			t.Errorf("rpc: %d latencies", r.Latency.N)
		}
	})
	t.Run("rpc-error-replies", func(t *testing.T) {
		r := runJSON(t, append(base, "-scenario", "rpc", "-n", "2", "-method", "nothere", "-duration", "300ms")...)
		if r.Counts["results"] != 0 || r.Counts["error_replies"] == 0 || r.Counts["error_replies"] != r.Latency.N {
			t.Errorf("rpc with an unknown method: counts %v, latency %+v", r.Counts, r.Latency)
		}
	})
	t.Run("fanout", func(t *testing.T) {
		r := runJSON(t, append(base, "-scenario", "fanout", "-n", "4", "-duration", "1500ms", "-bitrate", "250k")...)
		want(t, r, "subscribers", 4)
		pa, pv := r.Counts["published_audio"], r.Counts["published_video"]
		if pa < 50 || pv < 25 {
			t.Errorf("fanout: published %d audio, %d video frames in 1.5 s", pa, pv)
		}
		if d := r.Ratios["delivery"]; d < 0.99 {
			t.Errorf("fanout: delivery ratio %v, counts %v", d, r.Counts)
		}
		if r.Counts["received_audio"]+r.Counts["received_video"] != r.Latency.N {
			t.Errorf("fanout: counts %v, latency %+v", r.Counts, r.Latency)
		}
		// Every frame also has its socket arrival, which comes before its delivery.
		if sock := r.Latencies["at the socket"]; sock == nil || sock.N != r.Latency.N || sock.P50 > r.Latency.P50 || sock.Max > r.Latency.Max {
			t.Errorf("fanout: at the socket %+v, delivered %+v", sock, r.Latency)
		}
		// The stream's rate over its media time: what the publisher achieved on the wall
		// clock (stream_bits_per_s) measures the machine (issue 26: 276k-341k at load 25).
		if br := r.Rates["encoded_bits_per_s"]; math.Abs(br-250000)/250000 > 0.1 {
			t.Errorf("fanout: stream encoded at %v bit/s, want about 250k", br)
		}
		if r.Rates["stream_bits_per_s"] <= 0 {
			t.Errorf("fanout: stream at %v bit/s on the wall clock", r.Rates["stream_bits_per_s"])
		}
	})
	t.Run("fanout-rtmp", func(t *testing.T) {
		// An RTMP ingest then an RTMFP one, to RTMP players: two results, one run.
		var out, errb bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		args := append(base, "-rtmp-url", rtmpURL, "-scenario", "fanout", "-ingest", "rtmp,rtmfp", "-players", "rtmp", "-n", "4",
			"-duration", "1500ms", "-bitrate", "250k", "-json", "-quiet", "-bind", "127.0.0.1:0", "-timeout", "10s", "-server-pid", fmt.Sprint(os.Getpid()))
		if code := run(ctx, args, nil, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 2 {
			t.Fatalf("%d result lines, want one per ingest:\n%s", len(lines), out.String())
		}
		for i, ingest := range []string{"rtmp", "rtmfp"} {
			var r Result
			if err := json.Unmarshal([]byte(lines[i]), &r); err != nil {
				t.Fatal(err)
			}
			if r.Params["ingest"] != ingest || r.Params["players"] != "rtmp" || len(r.Failures) != 0 {
				t.Errorf("pass %d: params %v, failures %v", i, r.Params, r.Failures)
			}
			want(t, &r, "subscribers", 4)
			if d := r.Ratios["delivery"]; d < 0.99 {
				t.Errorf("%s ingest to RTMP players: delivery ratio %v, counts %v", ingest, d, r.Counts)
			}
			if r.Server == nil || r.Server.CPUPerOpMS <= 0 && r.Server.CPUSeconds > 0 {
				t.Errorf("%s ingest: server figures %+v", ingest, r.Server)
			}
		}
	})
	t.Run("p2p", func(t *testing.T) {
		r := runJSON(t, append(base, "-scenario", "p2p", "-n", "4", "-rate", "20")...)
		want(t, r, "pairs", 4)
		want(t, r, "introductions", 4)
	})
	t.Run("groups", func(t *testing.T) {
		r := runJSON(t, append(base, "-scenario", "groups", "-n", "8", "-rate", "50")...)
		want(t, r, "members", 8)
		want(t, r, "joins_with_neighbour", 7)
	})
}

func TestTableAndJSONLine(t *testing.T) {
	url := startServer(t)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"-url", url, "-scenario", "connect", "-n", "3", "-bind", "127.0.0.1:0"},
		[]string{"ACTORRTMFP_BENCH_QUIET=true"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if !strings.HasPrefix(lines[0], "scenario") || !strings.HasPrefix(lines[len(lines)-1], "{") {
		t.Fatalf("want a table then a JSON line, got:\n%s", out.String())
	}
	if errb.Len() != 0 {
		t.Fatalf("ACTORRTMFP_BENCH_QUIET=true still printed progress: %s", errb.String())
	}
}

func TestBadUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-scenario", "nope"},
		{"-dialect", "rtmp"},
		{"-url", "http://x/y"},
		{"-bitrate", "fast"},
		{"-scenario", "groups", "-n", "1"},
		{"-n", "0"},
		{"extra"},
		{"-play-urls", "rtmfp://127.0.0.1:1935/a,,rtmfp://127.0.0.1:1936/a"},
		{"-play-urls", "rtmp://127.0.0.1:1935/a"},
		{"-peer-url", "http://127.0.0.1/a"},
		{"-other-pids", "1,x"},
		{"-ingest", "rtmfp,udp"},
		{"-players", "webrtc"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, nil, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), nil, []string{"ACTORRTMFP_BENCH_NOPE=1"}, &out, &errb); code != 2 {
		t.Errorf("unknown variable: exit %d, want 2", code)
	}
	if code := run(context.Background(), []string{"-help"}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "-scenario") {
		t.Errorf("-help: exit %d, output %q", code, out.String())
	}
}

func TestParseBitrate(t *testing.T) {
	for in, want := range map[string]int64{"250k": 250000, "1M": 1000000, "1.5m": 1500000, "64000": 64000} {
		if got, err := parseBitrate(in); err != nil || got != want {
			t.Errorf("parseBitrate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "k", "-1M", "1", "2000M"} {
		if _, err := parseBitrate(in); err == nil {
			t.Errorf("parseBitrate(%q) accepted", in)
		}
	}
}

func TestHistogramQuantilesWithinTwoPercent(t *testing.T) {
	var h histogram
	for i := 1; i <= 100000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, q := range []float64{0.5, 0.95, 0.99} {
		got, exact := float64(h.quantile(q)), q*100000
		if math.Abs(got-exact)/exact > 0.02 {
			t.Errorf("q%v = %v µs, want %v ± 2%%", q, got, exact)
		}
	}
	if h.quantile(1) != 100000 || h.summary().Max != 100 {
		t.Errorf("max %d, summary %+v", h.quantile(1), h.summary())
	}
	for v := uint64(0); v < 1<<20; v = v*5/4 + 1 {
		if b := bucketOf(v); v > bucketHigh(b) || (b > 0 && v <= bucketHigh(b-1)) {
			t.Fatalf("%d µs in bucket %d [.., %d]", v, b, bucketHigh(b))
		}
	}
}

func TestSampleProcOfItself(t *testing.T) {
	s, err := sampleProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSSKiB == 0 || s.HWMKiB < s.RSSKiB || s.CPU < 0 {
		t.Fatalf("%+v", s)
	}
}

func TestFramesCarrySequenceAndSendTime(t *testing.T) {
	for _, br := range []int64{8000, 250000, 1000000} {
		av := newAVStream(br)
		for seq := uint32(0); seq < 3; seq++ {
			m := av.audioFrame(seq, time.Duration(seq)*time.Second)
			video, s, sent, ok := parseFrame(m)
			if !ok || video || s != seq || sent != time.Duration(seq)*time.Second {
				t.Fatalf("audio %d at %d bit/s: %v %v %v %v", seq, br, video, s, sent, ok)
			}
			m = av.videoFrame(seq, 7)
			video, s, sent, ok = parseFrame(m)
			if !ok || !video || s != seq || sent != 7 {
				t.Fatalf("video %d at %d bit/s: %v %v %v %v", seq, br, video, s, sent, ok)
			}
		}
		for _, h := range av.headers() {
			if _, _, _, ok := parseFrame(h); ok {
				t.Fatalf("header %x taken for a frame", h.Data)
			}
		}
	}
}

func TestParseBind(t *testing.T) {
	got, err := parseBind("127.0.0.1-127.0.0.3, [::1]:0")
	if err != nil || strings.Join(got, " ") != "127.0.0.1:0 127.0.0.2:0 127.0.0.3:0 [::1]:0" {
		t.Fatalf("%v %v", got, err)
	}
	for _, in := range []string{"127.0.0.3-127.0.0.1", "nowhere", "::1-::2"} {
		if _, err := parseBind(in); err == nil {
			t.Errorf("parseBind(%q) accepted", in)
		}
	}
}

func TestSharedSocketNoteOnTimeouts(t *testing.T) {
	for _, c := range []struct {
		sockets  int
		failures map[string]uint64
		want     bool
	}{
		{1, map[string]uint64{"connect_handshake_timeout": 3}, true},
		{1, map[string]uint64{"connect_timeout": 1, "connect_refused": 2}, true},
		{10, map[string]uint64{"connect_handshake_timeout": 3}, false}, // a socket per session
		{1, map[string]uint64{"connect_refused": 2}, false},            // not a timeout
		{1, map[string]uint64{}, false},
	} {
		r := newResult()
		r.Failures = c.failures
		r.fill(&config{Scenario: "connect", N: 10, Sockets: c.sockets})
		if got := slices.Contains(r.Notes, sharedSocketNote); got != c.want {
			t.Errorf("sockets %d, failures %v: note %v, want %v", c.sockets, c.failures, got, c.want)
		}
	}
}

// TestHelperServerProcess is not a test: run as a child of a side-by-side test (its
// environment says so), it is a server on the address ACTORRTMFP_BENCH_HELPER_LISTEN
// until SIGTERM.
func TestHelperServerProcess(t *testing.T) {
	listen := os.Getenv("ACTORRTMFP_BENCH_HELPER_LISTEN")
	if listen == "" {
		return
	}
	sys := actors.NewActorSystem(zap.NewNop())
	cfg := server.Defaults()
	cfg.Listen = []string{listen}
	cfg.RTMP, cfg.Media = server.Off, server.Off
	// Lossless media: the smoke runs check that the tool counts delivery right (every frame
	// of the window, within -drain), not the live policy, which gives media up for its age
	// on a starved machine (issue 26: a delivery ratio of 0.73 at load 25).
	srv, err := server.Start(sys.Root, cfg, server.Options{LosslessMedia: true,
		Apps: app.Static{Apps: map[string]app.Application{"live": echoApp{}}, Fallback: app.Default{}}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Stop(ctx)
	os.Exit(0)
}

// TestSideBySide: two servers started from their command lines in turn, rounds in rotated
// order, a summary with each server's figures per round and the ratios to the baseline;
// a server that cannot start is an error of its rounds, not of the others.
func TestSideBySide(t *testing.T) {
	helper := "ACTORRTMFP_BENCH_HELPER_LISTEN=127.0.0.1:{port} " + os.Args[0] + " -test.run=^TestHelperServerProcess$"
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	args := []string{"-scenario", "connect", "-n", "5", "-rate", "50", "-runs", "2", "-pause", "0",
		"-url", "rtmfp://127.0.0.1:{port}/live", "-server", "a=" + helper, "-server", "b=" + helper,
		"-server", "broken=/nonexistent/server -B {port}", "-baseline", "b", "-json", "-quiet", "-timeout", "10s"}
	if code := run(ctx, args, nil, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1 (one server could not start): %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 { // 2 rounds × 2 servers that ran, then the summary
		t.Fatalf("%d lines:\n%s\n%s", len(lines), out.String(), errb.String())
	}
	var c CompareResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &c); err != nil {
		t.Fatal(err)
	}
	wantRounds := [][]string{{"a", "b", "broken"}, {"b", "broken", "a"}}
	if !c.Compare || c.Scenario != "connect" || !slices.EqualFunc(c.Rounds, wantRounds, slices.Equal) {
		t.Fatalf("summary %+v", c)
	}
	pids := map[int]bool{}
	for _, l := range lines[:4] {
		var r Result
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		if r.Server == nil || r.Server.PID == os.Getpid() || r.Counts["connected"] != 5 || len(r.Failures) > 0 {
			t.Fatalf("run %+v (server %+v)", r, r.Server)
		}
		pids[r.Server.PID] = true
	}
	if len(pids) != 4 {
		t.Errorf("%d server processes for 4 runs", len(pids))
	}
	byName := map[string]*ServerSummary{}
	for _, s := range c.Servers {
		byName[s.Name] = s
	}
	a, b, broken := byName["a"], byName["b"], byName["broken"]
	if a == nil || b == nil || broken == nil || len(broken.Errors) != 2 || len(a.Errors)+len(b.Errors) > 0 {
		t.Fatalf("servers %+v", c.Servers)
	}
	for _, s := range []*ServerSummary{a, b} {
		cpu, done := s.Figures[figCPUPerOp], s.Figures[figCompletion]
		if s.Op != "handshake" || cpu == nil || len(cpu.Values) != 2 || cpu.Min > cpu.Median || cpu.Median > cpu.Max ||
			done == nil || done.Min != 1 || s.Figures[figRSS] == nil || s.Figures[figRSS].Min <= 0 {
			t.Errorf("%s: op %q figures %+v", s.Name, s.Op, s.Figures)
		}
	}
	if r := a.Ratios[figRSS]; r == nil || len(r.Values) != 2 || r.Min <= 0 || b.Ratios != nil || broken.Ratios != nil {
		t.Errorf("ratios a %+v b %+v broken %+v", a.Ratios, b.Ratios, broken.Ratios)
	}
}

func TestSpreadMedian(t *testing.T) {
	for _, tc := range []struct {
		in            []float64
		med, min, max float64
	}{{[]float64{3, 1, 2}, 2, 1, 3}, {[]float64{4, 1, 2, 3}, 2.5, 1, 4}, {[]float64{7}, 7, 7, 7}} {
		s := newSpread(tc.in)
		if s.Median != tc.med || s.Min != tc.min || s.Max != tc.max || !slices.Equal(s.Values, tc.in) {
			t.Errorf("%v: %+v", tc.in, s)
		}
	}
}
