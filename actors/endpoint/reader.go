package endpoint

import (
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/actorrtmfp/actorrtmfp/actors/session"
)

// readBatch is how many datagrams one read may return at most (recvmmsg on Linux;
// elsewhere golang.org/x/net reads one at a time behind the same call). A reader starts
// with readBatchStart slots, each holding a pooled buffer of readBufferSize, and doubles
// them whenever a read fills them all: a client endpoint per connection (client.Dial)
// then holds a few buffers, a busy server 32.
const (
	readBatch      = 32
	readBatchStart = 4
)

// batchReader reads the endpoint's socket up to readBatch datagrams per system call into
// pooled Inbound buffers. A server fanning media out to a thousand subscribers receives
// tens of thousands of acknowledgements a second, and one recvfrom each was a system call
// per datagram on the one goroutine every datagram passes through.
type batchReader struct {
	pc   *ipv4.PacketConn // family-neutral batch calls, as for the writer
	pool *session.InboundPool
	ins  []*session.Inbound // the Inbound behind each slot of msgs
	msgs []ipv4.Message
	bufs [][]byte
	size int // slots in use, readBatchStart up to readBatch
}

// newBatchReader reads conn into Inbound values of pool. With stamps (a socket that
// records kernel receive times, see enableStamps) each slot also has room for the
// receive time's control message.
func newBatchReader(conn *net.UDPConn, pool *session.InboundPool, stamps bool) *batchReader {
	r := &batchReader{
		pc: ipv4.NewPacketConn(conn), pool: pool,
		ins: make([]*session.Inbound, readBatch), msgs: make([]ipv4.Message, readBatch), bufs: make([][]byte, readBatch),
		size: readBatchStart,
	}
	var oob []byte
	if stamps {
		oob = make([]byte, readBatch*stampSpace)
	}
	for i := range r.msgs {
		r.msgs[i].Buffers = r.bufs[i : i+1]
		if stamps {
			r.msgs[i].OOB = oob[i*stampSpace : (i+1)*stampSpace : (i+1)*stampSpace]
		}
	}
	return r
}

// read blocks until at least one datagram arrives and returns how many it read; take
// hands them out. The slots taken are refilled at the next read.
func (r *batchReader) read() (int, error) {
	for i, in := range r.ins[:r.size] {
		if in == nil {
			in = r.pool.Get()
			r.ins[i] = in
			r.bufs[i] = in.Buffer()
		}
	}
	n, err := r.pc.ReadBatch(r.msgs[:r.size], 0)
	if n == r.size && r.size < readBatch {
		r.size *= 2
	}
	return n, err
}

// take returns the i-th datagram read, its buffer cut to its size, and its source, and
// gives up the slot. A datagram larger than the buffer (MSG_TRUNC) has ok false: it was
// cut, so it can only be dropped (the Inbound is still returned, for release). So has
// one without a UDP source address, which a UDP socket does not produce.
func (r *batchReader) take(i int) (in *session.Inbound, from netip.AddrPort, ok bool) {
	in, m := r.ins[i], &r.msgs[i]
	r.ins[i] = nil
	in.SetBuffer(r.bufs[i][:m.N])
	if ua, isUDP := m.Addr.(*net.UDPAddr); isUDP {
		ap := ua.AddrPort()
		from = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) // IPv4 peers of a dual-stack socket as IPv4
	}
	return in, from, m.Flags&msgTrunc == 0 && from.IsValid()
}

// stamp returns the kernel's receive time (Unix nanoseconds) of the i-th datagram read,
// if the socket records them; call it before take.
func (r *batchReader) stamp(i int) (int64, bool) {
	m := &r.msgs[i]
	if m.NN <= 0 || m.NN > len(m.OOB) {
		return 0, false
	}
	return kernelStamp(m.OOB[:m.NN])
}

// arrivedAt converts a kernel receive time ns (Unix nanoseconds) to the endpoint clock,
// given the clock (at) and the wall time (wall) of the moment the read returned, the wall
// time read first (Endpoint.readLoop). The
// datagram's age is taken on the wall clock, which the kernel stamps with, and subtracted
// from the monotonic reading, so a wall clock stepped while the endpoint runs can move a
// receive time by no more than that age; it is never later than the read.
func arrivedAt(at time.Duration, wall, ns int64) time.Duration {
	age := time.Duration(wall - ns)
	return at - min(max(age, 0), at)
}

// release returns the Inbound values still held by the slots (the socket closed).
func (r *batchReader) release() {
	for i, in := range r.ins {
		if in != nil {
			in.Release()
			r.ins[i] = nil
		}
	}
}
