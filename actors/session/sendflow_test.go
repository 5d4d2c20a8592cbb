package session

import (
	"bytes"
	"testing"

	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
)

type settledLog struct {
	tags      []uint64
	delivered []bool
}

func (l *settledLog) settled(_ *sendFlow, r *Receipt, delivered bool) {
	l.tags = append(l.tags, r.Tag)
	l.delivered = append(l.delivered, delivered)
}

func (l *settledLog) fate(tag uint64) (delivered, settled bool) {
	for i, t := range l.tags {
		if t == tag {
			return l.delivered[i], true
		}
	}
	return false, false
}

func testSendFlow(log *settledLog) *sendFlow {
	f := newSendFlow(1, FlowKey{Metadata: "TC\x04\x00"}, PriorityData, 1<<20)
	if log != nil {
		f.owner = log
	}
	return f
}

// transmit marks the first n unsent fragments of the queue as sent in a packet with
// transmission sequence number tsn, as writeFlow does.
func transmit(f *sendFlow, n int, tsn uint64) {
	for _, fr := range f.queue {
		if n == 0 {
			return
		}
		if fr.inFlight || fr.acked {
			continue
		}
		fr.inFlight, fr.everSent, fr.nakCount, fr.tsn = true, true, 0, tsn
		fr.sentAbandoned = fr.msg.abandoned
		fr.wireSize = len(fr.data) + 8
		f.outstanding += fr.wireSize
		n--
	}
}

func TestSendFlowFragmentation(t *testing.T) {
	f := testSendFlow(nil)
	size := maxFragment - len(f.options)
	if len(f.options) == 0 || size <= 0 {
		t.Fatalf("startup options %x", f.options)
	}
	msg := bytes.Repeat([]byte("0123456789"), (3*size+5+9)/10)[:3*size+5]
	if !f.write(msg, 0, 0, true, nil) {
		t.Fatal("write refused")
	}
	wantFra := []byte{fraBegin, fraMiddle, fraMiddle, fraEnd}
	wantLen := []int{size, size, size, 5}
	if len(f.queue) != 4 {
		t.Fatalf("%d fragments, want 4", len(f.queue))
	}
	var joined []byte
	for i, fr := range f.queue {
		if fr.seq != uint64(i+1) || fr.fra != wantFra[i] || len(fr.data) != wantLen[i] {
			t.Fatalf("fragment %d: seq %d fra %#x len %d; want seq %d fra %#x len %d", i, fr.seq, fr.fra, len(fr.data), i+1, wantFra[i], wantLen[i])
		}
		joined = append(joined, fr.data...)
	}
	if !bytes.Equal(joined, msg) || f.queued != len(msg) || f.nextSN != 5 {
		t.Fatalf("queued %d, nextSN %d", f.queued, f.nextSN)
	}
	// Once the far end acknowledged the flow, fragments no longer reserve room for options.
	f.options = nil
	f.write(make([]byte, 2*maxFragment), 0, 0, true, nil)
	if fr := f.queue[4]; fr.fra != fraBegin || len(fr.data) != maxFragment || f.queue[5].fra != fraEnd || len(f.queue) != 6 {
		t.Fatalf("exact multiple of the fragment size: %#x/%d, %d fragments", fr.fra, len(fr.data), len(f.queue))
	}
	f.write(make([]byte, maxFragment), 0, 0, true, nil)
	f.write(nil, 0, 0, true, nil)
	if a, b := f.queue[6], f.queue[7]; a.fra != fraWhole || len(a.data) != maxFragment || b.fra != fraWhole || len(b.data) != 0 || b.seq != 8 {
		t.Fatalf("whole fragments: %#x/%d and %#x/%d seq %d", a.fra, len(a.data), b.fra, len(b.data), b.seq)
	}
}

