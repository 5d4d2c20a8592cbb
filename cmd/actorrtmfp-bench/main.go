// Command actorrtmfp-bench is a load generator for RTMFP servers — ours or any other, of
// either dialect. It opens sessions with the Go client of this module (package
// actors/client), many sessions per UDP socket by default (-sockets: a server that keeps
// one session per client address, as rtmfp-cpp's tcserver does, needs one socket per
// session), and measures what a scenario asks:
//
//	connect  -n sessions opened at -rate per second (handshake + NetConnection connect),
//	         optionally held for -hold (the sessions keep themselves alive with pings)
//	rpc      -n sessions, then -method calls at -rate per second for -duration
//	fanout   one publisher of a synthetic A/V stream at -bitrate, -n subscribers:
//	         delivery ratio, loss per kind, added latency publish → delivery, and
//	         publish → the subscriber's socket (the kernel's receive time); the publisher
//	         over RTMFP or RTMP (-ingest; "rtmp,rtmfp" runs both, one after the other, to
//	         compare them in one run), the subscribers over RTMFP or RTMP (-players)
//	p2p      -n publishers accepting peers, -n players introduced to them by the server
//	groups   -n clients joining one NetGroup at -rate: joins/s, time to first neighbour
//
// Against a cluster (docs/cluster.md), -play-urls spreads fan-out subscribers over the
// nodes, -peer-url connects the p2p publishers to another node than their players, and
// -other-pids samples the other nodes' processes too.
//
// It prints progress once per second on stderr, then a table on stdout and one JSON line
// (-json: the JSON line only). With -server-pid it samples the server process from
// outside (/proc: CPU seconds, VmRSS, VmHWM) at the start and end of the measured phase.
//
// Side by side (-server name=command line, twice or more) it starts each server binary in
// turn on a free port, runs the scenario against it, stops it, for -runs rounds in an order
// rotated each round, and prints each server's figures over the rounds and their ratios to
// -baseline (compare.go).
//
// Every flag may also be set by an environment variable: ACTORRTMFP_BENCH_ and the flag's
// name in capitals with '-' as '_' (ACTORRTMFP_BENCH_SERVER_PID=1234). Flags win.
//
// The tool runs its own collector at GOGC=400 unless GOGC is set (see toolGCPercent).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
)

const envPrefix = "ACTORRTMFP_BENCH_"

