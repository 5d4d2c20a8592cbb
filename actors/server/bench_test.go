package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/caarlos0/env/v11"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/endpoint"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

const helperServerEnv = "ACTORRTMFP_HELPER_SERVER"

// TestHelperServerProcess is the server of BenchmarkServerHandshake and of the memory
// tests, run in a child process so that its CPU time and memory can be measured apart
// from the clients'. It does nothing unless ACTORRTMFP_HELPER_SERVER=1. Then it serves
// every application path on 127.0.0.1 (the test application on "live") with the default
// configuration (and the ACTORRTMFP_ settings of its environment), prints "ADDR <host:port>", answers each "cpu" line on stdin with
// "CPU <user+system microseconds>" and each "mem" line with "MEM <memSample fields>", and
// stops when stdin closes.
func TestHelperServerProcess(t *testing.T) {
	if os.Getenv(helperServerEnv) != "1" {
		return
	}
	sys := actors.NewActorSystem(zap.NewNop())
	cfg := server.Defaults()
	// ACTORRTMFP_ settings in the environment apply, as they do to the command.
	if err := env.ParseWithOptions(&cfg, env.Options{Prefix: "ACTORRTMFP_"}); err != nil {
		fmt.Printf("ERR %v\n", err)
		os.Exit(1)
	}
	cfg.Listen = []string{"127.0.0.1:0"}
	cfg.RTMP, cfg.Media = server.Off, server.Off
	srv, err := server.Start(sys.Root, cfg, server.Options{Apps: app.Static{Apps: map[string]app.Application{"live": &testApp{}}, Fallback: app.Default{}}})
	if err != nil {
		fmt.Printf("ERR %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("ADDR %s\n", srv.Addrs()[0])
	peak := watchHeap()
	if path := os.Getenv("ACTORRTMFP_HELPER_CPUPROFILE"); path != "" {
		// Profile the server for diagnosis: go tool pprof <path>.
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "cpu":
			var ru syscall.Rusage
			if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
				fmt.Printf("ERR %v\n", err)
				continue
			}
			fmt.Printf("CPU %d\n", ru.Utime.Nano()/1e3+ru.Stime.Nano()/1e3)
		case "mem":
			fmt.Printf("MEM %s\n", sampleMem(srv, peak))
		}
	}
	pprof.StopCPUProfile()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Stop(ctx)
	sys.Shutdown()
	os.Exit(0)
}

// helperServer is a running TestHelperServerProcess.
type helperServer struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	addr netip.AddrPort
}

// startHelperServer starts TestHelperServerProcess with environ (ACTORRTMFP_ settings)
// added to this process's environment.
func startHelperServer(b testing.TB, environ ...string) *helperServer {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServerProcess$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), helperServerEnv+"=1"), environ...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	h := &helperServer{cmd: cmd, in: in, out: bufio.NewScanner(outPipe)}
	b.Cleanup(func() {
		in.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line := h.line(b, "ADDR ")
	if h.addr, err = netip.ParseAddrPort(line); err != nil {
		b.Fatalf("helper server address %q: %v", line, err)
	}
	return h
}

// line returns the rest of the next output line that starts with prefix.
func (h *helperServer) line(b testing.TB, prefix string) string {
	b.Helper()
	for h.out.Scan() {
		if s, ok := strings.CutPrefix(h.out.Text(), prefix); ok {
			return s
		}
		if s, ok := strings.CutPrefix(h.out.Text(), "ERR "); ok {
			b.Fatalf("helper server: %s", s)
		}
	}
	b.Fatalf("helper server ended before printing %q: %v", prefix, h.out.Err())
	return ""
}

// cpu returns the helper's CPU time so far (user + system).
func (h *helperServer) cpu(b *testing.B) time.Duration {
	b.Helper()
	if _, err := io.WriteString(h.in, "cpu\n"); err != nil {
		b.Fatal(err)
	}
	us, err := strconv.ParseInt(h.line(b, "CPU "), 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return time.Duration(us) * time.Microsecond
}

// BenchmarkServerHandshake measures the server's CPU per completed handshake and
// NetConnection connect, for each dialect. The server runs in a child process
// (TestHelperServerProcess); one iteration is a whole connection made from this process —
// handshake, connect, setPeerInfo — then closed. Reported: server-cpu-ms/handshake, the
// child's user+system CPU over the loop less its idle CPU over the same time (measured
// before the loop). The clients' own DH work is in this process and not counted; ns/op
// is the wall time of one sequential connection on loopback.
func BenchmarkServerHandshake(b *testing.B) {
	for _, d := range []client.Dialect{client.Flash, client.RFC7425} {
		b.Run(d.String(), func(b *testing.B) {
			// One address makes every connection: its IHello rate (HELLO_RATE, 50 a
			// second) would pace the loop.
			h := startHelperServer(b, "ACTORRTMFP_HELLO_RATE=100000")
			sys := actors.NewActorSystem(zap.NewNop())
			defer sys.Shutdown()
			ep, err := client.NewEndpoint(sys, client.EndpointConfig{Listen: "127.0.0.1:0"})
			if err != nil {
				b.Fatal(err)
			}
			defer ep.Close(context.Background())
			url := fmt.Sprintf("rtmfp://%s/bench", h.addr)

			// Warm up (first-use allocations in both processes), then the idle baseline.
			for range 3 {
				connectAndClose(b, ep, url, d)
			}
			time.Sleep(100 * time.Millisecond)
			idle0, t0 := h.cpu(b), time.Now()
			time.Sleep(500 * time.Millisecond)
			idleRate := float64(h.cpu(b)-idle0) / float64(time.Since(t0))

			cpu0, start := h.cpu(b), time.Now()
			b.ResetTimer()
			for range b.N {
				connectAndClose(b, ep, url, d)
			}
			b.StopTimer()
			elapsed := time.Since(start)
			used := h.cpu(b) - cpu0 - time.Duration(idleRate*float64(elapsed))
			b.ReportMetric(float64(used)/float64(time.Millisecond)/float64(b.N), "server-cpu-ms/handshake")
		})
	}
}

func connectAndClose(b *testing.B, ep *client.Endpoint, url string, d client.Dialect) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := ep.Connect(ctx, url, client.Options{Dialect: d})
	if err != nil {
		b.Fatal(err)
	}
	c.Close()
	select {
	case <-c.Done():
	case <-ctx.Done():
		b.Fatal("close never completed")
	}
}

// countingUpper is the upper actor of the benchmark's server session: it accepts every
// flow, counts the messages delivered to it and hands a send token back for each.
type countingUpper struct {
	delivered *atomic.Int64
	tokens    chan struct{}
}

func (u *countingUpper) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *session.FlowOpened:
		ctx.Send(ctx.Parent(), &session.AcceptFlow{FlowID: m.FlowID, PID: ctx.Self()})
	case *session.FlowMessage:
		u.delivered.Add(1)
		select {
		case <-u.tokens:
		default:
		}
	}
}