// TestSendFlowFragmentFitsAPacket: the largest fragment, with startup options and large
// VLUs, fits an empty packet that carries a timestamp and its echo.
func TestSendFlowFragmentFitsAPacket(t *testing.T) {
	key := FlowKey{Metadata: string(bytes.Repeat([]byte{'m'}, 40)), Assoc: 1 << 40, HasAssoc: true}
	f := newSendFlow(1<<40, key, PriorityData, 1<<20)
	f.write(make([]byte, 5000), 0, 0, true, nil)
	h := rtmfp.Header{Flags: rtmfp.ModeInitiator}.WithTimestamp(1).WithEcho(2)
	fr := f.queue[1]
	ud := rtmfp.UserData{Flags: fr.fra | rtmfp.UserDataOptions, FlowID: f.id, SequenceNumber: 1 << 40, FSNOffset: 1 << 30, Options: f.options, Data: fr.data}
	pw := rtmfp.NewPacketWriter(nil, h, maxPacket)
	if !pw.WriteUserData(ud) {
		t.Fatalf("a %d-byte fragment with %d bytes of options does not fit an empty packet", len(fr.data), len(f.options))
	}
}

func TestSendFlowQueueLimit(t *testing.T) {
	f := newSendFlow(1, FlowKey{}, PriorityData, 3000)
	if !f.write(make([]byte, 5000), 0, 0, true, nil) {
		t.Fatal("a message larger than the queue limit must be taken into an empty queue")
	}
	if f.write([]byte("x"), 0, 0, true, nil) {
		t.Fatal("write to a full queue accepted")
	}
	f.close()
	if f.write(nil, 0, 0, true, nil) {
		t.Fatal("write to a closing flow accepted")
	}
}

func TestSendFlowReceipts(t *testing.T) {
	var log settledLog
	f := testSendFlow(&log)
	f.options = nil
	f.write(make([]byte, 2*maxFragment+1), 0, 0, true, &Receipt{Tag: 1}) // seq 1–3
	f.write([]byte("b"), 0, 0, true, &Receipt{Tag: 2})                   // seq 4
	f.write([]byte("c"), 0, 0, true, nil)                                // seq 5
	transmit(f, 5, 7)
	before := f.outstanding
	// Selective ack of 2 and 4: message 2 is delivered, message 1 is not yet.
	b, tsn := f.onAckRange(2, 2, nil)
	b2, _ := f.onAckRange(4, 4, nil)
	f.compact()
	if tsn != 7 || b+b2 != before-f.outstanding || len(f.queue) != 3 {
		t.Fatalf("acked %d bytes (tsn %d), queue %d", b+b2, tsn, len(f.queue))
	}
	if d, ok := log.fate(2); !ok || !d {
		t.Fatal("message 2 not reported delivered")
	}
	if _, ok := log.fate(1); ok {
		t.Fatal("message 1 settled with a fragment outstanding")
	}
	// A cumulative ack through 4 acks 1 and 3; the same ack again changes nothing.
	if b, _ := f.onAckRange(0, 4, nil); b == 0 {
		t.Fatal("cumulative ack of 1 and 3 acked nothing")
	}
	if b, _ := f.onAckRange(0, 4, nil); b != 0 {
		t.Fatalf("a repeated ack acked %d more bytes", b)
	}
	f.compact()
	if d, ok := log.fate(1); !ok || !d || len(log.tags) != 2 {
		t.Fatalf("receipts %v %v", log.tags, log.delivered)
	}
	if f.queued != 1 || f.outstanding != len("c")+8 {
		t.Fatalf("queued %d outstanding %d", f.queued, f.outstanding)
	}
}