// toolGCPercent is the tool's own garbage-collection target unless GOGC says otherwise:
// its live heap is small (tens of MB with a thousand subscribers) and a collection every
// few hundred milliseconds put the collector's work into the latencies it measures.
const toolGCPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(toolGCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// config is the parsed command line.
type config struct {
	URL         string
	Scenario    string
	Dialect     client.Dialect
	N           int
	Rate        float64
	Sockets     int
	Hold        time.Duration
	Duration    time.Duration
	Bitrate     int64
	Method      string
	Arg         string
	Timeout     time.Duration
	Concurrency int
	ServerPID   int
	OtherPIDs   []int    // other cluster nodes, sampled as the server is
	PlayURLs    []string // fanout: the subscribers' servers, in turn (default URL)
	PeerURL     string   // p2p: the publishers' server (default URL)
	JSON        bool
	Quiet       bool
	Bind        []string // local addresses of the client sockets, used in turn
	UDPBuffer   int
	Drain       time.Duration
	Group       string
	LogLevel    string
	CPUProfile  string
	Ingests     []string // fanout: the publisher's protocols, one pass each
	Players     string   // fanout: the subscribers' protocol
	RTMPURL     string
	Servers     []serverSpec // side by side: the servers started in turn
	Runs        int
	Baseline    string
	Pause       time.Duration

	ingest string // the pass's publisher protocol
}

var scenarios = map[string]func(context.Context, *bench) (*Result, error){
	"connect":   runConnect,
	"handshake": runHandshake,
	"rpc":       runRPC,
	"fanout":    runFanout,
	"p2p":       runP2P,
	"groups":    runGroups,
}

// run is main with its inputs and outputs explicit, for tests. It returns the exit code:
// 0 done (even with failed sessions: they are in the result), 1 the scenario could not
// run, 2 bad usage.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	cfg, code := parseFlags(args, environ, stdout, stderr)
	if code >= 0 {
		return code
	}
	log, err := newLogger(cfg.LogLevel, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "actorrtmfp-bench: %v\n", err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	if cfg.CPUProfile != "" {
		stopProfile, err := startCPUProfile(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintf(stderr, "actorrtmfp-bench: %v\n", err)
			return 1
		}
		defer stopProfile()
	}
	if len(cfg.Servers) > 0 {
		return runCompare(ctx, cfg, log, stdout, stderr)
	}
	passes := []string{""}
	if cfg.Scenario == "fanout" {
		passes = cfg.Ingests
	}
	code = 0
	for i, ingest := range passes {
		if i > 0 && !cfg.JSON {
			fmt.Fprintln(stdout)
		}
		cfg.ingest = ingest
		if c := runOnce(ctx, cfg, log, stdout, stderr); c > code {
			code = c
		}
	}
	return code
}

// runOnce runs the scenario once and prints its result; it returns the exit code.
func runOnce(ctx context.Context, cfg *config, log *zap.Logger, stdout, stderr io.Writer) int {
	res, runErr := measure(ctx, cfg, log, stderr)
	if res == nil {
		return 1
	}
	if err := printResult(cfg, res, stdout); err != nil {
		fmt.Fprintf(stderr, "actorrtmfp-bench: %v\n", err)
		return 1
	}
	if runErr != nil {
		return 1
	}
	return 0
}

// printResult prints a run's table (unless -json) and its JSON line.
func printResult(cfg *config, res *Result, stdout io.Writer) error {
	if !cfg.JSON {
		res.writeTable(stdout)
	}
	line, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", line)
	return nil
}

// measure runs the scenario once. The result is nil when the scenario could not run; the
// error, already printed on stderr, says why it did not finish.
func measure(ctx context.Context, cfg *config, log *zap.Logger, stderr io.Writer) (*Result, error) {
	b := newBench(cfg, log, stderr)
	defer b.close()
	res, runErr := scenarios[cfg.Scenario](ctx, b)
	b.stopProgress()
	if runErr != nil {
		fmt.Fprintf(stderr, "actorrtmfp-bench: %s: %v\n", cfg.Scenario, runErr)
		if res == nil {
			return nil, runErr
		}
		// What the scenario got to (its failures above all) still explains the error.
	}
	b.fails.into(res)
	res.Started = b.epoch.UTC()
	res.fill(cfg)
	return res, runErr
}

// parseFlags returns the configuration and -1, or an exit code.
func parseFlags(args, environ []string, stdout, stderr io.Writer) (*config, int) {
	cfg := &config{}
	fs := flag.NewFlagSet("actorrtmfp-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var dialect, bitrate string
	fs.StringVar(&cfg.URL, "url", "rtmfp://127.0.0.1:1935/live", "server URL, rtmfp://host:port/app")
	fs.StringVar(&cfg.Scenario, "scenario", "connect", "connect, handshake, rpc, fanout, p2p or groups")
	fs.StringVar(&dialect, "dialect", "flash", "flash (DH group 2, Flash Player style) or rfc7425 (groups 14+2, HMAC and sequence numbers)")
	fs.IntVar(&cfg.N, "n", 100, "sessions (connect, handshake, rpc), subscribers (fanout), publishers and as many players (p2p), members (groups)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "connects/s (connect), calls/s (rpc), introductions/s (p2p), joins/s (groups), subscriber starts/s (fanout); 0: as fast as -concurrency allows (rpc: every session keeps one call outstanding)")
	fs.IntVar(&cfg.Sockets, "sockets", 0, "client UDP sockets the sessions share (0: one per 1,000 sessions, fanout one per 100 subscribers; servers that keep one session per client address, as rtmfp-cpp does, need one per session)")
	fs.DurationVar(&cfg.Hold, "hold", 0, "connect: keep the sessions open this long once all are open")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured phase of rpc and fanout")
	fs.StringVar(&bitrate, "bitrate", "250k", "fanout stream bitrate, bits/s (suffixes k, M)")
	fs.StringVar(&cfg.Method, "method", "echo", "rpc: the method called")
	fs.StringVar(&cfg.Arg, "arg", "hello", "rpc: the string argument of each call")
	fs.DurationVar(&cfg.Timeout, "timeout", 15*time.Second, "bound of one handshake + connect, call, play, join")
	fs.IntVar(&cfg.Concurrency, "concurrency", 500, "operations (connects, calls, …) in flight at most")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "PID of the server process, to sample its CPU and memory from /proc (same machine)")
	var others, playURLs string
	fs.StringVar(&others, "other-pids", "", "PIDs of the other nodes of a cluster, comma-separated, sampled as -server-pid is")
	fs.StringVar(&playURLs, "play-urls", "", "fanout: the URLs the subscribers connect to, comma-separated, in turn (default -url: the publisher's)")
	fs.StringVar(&cfg.PeerURL, "peer-url", "", "p2p: the URL the publishers connect to (default -url: the players'); another node of a cluster measures introductions across nodes")
	fs.BoolVar(&cfg.JSON, "json", false, "print only the JSON line on stdout")
	fs.BoolVar(&cfg.Quiet, "quiet", false, "no progress on stderr")
	var bind string
	fs.StringVar(&bind, "bind", ":0", "local address of the client sockets; a comma-separated list, or an IPv4 range such as 127.0.0.1-127.0.0.40, spreads them over addresses (servers limit some requests per source IP, e.g. our introductions to 20/s)")
	fs.IntVar(&cfg.UDPBuffer, "udp-buffer", 4<<20, "client socket send and receive buffers, bytes (capped by net.core.rmem_max/wmem_max)")
	fs.DurationVar(&cfg.Drain, "drain", 3*time.Second, "fanout: how long to wait at most for the last frames after the publisher stops")
	fs.StringVar(&cfg.Group, "group", "", "groups: group ID seed (default: random, a fresh group each run)")
	fs.StringVar(&cfg.LogLevel, "log-level", "error", "client library log level: debug, info, warn, error")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the tool itself (the whole run) to this file")
	var ingest string
	fs.StringVar(&ingest, "ingest", "rtmfp", "fanout: the publisher's protocol, rtmfp or rtmp; a list (rtmp,rtmfp) runs the fanout once per protocol, in order, to compare them in one run")
	fs.StringVar(&cfg.Players, "players", "rtmfp", "fanout: the subscribers' protocol, rtmfp or rtmp")
	fs.StringVar(&cfg.RTMPURL, "rtmp-url", "", "RTMP URL of the server, rtmp://host:port/app (default: -url's host and port, over TCP)")
	fs.Func("server", "side by side: name=command line of a server binary to start in turn (repeat the flag; at least two); "+
		"leading NAME=value words are its environment, "+portPlaceholder+" in it and in -url becomes a free UDP port, e.g. "+
		"'ours=ACTORRTMFP_LISTEN=127.0.0.1:{port} ./actorrtmfp' 'tcserver=./tcserver -B 127.0.0.1:{port}'", func(v string) error {
		spec, err := parseServerSpec(v)
		if err != nil {
			return err
		}
		cfg.Servers = append(cfg.Servers, spec)
		return nil
	})
	fs.IntVar(&cfg.Runs, "runs", 3, "side by side: rounds (each server once per round, the order rotated each round)")
	fs.StringVar(&cfg.Baseline, "baseline", "tcserver", "side by side: the server the others are divided by (ratios per round)")
	fs.DurationVar(&cfg.Pause, "pause", 2*time.Second, "side by side: idle time after each run, so that one server's leftovers (closing sessions, the kernel's buffers) stay out of the next one's figures")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: actorrtmfp-bench -url rtmfp://host:port/app -scenario connect|rpc|fanout|p2p|groups [flags]\n\n")
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\nEvery flag may be given as an environment variable %sNAME (e.g. %sSERVER_PID).\n", envPrefix, envPrefix)
	}
	// Environment first, so flags win.
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, envPrefix) {
			continue
		}
		name := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(k, envPrefix)), "_", "-")
		if fs.Lookup(name) == nil {
			fmt.Fprintf(stderr, "actorrtmfp-bench: %s: no such flag -%s\n", k, name)
			return nil, 2
		}
		if err := fs.Set(name, v); err != nil {
			fmt.Fprintf(stderr, "actorrtmfp-bench: %s: %v\n", k, err)
			return nil, 2
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return nil, 0
		}
		return nil, 2
	}
	bad := func(format string, a ...any) (*config, int) {
		fmt.Fprintf(stderr, "actorrtmfp-bench: "+format+"\n", a...)
		return nil, 2
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q", fs.Arg(0))
	}
	if _, ok := scenarios[cfg.Scenario]; !ok {
		return bad("unknown scenario %q (connect, handshake, rpc, fanout, p2p or groups)", cfg.Scenario)
	}
	switch strings.ToLower(dialect) {
	case "flash":
		cfg.Dialect = client.Flash
	case "rfc7425", "rfc":
		cfg.Dialect = client.RFC7425
	default:
		return bad("unknown dialect %q (flash or rfc7425)", dialect)
	}
	if !isRTMFPURL(strings.ReplaceAll(cfg.URL, portPlaceholder, "1")) {
		return bad("bad -url %q: want rtmfp://host:port/app", cfg.URL)
	}
	for _, p := range strings.Split(ingest, ",") {
		switch p = strings.TrimSpace(p); p {
		case "rtmfp", "rtmp":
			cfg.Ingests = append(cfg.Ingests, p)
		default:
			return bad("unknown -ingest %q (rtmfp, rtmp, or a list of them)", p)
		}
	}
	if cfg.Players != "rtmfp" && cfg.Players != "rtmp" {
		return bad("unknown -players %q (rtmfp or rtmp)", cfg.Players)
	}
	if cfg.RTMPURL == "" {
		// A side-by-side run derives it from each run's -url (runAgainst).
		if !strings.Contains(cfg.URL, portPlaceholder) {
			cfg.RTMPURL = rtmpURLOf(cfg.URL)
		}
	} else if u, err := url.Parse(cfg.RTMPURL); err != nil || (u.Scheme != "rtmp" && u.Scheme != "rtmps") || u.Host == "" {
		return bad("bad -rtmp-url %q: want rtmp://host:port/app", cfg.RTMPURL)
	}
	if playURLs != "" {
		cfg.PlayURLs = strings.Split(playURLs, ",")
	}
	for _, s := range cfg.PlayURLs {
		if !isRTMFPURL(s) {
			return bad("bad URL %q: want rtmfp://host:port/app", s)
		}
	}
	if cfg.PeerURL == "" {
		cfg.PeerURL = cfg.URL
	} else if !isRTMFPURL(cfg.PeerURL) {
		return bad("bad URL %q: want rtmfp://host:port/app", cfg.PeerURL)
	}
	if len(cfg.PlayURLs) == 0 {
		cfg.PlayURLs = []string{cfg.URL}
	}
	if others != "" {
		for _, f := range strings.Split(others, ",") {
			pid, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || pid <= 0 {
				return bad("bad -other-pids %q", others)
			}
			cfg.OtherPIDs = append(cfg.OtherPIDs, pid)
		}
	}
	var err error
	if cfg.Bind, err = parseBind(bind); err != nil {
		return bad("bad -bind %q: %v", bind, err)
	}
	br, err := parseBitrate(bitrate)
	if err != nil {
		return bad("bad -bitrate %q: %v", bitrate, err)
	}
	cfg.Bitrate = br
	switch {
	case cfg.N < 1:
		return bad("-n must be at least 1")
	case cfg.Scenario == "groups" && cfg.N < 2:
		return bad("groups needs -n 2 or more (the first member has no neighbour)")
	case cfg.Rate < 0:
		return bad("-rate must not be negative")
	case cfg.Concurrency < 1:
		return bad("-concurrency must be at least 1")
	case cfg.Sockets < 0:
		return bad("-sockets must not be negative")
	case cfg.Timeout <= 0:
		return bad("-timeout must be positive")
	case (cfg.Scenario == "rpc" || cfg.Scenario == "fanout") && cfg.Duration <= 0:
		return bad("-duration must be positive")
	}
	switch {
	case len(cfg.Servers) == 1:
		return bad("-server: give two or more servers to compare (or -server-pid for one that runs already)")
	case len(cfg.Servers) > 0 && cfg.ServerPID != 0:
		return bad("-server and -server-pid: the tool samples the servers it starts")
	case len(cfg.Servers) > 0 && cfg.Runs < 1:
		return bad("-runs must be at least 1")
	case len(cfg.Servers) > 0 && len(cfg.Ingests) > 1:
		return bad("-server: one -ingest at a time")
	}
	for i, s := range cfg.Servers {
		for _, o := range cfg.Servers[:i] {
			if o.Name == s.Name {
				return bad("-server: two servers named %q", s.Name)
			}
		}
	}
	if cfg.Sockets == 0 {
		per := 1000
		if cfg.Scenario == "fanout" {
			per = 100
		}
		cfg.Sockets = max((cfg.N+per-1)/per, min(len(cfg.Bind), cfg.N))
	}
	return cfg, -1
}

