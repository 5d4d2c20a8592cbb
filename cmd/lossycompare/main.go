//go:build linux && amd64

// Command lossycompare measures the goodput of a reliable bulk transfer over RTMFP (this
// project's endpoint and session actors) and over the kernel's TCP through the same
// impaired path: two network namespaces joined by a pair of TUN devices, with a userspace
// forwarder in between that drops and delays IP packets — identically for both protocols,
// since it sees only IP packets. (This sandbox's kernel has no netem qdisc.)
//
// It must run as root. scripts/lossy-compare.sh creates the namespaces and runs it:
//
//	sudo scripts/lossy-compare.sh            # 10 MB at 0, 5 and 20 % loss, 20 ms each way
//	sudo scripts/lossy-compare.sh -mb 2 -loss 0.01
package main

import (
	"bytes"
	"container/list"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/endpoint"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

const sysSetns = 308 // setns(2) on linux/amd64

var (
	nsA     = flag.String("ns-a", "lossyA", "network namespace of the sender")
	nsB     = flag.String("ns-b", "lossyB", "network namespace of the receiver")
	mb      = flag.Int("mb", 10, "megabytes to transfer per run")
	losses  = flag.String("loss", "0,0.05,0.2", "comma-separated loss probabilities (each direction)")
	delay   = flag.Duration("delay", 20*time.Millisecond, "one-way delay")
	rate    = flag.Int("rate", 0, "bottleneck rate in bytes/s each way (0: none)")
	seed    = flag.Uint64("seed", 1, "seed of the loss process")
	timeout = flag.Duration("timeout", 10*time.Minute, "give up a run after this long")
	only    = flag.String("only", "rtmfp,tcp", "protocols to run")
	tcpCC   = flag.String("tcp-cc", "reno,cubic,bbr", "TCP congestion controls to run (each a row)")
)

const (
	addrA = "10.77.0.1"
	addrB = "10.77.0.2"
)

func main() {
	flag.Parse()
	log := zap.NewNop()
	w, err := newWire()
	if err != nil {
		fatal(err)
	}
	defer w.close()
	fmt.Printf("| protocol | loss | one-way delay | bytes | time | goodput | packets A→B fwd/drop | B→A fwd/drop |\n|---|---|---|---|---|---|---|---|\n")
	var protos []string
	for _, p := range strings.Split(*only, ",") {
		if p == "tcp" {
			for _, cc := range strings.Split(*tcpCC, ",") {
				protos = append(protos, "tcp-"+cc)
			}
		} else {
			protos = append(protos, p)
		}
	}
	total := *mb << 20
	for _, ls := range strings.Split(*losses, ",") {
		loss, err := strconv.ParseFloat(strings.TrimSpace(ls), 64)
		if err != nil {
			fatal(err)
		}
		for _, proto := range protos {
			w.set(loss, *delay, *rate, *seed)
			var n int
			var d time.Duration
			switch {
			case strings.HasPrefix(proto, "tcp-"):
				n, d, err = runTCP(total, strings.TrimPrefix(proto, "tcp-"))
			case proto == "rtmfp":
				n, d, err = runRTMFP(total, log)
			default:
				err = fmt.Errorf("unknown protocol %q", proto)
			}
			if err != nil {
				fmt.Printf("| %s | %.0f %% | %v | – | failed: %v | – | – | – |\n", proto, loss*100, *delay, err)
				continue
			}
			if e := w.ioErr[0].Load() + w.ioErr[1].Load(); e > 0 {
				fmt.Fprintf(os.Stderr, "lossycompare: %s: %d TUN reads or writes failed during the run\n", proto, e)
			}
			fmt.Printf("| %s | %.0f %% | %v | %d | %.1f s | %.0f KB/s | %d/%d | %d/%d |\n", proto, loss*100, *delay, n, d.Seconds(), float64(n)/d.Seconds()/1000,
				w.fwd[0].Load(), w.drop[0].Load(), w.fwd[1].Load(), w.drop[1].Load())
			time.Sleep(500 * time.Millisecond) // let the path drain between runs
		}
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "lossycompare:", err)
	os.Exit(1)
}

// inNetns runs fn on an OS thread switched to the named network namespace: sockets fn
// creates belong to that namespace for their whole life.
func inNetns(name string, fn func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	target, err := os.Open("/var/run/netns/" + name)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if _, _, e := syscall.RawSyscall(sysSetns, target.Fd(), syscall.CLONE_NEWNET, 0); e != 0 {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %v", name, e)
	}
	ferr := fn()
	if _, _, e := syscall.RawSyscall(sysSetns, orig.Fd(), syscall.CLONE_NEWNET, 0); e != 0 {
		// Leave the thread locked: it dies with this goroutine instead of serving others
		// in the wrong namespace.
		return fmt.Errorf("setns back: %v", e)
	}
	runtime.UnlockOSThread()
	return ferr
}

// wire is the impaired path: TUN device tunA in namespace A and tunB in namespace B, and
// a forwarder per direction.
type wire struct {
	a, b *os.File
	// Packets forwarded and dropped (by the loss process or a full bottleneck queue), each
	// direction (A→B, B→A), and the TUN reads and writes that failed, since the last set.
	fwd, drop, ioErr [2]atomic.Int64
	mu               sync.Mutex
	link             linkCond
	rng              *mrand.Rand
	ab               *direction
	ba               *direction
}

type linkCond struct {
	loss  float64
	delay time.Duration
	rate  int
}

func openTUN(name string) (*os.File, error) {
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	var req [40]byte
	copy(req[:16], name)
	*(*uint16)(unsafe.Pointer(&req[16])) = syscall.IFF_TUN | syscall.IFF_NO_PI
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TUNSETIFF, uintptr(unsafe.Pointer(&req[0]))); e != 0 {
		f.Close()
		return nil, fmt.Errorf("TUNSETIFF %s: %v", name, e)
	}
	return f, nil
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func newWire() (*wire, error) {
	w := &wire{rng: mrand.New(mrand.NewPCG(1, 2))}
	var err error
	if w.a, err = openTUN("lossyTunA"); err != nil {
		return nil, err
	}
	if w.b, err = openTUN("lossyTunB"); err != nil {
		return nil, err
	}
	for _, c := range [][]string{
		{"link", "set", "lossyTunA", "netns", *nsA},
		{"link", "set", "lossyTunB", "netns", *nsB},
		{"-n", *nsA, "addr", "add", addrA + "/24", "dev", "lossyTunA"},
		{"-n", *nsB, "addr", "add", addrB + "/24", "dev", "lossyTunB"},
		{"-n", *nsA, "link", "set", "lossyTunA", "up"},
		{"-n", *nsB, "link", "set", "lossyTunB", "up"},
		{"-n", *nsA, "link", "set", "lo", "up"},
		{"-n", *nsB, "link", "set", "lo", "up"},
	} {
		if err := ip(c...); err != nil {
			return nil, err
		}
	}
	w.ab = newDirection(w, w.b, 0)
	w.ba = newDirection(w, w.a, 1)
	go w.read(w.a, w.ab, 0)
	go w.read(w.b, w.ba, 1)
	return w, nil
}

func (w *wire) set(loss float64, delay time.Duration, rate int, seed uint64) {
	w.mu.Lock()
	w.link = linkCond{loss: loss, delay: delay, rate: rate}
	w.rng = mrand.New(mrand.NewPCG(seed, seed+1))
	w.mu.Unlock()
	for i := range 2 {
		w.fwd[i].Store(0)
		w.drop[i].Store(0)
		w.ioErr[i].Store(0)
	}
}

func (w *wire) close() {
	w.a.Close()
	w.b.Close()
}

// direction delays packets by a constant (plus serialisation at the bottleneck rate, with
// a 64 KiB drop-tail queue), so a FIFO keeps them in order.
type direction struct {
	w    *wire
	dir  int // index of w's counters
	out  *os.File
	mu   sync.Mutex
	q    *list.List
	wake chan struct{}
	busy time.Time // when the bottleneck is free
}

type pending struct {
	at time.Time
	b  []byte
}

func newDirection(w *wire, out *os.File, dir int) *direction {
	d := &direction{w: w, dir: dir, out: out, q: list.New(), wake: make(chan struct{}, 1)}
	go d.run()
	return d
}

func (w *wire) read(in *os.File, d *direction, dir int) {
	buf := make([]byte, 65536)
	for {
		n, err := in.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			w.ioErr[dir].Add(1)
			continue
		}
		w.mu.Lock()
		l := w.link
		drop := w.rng.Float64() < l.loss
		w.mu.Unlock()
		if drop {
			w.drop[dir].Add(1)
			continue
		}
		now := time.Now()
		at := now.Add(l.delay)
		d.mu.Lock()
		if l.rate > 0 {
			start := d.busy
			if start.Before(now) {
				start = now
			}
			if start.Sub(now) > time.Duration(int64(64<<10)*int64(time.Second)/int64(l.rate)) {
				d.mu.Unlock()
				w.drop[dir].Add(1) // queue full
				continue
			}
			d.busy = start.Add(time.Duration(int64(n) * int64(time.Second) / int64(l.rate)))
			at = d.busy.Add(l.delay)
		}
		w.fwd[dir].Add(1)
		d.q.PushBack(pending{at: at, b: append([]byte(nil), buf[:n]...)})
		d.mu.Unlock()
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

func (d *direction) run() {
	t := time.NewTimer(time.Hour)
	for {
		d.mu.Lock()
		var next time.Duration = time.Hour
		for d.q.Len() > 0 {
			p := d.q.Front().Value.(pending)
			if wait := time.Until(p.at); wait > 0 {
				next = wait
				break
			}
			d.q.Remove(d.q.Front())
			d.mu.Unlock()
			if _, err := d.out.Write(p.b); err != nil {
				d.w.ioErr[d.dir].Add(1)
			}
			d.mu.Lock()
		}
		d.mu.Unlock()
		t.Reset(next)
		select {
		case <-t.C:
		case <-d.wake:
		}
	}
}

// setCC sets a TCP socket's congestion control.
func setCC(cc string) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptString(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, cc)
		})
		if err != nil {
			return err
		}
		return serr
	}
}