func TestSendFlowForwardSNAndTrim(t *testing.T) {
	var log settledLog
	f := testSendFlow(&log)
	if f.forwardSN(0) != 0 {
		t.Fatalf("empty flow FSN %d", f.forwardSN(0))
	}
	f.write([]byte("a"), 0, 100, true, &Receipt{Tag: 1}) // seq 1, expires at 100
	f.write([]byte("b"), 0, 100, true, &Receipt{Tag: 2}) // seq 2
	f.write([]byte("c"), 0, 0, true, &Receipt{Tag: 3})   // seq 3, reliable
	if fsn := f.forwardSN(50); fsn != 0 {
		t.Fatalf("FSN %d before expiry, want 0", fsn)
	}
	transmit(f, 1, 1) // seq 1 in flight with data
	if fsn := f.forwardSN(200); fsn != 0 {
		t.Fatalf("expired head in flight with its data: FSN %d, want 0", fsn)
	}
	// Seq 1 is declared lost: not in flight, abandoned.
	f.queue[0].onLoss()
	if fsn := f.forwardSN(200); fsn != 1 {
		t.Fatalf("expired head not in flight: FSN %d, want 1", fsn)
	}
	f.trim(200)
	if len(f.queue) != 1 || f.queue[0].seq != 3 {
		t.Fatalf("after trim the queue starts at %d with %d fragments", f.queue[0].seq, len(f.queue))
	}
	if f.forwardSN(200) != 2 {
		t.Fatalf("FSN after trim %d, want 2", f.forwardSN(200))
	}
	for _, tag := range []uint64{1, 2} {
		if d, ok := log.fate(tag); !ok || d {
			t.Fatalf("message %d: delivered %v settled %v, want abandoned", tag, d, ok)
		}
	}
	if f.queued != 1 || f.outstanding != 0 {
		t.Fatalf("queued %d outstanding %d", f.queued, f.outstanding)
	}
	// The last fragment is kept even when abandoned, so the FSN can still be told.
	g := testSendFlow(nil)
	g.write([]byte("x"), 0, 10, true, nil)
	g.trim(20)
	if len(g.queue) != 1 || g.forwardSN(20) != 1 {
		t.Fatalf("last abandoned fragment: queue %d, FSN %d", len(g.queue), g.forwardSN(20))
	}
	// Sent abandoned (ABN flag) and in flight: the FSN covers it.
	transmit(g, 1, 1)
	if !g.queue[0].sentAbandoned || g.forwardSN(20) != 1 {
		t.Fatalf("sent abandoned: FSN %d", g.forwardSN(20))
	}
}

func TestSendFlowClose(t *testing.T) {
	t.Run("nothing written", func(t *testing.T) {
		f := testSendFlow(nil)
		f.close()
		if f.state != sfComplete {
			t.Fatalf("state %d", f.state)
		}
	})
	t.Run("last fragment unsent carries FIN", func(t *testing.T) {
		f := testSendFlow(nil)
		f.write([]byte("a"), 0, 0, true, nil)
		f.write([]byte("b"), 0, 0, true, nil)
		transmit(f, 1, 1)
		f.close()
		if f.state != sfClosing || f.finalSN != 2 || len(f.queue) != 2 {
			t.Fatalf("state %d finalSN %d queue %d", f.state, f.finalSN, len(f.queue))
		}
	})
	t.Run("everything sent: an empty message carries FIN", func(t *testing.T) {
		f := testSendFlow(nil)
		f.write([]byte("a"), 0, 0, true, nil)
		transmit(f, 1, 1)
		f.close()
		if f.state != sfClosing || f.finalSN != 2 || len(f.queue) != 2 || len(f.queue[1].data) != 0 || f.queue[1].fra != fraWhole {
			t.Fatalf("state %d finalSN %d queue %d", f.state, f.finalSN, len(f.queue))
		}
		f.onAckRange(0, 1, nil)
		f.compact()
		if f.state != sfClosing {
			t.Fatal("completed before the final sequence number was acknowledged")
		}
		transmit(f, 1, 2)
		f.onAckRange(0, 2, nil)
		f.compact()
		if f.state != sfComplete || f.ready() {
			t.Fatalf("state %d after the final ack", f.state)
		}
	})
	t.Run("everything acked already", func(t *testing.T) {
		f := testSendFlow(nil)
		f.write([]byte("a"), 0, 0, true, nil)
		transmit(f, 1, 1)
		f.onAckRange(0, 1, nil)
		f.compact()
		f.close()
		if f.state != sfClosing || f.finalSN != 2 || len(f.queue) != 1 {
			t.Fatalf("state %d finalSN %d queue %d", f.state, f.finalSN, len(f.queue))
		}
	})
}