// isRTMFPURL reports whether s is an rtmfp://host[:port]/… URL.
func isRTMFPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "rtmfp" && u.Host != ""
}

// rtmpURLOf returns the RTMP URL of the same host, port and path as rawURL.
func rtmpURLOf(rawURL string) string {
	u, _ := url.Parse(rawURL)
	return "rtmp://" + u.Host + u.Path
}

// parseBind reads a comma-separated list of host:port and IPv4 ranges (a.b.c.d-a.b.c.e,
// port 0).
func parseBind(s string) ([]string, error) {
	var out []string
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if lo, hi, ok := strings.Cut(item, "-"); ok {
			a, err1 := netip.ParseAddr(lo)
			b, err2 := netip.ParseAddr(hi)
			if err1 != nil || err2 != nil || !a.Is4() || !b.Is4() || b.Less(a) {
				return nil, errors.New("want an IPv4 range such as 127.0.0.1-127.0.0.40")
			}
			for ; !b.Less(a) && len(out) < 1024; a = a.Next() {
				out = append(out, netip.AddrPortFrom(a, 0).String())
			}
			continue
		}
		if _, _, err := net.SplitHostPort(item); err != nil {
			return nil, errors.New("want host:port, e.g. :0 or 127.0.0.1:0")
		}
		out = append(out, item)
	}
	return out, nil
}

