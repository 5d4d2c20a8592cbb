package session

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func testRecvFlow(capacity int) *recvFlow {
	return newRecvFlow(1, nil, 0, false, &recvLimits{capacity: capacity, maxAhead: 64, maxRanges: 8})
}

// feed gives one fragment to f and returns the delivered messages as strings.
func feed(t *testing.T, f *recvFlow, flags byte, seq, fsn uint64, data string) []string {
	t.Helper()
	out, err := f.onData(flags, seq, fsn, []byte(data), nil)
	if err != nil {
		t.Fatalf("fragment %d (flags %#x, fsn %d) refused: %v", seq, flags, fsn, err)
	}
	return strs(out)
}

func strs(msgs [][]byte) []string {
	var s []string
	for _, m := range msgs {
		s = append(s, string(m))
	}
	return s
}

// heldData returns the messages of released held ones.
func heldData(held []heldMsg) [][]byte {
	var out [][]byte
	for _, h := range held {
		out = append(out, h.data)
	}
	return out
}

func wantMsgs(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) || (len(want) > 0 && !slices.Equal(got, want)) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
}

// checkBuffered verifies the byte accounting: buffered is exactly the bytes of the
// buffered fragments and the held messages.
func checkBuffered(t testing.TB, f *recvFlow) {
	t.Helper()
	n := 0
	for _, fr := range f.frags {
		n += len(fr.data) + fragOverhead
	}
	for _, m := range f.held {
		n += len(m.data) + fragOverhead
	}
	if n != f.buffered {
		t.Fatalf("buffered %d, fragments and held messages hold %d", f.buffered, n)
	}
}

func TestRecvFlowInOrderWholeMessages(t *testing.T) {
	f := testRecvFlow(64 << 10)
	wantMsgs(t, feed(t, f, fraWhole, 1, 0, "a"), "a")
	wantMsgs(t, feed(t, f, fraWhole, 2, 1, "b"), "b")
	wantMsgs(t, feed(t, f, fraWhole, 3, 2, ""), "")
	if f.cumulative() != 3 || f.seqs.Len() != 1 || f.buffered != 0 || f.delivered != 3 {
		t.Fatalf("cum %d ranges %d buffered %d delivered %d", f.cumulative(), f.seqs.Len(), f.buffered, f.delivered)
	}
}

func TestRecvFlowOutOfOrderWaitsForHoles(t *testing.T) {
	f := testRecvFlow(64 << 10)
	wantMsgs(t, feed(t, f, fraWhole, 3, 0, "c"))
	if !f.ackNow {
		t.Fatal("a hole did not ask for an immediate ack")
	}
	wantMsgs(t, feed(t, f, fraWhole, 2, 0, "b"))
	if f.buffered != 2*(1+fragOverhead) {
		t.Fatalf("buffered %d, want two one-byte fragments", f.buffered)
	}
	checkBuffered(t, f)
	wantMsgs(t, feed(t, f, fraWhole, 1, 0, "a"), "a", "b", "c")
	if f.cumulative() != 3 || f.buffered != 0 || len(f.frags) != 0 {
		t.Fatalf("after the hole filled: cum %d buffered %d frags %d", f.cumulative(), f.buffered, len(f.frags))
	}
}

func TestRecvFlowReassemblesFragmentsInAnyOrder(t *testing.T) {
	frags := []struct {
		fra  byte
		data string
	}{{fraBegin, "he"}, {fraMiddle, "ll"}, {fraMiddle, "o "}, {fraEnd, "world"}}
	orders := [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0, 2}, {2, 0, 3, 1}}
	for _, order := range orders {
		f := testRecvFlow(64 << 10)
		var got []string
		for i, k := range order {
			got = append(got, feed(t, f, frags[k].fra, uint64(k+1), 0, frags[k].data)...)
			if i < len(order)-1 && len(got) > 0 {
				t.Fatalf("order %v: delivered %q before the last piece", order, got)
			}
			checkBuffered(t, f)
		}
		wantMsgs(t, got, "hello world")
		// The next message follows.
		wantMsgs(t, feed(t, f, fraWhole, 5, 0, "next"), "next")
	}
}

