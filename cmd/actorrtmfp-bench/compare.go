package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// A side-by-side run (-server, given twice or more) starts each server binary in turn
// from its command line, runs the scenario against it with -server-pid set to it, stops
// it, and goes on to the next; -runs rounds, the order of the servers rotated by one each
// round so that each takes every place in turn and the machine's noise (a shared machine:
// other processes come and go) spreads over all of them. It then prints per server the
// median and the range over the rounds of the server's CPU per operation, completion,
// latency and RSS, and the ratios to -baseline, each taken within a round (the servers of
// one round ran minutes apart at most) before their median and range.

// serverSpec is one -server flag: name=command line.
type serverSpec struct {
	Name string
	Env  []string // leading NAME=value words of the command line
	Args []string
}

// portPlaceholder is replaced, in the command line and the -url, by a UDP port the tool
// found free just before it starts the server.
const portPlaceholder = "{port}"

// parseServerSpec reads "name=[VAR=value ...] program [args ...]"; words are separated by
// white space (no quoting).
func parseServerSpec(s string) (serverSpec, error) {
	name, cmd, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		return serverSpec{}, errors.New(`want name=command line, e.g. "ours=env ACTORRTMFP_LISTEN=127.0.0.1:{port} ./actorrtmfp"`)
	}
	spec := serverSpec{Name: name}
	words := strings.Fields(cmd)
	if len(words) > 0 && words[0] == "env" {
		words = words[1:]
	}
	for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "=") {
		spec.Env = append(spec.Env, words[0])
		words = words[1:]
	}
	if len(words) == 0 {
		return serverSpec{}, fmt.Errorf("server %q: no program", name)
	}
	spec.Args = words
	return spec, nil
}

// CompareResult is what a side-by-side run prints as its last JSON line.
type CompareResult struct {
	Compare  bool              `json:"compare"`
	Scenario string            `json:"scenario"`
	Dialect  string            `json:"dialect"`
	Params   map[string]any    `json:"params"`
	Baseline string            `json:"baseline,omitempty"`
	Servers  []*ServerSummary  `json:"servers"`
	Rounds   [][]string        `json:"rounds"` // the order of the servers in each round
	Notes    []string          `json:"notes,omitempty"`
	Load     map[string]string `json:"load"` // /proc/loadavg at the start and the end
}

// ServerSummary is one server's figures over the rounds: per figure, its value in each
// round (in round order) and their median.
type ServerSummary struct {
	Name    string               `json:"name"`
	Command string               `json:"command"`
	Op      string               `json:"op"`
	Figures map[string]*Spread   `json:"figures"`
	Ratios  map[string]*Spread   `json:"ratios_to_baseline,omitempty"`
	Errors  []string             `json:"errors,omitempty"`
	byRound map[int]comparedFigs // round → the figures of its run
}

// Spread is a figure over the rounds: each round's value, median, min, max.
type Spread struct {
	Values []float64 `json:"values"`
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
}

