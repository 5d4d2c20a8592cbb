package session

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
)

// Tests of the limits a receive flow puts on its sender (docs/security.md): messages
// larger than the window, the largest message, stalled flows, and the receive budgets of
// a session, an address and a server.

// TestRecvFlowMessageManyTimesTheWindow: the pieces of a message arriving in order go to
// the message at the head, which the window does not count: the window stays open while a
// message sixteen times its size streams in, nothing beyond the hard limit is refused,
// and the message is delivered whole.
func TestRecvFlowMessageManyTimesTheWindow(t *testing.T) {
	const capacity = 4 << 10
	f := newRecvFlow(1, nil, 0, false, &recvLimits{capacity: capacity, maxAhead: 64, maxRanges: 8, hardLimit: capacity})
	const pieces = 64
	var want []byte
	for seq := uint64(1); seq <= pieces; seq++ {
		fra := pieceFlag(seq, pieces)
		piece := bytes.Repeat([]byte{byte(seq)}, 1000)
		want = append(want, piece...)
		out, err := f.onData(fra, seq, 0, piece, nil)
		if err != nil {
			t.Fatalf("piece %d refused: %v", seq, err)
		}
		if w := f.windowBlocks(); w != capacity/1024 {
			t.Fatalf("after piece %d: window %d blocks, want the whole capacity (%d)", seq, w, capacity/1024)
		}
		if seq < pieces {
			if len(out) != 0 || f.asm.size != int(seq)*1000 {
				t.Fatalf("piece %d: delivered %d, head message of %d bytes", seq, len(out), f.asm.size)
			}
			continue
		}
		if len(out) != 1 || !bytes.Equal(out[0], want) {
			t.Fatalf("delivered %d messages, want the %d-byte message whole", len(out), len(want))
		}
	}
	if f.footprint() != 0 || f.assembling() {
		t.Fatalf("after delivery: footprint %d, assembling %v", f.footprint(), f.assembling())
	}
}

// TestRecvFlowHeadMessageTakesBufferedPieces: pieces that arrived out of order join the
// message at the head once the hole before them is filled, and a piece that goes missing
// for good (abandoned: the forward sequence number moves past it) ends that message.
func TestRecvFlowHeadMessageTakesBufferedPieces(t *testing.T) {
	f := testRecvFlow(64 << 10)
	wantMsgs(t, feed(t, f, fraBegin, 1, 0, "a"))
	wantMsgs(t, feed(t, f, fraMiddle, 3, 0, "c"))
	wantMsgs(t, feed(t, f, fraEnd, 4, 0, "d"))
	if !f.assembling() || len(f.frags) != 2 {
		t.Fatalf("assembling %v, %d fragments buffered", f.assembling(), len(f.frags))
	}
	wantMsgs(t, feed(t, f, fraMiddle, 2, 0, "b"), "abcd")
	// A message whose middle piece is abandoned: the rest is dropped, the next delivered.
	wantMsgs(t, feed(t, f, fraBegin, 5, 0, "e"))
	wantMsgs(t, feed(t, f, fraEnd, 7, 6, "g"))
	wantMsgs(t, feed(t, f, fraWhole, 8, 6, "h"), "h")
	if f.assembling() || f.footprint() != 0 || f.dropped != 2 {
		t.Fatalf("assembling %v, footprint %d, dropped %d", f.assembling(), f.footprint(), f.dropped)
	}
}

// TestRecvFlowMaxMessage: a message is delivered up to the largest size, and the piece
// that would make it larger ends the flow.
func TestRecvFlowMaxMessage(t *testing.T) {
	const max = 3000
	f := newRecvFlow(1, nil, 0, false, &recvLimits{capacity: 64 << 10, maxAhead: 64, maxRanges: 8, maxMessage: max})
	piece := bytes.Repeat([]byte{'x'}, 1000)
	wantMsgs(t, feed(t, f, fraBegin, 1, 0, string(piece)))
	wantMsgs(t, feed(t, f, fraMiddle, 2, 0, string(piece)))
	if out := feed(t, f, fraEnd, 3, 0, string(piece)); len(out) != 1 || len(out[0]) != max {
		t.Fatalf("a message of exactly the largest size: delivered %d", len(out))
	}
	feed(t, f, fraBegin, 4, 0, string(piece))
	feed(t, f, fraMiddle, 5, 0, string(piece))
	feed(t, f, fraMiddle, 6, 0, string(piece))
	if _, err := f.onData(fraMiddle, 7, 0, []byte("y"), nil); err != errMessageTooLarge {
		t.Fatalf("one byte beyond the largest message: %v, want errMessageTooLarge", err)
	}
	// In network order, a complete message above a hole is held to the same size.
	g := newRecvFlow(1, nil, 0, false, &recvLimits{capacity: 64 << 10, maxAhead: 64, maxRanges: 8, maxMessage: max})
	g.networkOrder = true
	feed(t, g, fraBegin, 2, 0, string(piece))
	feed(t, g, fraMiddle, 3, 0, string(piece))
	feed(t, g, fraMiddle, 4, 0, string(piece))
	if _, err := g.onData(fraEnd, 5, 0, []byte("y"), nil); err != errMessageTooLarge {
		t.Fatalf("a network-order message beyond the largest: %v, want errMessageTooLarge", err)
	}
}

