package endpoint

import (
	"bytes"
	"net"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/net/ipv4"
)

func out(to netip.AddrPort, size int, fill byte) *outgoing {
	return &outgoing{b: bytes.Repeat([]byte{fill}, size), to: to}
}

// TestRunEnd: a segmented entry takes the datagrams after the first while they go to the
// same destination with the same size; a shorter one ends the run (it can only be the
// last segment), a longer one or another destination starts a new run, and the count
// and byte limits hold.
func TestRunEnd(t *testing.T) {
	a, b := netip.MustParseAddrPort("10.0.0.1:1000"), netip.MustParseAddrPort("10.0.0.2:1000")
	batch := []*outgoing{
		out(a, 1000, 1), out(a, 1000, 2), out(a, 1000, 3), out(a, 400, 4), // a run ended by a short one
		out(a, 1000, 5), out(a, 1200, 6), // a longer one cannot follow
		out(b, 1200, 7), out(a, 1200, 8), // another destination
		out(b, 100, 9),
	}
	var runs [][2]int
	for i := 0; i < len(batch); {
		end := runEnd(batch, i)
		runs = append(runs, [2]int{i, end})
		i = end
	}
	want := [][2]int{{0, 4}, {4, 5}, {5, 6}, {6, 7}, {7, 8}, {8, 9}}
	if len(runs) != len(want) {
		t.Fatalf("runs %v, want %v", runs, want)
	}
	for i := range want {
		if runs[i] != want[i] {
			t.Fatalf("runs %v, want %v", runs, want)
		}
	}
	other := out(a, 1000, 1)
	other.sid = 7 // another session behind the same address (a load tool's socket)
	if end := runEnd([]*outgoing{out(a, 1000, 1), other}, 0); end != 1 {
		t.Errorf("datagrams of two sessions to one address run together")
	}
	var many []*outgoing
	for range maxSegments + 10 {
		many = append(many, out(a, 100, 1))
	}
	if end := runEnd(many, 0); end != maxSegments {
		t.Errorf("a run of %d datagrams: first entry takes %d, want %d", len(many), end, maxSegments)
	}
	big := []*outgoing{}
	for range 60 {
		big = append(big, out(a, 1400, 1))
	}
	if end := runEnd(big, 0); end*1400 > maxSegmentBytes || (end+1)*1400 <= maxSegmentBytes {
		t.Errorf("1,400-byte datagrams: an entry takes %d (%d bytes), limit %d bytes", end, end*1400, maxSegmentBytes)
	}
}

// TestGather: datagrams to one destination that follow closely are brought together in
// their order; others keep theirs; one beyond the window stays where it is.
func TestGather(t *testing.T) {
	a, b, c := netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:1"), netip.MustParseAddrPort("10.0.0.3:1")
	batch := []*outgoing{out(a, 10, 1), out(b, 10, 2), out(a, 10, 3), out(c, 10, 4), out(b, 10, 5), out(a, 10, 6)}
	for range gatherWindow {
		batch = append(batch, out(c, 10, 7))
	}
	batch = append(batch, out(a, 10, 8)) // gatherWindow others after the last gathered one
	for i := 0; i < len(batch); i++ {
		gather(batch, i)
	}
	var got []byte
	for _, o := range batch {
		got = append(got, o.b[0])
	}
	want := []byte{1, 3, 6, 2, 5, 4, 7, 7, 7, 7, 7, 7, 7, 7, 8}
	if !bytes.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

// TestBatchWriterSegmentsRuns sends a key frame's worth of datagrams to one socket and
// others to a second one in one batch, interleaved: every datagram arrives whole and in
// order, and where the kernel offers segmentation the run of five traveled as one entry,
// the two datagrams to the second socket, brought together, as another.
func TestBatchWriterSegmentsRuns(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var rx [2]*net.UDPConn
	for i := range rx {
		if rx[i], err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
			t.Fatal(err)
		}
		defer rx[i].Close()
	}
	to := func(i int) netip.AddrPort { return rx[i].LocalAddr().(*net.UDPAddr).AddrPort() }
	var stats Stats
	w := newBatchWriter(conn, &stats, zap.NewNop())
	defer w.close()
	want := [2][][]byte{}
	add := func(dst, size int, fill byte) {
		o := out(to(dst), size, fill)
		w.batch = append(w.batch, o)
		want[dst] = append(want[dst], o.b)
	}
	for i := range 4 {
		add(0, 1180, byte(i))
	}
	add(0, 300, 4)
	add(1, 60, 5)
	add(0, 1180, 6)
	add(1, 60, 7)
	w.send() // the run goroutine only reads the queue, which stays empty
	for i := range rx {
		_ = rx[i].SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 2000)
		for j, d := range want[i] {
			n, err := rx[i].Read(buf)
			if err != nil {
				t.Fatalf("socket %d, datagram %d: %v", i, j, err)
			}
			if !bytes.Equal(buf[:n], d) {
				t.Fatalf("socket %d, datagram %d: %d bytes of %d, want %d of %d", i, j, n, buf[0], len(d), d[0])
			}
		}
	}
	if got := stats.DatagramsOut.Load(); got != 8 {
		t.Errorf("DatagramsOut %d, want 8", got)
	}
	if runtime.GOOS == "linux" && w.gso && stats.DatagramsSegmented.Load() != 7 {
		t.Errorf("%d datagrams sent segmented, want the run of 5 and the pair", stats.DatagramsSegmented.Load())
	}
	t.Logf("segmentation %v: %d datagrams segmented", w.gso, stats.DatagramsSegmented.Load())
}

