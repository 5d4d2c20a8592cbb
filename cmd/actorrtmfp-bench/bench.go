package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/endpoint"
)

// bench is what every scenario shares: the configuration, the actor system of the
// clients, the shared client endpoints, the failure tally, the progress line and the
// server probe.
type bench struct {
	cfg    *config
	log    *zap.Logger
	sys    *actor.ActorSystem
	probe  *serverProbe
	others []*serverProbe // -other-pids
	epoch  time.Time      // the one clock of the process (send and receive times of media)
	// disp runs the client sessions and connections of the shared endpoints on a fixed
	// pool of goroutines, as the server runs its own: the tool shares the machine with the
	// server, and a goroutine per mailbox wake-up was an eighth of its CPU in fan-out.
	disp actors.PoolDispatcher

	eps   []*client.Endpoint
	extra []*client.Endpoint // other client endpoints whose counters count (the publisher's)

	fails failures
	prog  progress

	progStop chan struct{}
	progDone chan struct{}
	stderr   io.Writer
}

func newBench(cfg *config, log *zap.Logger, stderr io.Writer) *bench {
	b := &bench{cfg: cfg, log: log, sys: actors.NewActorSystem(log), probe: &serverProbe{pid: cfg.ServerPID}, disp: actors.NewPoolDispatcher(0, 300),
		others: make([]*serverProbe, len(cfg.OtherPIDs)),
		epoch:  time.Now(), stderr: stderr, progStop: make(chan struct{}), progDone: make(chan struct{})}
	for i, pid := range cfg.OtherPIDs {
		b.others[i] = &serverProbe{pid: pid}
	}
	b.prog.phase.Store(new(string))
	if cfg.Quiet {
		close(b.progDone)
	} else {
		go b.progressLoop()
	}
	return b
}

// endpoints opens the shared client endpoints (cfg.Sockets of them) once.
func (b *bench) endpoints() ([]*client.Endpoint, error) {
	if b.eps != nil {
		return b.eps, nil
	}
	for i := range b.cfg.Sockets {
		e, err := client.NewEndpoint(b.sys, client.EndpointConfig{Listen: b.cfg.Bind[i%len(b.cfg.Bind)], Log: b.log, UDPBuffer: b.cfg.UDPBuffer, Dispatcher: b.disp, KernelTimestamps: true})
		if err != nil {
			b.closeEndpoints()
			return nil, fmt.Errorf("client socket: %w", err)
		}
		b.eps = append(b.eps, e)
	}
	return b.eps, nil
}

// closeEndpoints closes the shared endpoints (every session on them is sent a close).
func (b *bench) closeEndpoints() {
	var wg sync.WaitGroup
	for _, e := range b.eps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = e.Close(ctx)
		}()
	}
	wg.Wait()
	b.eps = nil
}

// keepalivePings counts the keepalive pings the shared endpoints' sessions sent.
func (b *bench) keepalivePings() uint64 {
	var n uint64
	for _, e := range b.eps {
		n += e.Endpoint().SessionStats.KeepalivePings.Load()
	}
	return n
}

// sample takes the server's, the tool's and the network figures at once.
func (b *bench) sample() probeSample {
	s := b.probe.sample()
	for _, o := range b.others {
		s.others = append(s.others, o.sample().procSample)
	}
	for _, e := range append(b.eps[:len(b.eps):len(b.eps)], b.extra...) {
		ep := e.Endpoint()
		s.net.clientIn += ep.Stats.DatagramsIn.Load()
		s.net.clientDropped += ep.Stats.DropOverload.Load() + ep.Stats.ReadErrors.Load()
		s.net.clientOut += ep.SessionStats.PacketsOut.Load()
		s.net.clientResent += ep.SessionStats.Retransmissions.Load()
	}
	return s
}

func (b *bench) close() {
	b.stopProgress()
	b.closeEndpoints()
	b.sys.Shutdown()
	b.disp.Close()
}

// options are the connection options of every session of the run.
func (b *bench) options() client.Options {
	return client.Options{Dialect: b.cfg.Dialect, HandshakeTimeout: b.cfg.Timeout}
}

// now is the time since the start of the run, on the process's monotonic clock.
func (b *bench) now() time.Duration { return time.Since(b.epoch) }

// since converts t (with a monotonic reading, as the client's receive times have) to the
// run's clock.
func (b *bench) since(t time.Time) time.Duration { return t.Sub(b.epoch) }

// measured fills what every scenario reports of its measured phase, from before to after:
// its wall time, its main latency, and the server's, the tool's and the network's figures.
// It returns the server's figures (nil without -server-pid).
func (b *bench) measured(res *Result, took time.Duration, lat *histogram, before, after probeSample, op string, ops uint64) *ServerFigures {
	res.ElapsedS = round3(took.Seconds())
	res.Latency = lat.summary()
	res.Server = b.probe.figures(before, after, op, ops)
	res.Others = b.otherFigures(before, after, op, ops)
	res.Tool = toolFigures(before, after)
	res.Net = netFigures(before, after)
	return res.Server
}

// otherFigures are the other nodes' figures over a phase.
func (b *bench) otherFigures(before, after probeSample, op string, ops uint64) []*ServerFigures {
	var out []*ServerFigures
	for i, o := range b.others {
		if i < len(before.others) && i < len(after.others) {
			out = append(out, o.figures(probeSample{procSample: before.others[i]}, probeSample{procSample: after.others[i]}, op, ops))
		}
	}
	return out
}