// pieceFlag is the fragment flag of piece seq (from 1) of a message of last pieces (0:
// whose end is not sent).
func pieceFlag(seq, last uint64) byte {
	switch seq {
	case 1:
		return fraBegin
	case last:
		return fraEnd
	}
	return fraMiddle
}

// udPacket is a packet of n's far end carrying chunks.
func udPacket(n *simNode, chunks ...rtmfp.ChunkEncoder) []byte {
	pw := rtmfp.NewPacketWriter(nil, n.peer.s.header(n.sim.clock.now), maxPacket)
	for _, c := range chunks {
		if !pw.WriteChunk(c) {
			n.sim.t.Fatal("chunks do not fit a packet")
		}
	}
	return pw.Packet()
}

// piece is fragment seq of flow id: a first piece (with the flow's options when seq is 1),
// a middle one or a last one, of size bytes.
func piece(id, seq uint64, fra byte, size int) rtmfp.UserData {
	ud := rtmfp.UserData{Flags: fra, FlowID: id, SequenceNumber: seq, FSNOffset: seq, Data: bytes.Repeat([]byte{byte(seq)}, size)}
	if seq == 1 {
		ud.Flags |= rtmfp.UserDataOptions
		ud.Options = rtmfp.FlowOptions{Metadata: []byte("limits")}.Append(nil)
	}
	return ud
}

// sentException returns the code of the last flow exception n's session sent for flow id,
// as its far end read it (-1: none).
func sentException(t *testing.T, n *simNode, id uint64) int64 {
	t.Helper()
	f := n.s.recv.get(id)
	if f == nil {
		t.Fatalf("no receive flow %d", id)
	}
	if f.state != rfRejected {
		return -1
	}
	for _, c := range packetChunks(t, n.s, n.s.writeAcks) {
		if c.Type == rtmfp.ChunkFlowException {
			x, err := rtmfp.ParseFlowException(c.Payload)
			if err == nil && x.FlowID == id {
				return int64(x.Code)
			}
		}
	}
	return int64(f.exceptionCode)
}

// TestSimFourMebibyteMessageDeliveredWhole: with the default limits (a 256 KiB window, a
// 4 MiB largest message), a 4 MiB message crosses a lossy, reordering path and arrives
// whole, and the receiver holds nothing afterwards.
func TestSimFourMebibyteMessageDeliveredWhole(t *testing.T) {
	link := simLink{Delay: 20 * time.Millisecond, Loss: 0.02, Reorder: 0.02}
	m, client, server := newSim(t, 3, link, link, Config{SendQueue: 8 << 20})
	msg := simPayload(1, 4<<20)
	client.write(&Write{Key: FlowKey{Metadata: "big"}, Data: msg})
	var got [][]byte
	server.onMessage = func(_ uint64, data []byte) { got = append(got, data) }
	if !m.run(m.clock.now+5*time.Minute, func() bool { return len(got) > 0 }) {
		t.Fatalf("no message after 5 virtual minutes (fragments refused %d)", m.stats.DropFragment.Load())
	}
	if len(got) != 1 || !bytes.Equal(got[0], msg) {
		t.Fatalf("delivered %d messages, want the 4 MiB message whole", len(got))
	}
	if server.s.rx != nil && server.s.rx.bytes != 0 {
		t.Fatalf("the receiver still holds %d bytes", server.s.rx.bytes)
	}
	if n := m.stats.RejectedFlows.Load() + m.stats.RejectedTooLarge.Load() + m.stats.BudgetSession.Load(); n != 0 {
		t.Fatalf("%d rejections", n)
	}
}

