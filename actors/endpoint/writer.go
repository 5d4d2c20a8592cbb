package endpoint

import (
	"errors"
	"net"
	"net/netip"
	"sync"

	"golang.org/x/net/ipv4"
)

// batchWriter sends the datagrams of every session of an endpoint from one goroutine, in
// batches of up to maxBatch per system call (sendmmsg on Linux): a server fanning media
// out to a thousand subscribers writes thousands of datagrams per second, and one
// system call each, from goroutines contending for the socket, was most of its CPU.
// WriteDatagram copies the datagram (the caller reuses its buffer) and queues it; it
// blocks only when the queue is full, which is the socket's own backpressure.
type batchWriter struct {
	pc    *ipv4.PacketConn // works for IPv6 sockets too: the batch calls are family-neutral
	queue chan *outgoing
	done  chan struct{}
	stats *Stats

	msgs  []ipv4.Message
	addrs []net.UDPAddr
	bufs  [][]byte
	batch []*outgoing
}

type outgoing struct {
	b  []byte
	to netip.AddrPort
}

const (
	maxBatch       = 64
	writeQueueSize = 8192
)

var outgoingPool = sync.Pool{New: func() any { return &outgoing{b: make([]byte, 0, 1500)} }}

func newBatchWriter(conn *net.UDPConn, stats *Stats) *batchWriter {
	w := &batchWriter{
		pc: ipv4.NewPacketConn(conn), queue: make(chan *outgoing, writeQueueSize), done: make(chan struct{}), stats: stats,
		msgs: make([]ipv4.Message, maxBatch), addrs: make([]net.UDPAddr, maxBatch),
		bufs: make([][]byte, maxBatch), batch: make([]*outgoing, 0, maxBatch),
	}
	for i := range w.addrs {
		w.addrs[i].IP = make(net.IP, 16)
	}
	go w.run()
	return w
}

// write queues a copy of b for to.
func (w *batchWriter) write(b []byte, to netip.AddrPort) {
	o := outgoingPool.Get().(*outgoing)
	o.b = append(o.b[:0], b...)
	o.to = to
	w.queue <- o
}

// close stops the writer after it sent what was queued.
func (w *batchWriter) close() {
	close(w.queue)
	<-w.done
}

func (w *batchWriter) run() {
	defer close(w.done)
	for o := range w.queue {
		w.batch = append(w.batch[:0], o)
	fill:
		for len(w.batch) < maxBatch {
			select {
			case o, ok := <-w.queue:
				if !ok {
					break fill
				}
				w.batch = append(w.batch, o)
			default:
				break fill
			}
		}
		w.send()
	}
}

// send writes the batch, resuming after a partial write and skipping a datagram whose
// destination the kernel refused.
func (w *batchWriter) send() {
	n := len(w.batch)
	for i, o := range w.batch {
		a := &w.addrs[i]
		ip := o.to.Addr().Unmap()
		if ip.Is4() {
			v4 := ip.As4()
			a.IP = append(a.IP[:0], v4[:]...)
		} else {
			v6 := ip.As16()
			a.IP = append(a.IP[:0], v6[:]...)
		}
		a.Port, a.Zone = int(o.to.Port()), ""
		w.bufs[i] = o.b
		w.msgs[i] = ipv4.Message{Buffers: w.bufs[i : i+1], Addr: a}
	}
	w.stats.WriteBatches.Add(1)
	for off := 0; off < n; {
		k, err := w.pc.WriteBatch(w.msgs[off:n], 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				break
			}
			w.stats.WriteErrors.Add(1)
			k = max(k, 0) + 1 // skip the datagram that failed
		}
		off += k
	}
	for i, o := range w.batch {
		outgoingPool.Put(o)
		w.batch[i] = nil
		w.bufs[i] = nil
	}
	w.stats.DatagramsOut.Add(uint64(n))
}