func TestRecvFlowDuplicatesAreNotDeliveredTwice(t *testing.T) {
	f := testRecvFlow(64 << 10)
	wantMsgs(t, feed(t, f, fraWhole, 1, 0, "a"), "a")
	f.ackTaken()
	wantMsgs(t, feed(t, f, fraWhole, 1, 0, "a"))
	if !f.ackNow {
		t.Fatal("a duplicate did not ask for an immediate ack")
	}
	// A duplicate of a buffered fragment above a hole.
	wantMsgs(t, feed(t, f, fraBegin, 3, 0, "x"))
	wantMsgs(t, feed(t, f, fraBegin, 3, 0, "x"))
	checkBuffered(t, f)
	if f.buffered != 1+fragOverhead {
		t.Fatalf("duplicate buffered twice: %d bytes", f.buffered)
	}
	wantMsgs(t, feed(t, f, fraEnd, 4, 0, "y"))
	wantMsgs(t, feed(t, f, fraWhole, 2, 0, "b"), "b", "xy")
	wantMsgs(t, feed(t, f, fraEnd, 4, 0, "y"))
	if f.delivered != 3 {
		t.Fatalf("delivered %d messages, want 3", f.delivered)
	}
}

func TestRecvFlowForwardSequenceNumberSkipsAbandoned(t *testing.T) {
	f := testRecvFlow(64 << 10)
	wantMsgs(t, feed(t, f, fraWhole, 1, 0, "one"), "one")
	// Message 2–4 is fragmented; only its first piece arrives.
	wantMsgs(t, feed(t, f, fraBegin, 2, 1, "par"))
	// Message 5 arrives before the sender gives up on 2–4.
	wantMsgs(t, feed(t, f, fraWhole, 5, 1, "five"))
	// The sender abandons message 2–4: FSN 4.
	wantMsgs(t, feed(t, f, fraWhole, 6, 4, "six"), "five", "six")
	if f.dropped != 1 {
		t.Fatalf("dropped %d partial messages, want 1", f.dropped)
	}
	if f.cumulative() != 6 || f.buffered != 0 || len(f.frags) != 0 {
		t.Fatalf("cum %d buffered %d frags %d", f.cumulative(), f.buffered, len(f.frags))
	}
	// The missing pieces of the abandoned message arrive late: ignored.
	wantMsgs(t, feed(t, f, fraMiddle, 3, 1, "ti"))
	wantMsgs(t, feed(t, f, fraEnd, 4, 1, "al"))
	checkBuffered(t, f)
	if f.buffered != 0 {
		t.Fatalf("late pieces of an abandoned message were kept (%d bytes)", f.buffered)
	}
}

func TestRecvFlowFSNDropsTailOfAbandonedMessage(t *testing.T) {
	// The end of message 1–3 is missing, its beginning was received; FSN jumps past it.
	f := testRecvFlow(64 << 10)
	wantMsgs(t, feed(t, f, fraBegin, 1, 0, "a"))
	wantMsgs(t, feed(t, f, fraMiddle, 2, 0, "b"))
	wantMsgs(t, feed(t, f, fraWhole, 4, 3, "d"), "d")
	if f.dropped != 1 || f.buffered != 0 {
		t.Fatalf("dropped %d buffered %d", f.dropped, f.buffered)
	}
	// A message whose first piece was abandoned: its later pieces are dropped.
	wantMsgs(t, feed(t, f, fraMiddle, 6, 4, "m"))
	wantMsgs(t, feed(t, f, fraEnd, 7, 4, "e"))
	wantMsgs(t, feed(t, f, fraWhole, 8, 5, "h"), "h")
	if f.dropped != 3 {
		t.Fatalf("dropped %d, want 3 (two orphan pieces)", f.dropped)
	}
	checkBuffered(t, f)
}