// TestSimMessageBeyondTheLargestRejectsItsFlow: the sender of a message larger than the
// receiver takes learns it from a flow exception with ExceptionMessageTooLarge; the
// receiver delivers nothing of it and frees what it held.
func TestSimMessageBeyondTheLargestRejectsItsFlow(t *testing.T) {
	link := simLink{Delay: 10 * time.Millisecond}
	m, client, server := newSim(t, 4, link, link, Config{MaxMessage: 64 << 10})
	client.write(&Write{Key: FlowKey{Metadata: "big"}, Data: simPayload(1, 100<<10)})
	if !m.run(m.clock.now+time.Minute, func() bool { return len(client.rejected) > 0 }) {
		t.Fatal("the sender was never told")
	}
	if c := client.rejected[0].Code; c != ExceptionMessageTooLarge {
		t.Fatalf("exception code %d, want %d", c, ExceptionMessageTooLarge)
	}
	if m.stats.RejectedTooLarge.Load() != 1 || len(server.msgs) != 0 {
		t.Fatalf("rejected %d, delivered %v", m.stats.RejectedTooLarge.Load(), server.msgs)
	}
	if server.s.rx.bytes != 0 {
		t.Fatalf("the receiver still holds %d bytes", server.s.rx.bytes)
	}
}

// TestSimStalledFlowRejected: a flow that holds fragments behind a hole that is never
// filled is rejected with ExceptionStalled after FlowStallTimeout, not before; one whose
// message trickles in, a piece at a time, is not.
func TestSimStalledFlowRejected(t *testing.T) {
	const stall = 30 * time.Second
	link := simLink{Delay: 10 * time.Millisecond}
	m, client, server := newSim(t, 5, link, link, Config{FlowStallTimeout: stall})
	start := m.clock.now
	// Flow 1: its first piece, then pieces 3 and 4 — piece 2 never comes.
	for _, seq := range []uint64{1, 3, 4} {
		fra := pieceFlag(seq, 0)
		server.receivePacket(udPacket(server, piece(1, seq, fra, 500)))
	}
	// Flow 2: a message trickling in, one piece every 10 s.
	server.receivePacket(udPacket(server, piece(2, 1, fraBegin, 500)))
	for i := uint64(2); i <= 8; i++ {
		at, seq := time.Duration(i-1)*10*time.Second, i
		fra := pieceFlag(seq, 8)
		m.after(at, func() { server.receivePacket(udPacket(server, piece(2, seq, fra, 500))) })
	}
	// Keep the session alive meanwhile (the client's keepalives do).
	_ = client
	m.run(start+stall-time.Second, nil)
	if code := sentException(t, server, 1); code != -1 {
		t.Fatalf("flow 1 rejected (code %d) before the stall timeout", code)
	}
	m.run(start+stall+time.Second, nil)
	if code := sentException(t, server, 1); code != int64(ExceptionStalled) {
		t.Fatalf("stalled flow: exception %d, want %d", code, ExceptionStalled)
	}
	if m.stats.RejectedStalled.Load() != 1 {
		t.Fatalf("%d stalls counted", m.stats.RejectedStalled.Load())
	}
	m.run(start+2*time.Minute, nil)
	if code := sentException(t, server, 2); code != -1 {
		t.Fatalf("a flow making progress was rejected (code %d)", code)
	}
	if got := server.msgs[2]; len(got) != 1 || len(got[0]) != 8*500 {
		t.Fatalf("trickled message: %d messages", len(got))
	}
	if server.s.rx.bytes != 0 || server.s.rx.stallAt != 0 {
		t.Fatalf("after: %d bytes held, next stall check at %v", server.s.rx.bytes, server.s.rx.stallAt)
	}
}

// TestSimSessionBudget: many flows each assembling a large message from one sender: the
// flow that takes the session past its receive budget is rejected with
// ExceptionSessionBudget, and the session never holds more than the budget and a
// fragment.
func TestSimSessionBudget(t *testing.T) {
	const budget = 256 << 10
	link := simLink{Delay: 10 * time.Millisecond}
	m, _, server := newSim(t, 6, link, link, Config{RecvBudget: budget})
	const flows, size = 16, 1000
	peak := 0
	for seq := uint64(1); seq <= 40; seq++ {
		for id := uint64(1); id <= flows; id++ {
			fra := pieceFlag(seq, 0)
			server.receivePacket(udPacket(server, piece(id, seq, fra, size)))
			peak = max(peak, server.s.rx.bytes)
		}
	}
	if peak > budget+size+fragOverhead {
		t.Fatalf("the session held %d bytes, budget %d", peak, budget)
	}
	rejected := 0
	for id := uint64(1); id <= flows; id++ {
		switch code := sentException(t, server, id); code {
		case -1:
		case int64(ExceptionSessionBudget):
			rejected++
		default:
			t.Fatalf("flow %d: exception %d", id, code)
		}
	}
	if rejected == 0 || m.stats.BudgetSession.Load() != uint64(rejected) {
		t.Fatalf("%d flows rejected, %d counted", rejected, m.stats.BudgetSession.Load())
	}
}