func newSpread(v []float64) *Spread {
	s := &Spread{Values: v}
	if len(v) == 0 {
		return s
	}
	sorted := slices.Clone(v)
	slices.Sort(sorted)
	s.Min, s.Max = sorted[0], sorted[len(sorted)-1]
	if n := len(sorted); n%2 == 1 {
		s.Median = sorted[n/2]
	} else {
		s.Median = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	s.Median = round4(s.Median)
	return s
}

// comparedFigs are the figures a side-by-side run compares, from one run's result.
type comparedFigs map[string]float64

// compared figure names, in the order of the table.
const (
	figCPUPerOp   = "cpu_ms_per_op"
	figCompletion = "completion"
	figP50        = "p50_ms"
	figP99        = "p99_ms"
	figRSS        = "rss_mib"
	figCores      = "cpu_cores"
	figFailures   = "failures"
)

var comparedOrder = []string{figCPUPerOp, figCompletion, figP50, figP99, figRSS, figCores, figFailures}

// ratioOrder are the figures divided by the baseline's, in the order of the table.
var ratioOrder = []string{figCPUPerOp, figP50, figP99, figRSS}

// compareFigures takes from r what a side-by-side run compares: the server's CPU per
// operation (completed connect or handshake, call, delivered media message), the share of
// operations completed (fanout: frames delivered), the latency that matters for the
// scenario (fanout: at the subscriber's socket), the server's RSS at the end of the measured
// phase and the cores it used.
func compareFigures(r *Result) comparedFigs {
	f := comparedFigs{figFailures: float64(r.failureTotal())}
	if s := r.Server; s != nil {
		f[figCPUPerOp] = s.CPUPerOpMS
		f[figRSS] = round3(mib(s.RSSEndKiB))
		f[figCores] = s.CPUCores
	}
	lat := r.Latency
	switch r.Scenario {
	case "fanout":
		f[figCompletion] = r.Ratios["delivery"]
		if l := r.Latencies["at the socket"]; l != nil && l.N > 0 {
			lat = l
		}
	case "connect", "handshake":
		if a := r.Counts["attempted"]; a > 0 {
			f[figCompletion] = round6(float64(r.Counts["connected"]) / float64(a))
		}
	}
	if lat != nil {
		f[figP50], f[figP99] = lat.P50, lat.P99
	}
	return f
}

// runCompare is run for a side-by-side run; it returns the exit code.
func runCompare(ctx context.Context, cfg *config, log *zap.Logger, stdout, stderr io.Writer) int {
	sums := make([]*ServerSummary, len(cfg.Servers))
	for i, s := range cfg.Servers {
		sums[i] = &ServerSummary{Name: s.Name, Command: strings.Join(append(slices.Clone(s.Env), s.Args...), " "), byRound: map[int]comparedFigs{}}
	}
	out := &CompareResult{Compare: true, Scenario: cfg.Scenario, Dialect: cfg.Dialect.String(), Params: map[string]any{},
		Baseline: cfg.Baseline, Servers: sums, Load: map[string]string{"start": loadAvg()}}
	code := 0
	for round := 0; round < cfg.Runs && ctx.Err() == nil; round++ {
		var order []string
		for k := range cfg.Servers {
			i := (k + round) % len(cfg.Servers)
			spec, sum := cfg.Servers[i], sums[i]
			order = append(order, spec.Name)
			if !cfg.Quiet {
				fmt.Fprintf(stderr, "== round %d/%d: %s (load %s)\n", round+1, cfg.Runs, spec.Name, loadAvg())
			}
			res, err := runAgainst(ctx, cfg, spec, log, stderr)
			if err != nil {
				sum.Errors = append(sum.Errors, fmt.Sprintf("round %d: %v", round+1, err))
				fmt.Fprintf(stderr, "actorrtmfp-bench: %s, round %d: %v\n", spec.Name, round+1, err)
				code = 1
				if res == nil {
					continue
				}
			}
			if res.Server != nil && sum.Op == "" {
				sum.Op = res.Server.Op
			}
			res.Notes = append(res.Notes, fmt.Sprintf("side by side: server %s, round %d", spec.Name, round+1))
			sum.byRound[round] = compareFigures(res)
			if out.Params["n"] == nil {
				out.Params = res.Params
			}
			if err := printResult(cfg, res, stdout); err != nil {
				fmt.Fprintf(stderr, "actorrtmfp-bench: %v\n", err)
				code = 1
			}
			if cfg.Pause > 0 {
				select {
				case <-time.After(cfg.Pause):
				case <-ctx.Done():
				}
			}
		}
		out.Rounds = append(out.Rounds, order)
	}
	out.Load["end"] = loadAvg()
	out.summarize(cfg.Runs)
	if !cfg.JSON {
		out.writeTable(stdout)
	}
	line, err := json.Marshal(out)
	if err != nil {
		fmt.Fprintf(stderr, "actorrtmfp-bench: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", line)
	return code
}

// summarize fills each server's spreads, and the ratios to the baseline taken round by
// round (only rounds where both ran).
func (c *CompareResult) summarize(rounds int) {
	var base *ServerSummary
	for _, s := range c.Servers {
		if s.Name == c.Baseline {
			base = s
		}
	}
	if c.Baseline != "" && base == nil {
		c.Notes = append(c.Notes, "no server is named "+c.Baseline+": no ratios")
	}
	for _, s := range c.Servers {
		s.Figures = map[string]*Spread{}
		for _, name := range comparedOrder {
			var v []float64
			for r := 0; r < rounds; r++ {
				if x, ok := s.byRound[r][name]; ok {
					v = append(v, x)
				}
			}
			if len(v) > 0 {
				s.Figures[name] = newSpread(v)
			}
		}
		if base == nil || s == base {
			continue
		}
		s.Ratios = map[string]*Spread{}
		for _, name := range ratioOrder {
			var v []float64
			for r := 0; r < rounds; r++ {
				a, b := s.byRound[r], base.byRound[r]
				if a == nil || b == nil {
					continue
				}
				if x, y := a[name], b[name]; y > 0 {
					v = append(v, round3(x/y))
				}
			}
			if len(v) > 0 {
				s.Ratios[name] = newSpread(v)
			}
		}
	}
}

func (c *CompareResult) writeTable(w io.Writer) {
	fmt.Fprintf(w, "\nside by side: %s (%s), %d rounds, params %s\n", c.Scenario, c.Dialect, len(c.Rounds), kvString(c.Params))
	for i, o := range c.Rounds {
		fmt.Fprintf(w, "  round %d: %s\n", i+1, strings.Join(o, ", "))
	}
	fmt.Fprintf(w, "  load average at the start %s, at the end %s\n", c.Load["start"], c.Load["end"])
	fmt.Fprintf(w, "%-14s %-16s %s\n", "server", "figure", "median [min – max] (each round)")
	for _, s := range c.Servers {
		for _, name := range comparedOrder {
			sp := s.Figures[name]
			if sp == nil {
				continue
			}
			label := name
			if name == figCPUPerOp && s.Op != "" {
				label = "cpu_ms/" + s.Op
			}
			fmt.Fprintf(w, "%-14s %-16s %s\n", s.Name, label, sp.String())
		}
		for _, name := range ratioOrder {
			if sp := s.Ratios[name]; sp != nil {
				fmt.Fprintf(w, "%-14s %-16s %s\n", s.Name, name+" ÷ "+c.Baseline, sp.String())
			}
		}
		for _, e := range s.Errors {
			fmt.Fprintf(w, "%-14s error: %s\n", s.Name, e)
		}
	}
	for _, n := range c.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func (s *Spread) String() string {
	vals := make([]string, len(s.Values))
	for i, v := range s.Values {
		vals[i] = strconv.FormatFloat(v, 'g', 4, 64)
	}
	return fmt.Sprintf("%.4g [%.4g – %.4g] (%s)", s.Median, s.Min, s.Max, strings.Join(vals, " "))
}

// runAgainst starts the server of spec on a free port, runs the scenario against it and
// stops it. The result is nil when the scenario did not run.
func runAgainst(ctx context.Context, cfg *config, spec serverSpec, log *zap.Logger, stderr io.Writer) (*Result, error) {
	port, err := freeUDPPort()
	if err != nil {
		return nil, err
	}
	p := strconv.Itoa(port)
	sub := func(w string) string { return strings.ReplaceAll(w, portPlaceholder, p) }
	args := make([]string, len(spec.Args))
	for i, a := range spec.Args {
		args[i] = sub(a)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = os.Environ()
	for _, e := range spec.Env {
		cmd.Env = append(cmd.Env, sub(e))
	}
	var tail tailBuffer
	cmd.Stdout, cmd.Stderr = &tail, &tail
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", spec.Name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer stopServer(cmd, exited)
	if err := waitUDPBound(ctx, port, exited, 10*time.Second); err != nil {
		return nil, fmt.Errorf("%s: %w (its output ends: %q)", spec.Name, err, tail.String())
	}
	run := *cfg
	run.URL = sub(cfg.URL)
	if !strings.Contains(cfg.URL, portPlaceholder) {
		u, _ := url.Parse(cfg.URL)
		u.Host = net.JoinHostPort(u.Hostname(), p)
		run.URL = u.String()
	}
	run.RTMPURL = sub(cfg.RTMPURL)
	if run.RTMPURL == "" {
		run.RTMPURL = rtmpURLOf(run.URL)
	}
	run.ServerPID = cmd.Process.Pid
	run.ingest = cfg.Ingests[0]
	res, runErr := measure(ctx, &run, log, stderr)
	select {
	case err := <-exited:
		exited <- err
		if res != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("the server exited during the run: %v", err))
		}
		if runErr == nil {
			runErr = fmt.Errorf("the server exited during the run: %v (its output ends: %q)", err, tail.String())
		}
	default:
	}
	return res, runErr
}

// stopServer ends the server it started: SIGTERM, then SIGKILL after 10 s.
func stopServer(cmd *exec.Cmd, exited chan error) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// freeUDPPort returns a UDP port of 127.0.0.1 that was free a moment ago.
func freeUDPPort() (int, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// waitUDPBound waits until some socket of the machine is bound to UDP port (any address,
// /proc/net/udp and udp6), or the process exits, or the timeout.
func waitUDPBound(ctx context.Context, port int, exited chan error, timeout time.Duration) error {
	want := fmt.Sprintf(":%04X ", port)
	deadline := time.Now().Add(timeout)
	for {
		for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
			b, _ := os.ReadFile(f)
			for _, line := range bytes.Split(b, []byte("\n")) {
				// "  sl  local_address rem_address ...": the local address is the second field.
				fields := strings.Fields(string(line))
				if len(fields) > 1 && strings.HasSuffix(fields[1]+" ", want) {
					return nil
				}
			}
		}
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("exited at startup: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("did not bind UDP port %d in %s", port, timeout)
		}
	}
}

// loadAvg returns the first three fields of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// tailBuffer keeps the last 2 KiB written to it: what a server printed before it failed.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailKeep = 2048

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailKeep {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailKeep:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}