// runTCP sends total bytes over one TCP connection from A to B, both ends using the
// congestion control cc.
func runTCP(total int, cc string) (int, time.Duration, error) {
	var ln net.Listener
	lc := net.ListenConfig{Control: setCC(cc)}
	if err := inNetns(*nsB, func() (err error) { ln, err = lc.Listen(context.Background(), "tcp", addrB+":9000"); return }); err != nil {
		return 0, 0, err
	}
	defer ln.Close()
	done := make(chan error, 1)
	var end time.Time
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		n, err := io.Copy(io.Discard, c)
		end = time.Now()
		if err == nil && int(n) != total {
			err = fmt.Errorf("received %d of %d bytes", n, total)
		}
		done <- err
	}()
	var c net.Conn
	dialer := net.Dialer{Timeout: 10 * time.Second, Control: setCC(cc)}
	if err := inNetns(*nsA, func() (err error) { c, err = dialer.Dial("tcp", addrB+":9000"); return }); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	buf := make([]byte, 1000)
	for sent := 0; sent < total; sent += len(buf) {
		_ = c.SetWriteDeadline(time.Now().Add(*timeout))
		if _, err := c.Write(buf[:min(len(buf), total-sent)]); err != nil {
			c.Close()
			return 0, 0, err
		}
	}
	c.Close()
	if err := awaitDone(done, time.After(*timeout)); err != nil {
		return 0, 0, err
	}
	return total, end.Sub(start), nil
}