// parseBitrate reads "250k", "1M", "1.5m", "800000".
func parseBitrate(s string) (int64, error) {
	mult := 1.0
	t := strings.TrimSpace(s)
	switch {
	case strings.HasSuffix(t, "k"), strings.HasSuffix(t, "K"):
		mult, t = 1e3, t[:len(t)-1]
	case strings.HasSuffix(t, "M"), strings.HasSuffix(t, "m"):
		mult, t = 1e6, t[:len(t)-1]
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 || math.IsInf(v, 0) {
		return 0, errors.New("want a positive number of bits/s, e.g. 250k or 1M")
	}
	br := int64(v * mult)
	if br < 8000 || br > 1e9 {
		return 0, errors.New("want 8k to 1000M")
	}
	return br, nil
}

func newLogger(level string, out io.Writer) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.Set(level); err != nil {
		return nil, err
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
	return zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(encCfg), zapcore.AddSync(out), lvl)), nil
}

// Result is what a run measured. Maps are printed with sorted keys.
type Result struct {
	Scenario string         `json:"scenario"`
	URL      string         `json:"url"`
	Dialect  string         `json:"dialect"`
	Params   map[string]any `json:"params"`
	Started  time.Time      `json:"started"`
	// ElapsedS is the wall time of the measured phase.
	ElapsedS float64            `json:"elapsed_s"`
	Counts   map[string]uint64  `json:"counts"`
	Failures map[string]uint64  `json:"failures"`
	Examples map[string]string  `json:"failure_examples,omitempty"`
	Rates    map[string]float64 `json:"rates"`
	Ratios   map[string]float64 `json:"ratios,omitempty"`
	// Latency is the scenario's main latency (see LatencyOf); Latencies are the others.
	LatencyOf string              `json:"latency_of"`
	Latency   *Latency            `json:"latency_ms"`
	Latencies map[string]*Latency `json:"latencies_ms,omitempty"`
	Server    *ServerFigures      `json:"server,omitempty"`
	// Others are the other nodes of a cluster (-other-pids), with the same figures.
	Others []*ServerFigures `json:"others,omitempty"`
	Tool   *ToolFigures     `json:"tool,omitempty"`
	// Net counts datagrams over the measured phase: the tool's client sockets (received,
	// dropped by the tool, sent, fragments its sessions declared lost) and the host's UDP
	// buffer overflows (host_*: system-wide, every process's sockets).
	Net   map[string]uint64 `json:"net,omitempty"`
	Notes []string          `json:"notes,omitempty"`
}