func TestSendFlowAbandonQueued(t *testing.T) {
	var log settledLog
	f := testSendFlow(&log)
	f.write([]byte("a"), 0, 0, true, &Receipt{Tag: 1})
	f.write([]byte("b"), 0, 0, true, &Receipt{Tag: 2})
	f.write([]byte("c"), 0, 0, true, &Receipt{Tag: 3})
	transmit(f, 1, 1)
	f.abandonQueued(false)
	if f.queue[0].msg.abandoned || !f.queue[1].msg.abandoned || !f.queue[2].msg.abandoned {
		t.Fatal("abandonQueued(false) must spare the message in flight only")
	}
	// The abandoned ones leave as ABN and settle as abandoned when acknowledged.
	transmit(f, 2, 2)
	if !f.queue[1].sentAbandoned {
		t.Fatal("abandoned fragment not sent with ABN")
	}
	f.onAckRange(0, 3, nil)
	f.compact()
	for tag, want := range map[uint64]bool{1: true, 2: false, 3: false} {
		if d, ok := log.fate(tag); !ok || d != want {
			t.Fatalf("message %d: delivered %v settled %v, want delivered %v", tag, d, ok, want)
		}
	}
	g := testSendFlow(&log)
	g.write([]byte("d"), 0, 0, true, &Receipt{Tag: 4})
	transmit(g, 1, 1)
	g.abandonQueued(true)
	if !g.queue[0].msg.abandoned {
		t.Fatal("abandonQueued(true) spared a message in flight")
	}
}

func TestSendFlowReadyRespectsWindow(t *testing.T) {
	f := testSendFlow(nil)
	if f.ready() {
		t.Fatal("empty flow ready")
	}
	f.write(make([]byte, 3000), 0, 0, true, nil)
	f.rxWindow = 1500
	if !f.ready() {
		t.Fatal("not ready with an open window")
	}
	transmit(f, 2, 1)
	if f.outstanding < f.rxWindow || f.ready() {
		t.Fatalf("ready with %d outstanding and a %d-byte window", f.outstanding, f.rxWindow)
	}
	f.rxWindow = 0
	f.abandonQueued(false)
	if !f.ready() {
		t.Fatal("an abandoned fragment (ABN, no data) may leave through a closed window")
	}
	transmit(f, 1, 2)
	if f.ready() {
		t.Fatal("ready with everything in flight")
	}
}

func TestSendFlowLossAndException(t *testing.T) {
	var log settledLog
	f := testSendFlow(&log)
	f.write([]byte("a"), 0, 0, false, &Receipt{Tag: 1}) // no retransmission
	f.write([]byte("b"), 0, 0, true, &Receipt{Tag: 2})
	transmit(f, 2, 1)
	f.queue[0].onLoss()
	f.queue[1].onLoss()
	if !f.queue[0].msg.abandoned || f.queue[1].msg.abandoned || f.outstanding != 0 {
		t.Fatal("loss: only the message without retransmission is abandoned")
	}
	f.onException()
	if f.state != sfComplete || !f.exception || f.ready() || f.write([]byte("x"), 0, 0, true, nil) {
		t.Fatal("flow usable after an exception")
	}
	for _, tag := range []uint64{1, 2} {
		if d, ok := log.fate(tag); !ok || d {
			t.Fatalf("message %d after the exception: delivered %v settled %v", tag, d, ok)
		}
	}
	if len(log.tags) != 2 {
		t.Fatalf("%d receipts", len(log.tags))
	}
}

// TestSendFlowTrimKeepsTheFSNCarrier: an abandoned fragment followed only by fragments in
// flight is not dropped — it must leave (with the abandon flag) to carry the forward
// sequence number, or the receiver would wait for it forever once the later fragments are
// acknowledged and nothing more is written.
func TestSendFlowTrimKeepsTheFSNCarrier(t *testing.T) {
	var log settledLog
	f := testSendFlow(&log)
	f.write([]byte("a"), 0, 100, true, &Receipt{Tag: 1}) // seq 1, expires at 100
	f.write([]byte("b"), 0, 100, true, &Receipt{Tag: 2}) // seq 2, expires at 100
	f.write([]byte("c"), 0, 0, true, &Receipt{Tag: 3})   // seq 3
	transmit(f, 3, 1)
	f.queue[0].onLoss() // 1 and 2 lost, 3 still in flight
	f.queue[1].onLoss()
	f.trim(200)
	if len(f.queue) != 2 || f.queue[0].seq != 2 {
		t.Fatalf("after trim the queue starts at %d with %d fragments, want 2 then 3", f.queue[0].seq, len(f.queue))
	}
	if f.forwardSN(200) != 2 || !f.ready() {
		t.Fatalf("FSN %d, ready %v: the abandoned fragment must leave to carry FSN 2", f.forwardSN(200), f.ready())
	}
	// Once it is acknowledged and 3 too, everything is settled.
	transmit(f, 1, 2)
	if !f.queue[0].sentAbandoned {
		t.Fatal("the carrier was not sent with the abandon flag")
	}
	f.onAckRange(0, 3, nil)
	f.compact()
	if len(f.queue) != 0 || len(log.tags) != 3 {
		t.Fatalf("queue %d, receipts %v", len(f.queue), log.tags)
	}
}

