package endpoint

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"

	"github.com/actorrtmfp/actorrtmfp/actors/session"
)

// readBatch is how many datagrams one read may return (recvmmsg on Linux; elsewhere
// golang.org/x/net reads one at a time behind the same call).
const readBatch = 32

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
}

func newBatchReader(conn *net.UDPConn, pool *session.InboundPool) *batchReader {
	r := &batchReader{
		pc: ipv4.NewPacketConn(conn), pool: pool,
		ins: make([]*session.Inbound, readBatch), msgs: make([]ipv4.Message, readBatch), bufs: make([][]byte, readBatch),
	}
	for i := range r.msgs {
		r.msgs[i].Buffers = r.bufs[i : i+1]
	}
	return r
}

// read blocks until at least one datagram arrives and returns how many it read; take
// hands them out. The slots taken are refilled at the next read.
func (r *batchReader) read() (int, error) {
	for i, in := range r.ins {
		if in == nil {
			in = r.pool.Get()
			r.ins[i] = in
			r.bufs[i] = in.Buffer()
		}
	}
	return r.pc.ReadBatch(r.msgs, 0)
}

// take returns the i-th datagram read, its buffer cut to its size, and its source, and
// gives up the slot. A datagram larger than the buffer (MSG_TRUNC) has ok false: it was
// cut, so it can only be dropped (the Inbound is still returned, for release).
func (r *batchReader) take(i int) (in *session.Inbound, from netip.AddrPort, ok bool) {
	in, m := r.ins[i], &r.msgs[i]
	r.ins[i] = nil
	in.SetBuffer(r.bufs[i][:m.N])
	if ua, isUDP := m.Addr.(*net.UDPAddr); isUDP {
		from = ua.AddrPort()
	}
	return in, from, m.Flags&msgTrunc == 0 && from.IsValid()
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