// failingConn refuses segmented entries with errno (as a kernel without segmentation
// offload for the route does) and one-datagram entries to bad; it records what it sent.
type failingConn struct {
	errno syscall.Errno
	bad   netip.AddrPort
	sent  [][]byte
	calls int
}

func (c *failingConn) WriteBatch(ms []ipv4.Message, _ int) (int, error) {
	c.calls++
	for i, m := range ms {
		ua := m.Addr.(*net.UDPAddr)
		if len(m.OOB) > 0 || ua.AddrPort() == c.bad {
			if i == 0 {
				return -1, c.errno
			}
			return i, nil // the kernel reports the error at the next call
		}
		for _, b := range m.Buffers {
			c.sent = append(c.sent, append([]byte(nil), b...))
		}
	}
	return len(ms), nil
}

// TestBatchWriterFallsBackWhenSegmentationIsRefused: a refused segmented entry turns
// segmentation off and its datagrams, and the rest, go one by one, none lost; an entry
// refused for its destination is skipped and counted, the others go.
func TestBatchWriterFallsBackWhenSegmentationIsRefused(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("segmentation is used on Linux only")
	}
	a, bad := netip.MustParseAddrPort("127.0.0.1:1000"), netip.MustParseAddrPort("127.0.0.1:2000")
	fc := &failingConn{errno: syscall.EIO, bad: bad}
	var stats Stats
	w := newBatchWriterOn(fc, true, &stats, zap.NewNop())
	var want [][]byte
	for i := range 3 {
		o := out(a, 100, byte(i))
		w.batch = append(w.batch, o)
		want = append(want, o.b)
	}
	w.batch = append(w.batch, out(bad, 50, 9)) // refused: skipped
	for i := range 3 {
		o := out(a, 100, byte(10+i))
		w.batch = append(w.batch, o)
		want = append(want, o.b)
	}
	w.send()
	if len(fc.sent) != len(want) {
		t.Fatalf("sent %d datagrams, want %d", len(fc.sent), len(want))
	}
	for i := range want {
		if !bytes.Equal(fc.sent[i], want[i]) {
			t.Fatalf("datagram %d: %x…, want %x…", i, fc.sent[i][0], want[i][0])
		}
	}
	if w.gso || stats.SegmentationRefused.Load() != 1 || stats.WriteErrors.Load() != 1 {
		t.Fatalf("segmentation %v, refused %d, write errors %d; want off, 1, 1", w.gso, stats.SegmentationRefused.Load(), stats.WriteErrors.Load())
	}
	if n := stats.DatagramsSegmented.Load(); n != 0 {
		t.Errorf("%d datagrams counted as sent segmented, want 0: the only segmented entry was refused", n)
	}
}