// TestSendFlowOptionsLeaveNoRoom: a flow whose startup options fill a fragment refuses
// writes instead of cutting fragments of negative size.
func TestSendFlowOptionsLeaveNoRoom(t *testing.T) {
	f := newSendFlow(1, FlowKey{Metadata: string(make([]byte, 2*maxFragment))}, PriorityData, 1<<20)
	if f.write([]byte("x"), 0, 0, true, nil) || len(f.queue) != 0 || f.nextSN != 1 {
		t.Fatalf("write with %d bytes of options queued %d fragments", len(f.options), len(f.queue))
	}
	// The longest metadata a session accepts still leaves room for data.
	f = newSendFlow(1, FlowKey{Metadata: string(make([]byte, MaxFlowMetadata)), Assoc: 1 << 60, HasAssoc: true}, PriorityData, 1<<20)
	if !f.write(make([]byte, 2000), 0, 0, true, nil) || len(f.queue) < 2 {
		t.Fatalf("write with %d bytes of options refused", len(f.options))
	}
}

// TestSendFlowAbandonWaitingGivesUpTheWholeStaleGroup: a key frame written to a flow
// whose oldest media has waited long enough gives up every older media message, in
// flight or not, the young ones too (the rest of a group is no use without its start);
// messages without a lifetime stay; a flow whose oldest media is younger keeps it all.
func TestSendFlowAbandonWaitingGivesUpTheWholeStaleGroup(t *testing.T) {
	var log settledLog
	f := testSendFlow(&log)
	f.write([]byte("config"), 0, 0, true, nil) // no lifetime
	f.write([]byte("old"), 10, 5000, true, nil)
	f.write([]byte("mid"), 500, 5000, true, nil)
	f.write([]byte("young"), 990, 5000, true, nil)
	transmit(f, 2, 2) // "old" is in flight
	f.abandonWaiting(1000, 1000)
	for i, fr := range f.queue {
		if fr.msg.abandoned {
			t.Fatalf("message %d given up though the oldest media waited 990 < 1000", i)
		}
	}
	f.abandonWaiting(1010, 1000)
	for i, want := range []bool{false, true, true, true} {
		if f.queue[i].msg.abandoned != want {
			t.Fatalf("message %d abandoned %v, want %v", i, f.queue[i].msg.abandoned, want)
		}
	}
}