// TestSimAddressBudget: two sessions from one address share its budget — the flow that
// takes the address past it is rejected with ExceptionAddressBudget — while a session
// from another address is unaffected.
func TestSimAddressBudget(t *testing.T) {
	link := simLink{Delay: 10 * time.Millisecond}
	const perAddress = 100 << 10
	budget := NewBudget(perAddress, 0)
	var servers []*simNode
	for i, from := range []string{"10.0.0.1:1000", "10.0.0.1:2000", "10.0.0.9:1000"} {
		_, client, server := newSim(t, uint64(10+i), link, link, Config{})
		server.s.p.Shared.Budget = budget
		client.addr = netip.MustParseAddrPort(from)
		server.s.addr = client.addr
		servers = append(servers, server)
	}
	// The two sessions of 10.0.0.1 assemble messages of 60 KB each.
	for seq := uint64(1); seq <= 60; seq++ {
		fra := pieceFlag(seq, 0)
		for _, s := range servers[:2] {
			s.receivePacket(udPacket(s, piece(1, seq, fra, 1000)))
		}
		if got := budget.AddressUsed(netip.MustParseAddr("10.0.0.1")); got > perAddress+1000+fragOverhead {
			t.Fatalf("the address holds %d bytes, budget %d", got, perAddress)
		}
	}
	a, b := sentException(t, servers[0], 1), sentException(t, servers[1], 1)
	if a != int64(ExceptionAddressBudget) && b != int64(ExceptionAddressBudget) {
		t.Fatalf("exceptions %d and %d: neither flow of the address over its budget was rejected", a, b)
	}
	// The session of another address takes 90 KB: its own address's budget.
	other := servers[2]
	for seq := uint64(1); seq <= 90; seq++ {
		fra := pieceFlag(seq, 0)
		other.receivePacket(udPacket(other, piece(1, seq, fra, 1000)))
	}
	if code := sentException(t, other, 1); code != -1 {
		t.Fatalf("the other address's flow was rejected (%d)", code)
	}
	if got, want := budget.Used(), budget.AddressUsed(netip.MustParseAddr("10.0.0.1"))+int64(other.s.rx.bytes); got != want {
		t.Fatalf("the budget counts %d bytes, its sessions hold %d", got, want)
	}
}

// TestSimServerBudget: with the server's budget used up, fragments that would hold more
// are refused unacknowledged (and counted), while the piece that completes a message, and
// whole messages in order, still pass and free it.
func TestSimServerBudget(t *testing.T) {
	link := simLink{Delay: 10 * time.Millisecond}
	const total = 50 << 10
	m, _, server := newSim(t, 20, link, link, Config{})
	server.s.p.Shared.Budget = NewBudget(0, total)
	seq := uint64(1)
	for ; m.stats.BudgetServer.Load() == 0; seq++ {
		if seq > 100 {
			t.Fatal("no fragment refused")
		}
		fra := pieceFlag(seq, 0)
		server.receivePacket(udPacket(server, piece(1, seq, fra, 1000)))
		if seq == 1 {
			m.run(m.clock.now+time.Millisecond, nil) // the upper layer accepts the flow
		}
	}
	refused := seq - 1
	f := server.s.recv.get(1)
	if f.seqs.Contains(refused) || f.state != rfOpen {
		t.Fatalf("the refused piece %d was recorded (state %d)", refused, f.state)
	}
	if used := server.s.p.Budget.Used(); used < total || used > total+1000+fragOverhead {
		t.Fatalf("the server holds %d bytes at a budget of %d", used, total)
	}
	server.receivePacket(udPacket(server, piece(1, refused, fraEnd, 1000)))
	if got := server.msgs[1]; len(got) != 1 || len(got[0]) != int(refused)*1000 {
		t.Fatalf("the last piece did not complete the message: %d messages", len(got))
	}
	if used := server.s.p.Budget.Used(); used != 0 {
		t.Fatalf("%d bytes held after the message was delivered", used)
	}
	server.receivePacket(udPacket(server, piece(1, refused+1, fraWhole, 10)))
	if got := server.msgs[1]; len(got) != 2 {
		t.Fatalf("a whole message in order was not delivered: %d messages", len(got))
	}
}