// awaitDone waits for the receiver's verdict until deadline.
func awaitDone(done <-chan error, deadline <-chan time.Time) error {
	select {
	case err := <-done:
		return err
	case <-deadline:
		return errors.New("timed out")
	}
}

// bulkSize gives the message sizes of the lossy-link tests (actors/endpoint/lossy_test.go):
// mostly 1,000 bytes, some multi-fragment messages of 3–9 KB, some tiny ones.
func bulkSize(i int) int {
	switch i % 10 {
	case 3:
		return 3000 + (i*7919)%6000
	case 7:
		return 12
	default:
		return 1000
	}
}

// sink is the RTMFP receiver's upper actor: it counts bytes and checks the order.
type sink struct {
	total int
	got   int
	next  uint64
	done  chan error
	end   *time.Time
	over  bool // the verdict is given: later messages are ignored
}

func (s *sink) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *session.FlowOpened:
		ctx.Send(ctx.Parent(), &session.AcceptFlow{FlowID: m.FlowID, PID: ctx.Self()})
	case *session.FlowMessage:
		if s.over {
			return
		}
		if len(m.Data) < 8 || binary.BigEndian.Uint64(m.Data) != s.next {
			s.over = true
			s.done <- fmt.Errorf("message out of order at %d", s.next)
			return
		}
		s.next++
		s.got += len(m.Data)
		if s.got >= s.total {
			s.over = true
			*s.end = time.Now()
			s.done <- nil
		}
	}
}