func TestRecvFlowAbandonFlag(t *testing.T) {
	f := testRecvFlow(64 << 10)
	wantMsgs(t, feed(t, f, fraWhole, 1, 0, "a"), "a")
	f.ackTaken()
	// Sequence number 2 (a whole message) abandoned by the sender: no data.
	wantMsgs(t, feed(t, f, fraWhole|flagAbandon, 2, 1, ""))
	if !f.ackNow {
		t.Fatal("an abandoned fragment did not ask for an immediate ack")
	}
	wantMsgs(t, feed(t, f, fraWhole, 3, 1, "c"), "c")
	// A middle piece abandoned: the message is dropped, the next one delivered.
	wantMsgs(t, feed(t, f, fraBegin, 4, 3, "x"))
	wantMsgs(t, feed(t, f, fraMiddle|flagAbandon, 5, 3, ""))
	wantMsgs(t, feed(t, f, fraEnd, 6, 3, "z"))
	wantMsgs(t, feed(t, f, fraWhole, 7, 3, "d"), "d")
	if f.dropped == 0 {
		t.Fatal("the message with an abandoned piece was not counted as dropped")
	}
	// Abandon flag with data: the data is ignored.
	wantMsgs(t, feed(t, f, fraWhole|flagAbandon, 8, 7, "junk"))
	wantMsgs(t, feed(t, f, fraWhole, 9, 7, "e"), "e")
	checkBuffered(t, f)
}

func TestRecvFlowFinalCompletes(t *testing.T) {
	f := testRecvFlow(64 << 10)
	wantMsgs(t, feed(t, f, fraWhole|flagFinal, 3, 0, "c"))
	if f.state != rfOpen || !f.finalSeen || f.finalSN != 3 || !f.ackNow {
		t.Fatalf("FIN before the rest: state %d finalSeen %v finalSN %d ackNow %v", f.state, f.finalSeen, f.finalSN, f.ackNow)
	}
	if _, err := f.onData(fraWhole, 4, 0, []byte("late"), nil); !errors.Is(err, errFragAfterFinal) {
		t.Fatalf("fragment after the final one: %v", err)
	}
	wantMsgs(t, feed(t, f, fraWhole, 2, 0, "b"))
	f.ackTaken()
	wantMsgs(t, feed(t, f, fraWhole, 1, 0, "a"), "a", "b", "c")
	if f.state != rfComplete || !f.ackNow {
		t.Fatalf("state %d ackNow %v after every sequence number arrived", f.state, f.ackNow)
	}
	// Retransmissions after completion are acknowledged, never delivered.
	wantMsgs(t, feed(t, f, fraWhole, 2, 0, "b"))
	wantMsgs(t, feed(t, f, fraWhole|flagFinal, 3, 0, "c"))
	if f.windowBlocks() != 0 {
		t.Fatalf("complete flow advertises %d blocks", f.windowBlocks())
	}
}

func TestRecvFlowFinalAfterAbandonedTail(t *testing.T) {
	// The last message before FIN was abandoned; FIN rides an empty message.
	f := testRecvFlow(64 << 10)
	wantMsgs(t, feed(t, f, fraWhole, 1, 0, "a"), "a")
	wantMsgs(t, feed(t, f, fraBegin, 2, 1, "x"))
	wantMsgs(t, feed(t, f, fraWhole|flagFinal, 4, 3, ""), "")
	if f.state != rfComplete || f.buffered != 0 {
		t.Fatalf("state %d buffered %d", f.state, f.buffered)
	}
}

func TestRecvFlowNetworkOrder(t *testing.T) {
	f := testRecvFlow(64 << 10)
	f.networkOrder = true
	wantMsgs(t, feed(t, f, fraWhole, 3, 0, "c"), "c")
	wantMsgs(t, feed(t, f, fraEnd, 6, 0, "f2"))
	wantMsgs(t, feed(t, f, fraBegin, 5, 0, "f1"), "f1f2")
	wantMsgs(t, feed(t, f, fraWhole, 1, 0, "a"), "a")
	// Duplicates of messages delivered above the hole are not delivered again.
	wantMsgs(t, feed(t, f, fraWhole, 3, 0, "c"))
	wantMsgs(t, feed(t, f, fraEnd, 6, 0, "f2"))
	wantMsgs(t, feed(t, f, fraWhole, 2, 0, "b"), "b")
	wantMsgs(t, feed(t, f, fraWhole, 4, 0, "d"), "d")
	if f.cumulative() != 6 || f.buffered != 0 || f.delivered != 5 {
		t.Fatalf("cum %d buffered %d delivered %d", f.cumulative(), f.buffered, f.delivered)
	}
}