// connectAll opens n sessions on the shared endpoints, at rate per second (0: as fast
// as the concurrency allows), and returns them (nil where a connect failed) with the
// histogram of their connect latencies. Failures are tallied under prefix.
func (b *bench) connectAll(ctx context.Context, n int, rate float64, lat *histogram) ([]*client.Conn, time.Duration, error) {
	eps, err := b.endpoints()
	if err != nil {
		return nil, 0, err
	}
	conns := make([]*client.Conn, n)
	opts := b.options()
	start := time.Now()
	pace(ctx, n, rate, b.cfg.Concurrency, func(i int) {
		cctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
		defer cancel()
		t := time.Now()
		c, err := eps[i%len(eps)].Connect(cctx, b.cfg.URL, opts)
		if err != nil {
			b.fail("connect", err)
			return
		}
		lat.record(time.Since(t))
		conns[i] = c
		b.prog.ok.Add(1)
	})
	return conns, time.Since(start), nil
}

// pace calls fn(0) … fn(n-1), each on its own goroutine, starting them at rate per second
// (0: at once), with at most concurrency running; it returns when all have returned or ctx
// is done and the started ones have returned.
func pace(ctx context.Context, n int, rate float64, concurrency int, fn func(i int)) {
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := 0; i < n; {
		if ctx.Err() != nil {
			break
		}
		due := n
		if rate > 0 {
			due = min(n, int(time.Since(start).Seconds()*rate)+1)
		}
		for ; i < due; i++ {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				wg.Wait()
				return
			}
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				defer func() { <-sem }()
				fn(i)
			}(i)
		}
		if i < n && rate > 0 {
			next := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			timer.Reset(max(time.Until(next), 0))
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
	}
	wg.Wait()
}

// failures tallies failures by kind, with the first error of each kind as an example.
type failures struct {
	mu       sync.Mutex
	counts   map[string]uint64
	examples map[string]string
}

// fail counts a failure of the operation op (connect, call, play, …), of the kind err is.
func (b *bench) fail(op string, err error) { b.failAs(op+"_"+failureKind(err), err) }

// failAs counts a failure of the given kind, in the result and in the progress line.
func (b *bench) failAs(kind string, err error) {
	b.fails.add(kind, err)
	b.prog.fail.Add(1)
}

func (f *failures) add(kind string, err error) { f.addN(kind, 1, err) }

func (f *failures) addN(kind string, n uint64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.counts == nil {
		f.counts, f.examples = map[string]uint64{}, map[string]string{}
	}
	f.counts[kind] += n
	if _, ok := f.examples[kind]; !ok && err != nil {
		f.examples[kind] = err.Error()
	}
}

// into copies the tally into a result.
func (f *failures) into(r *Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, v := range f.counts {
		r.Failures[k] += v
	}
	if len(f.examples) > 0 {
		r.Examples = map[string]string{}
		for k, v := range f.examples {
			r.Examples[k] = v
		}
	}
}

// failureKind classifies an error.
func failureKind(err error) string {
	var ce *client.ConnectError
	var se *client.StreamError
	var call *client.CallError
	var ne net.Error
	switch {
	case errors.Is(err, endpoint.ErrDialTimeout):
		return "handshake_timeout"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &ce):
		return "refused"
	case errors.As(err, &se):
		return "refused"
	case errors.As(err, &call):
		return "error_reply"
	case errors.Is(err, client.ErrClosed):
		return "closed"
	case errors.As(err, &ne):
		return "network"
	}
	return "other"
}

// progress is the state the once-a-second line shows.
type progress struct {
	phase atomic.Pointer[string]
	ok    atomic.Uint64
	fail  atomic.Uint64
	extra atomic.Pointer[func() string]
}

// setPhase starts a phase of the scenario: the counters restart from zero.
func (b *bench) setPhase(name string, extra func() string) {
	b.prog.ok.Store(0)
	b.prog.fail.Store(0)
	b.prog.phase.Store(&name)
	if extra == nil {
		b.prog.extra.Store(nil)
	} else {
		b.prog.extra.Store(&extra)
	}
}

func (b *bench) progressLoop() {
	defer close(b.progDone)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastOK uint64
	lastPhase := ""
	for {
		select {
		case <-b.progStop:
			return
		case <-tick.C:
		}
		phase := *b.prog.phase.Load()
		ok, fail := b.prog.ok.Load(), b.prog.fail.Load()
		if phase != lastPhase {
			lastOK, lastPhase = 0, phase
		}
		rate := ok - min(lastOK, ok)
		lastOK = ok
		extra := ""
		if f := b.prog.extra.Load(); f != nil {
			extra = "  " + (*f)()
		}
		fmt.Fprintf(b.stderr, "[%6.1fs] %-8s %-12s ok %-8d %7d/s  failed %d%s\n",
			b.now().Seconds(), b.cfg.Scenario, phase, ok, rate, fail, extra)
	}
}

func (b *bench) stopProgress() {
	select {
	case <-b.progStop:
	default:
		close(b.progStop)
	}
	<-b.progDone
}

// closeConns closes sessions (Session Close Request each) and waits a little for them.
func closeConns(conns []*client.Conn, wait time.Duration) {
	for _, c := range conns {
		if c != nil {
			_ = c.Close()
		}
	}
	deadline := time.After(wait)
	for _, c := range conns {
		if c == nil {
			continue
		}
		select {
		case <-c.Done():
		case <-deadline:
			return
		}
	}
}

// alive counts the sessions that have not ended.
func alive(conns []*client.Conn) (n int) {
	for _, c := range conns {
		if c == nil {
			continue
		}
		select {
		case <-c.Done():
		default:
			n++
		}
	}
	return n
}

func nonNil(conns []*client.Conn) (out []*client.Conn) {
	for _, c := range conns {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}