type receipts struct{ out chan any }

func (r *receipts) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *session.Delivered, *session.Abandoned, *session.Refused:
		r.out <- m
	}
}

// runRTMFP sends total bytes of reliable messages from an endpoint in A to one in B,
// keeping at most 512 messages unsettled.
func runRTMFP(total int, log *zap.Logger) (int, time.Duration, error) {
	sys := actors.NewActorSystem(log)
	defer sys.Shutdown()
	done := make(chan error, 1)
	var end time.Time
	var server, client *endpoint.Endpoint
	err := inNetns(*nsB, func() (err error) {
		server, err = endpoint.Start(sys.Root, endpoint.Config{Listen: addrB + ":1935", Log: log, Accept: &endpoint.Accept{
			Upper: func(endpoint.SessionInfo) actor.Actor {
				return &sink{total: total, done: done, end: &end}
			},
		}})
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	defer stop(server)
	if err := inNetns(*nsA, func() (err error) {
		client, err = endpoint.Start(sys.Root, endpoint.Config{Listen: addrA + ":0", Log: log})
		return err
	}); err != nil {
		return 0, 0, err
	}
	defer stop(client)
	key, err := cryptoutil.GenerateDHKey(cryptoutil.Group2, rand.Reader)
	if err != nil {
		return 0, 0, err
	}
	to := netip.MustParseAddrPort(addrB + ":1935")
	res := make(chan endpoint.DialResult, 1)
	client.Dial(endpoint.DialOptions{URL: "rtmfp://" + addrB + "/bench", Addrs: []netip.AddrPort{to},
		Keys: []*cryptoutil.DHKey{key}, Policy: cryptoutil.FlashInitiatorPolicy(), Timeout: 60 * time.Second,
		Upper: func(endpoint.SessionInfo) actor.Actor { return nil },
	}, func(r endpoint.DialResult) { res <- r })
	r := <-res
	if r.Err != nil {
		return 0, 0, r.Err
	}
	rc := make(chan any, 1<<14)
	rpid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &receipts{out: rc} }))
	count, sum := 0, 0
	for sum < total {
		sum += bulkSize(count)
		count++
	}
	payload := func(i int) []byte {
		b := make([]byte, bulkSize(i)) // ≥ 12 bytes: room for the sequence number
		binary.BigEndian.PutUint64(b, uint64(i))
		return b
	}
	start := time.Now()
	next, unsettled := 0, 0
	deadline := time.After(*timeout)
	flow := session.FlowKey{Metadata: "bulk"}
	for next < count || unsettled > 0 {
		for unsettled < 512 && next < count {
			sys.Root.Send(r.PID, &session.Write{Key: flow, Data: payload(next), Receipt: &session.Receipt{To: rpid, Tag: uint64(next)}})
			next++
			unsettled++
		}
		select {
		case m := <-rc:
			if _, ok := m.(*session.Delivered); !ok {
				return 0, 0, fmt.Errorf("receipt %T", m)
			}
			unsettled--
		case err := <-done:
			if err != nil {
				return 0, 0, err
			}
			return sum, end.Sub(start), nil
		case <-deadline:
			return 0, 0, errors.New("timed out")
		}
	}
	if err := awaitDone(done, deadline); err != nil {
		return 0, 0, err
	}
	return sum, end.Sub(start), nil
}

func stop(e *endpoint.Endpoint) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = e.Stop(ctx)
}