func TestRecvFlowWindowAccounting(t *testing.T) {
	const capacity, hard = 8 << 10, 12 << 10
	f := newRecvFlow(1, nil, 0, false, &recvLimits{capacity: capacity, maxAhead: 64, maxRanges: 8, hardLimit: hard})
	if f.windowBlocks() != 8 {
		t.Fatalf("empty flow advertises %d blocks, want 8", f.windowBlocks())
	}
	// Sequence number 1 is missing: everything above it is buffered.
	data := string(bytes.Repeat([]byte{'x'}, 1000))
	seq := uint64(2)
	for ; f.buffered+1000 <= capacity; seq++ {
		feed(t, f, fraWhole, seq, 0, data)
		checkBuffered(t, f)
		if want := uint64((capacity - f.buffered) / 1024); f.windowBlocks() != want && want > 0 {
			t.Fatalf("after %d bytes: %d blocks, want %d", f.buffered, f.windowBlocks(), want)
		}
	}
	// The buffer is full of fragments waiting for the hole: only more data can drain it,
	// so the window never closes completely (one block: the sender trickles).
	if f.windowBlocks() != 1 {
		t.Fatalf("buffer full of fragments behind a hole: %d blocks, want 1", f.windowBlocks())
	}
	// The fragment that fills the hole is taken beyond the capacity, and drains everything.
	feed(t, f, fraWhole, seq, 0, data)
	seq++
	if f.buffered <= capacity {
		t.Fatalf("buffered %d, want beyond the capacity", f.buffered)
	}
	out := feed(t, f, fraWhole, 1, 0, data)
	if len(out) != int(seq-1) {
		t.Fatalf("delivered %d messages, want %d", len(out), seq-1)
	}
	if f.buffered != 0 || f.windowBlocks() != 8 {
		t.Fatalf("after draining: buffered %d, %d blocks", f.buffered, f.windowBlocks())
	}
	// A sender that ignores the window is refused at the hard limit (+ one block).
	seq++ // a new hole
	for f.buffered+1000 <= hard+1024 {
		feed(t, f, fraWhole, seq, 0, data)
		seq++
	}
	f.ackTaken()
	if _, err := f.onData(fraWhole, seq, 0, []byte(data), nil); !errors.Is(err, errFragWindow) {
		t.Fatalf("fragment beyond the hard limit: %v", err)
	}
	if !f.ackNow {
		t.Fatal("a refused fragment did not ask for an ack that repeats the window")
	}
	if f.seqs.Contains(seq) {
		t.Fatal("a refused fragment was recorded as received")
	}
	if f.buffered > hard+1024 {
		t.Fatalf("buffered %d exceeds the hard limit + one block", f.buffered)
	}
}

