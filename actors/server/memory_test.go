package server_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/internal/testpar"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// heapObjects is the runtime metric of the bytes of live and not yet swept heap objects.
const heapObjects = "/memory/classes/heap/objects:bytes"

// watchHeap samples the heap of this (helper) process every 10 ms and keeps its peak: the
// heap a burst reached between two "mem" questions.
func watchHeap() *atomic.Uint64 {
	peak := &atomic.Uint64{}
	go func() {
		s := []metrics.Sample{{Name: heapObjects}}
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return peak
}

// memSample is what the helper server answers to "mem": its resident set and its peak
// (the kernel's VmRSS and VmHWM, KiB), the peak of its heap objects and, after a
// collection, its live heap (bytes), the bytes its sessions' receive flows hold, and how
// often each receive limit bit.
type memSample struct {
	RSSKiB, HWMKiB                                       uint64
	HeapPeak, HeapLive                                   uint64
	RecvHeld                                             int64
	Sessions                                             int
	BudgetSession, BudgetAddress, BudgetServer, TooLarge uint64
}

func (m memSample) String() string {
	return fmt.Sprintf("%d %d %d %d %d %d %d %d %d %d", m.RSSKiB, m.HWMKiB, m.HeapPeak, m.HeapLive, m.RecvHeld, m.Sessions,
		m.BudgetSession, m.BudgetAddress, m.BudgetServer, m.TooLarge)
}

func parseMemSample(s string) (memSample, error) {
	var m memSample
	_, err := fmt.Sscan(s, &m.RSSKiB, &m.HWMKiB, &m.HeapPeak, &m.HeapLive, &m.RecvHeld, &m.Sessions,
		&m.BudgetSession, &m.BudgetAddress, &m.BudgetServer, &m.TooLarge)
	return m, err
}

// sampleMem answers "mem" in the helper server.
func sampleMem(srv *server.Server, peak *atomic.Uint64) memSample {
	m := memSample{HeapPeak: peak.Load(), RecvHeld: srv.RecvBudget().Used(), Sessions: srv.Sessions()}
	runtime.GC()
	s := []metrics.Sample{{Name: heapObjects}}
	metrics.Read(s)
	m.HeapLive = s[0].Value.Uint64()
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			k, v, _ := strings.Cut(line, ":")
			n, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			switch k {
			case "VmRSS":
				m.RSSKiB = n
			case "VmHWM":
				m.HWMKiB = n
			}
		}
	}
	for _, e := range srv.Endpoints() {
		st := &e.SessionStats
		m.BudgetSession += st.BudgetSession.Load()
		m.BudgetAddress += st.BudgetAddress.Load()
		m.BudgetServer += st.BudgetServer.Load()
		m.TooLarge += st.RejectedTooLarge.Load()
	}
	return m
}

// mem asks the helper server for a memSample.
func (h *helperServer) mem(t testing.TB) memSample {
	t.Helper()
	if _, err := fmt.Fprintln(h.in, "mem"); err != nil {
		t.Fatal(err)
	}
	m, err := parseMemSample(h.line(t, "MEM "))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// receipts counts the fates of the messages written with a Receipt naming it.
type receipts struct {
	delivered, abandoned, refused atomic.Int64
	settled                       chan struct{} // one per settled message
}

func (r *receipts) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *session.Delivered:
		r.delivered.Add(1)
	case *session.Abandoned:
		r.abandoned.Add(1)
	case *session.Refused:
		r.refused.Add(1)
	default:
		return
	}
	r.settled <- struct{}{}
}

// TestHostileSessionsStayWithinTheirBudgets is the attack of issue 19 on a server in a
// process of its own (TestHelperServerProcess, default configuration): four sessions —
// from one address, then from four — each open 63 NetStream flows and send a 2 MiB
// message on every one of them, while 50 clients from another address connect and call.
// Every legitimate client must be served, and the server's memory must grow by less than
// the bound: its resident set (peak, VmHWM), or, under the race detector, whose shadow
// memory inflates the resident set several times over, its heap (peak). From one address
// (the attack) the bound is 64 MB; four addresses may hold four session budgets
// (RECV_BUDGET_SESSION, 5 MiB) where one holds its address budget (8 MiB), and the
// messages the budgets let through are delivered and become garbage at the same time,
// so theirs is 96 MB — against the 280 MB of the report.
func TestHostileSessionsStayWithinTheirBudgets(t *testing.T) {
	for _, c := range []struct {
		name  string
		addrs []string // of the four hostile sessions, in turn
		bound int64
	}{
		{"one-address", []string{"127.0.0.2"}, 64 << 20},
		{"four-addresses", []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}, 96 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			hostileSessions(t, c.addrs, c.bound)
		})
	}
}

