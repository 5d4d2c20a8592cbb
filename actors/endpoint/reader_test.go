package endpoint

import (
	"bytes"
	"net"
	"runtime"
	"testing"

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
	r := newBatchReader(conn, pool)

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