// TestSendFlowGivenUpFrameTakesItsGroup: a video frame given up — its lifetime passed
// (a key frame, older and larger than the frames after it), lost without retransmission,
// abandoned — takes with it the frames of its group written after it, not those before,
// nor other messages, nor the next group; receipts say so; the flow knows its group lost
// (an inter frame written then is no use) until the next key frame.
func TestSendFlowGivenUpFrameTakesItsGroup(t *testing.T) {
	check := func(t *testing.T, f *sendFlow, now int64, want map[uint64]bool) {
		t.Helper()
		got := map[uint64]bool{}
		for _, fr := range f.queue {
			if fr.msg.receipt != nil {
				got[fr.msg.receipt.Tag] = fr.msg.expired(now) // as the flow looks when it writes
			}
		}
		for tag, w := range want {
			if got[tag] != w {
				t.Fatalf("at %d: message %d given up %v, want %v (all: %v)", now, tag, got[tag], w, got)
			}
		}
	}
	// sendThrough transmits every fragment up to the last of message tag.
	sendThrough := func(f *sendFlow, tag uint64) {
		n := 0
		for i, fr := range f.queue {
			if fr.msg.receipt != nil && fr.msg.receipt.Tag == tag {
				n = i + 1
			}
		}
		transmit(f, n, 1)
	}
	// A group: key frame 1 (three fragments, born 0, expires at 4000), inter frames 2–4
	// (born 80–160), codec configuration 5 (no lifetime, no group).
	group := func(f *sendFlow, retransmit bool) {
		f.writeFrame(make([]byte, 2*maxFragment), 0, 4000, retransmit, FrameKey, &Receipt{Tag: 1})
		for i := uint64(2); i <= 4; i++ {
			f.writeFrame([]byte{byte(i)}, int64(i*40), int64(4000+i*40), retransmit, FrameInter, &Receipt{Tag: i})
		}
		f.writeFrame([]byte("config"), 200, 0, true, FrameNone, &Receipt{Tag: 5})
	}
	t.Run("key frame expires", func(t *testing.T) {
		var log settledLog
		f := testSendFlow(&log)
		group(f, true)
		transmit(f, 1, 1) // the key frame's first fragment left; the window closed
		check(t, f, 3999, map[uint64]bool{1: false, 2: false, 3: false, 4: false, 5: false})
		if f.groupLost(3999) {
			t.Fatal("group lost before its key frame expired")
		}
		if !f.groupLost(4000) {
			t.Fatal("the key frame expired, the group is not lost")
		}
		// Frames 2–4 have not expired (4080–4160) but go with their key frame.
		check(t, f, 4000, map[uint64]bool{1: true, 2: true, 3: true, 4: true, 5: false})
		// An inter frame written now joins the lost group; the next key frame starts anew.
		f.writeFrame([]byte{6}, 4000, 8000, true, FrameInter, &Receipt{Tag: 6})
		f.writeFrame([]byte{7}, 4000, 8000, true, FrameKey, &Receipt{Tag: 7})
		f.writeFrame([]byte{8}, 4040, 8040, true, FrameInter, &Receipt{Tag: 8})
		check(t, f, 4040, map[uint64]bool{6: true, 7: false, 8: false})
		if f.groupLost(4040) {
			t.Fatal("the new group is lost")
		}
		// Everything leaves (the given-up fragments with the abandon flag) and is
		// acknowledged: the receipts tell what was given up.
		sendThrough(f, 8)
		f.onAckRange(1, f.nextSN-1, nil)
		for tag, given := range map[uint64]bool{1: true, 2: true, 3: true, 4: true, 5: false, 6: true, 7: false, 8: false} {
			if d, ok := log.fate(tag); !ok || d == given {
				t.Fatalf("message %d: delivered %v settled %v, want given up %v", tag, d, ok, given)
			}
		}
	})
	t.Run("inter frame lost without retransmission", func(t *testing.T) {
		f := testSendFlow(nil)
		group(f, false)
		sendThrough(f, 3)
		f.queue[len(f.queue)-3].onLoss() // frame 3
		check(t, f, 100, map[uint64]bool{1: false, 2: false, 3: true, 4: true, 5: false})
		if !f.groupLost(100) {
			t.Fatal("group not lost")
		}
	})
	t.Run("abandoned", func(t *testing.T) {
		f := testSendFlow(nil)
		group(f, true)
		sendThrough(f, 2) // 3, 4 and the configuration are given up
		f.abandonQueued(false)
		check(t, f, 100, map[uint64]bool{1: false, 2: false, 3: true, 4: true, 5: true})
	})
	t.Run("delivered key frame", func(t *testing.T) {
		// A key frame acknowledged before its lifetime passed is no reason to give its
		// group up later.
		f := testSendFlow(nil)
		group(f, true)
		sendThrough(f, 1)
		f.onAckRange(1, 3, nil)
		f.compact()
		if f.groupLost(5000) {
			t.Fatal("a delivered key frame lost its group")
		}
		check(t, f, 4000, map[uint64]bool{2: false, 3: false, 4: false})
		// Frame 2's own lifetime passes (at 4080): 3 and 4, younger, go with it.
		check(t, f, 4080, map[uint64]bool{2: true, 3: true, 4: true, 5: false})
	})
}
