package endpoint

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
)

// TestBatchReaderReadsWhatIsQueuedInFewCalls queues datagrams on a socket before reading:
// on Linux a read returns as many as it has slots for (recvmmsg), each in its own pooled
// buffer, cut to its size, with its source, and the slots double when a read fills them;
// a datagram larger than the buffer is reported as cut.
func TestBatchReaderReadsWhatIsQueuedInFewCalls(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	const bufSize = 256
	pool := session.NewInboundPool(bufSize)
	r := newBatchReader(conn, pool, false)

	var sent [][]byte
	for i := range 10 {
		size := 20 + i*20
		if i == 6 {
			size = bufSize + 100 // cut by the kernel
		}
		d := bytes.Repeat([]byte{byte(i + 1)}, size)
		if _, err := peer.WriteToUDPAddrPort(d, conn.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, d)
	}
	got := 0
	reads := 0
	for got < len(sent) {
		n, err := r.read()
		if err != nil {
			t.Fatal(err)
		}
		reads++
		for i := range n {
			in, from, ok := r.take(i)
			want := sent[got]
			if from != peer.LocalAddr().(*net.UDPAddr).AddrPort() {
				t.Errorf("datagram %d from %v, want %v", got, from, peer.LocalAddr())
			}
			if len(want) > bufSize {
				if ok {
					t.Errorf("datagram %d of %d bytes into a %d-byte buffer: not reported as cut", got, len(want), bufSize)
				}
			} else if !ok || !bytes.Equal(in.Buffer(), want) {
				t.Errorf("datagram %d: ok %v, %d bytes %x…, want %d bytes of %x", got, ok, len(in.Buffer()), in.Buffer()[:1], len(want), want[0])
			}
			in.Release()
			got++
		}
	}
	// 4 slots, then 8: two reads.
	if runtime.GOOS == "linux" && (reads != 2 || r.size != 2*readBatchStart) {
		t.Errorf("%d reads for %d queued datagrams, %d slots after; want 2 reads (recvmmsg), %d slots", reads, len(sent), r.size, 2*readBatchStart)
	}
	// The slots taken were refilled: a second round reads into fresh buffers.
	if _, err := peer.WriteToUDPAddrPort([]byte("again, twenty bytes!"), conn.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	if n, err := r.read(); err != nil || n != 1 {
		t.Fatalf("second read: %d, %v", n, err)
	}
	in, _, ok := r.take(0)
	if !ok || string(in.Buffer()) != "again, twenty bytes!" {
		t.Fatalf("second read got %q (ok %v)", in.Buffer(), ok)
	}
	in.Release()
	r.release()
}

// TestKernelStampsAreArrivalTimes queues two datagrams 30 ms apart on a socket that
// records kernel receive times and reads them only later: each datagram's stamp falls
// between the wall-clock moments around its own send, not at the read, and on the
// endpoint clock the earlier datagram arrived that much before the read. The kernel turns
// receive stamping on a little after the first socket asks (until then it stamps at the
// read), so the test tries a few rounds and needs one to pass.
func TestKernelStampsAreArrivalTimes(t *testing.T) {
	t.Parallel() // waits on loopback round trips and sleeps; its endpoints and sockets are its own
	if runtime.GOOS != "linux" {
		t.Skip("kernel receive timestamps are read on Linux only")
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := enableStamps(conn); err != nil {
		t.Fatal(err)
	}
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	r := newBatchReader(conn, session.NewInboundPool(256), true)
	defer r.release()
	to := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	var problem string
	for range 5 {
		var before, after [2]int64
		for i := range 2 {
			before[i] = time.Now().UnixNano()
			if _, err := peer.WriteToUDPAddrPort([]byte("twenty bytes or more"), to); err != nil {
				t.Fatal(err)
			}
			after[i] = time.Now().UnixNano()
			time.Sleep(30 * time.Millisecond)
		}
		var stamps []int64
		var read int64
		for len(stamps) < 2 {
			n, err := r.read()
			if err != nil {
				t.Fatal(err)
			}
			read = time.Now().UnixNano()
			for i := range n {
				ns, ok := r.stamp(i)
				in, _, _ := r.take(i)
				in.Release()
				if !ok {
					t.Fatalf("datagram %d has no kernel receive time", len(stamps))
				}
				stamps = append(stamps, ns)
			}
		}
		problem = ""
		for i, ns := range stamps {
			// The kernel's clock is coarser than the process's: allow a millisecond.
			if ns < before[i]-int64(time.Millisecond) || ns > after[i]+int64(time.Millisecond) {
				problem += fmt.Sprintf("datagram %d stamped %v after its send began, which took %v; ", i, time.Duration(ns-before[i]), time.Duration(after[i]-before[i]))
			}
		}
		at := 10 * time.Second // the endpoint clock at the read
		first, second := arrivedAt(at, read, stamps[0]), arrivedAt(at, read, stamps[1])
		if gap := second - first; gap < 30*time.Millisecond || second > at {
			problem += fmt.Sprintf("on the endpoint clock the datagrams arrived at %v and %v (read at %v): want ≥ 30 ms apart, before the read", first, second, at)
		}
		if problem == "" {
			return
		}
		t.Log(problem)
	}
	t.Error("no round had arrival stamps")
}

// TestArrivedAt checks the conversion's bounds: a stamp from the future (a wall clock set
// back) is the read time, one older than the endpoint is its start.
func TestArrivedAt(t *testing.T) {
	const wall = int64(1_000_000_000_000)
	for _, c := range []struct {
		at   time.Duration
		ns   int64
		want time.Duration
	}{
		{5 * time.Second, wall - int64(2*time.Millisecond), 5*time.Second - 2*time.Millisecond},
		{5 * time.Second, wall + int64(time.Second), 5 * time.Second},
		{5 * time.Second, wall - int64(time.Minute), 0},
	} {
		if got := arrivedAt(c.at, wall, c.ns); got != c.want {
			t.Errorf("arrivedAt(%v, wall, wall%+d) = %v, want %v", c.at, c.ns-wall, got, c.want)
		}
	}
}

// TestArrivalIsNeverBeforeTheSend: a message to an endpoint with kernel receive times
// arrives, on the endpoint clock, no earlier than the moment before it was sent, even when
// the reader loses the CPU right after reading the endpoint clock (modelled by a clock
// that returns each reading 20 ms after taking it). The reader converts the kernel's stamp
// with the wall clock read just before the endpoint clock; reading the wall clock after it
// made an arrival precede its send by the delay between the readings (a played frame 1.2
// ms before its write, once, at load 15).
func TestArrivalIsNeverBeforeTheSend(t *testing.T) {
	t.Parallel() // waits on loopback round trips and sleeps; its endpoints and sockets are its own
	if runtime.GOOS != "linux" {
		t.Skip("kernel receive timestamps are read on Linux only")
	}
	sys := actors.NewActorSystem(testLogger(t))
	slow := &descheduledClock{}
	in := make(chan any, 64)
	server := startServer(t, sys, func(c *Config) {
		c.KernelTimestamps = true
		c.Clock = slow
		c.Accept = &Accept{Upper: func(SessionInfo) actor.Actor { return &collector{out: in} }}
	})
	client := startClient(t, sys)
	r := dialOnce(t, client, server, dialects[1], make(chan any, 64))
	slow.delay.Store(int64(20 * time.Millisecond))
	for i := range 5 {
		before := time.Now()
		sys.Root.Send(r.PID, &session.Write{Key: session.FlowKey{Metadata: "hello"}, Data: []byte{byte(i)}, Priority: session.PriorityControl})
		var m *session.FlowMessage
		for m == nil {
			select {
			case v := <-in:
				m, _ = v.(*session.FlowMessage)
			case <-time.After(10 * time.Second):
				t.Fatalf("message %d never reached the server", i)
			}
		}
		after := time.Now()
		if at := server.Time(m.At); at.Before(before) || at.After(after) {
			t.Fatalf("message %d sent after %v arrived at %v (%v before), received by %v", i, before, at, before.Sub(at), after)
		}
	}
}

// descheduledClock is the real clock whose readings, once delay is set, return that long
// after they were taken: a goroutine losing the CPU right after reading the time.
type descheduledClock struct{ delay atomic.Int64 }

func (c *descheduledClock) Now() time.Time {
	now := time.Now()
	// The delay modelled, not a wait for an event.
	time.Sleep(time.Duration(c.delay.Load()))
	return now
}

func (c *descheduledClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	return time.AfterFunc(d, f)
}