func newResult() *Result {
	return &Result{Params: map[string]any{}, Counts: map[string]uint64{}, Failures: map[string]uint64{},
		Rates: map[string]float64{}, Latencies: map[string]*Latency{}}
}

func (r *Result) fill(cfg *config) {
	r.Scenario, r.URL, r.Dialect = cfg.Scenario, cfg.URL, cfg.Dialect.String()
	r.Params["n"] = cfg.N
	r.Params["rate"] = cfg.Rate
	r.Params["sockets"] = cfg.Sockets
	r.Params["concurrency"] = cfg.Concurrency
	r.Params["timeout"] = cfg.Timeout.String()
	if len(cfg.Bind) > 1 {
		r.Params["bind_addresses"] = len(cfg.Bind)
	}
	if r.Latency == nil {
		r.Latency = &Latency{}
	}
	if cfg.Sockets < cfg.N && r.timeouts() > 0 {
		r.Notes = append(r.Notes, sharedSocketNote)
	}
}

// sharedSocketNote explains timeouts with shared client sockets. Some responders keep one
// session per far address: rtmfp-cpp's tcserver ignores an IIKeying from an address that
// already has an open session, or aborts that session when the certificate is the same
// (session override, RFC 7425 §4.3.7). Our server accepts several sessions per address;
// such servers need a socket per session.
const sharedSocketNote = "sessions timed out while several shared a client socket: a server that keeps one session per client address (as rtmfp-cpp's tcserver does) ignores or replaces the others; run with -sockets equal to -n (plus one for fanout's publisher)"

