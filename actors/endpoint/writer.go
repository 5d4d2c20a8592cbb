package endpoint

import (
	"errors"
	"net"
	"net/netip"
	"sync"

	"go.uber.org/zap"
	"golang.org/x/net/ipv4"

	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// batchWriter sends the datagrams of every session of an endpoint from one goroutine, in
// batches of up to maxBatch per system call (sendmmsg on Linux): a server fanning media
// out to a thousand subscribers writes thousands of datagrams per second, and one
// system call each, from goroutines contending for the socket, was most of its CPU.
// WriteDatagram copies the datagram (the caller reuses its buffer) and queues it; it
// blocks only when the queue is full, which is the socket's own backpressure.
//
// Where the kernel offers UDP segmentation offload (Linux GSO), a run of one session's
// datagrams that share a size (a key frame's fragments to one subscriber) travels as one
// entry of the batch, which the kernel, or the network card, cuts into the same
// datagrams: the stack is traversed once per run instead of once per datagram. If the
// kernel refuses a segmented entry (a device without checksum offload, IPsec), the writer
// sends that run, and everything after, one datagram per entry.
type batchWriter struct {
	pc    batchConn // an ipv4.PacketConn: it works for IPv6 sockets too, the batch calls are family-neutral
	queue chan *outgoing
	done  chan struct{}
	stats *Stats
	log   *zap.Logger
	gso   bool // coalesce runs into segmented entries

	msgs  []ipv4.Message
	addrs []net.UDPAddr
	bufs  [][]byte // the batch's datagrams, in order: each entry's iovec is a slice of it
	oob   []byte   // a UDP_SEGMENT control message per entry
	first []int    // the first datagram of each entry, then the batch's end
	batch []*outgoing
}

// batchConn is the socket's batch write (sendmmsg).
type batchConn interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

type outgoing struct {
	b   []byte
	to  netip.AddrPort
	sid uint32 // the session ID the datagram is for (0 for handshakes)
}

// sameSession reports whether two datagrams go to one session: runs are formed per
// session, as a server's sessions each have an address of their own. (Sessions sharing a
// socket, as a load tool's do, are not run together, so that what the runs save for a
// server measured by such a tool is what it saves for one serving separate clients.)
func sameSession(a, b *outgoing) bool { return a.sid == b.sid && a.to == b.to }

const (
	maxBatch       = 64
	writeQueueSize = 8192
	// One segmented entry carries at most maxSegments datagrams (the kernel's
	// UDP_MAX_SEGMENTS) and maxSegmentBytes bytes (one UDP payload is at most 64 KB).
	maxSegments     = 64
	maxSegmentBytes = 60000
)

var outgoingPool = sync.Pool{New: func() any { return &outgoing{b: make([]byte, 0, 1500)} }}

func newBatchWriter(conn *net.UDPConn, stats *Stats, log *zap.Logger) *batchWriter {
	w := newBatchWriterOn(ipv4.NewPacketConn(conn), probeSegmentation(conn), stats, log)
	go w.run()
	return w
}

// newBatchWriterOn returns a writer on pc with its batch buffers, not yet running (a test
// gives it a fake connection and calls send).
func newBatchWriterOn(pc batchConn, gso bool, stats *Stats, log *zap.Logger) *batchWriter {
	w := &batchWriter{
		pc: pc, queue: make(chan *outgoing, writeQueueSize), done: make(chan struct{}), stats: stats, log: log, gso: gso,
		msgs: make([]ipv4.Message, maxBatch), addrs: make([]net.UDPAddr, maxBatch),
		bufs: make([][]byte, maxBatch), oob: make([]byte, maxBatch*segmentOOBSize), first: make([]int, maxBatch+1),
		batch: make([]*outgoing, 0, maxBatch),
	}
	for i := range w.addrs {
		w.addrs[i].IP = make(net.IP, 16)
	}
	return w
}

// write queues a copy of b for to.
func (w *batchWriter) write(b []byte, to netip.AddrPort) {
	o := outgoingPool.Get().(*outgoing)
	o.b = append(o.b[:0], b...)
	o.to = to
	o.sid, _ = cryptoutil.SessionID(b)
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

// send writes the batch, resuming after a partial write and skipping an entry whose
// destination the kernel refused.
func (w *batchWriter) send() {
	n := len(w.batch)
	w.stats.WriteBatches.Add(1)
	for start := 0; start < n; {
		m := w.build(start)
		k, err := w.pc.WriteBatch(w.msgs[:m], 0)
		k = max(k, 0)
		w.countSegmented(min(k, m))
		if err == nil {
			start = w.first[min(k, m)]
			continue
		}
		if errors.Is(err, net.ErrClosed) {
			break
		}
		// Entry k failed.
		k = min(k, m-1)
		if w.gso && w.first[k+1]-w.first[k] > 1 && segmentationRefused(err) {
			w.gso = false
			w.stats.SegmentationRefused.Add(1)
			w.log.Warn("the kernel refused a segmented send (UDP GSO); sending datagrams one by one", zap.Error(err))
			start = w.first[k]
			continue
		}
		w.stats.WriteErrors.Add(1)
		start = w.first[k+1]
	}
	var bytes uint64
	for i, o := range w.batch {
		bytes += uint64(len(o.b))
		outgoingPool.Put(o)
		w.batch[i] = nil
		w.bufs[i] = nil
	}
	w.stats.DatagramsOut.Add(uint64(n))
	w.stats.BytesOut.Add(bytes)
}

// build fills the entries of a sendmmsg call with the batch's datagrams from start on:
// one entry per datagram, or with segmentation one per run (runEnd). It returns the
// number of entries; w.first[j] is the first datagram of entry j, w.first[count] the end.
func (w *batchWriter) build(start int) int {
	j := 0
	for i := start; i < len(w.batch); j++ {
		end := i + 1
		if w.gso {
			if len(w.batch[i].b) >= gatherMinSize {
				gather(w.batch, i)
			}
			end = runEnd(w.batch, i)
		}
		for k := i; k < end; k++ {
			w.bufs[k] = w.batch[k].b
		}
		o := w.batch[i]
		a := &w.addrs[j]
		ip := o.to.Addr().Unmap()
		if ip.Is4() {
			v4 := ip.As4()
			a.IP = append(a.IP[:0], v4[:]...)
		} else {
			v6 := ip.As16()
			a.IP = append(a.IP[:0], v6[:]...)
		}
		a.Port, a.Zone = int(o.to.Port()), ""
		w.msgs[j] = ipv4.Message{Buffers: w.bufs[i:end], Addr: a}
		if end-i > 1 {
			w.msgs[j].OOB = putSegmentSize(w.oob[j*segmentOOBSize:], len(o.b))
		}
		w.first[j] = i
		i = end
	}
	w.first[j] = len(w.batch)
	return j
}

// countSegmented counts the datagrams of the segmented entries among the first k entries
// of the last build, which the kernel took: entries refused or built again after a partial
// write are counted once, when sent.
func (w *batchWriter) countSegmented(k int) {
	if !w.gso {
		return
	}
	for j := range k {
		if n := w.first[j+1] - w.first[j]; n > 1 {
			w.stats.DatagramsSegmented.Add(uint64(n))
		}
	}
}

// gatherWindow is how far gather looks past the datagrams it already brought together;
// gather looks only after datagrams of at least gatherMinSize bytes: a session writes
// several datagrams at once for a message larger than a packet, and those are full but
// the last (a session's packets are at most rtmfp.MaxPacketSize bytes before framing),
// while small datagrams (acknowledgements, audio) come one per session and a search
// after each would cost more than it finds.
const (
	gatherWindow  = 8
	gatherMinSize = 1024
)

// gather brings the datagrams of batch[i]'s session that follow it closely (within
// gatherWindow entries for others) next to it, keeping their order. Sessions running on
// different workers interleave their datagrams in the queue, which would cut a run short;
// datagrams of different sessions have no order to keep.
func gather(batch []*outgoing, i int) {
	first := batch[i]
	j := i + 1 // where the session's next datagram goes
	for k := i + 1; k < len(batch) && k-j < gatherWindow; k++ {
		if !sameSession(batch[k], first) {
			continue
		}
		if k != j {
			o := batch[k]
			copy(batch[j+1:k+1], batch[j:k])
			batch[j] = o
		}
		j++
	}
}

// runEnd returns the end of the run of datagrams from batch[i] that one segmented entry
// can carry: for the same session, of the first one's size except for a shorter last
// one, at most maxSegments of them and maxSegmentBytes in all.
func runEnd(batch []*outgoing, i int) int {
	first := batch[i]
	size, total := len(first.b), len(first.b)
	k := i + 1
	for k < len(batch) && k-i < maxSegments {
		o := batch[k]
		if !sameSession(o, first) || len(o.b) == 0 || len(o.b) > size || total+len(o.b) > maxSegmentBytes {
			break
		}
		total += len(o.b)
		k++
		if len(o.b) < size {
			break
		}
	}
	return k
}