// hostileSessions runs the attack of TestHostileSessionsStayWithinTheirBudgets with its
// hostile sessions from addrs in turn, and fails if the server grows by bound or more.
func hostileSessions(t *testing.T, addrs []string, bound int64) {
	h := startHelperServer(t)
	url := fmt.Sprintf("rtmfp://%s/live", h.addr)
	sys := actors.NewActorSystem(zap.NewNop())
	defer sys.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	good, err := client.NewEndpoint(sys, client.EndpointConfig{Listen: "127.0.0.1:0", UDPBuffer: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close(context.Background())
	// Warm up the server's code paths, then take the baseline.
	warm, err := good.Connect(ctx, url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := echoOnce(ctx, warm, "warm-up"); err != nil {
		t.Fatal(err)
	}
	base := h.mem(t)

	// The attackers: an endpoint per address, four sessions, send queues big enough to
	// queue everything at once.
	var bads []*client.Endpoint
	for _, a := range addrs {
		bad, err := client.NewEndpoint(sys, client.EndpointConfig{Listen: a + ":0", UDPBuffer: 4 << 20,
			Session: session.Config{SessionSendBuffer: 256 << 20}})
		if err != nil {
			t.Fatal(err)
		}
		defer bad.Close(context.Background())
		bads = append(bads, bad)
	}
	const hostile, flows, size = 4, 63, 2 << 20
	msg := flash.Message{Type: flash.TypeAudio, Body: make([]byte, size-16)}.Append(nil)
	r := &receipts{settled: make(chan struct{}, hostile*flows)}
	receiptPID := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return r }))
	var attackers []*client.Conn
	for i := range hostile {
		c, err := bads[i%len(bads)].Connect(ctx, url, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Call(ctx, flash.CommandCreateStream)
		if err != nil || len(res) == 0 {
			t.Fatalf("createStream: %v %v", res, err)
		}
		id, _ := res[len(res)-1].(float64)
		md := string(flash.Metadata{Kind: flash.KindNetStream, StreamID: uint64(id)}.Append(nil))
		attackers = append(attackers, c)
		for lane := range flows {
			sys.Root.Send(c.Session(), &session.Write{Key: session.FlowKey{Metadata: md, Lane: uint8(lane)}, Data: msg,
				Priority: session.PriorityData, Receipt: &session.Receipt{To: receiptPID, Tag: uint64(lane)}})
		}
	}

	// Meanwhile, the legitimate clients.
	const clients = 50
	var served atomic.Int64
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := good.Connect(ctx, url, client.Options{Dialect: client.Dialect(i % 2)})
			if err != nil {
				t.Errorf("client %d: %v", i, err)
				return
			}
			if err := echoOnce(ctx, c, fmt.Sprint("client ", i)); err != nil {
				t.Errorf("client %d: %v", i, err)
				return
			}
			served.Add(1)
		}()
	}
	wg.Wait()
	// The attack is over when every hostile message is settled: delivered, or abandoned
	// with its flow rejected.
	start := time.Now()
	for n := 0; n < hostile*flows; n++ {
		select {
		case <-r.settled:
		case <-ctx.Done():
			t.Fatalf("%d of %d hostile messages settled (delivered %d, abandoned %d, refused %d); server %+v",
				n, hostile*flows, r.delivered.Load(), r.abandoned.Load(), r.refused.Load(), h.mem(t))
		}
	}
	attack := time.Since(start)
	after := h.mem(t)
	for _, c := range attackers {
		c.Close()
	}
	rssGrowth := int64(after.HWMKiB)*1024 - int64(base.RSSKiB)*1024
	heapGrowth := int64(after.HeapPeak) - int64(base.HeapLive)
	t.Logf("served %d of %d clients; hostile messages delivered %d, abandoned %d, refused %d (settled %s after the clients)",
		served.Load(), clients, r.delivered.Load(), r.abandoned.Load(), r.refused.Load(), attack.Round(time.Millisecond))
	t.Logf("server RSS %.1f MB before, peak %.1f MB (growth %.1f MB); heap %.1f MB live before, peak %.1f MB (growth %.1f MB), %.1f MB live after; receive flows hold %d bytes",
		mb(int64(base.RSSKiB)*1024), mb(int64(after.HWMKiB)*1024), mb(rssGrowth), mb(int64(base.HeapLive)), mb(int64(after.HeapPeak)), mb(heapGrowth), mb(int64(after.HeapLive)), after.RecvHeld)
	t.Logf("flows rejected: session budget %d, address budget %d, too large %d; fragments refused for the server budget %d",
		after.BudgetSession, after.BudgetAddress, after.TooLarge, after.BudgetServer)
	if served.Load() != clients {
		t.Fatalf("%d of %d legitimate clients served", served.Load(), clients)
	}
	if after.BudgetSession+after.BudgetAddress == 0 {
		t.Fatal("no receive budget bit: the attack did not reach the limits it tests")
	}
	if testpar.Race {
		if heapGrowth >= bound {
			t.Fatalf("the server's heap grew by %.1f MB under the attack, bound %.0f MB", mb(heapGrowth), mb(bound))
		}
	} else if rssGrowth >= bound {
		t.Fatalf("the server's resident set grew by %.1f MB under the attack, bound %.0f MB", mb(rssGrowth), mb(bound))
	}
}

func mb(n int64) float64 { return float64(n) / 1e6 }