// BenchmarkSocketToSessionPackets measures packets/s through the server's receive path:
// real UDP socket read, shard (session lookup, decryption, checksum or HMAC and sequence
// check, header and chunk parsing), one actor message to the session actor, the session's
// processing (timestamps, receive flow, delayed acknowledgements, which it sends), and the
// delivery of the message to the upper actor.
//
// The session is keyed by a hand-made initiator (helpers_test.go) so that this process
// can seal packets itself and send them as fast as the path takes them: each packet is
// one User Data chunk with a 32-byte message on one flow. At most `window` packets are
// outstanding (sent and not yet delivered) so that no socket buffer overflows and every
// packet counts. What is counted is messages delivered to the upper actor, which is
// exactly one per packet; packets/s is b.N over the wall time from the first send to the
// last delivery.
func BenchmarkSocketToSessionPackets(b *testing.B) {
	for _, v := range []struct {
		name   string
		policy cryptoutil.Policy
	}{
		{"checksum", cryptoutil.FlashInitiatorPolicy()},
		{"hmac+seq", cryptoutil.StrictPolicy()},
	} {
		b.Run(v.name, func(b *testing.B) {
			const window = 256
			sys := actors.NewActorSystem(zap.NewNop())
			defer sys.Shutdown()
			var delivered atomic.Int64
			tokens := make(chan struct{}, window)
			srv, err := endpoint.Start(sys.Root, endpoint.Config{
				Listen: "127.0.0.1:0", UDPBuffer: 4 << 20, Log: zap.NewNop(),
				Accept: &endpoint.Accept{Upper: func(endpoint.SessionInfo) actor.Actor {
					return &countingUpper{delivered: &delivered, tokens: tokens}
				}},
			})
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				// The hand-made initiator never acknowledges the close: do not wait long.
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				_ = srv.Stop(ctx)
			}()
			p := newRawPeer(b)
			_ = p.conn.SetWriteBuffer(4 << 20)
			s, err := p.handshake(srv.Addr(), "rtmfp://bench/", v.policy)
			if err != nil {
				b.Fatal(err)
			}
			data := []byte("0123456789abcdef0123456789abcdef")
			meta := rtmfp.FlowOptions{Metadata: []byte("bench")}.Append(nil)
			var dgram []byte
			seq := uint64(0)
			send := func() {
				seq++
				ud := rtmfp.UserData{FlowID: 1, SequenceNumber: seq, FSNOffset: 1, Data: data}
				if seq == 1 {
					ud.Flags, ud.Options = rtmfp.UserDataOptions, meta
				}
				dgram = s.seal(dgram[:0], ud)
				if err := p.send(s.server, dgram); err != nil {
					b.Fatal(err)
				}
			}
			waitDelivered := func(n int64) {
				deadline := time.Now().Add(5 * time.Second)
				for delivered.Load() < n {
					if time.Now().After(deadline) {
						b.Fatalf("%d of %d messages delivered (endpoint stats %s)", delivered.Load(), n, statsString(&srv.Stats))
					}
					time.Sleep(100 * time.Microsecond)
				}
			}
			// The flow's first message (with its options), then the timed loop.
			tokens <- struct{}{}
			send()
			waitDelivered(1)
			in0 := srv.Stats.PacketsIn.Load()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				select {
				case tokens <- struct{}{}:
				case <-time.After(5 * time.Second):
					b.Fatalf("stalled: %d sent, %d delivered (endpoint stats %s)", seq, delivered.Load(), statsString(&srv.Stats))
				}
				send()
			}
			waitDelivered(int64(b.N) + 1)
			elapsed := time.Since(start)
			b.StopTimer()
			if in := srv.Stats.PacketsIn.Load() - in0; in != uint64(b.N) {
				b.Fatalf("endpoint parsed %d packets for the session, want %d", in, b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "packets/s")
		})
	}
}