// TestRecvFlowWindowWithHeldMessages: messages held for an upper layer that has not
// accepted the flow close the window completely.
func TestRecvFlowWindowWithHeldMessages(t *testing.T) {
	f := testRecvFlow(4 << 10)
	for seq := uint64(1); seq <= 4; seq++ {
		out, err := f.onData(fraWhole, seq, 0, bytes.Repeat([]byte{'h'}, 1000), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out {
			f.hold(m, 0)
		}
	}
	if f.windowBlocks() != 0 {
		t.Fatalf("held messages fill the buffer: %d blocks, want 0", f.windowBlocks())
	}
}

// TestRecvFlowMessageLargerThanWindow: a message larger than the buffer completes.
func TestRecvFlowMessageLargerThanWindow(t *testing.T) {
	f := testRecvFlow(4 << 10)
	const pieces = 10
	piece := bytes.Repeat([]byte{'L'}, 1000)
	for seq := uint64(1); seq <= pieces; seq++ {
		fra := pieceFlag(seq, pieces)
		if seq > 1 && f.windowBlocks() == 0 {
			t.Fatalf("window closed at piece %d with %d bytes buffered: the message can never complete", seq, f.buffered)
		}
		out, err := f.onData(fra, seq, 0, piece, nil)
		if err != nil {
			t.Fatalf("piece %d refused: %v", seq, err)
		}
		if seq == pieces && (len(out) != 1 || len(out[0]) != pieces*1000) {
			t.Fatalf("delivered %d messages", len(out))
		}
	}
}

func TestRecvFlowLimits(t *testing.T) {
	f := newRecvFlow(1, nil, 0, false, &recvLimits{capacity: 64 << 10, maxAhead: 10, maxRanges: 3})
	if _, err := f.onData(fraWhole, 5, 6, nil, nil); !errors.Is(err, errFragBadFSN) {
		t.Fatalf("FSN above the sequence number: %v", err)
	}
	if _, err := f.onData(fraWhole, 11, 0, []byte("x"), nil); !errors.Is(err, errFragTooFarAhead) {
		t.Fatalf("sequence number 11 with cumulative 0 and maxAhead 10: %v", err)
	}
	feed(t, f, fraWhole, 10, 0, "x") // exactly maxAhead: accepted
	feed(t, f, fraWhole, 4, 0, "x")  // ranges: [0,0] [4,4] [10,10]
	if _, err := f.onData(fraWhole, 7, 0, []byte("x"), nil); !errors.Is(err, errFragTooFragmented) {
		t.Fatalf("a fourth range: %v", err)
	}
	// Adjacent to an existing range, or merging via the FSN: accepted.
	feed(t, f, fraWhole, 5, 0, "x")
	feed(t, f, fraWhole, 9, 0, "x")
	feed(t, f, fraWhole, 7, 3, "x") // FSN 3 merges [0,0] with [4,5]
	if f.seqs.Len() != 3 {
		t.Fatalf("ranges %v", f.seqs.r)
	}
	// Refused fragments changed nothing.
	if f.seqs.Contains(11) || f.seqs.Contains(6) {
		t.Fatal("refused fragments recorded")
	}
	checkBuffered(t, f)
}

func TestRecvFlowAckNowRules(t *testing.T) {
	f := testRecvFlow(64 << 10)
	f.ackTaken() // prevBlocks = 64
	feed(t, f, fraWhole, 1, 0, "a")
	if !f.needAck || f.ackNow {
		t.Fatalf("in-order fragment: needAck %v ackNow %v, want a delayed ack", f.needAck, f.ackNow)
	}
	feed(t, f, fraWhole, 2, 0, "b")
	if f.ackNow {
		t.Fatal("second in-order fragment asked for an immediate ack")
	}
	f.ackTaken()
	feed(t, f, fraWhole, 4, 0, "d") // hole at 3
	if !f.ackNow {
		t.Fatal("hole: no immediate ack")
	}
	f.ackTaken()
	feed(t, f, fraWhole, 5, 0, "e") // extends the range above the hole: still two ranges
	if !f.ackNow {
		t.Fatal("fragment while a hole is open: no immediate ack")
	}
	f.ackTaken()
	feed(t, f, fraWhole, 3, 0, "c") // fills the hole
	if !f.ackNow {
		t.Fatal("hole filled: no immediate ack")
	}
	f.ackTaken()
	feed(t, f, fraWhole|flagFinal, 6, 0, "")
	if !f.ackNow {
		t.Fatal("FIN: no immediate ack")
	}
	// A small window asks for immediate acks.
	g := testRecvFlow(1024)
	g.ackTaken() // prevBlocks = 1
	feed(t, g, fraWhole, 1, 0, "a")
	if !g.ackNow {
		t.Fatal("fragment on a flow with less than two blocks advertised: no immediate ack")
	}
}

func TestRecvFlowHoldAndRelease(t *testing.T) {
	const capacity = 4 << 10
	f := testRecvFlow(capacity)
	msg := bytes.Repeat([]byte{'m'}, 1000)
	for seq := uint64(1); seq <= 4; seq++ {
		out, err := f.onData(fraWhole, seq, 0, msg, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out {
			f.hold(m, 0) // not accepted yet: the session holds them
		}
		checkBuffered(t, f)
	}
	if f.windowBlocks() != 0 {
		t.Fatalf("4,000 held bytes of 4,096: %d blocks advertised", f.windowBlocks())
	}
	f.ackTaken()
	held := f.release()
	if len(held) != 4 || f.buffered != 0 {
		t.Fatalf("released %d messages, buffered %d", len(held), f.buffered)
	}
	if !f.needAck || !f.ackNow {
		t.Fatal("the window reopened without an immediate ack")
	}
	if f.windowBlocks() != 4 {
		t.Fatalf("%d blocks after release", f.windowBlocks())
	}
}

// TestRecvFlowCompleteKeepsHeldMessages: a flow that completes (FIN and everything before
// it received) before the upper layer accepted it keeps the messages held for it.
func TestRecvFlowCompleteKeepsHeldMessages(t *testing.T) {
	f := testRecvFlow(64 << 10)
	for seq, data := range []string{"a", "b"} {
		out, err := f.onData(fraWhole, uint64(seq+1), 0, []byte(data), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out {
			f.hold(m, 0)
		}
	}
	out, err := f.onData(fraWhole|flagFinal, 3, 0, []byte("c"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.state != rfComplete {
		t.Fatalf("state %d", f.state)
	}
	wantMsgs(t, strs(out), "c")
	for _, m := range out {
		f.hold(m, 0)
	}
	wantMsgs(t, strs(heldData(f.release())), "a", "b", "c")
	checkBuffered(t, f)
}

func TestRecvFlowReject(t *testing.T) {
	f := testRecvFlow(64 << 10)
	feed(t, f, fraWhole, 2, 0, "b")
	f.hold([]byte("held"), 0)
	f.reject(7)
	if f.state != rfRejected || f.exceptionCode != 7 || f.buffered != 0 || len(f.frags) != 0 || len(f.held) != 0 {
		t.Fatalf("after reject: state %d code %d buffered %d", f.state, f.exceptionCode, f.buffered)
	}
	if !f.ackNow || f.windowBlocks() != 0 {
		t.Fatal("a rejected flow must ack at once with a zero window")
	}
	// Data that arrives afterwards is discarded and answered at once (with the flow
	// exception) but not acknowledged: the acknowledgement says what the flow took before
	// it was rejected, and the sender settles that as delivered.
	f.ackTaken()
	wantMsgs(t, feed(t, f, fraWhole, 1, 0, "a"))
	if f.seqs.Contains(1) || !f.seqs.Contains(2) || f.buffered != 0 || !f.ackNow {
		t.Fatalf("cum %d buffered %d ackNow %v", f.cumulative(), f.buffered, f.ackNow)
	}
}

// TestInOrderWholeMessagesAreNotBuffered: whole messages that arrive in order are
// delivered as they come without the flow making a fragment buffer (which an idle flow
// would keep); a message after a gap is buffered, and delivered with the one that fills
// the gap, in order; after that, in-order messages pass straight through again. The
// delivered bytes are the flow's own copies.
func TestInOrderWholeMessagesAreNotBuffered(t *testing.T) {
	f := testRecvFlow(1 << 16)
	wantMsgs(t, feed(t, f, fraWhole, 1, 0, "a"), "a")
	wantMsgs(t, feed(t, f, fraWhole, 2, 0, "b"), "b")
	if cap(f.frags) != 0 || f.buffered != 0 {
		t.Fatalf("in-order messages made a buffer: cap %d, %d bytes buffered", cap(f.frags), f.buffered)
	}
	wantMsgs(t, feed(t, f, fraWhole, 4, 0, "d"))
	if len(f.frags) != 1 {
		t.Fatalf("the message after the gap is not buffered: %d fragments", len(f.frags))
	}
	wantMsgs(t, feed(t, f, fraWhole, 3, 0, "c"), "c", "d")
	wantMsgs(t, feed(t, f, fraWhole, 5, 0, "e"), "e")
	checkBuffered(t, f)
	if f.delivered != 5 || f.buffered != 0 {
		t.Fatalf("delivered %d, buffered %d bytes", f.delivered, f.buffered)
	}

	data := []byte("x")
	out, err := f.onData(fraWhole, 6, 0, data, nil)
	if err != nil || len(out) != 1 {
		t.Fatalf("got %q, %v", out, err)
	}
	data[0] = 'y'
	if string(out[0]) != "x" {
		t.Fatal("the delivered message shares the caller's buffer")
	}
}