// timeouts returns the failures that are timeouts of any operation.
func (r *Result) timeouts() uint64 {
	var n uint64
	for kind, c := range r.Failures {
		if strings.HasSuffix(kind, "_timeout") {
			n += c
		}
	}
	return n
}

// failures returns the total of the failure counts.
func (r *Result) failureTotal() uint64 {
	var n uint64
	for _, v := range r.Failures {
		n += v
	}
	return n
}

func (r *Result) writeTable(w io.Writer) {
	row := func(k, format string, a ...any) { fmt.Fprintf(w, "%-22s "+format+"\n", append([]any{k}, a...)...) }
	row("scenario", "%s (%s) against %s", r.Scenario, r.Dialect, r.URL)
	row("parameters", "%s", kvString(r.Params))
	row("measured phase", "%.3f s", r.ElapsedS)
	for _, k := range sortedKeys(r.Counts) {
		row("  "+k, "%d", r.Counts[k])
	}
	if len(r.Failures) == 0 {
		row("failures", "none")
	} else {
		row("failures", "%d", r.failureTotal())
		for _, k := range sortedKeys(r.Failures) {
			ex := ""
			if e := r.Examples[k]; e != "" {
				ex = "  (e.g. " + e + ")"
			}
			row("  "+k, "%d%s", r.Failures[k], ex)
		}
	}
	for _, k := range sortedKeys(r.Rates) {
		row("  "+k, "%.1f", r.Rates[k])
	}
	for _, k := range sortedKeys(r.Ratios) {
		row("  "+k, "%.6f", r.Ratios[k])
	}
	lat := func(name string, l *Latency) {
		row(name, "p50 %.3f  p95 %.3f  p99 %.3f  max %.3f  mean %.3f ms  (n=%d)", l.P50, l.P95, l.P99, l.Max, l.Mean, l.N)
	}
	lat("latency "+r.LatencyOf, r.Latency)
	for _, k := range sortedKeys(r.Latencies) {
		lat("latency "+k, r.Latencies[k])
	}
	if s := r.Server; s != nil {
		row("server pid", "%d", s.PID)
		row("  cpu", "%.2f s (%.2f cores)", s.CPUSeconds, s.CPUCores)
		if s.Op != "" && s.Ops > 0 {
			row("  cpu per "+s.Op, "%.4f ms (%d)", s.CPUPerOpMS, s.Ops)
		}
		row("  rss start → end", "%.1f → %.1f MiB (peak %.1f MiB)", mib(s.RSSStartKiB), mib(s.RSSEndKiB), mib(s.HWMEndKiB))
		if s.RSSOpenKiB > 0 {
			row("  rss all open", "%.1f MiB", mib(s.RSSOpenKiB))
			row("  rss per session", "%.0f B at open, %.0f B at the end", s.RSSPerSessionBytes, s.RSSPerSessionEndBytes)
			row("  cpu during the hold", "%.2f s", s.HoldCPUSeconds)
		}
		for _, e := range s.Errors {
			row("  sampling error", "%s", e)
		}
	}
	for _, s := range r.Others {
		row("other node pid", "%d", s.PID)
		row("  cpu", "%.2f s (%.2f cores)", s.CPUSeconds, s.CPUCores)
		if s.Op != "" && s.Ops > 0 {
			row("  cpu per "+s.Op, "%.4f ms (%d)", s.CPUPerOpMS, s.Ops)
		}
		row("  rss start → end", "%.1f → %.1f MiB (peak %.1f MiB)", mib(s.RSSStartKiB), mib(s.RSSEndKiB), mib(s.HWMEndKiB))
	}
	for _, k := range sortedKeys(r.Net) {
		row("  net "+k, "%d", r.Net[k])
	}
	if t := r.Tool; t != nil {
		row("tool (this process)", "cpu %.2f s (%.2f cores), rss %.1f MiB", t.CPUSeconds, t.CPUCores, mib(t.RSSEndKiB))
	}
	for _, n := range r.Notes {
		row("note", "%s", n)
	}
}

func mib(k uint64) float64 { return float64(k) / 1024 }

func kvString(m map[string]any) string {
	var b strings.Builder
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%v", k, m[k])
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
func round4(v float64) float64 { return math.Round(v*10000) / 10000 }
func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// perSecond divides n by the seconds of d (0 for an empty phase).
func perSecond(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return round3(float64(n) / d.Seconds())
}

// startCPUProfile profiles the tool's own process into path until the returned function
// is called: the tool shares the machine with the server, and where its CPU goes is part
// of reading any figure taken at saturation.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}
