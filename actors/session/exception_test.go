package session

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
)

// TestFlowExceptionSettlesAcknowledgedFirst: a receiver that rejects a flow reports it
// with an acknowledgement of what it took, the report first (rtmfp-cpp's order, and our
// writeAcks'). The sender settles the acknowledged message as delivered before it
// abandons the rest.
func TestFlowExceptionSettlesAcknowledgedFirst(t *testing.T) {
	link := simLink{Delay: 10 * time.Millisecond}
	m, client, server := newSim(t, 1, link, link, Config{})
	fates := map[uint64]string{}
	client.onReceipt = func(msg any) {
		switch r := msg.(type) {
		case *Delivered:
			fates[r.Tag] += "delivered"
		case *Abandoned:
			fates[r.Tag] += "abandoned"
		}
	}
	key := FlowKey{Metadata: "doomed"}
	for i := range 3 {
		client.write(&Write{Key: key, Data: []byte{byte(i)}, Receipt: &Receipt{To: client.receiptTo, Tag: uint64(i)}})
	}
	f := client.s.sendByKey.get(key)
	if f == nil {
		t.Fatal("no send flow")
	}
	// The server took the first message (sequence number 1) and rejected the flow.
	pw := rtmfp.NewPacketWriter(nil, server.s.header(m.clock.now), maxPacket)
	pw.WriteChunk(rtmfp.FlowException{FlowID: f.id, Code: 7})
	pw.WriteAckRanges(rtmfp.AckRanges{FlowID: f.id, BufferBlocks: 0, CumulativeAck: 1})
	client.receivePacket(pw.Packet())
	if len(client.rejected) != 1 || client.rejected[0].Code != 7 {
		t.Fatalf("rejections %v", client.rejected)
	}
	want := map[uint64]string{0: "delivered", 1: "abandoned", 2: "abandoned"}
	for tag, w := range want {
		if fates[tag] != w {
			t.Fatalf("fates %v, want %v", fates, want)
		}
	}
}

// TestRejectedFlowDoesNotAcknowledgeWhatItDiscards: data that reaches a flow after its
// receiver rejected it is discarded, so the acknowledgement that goes with the flow
// exception report must not cover it — the sender settles what that acknowledgement
// covers as delivered (TestFlowExceptionSettlesAcknowledgedFirst). Every message the
// sender is told was delivered reached the receiver's upper layer, also when the first
// report is lost and more data arrives before it is sent again (issue 26: the rejected
// flow acknowledged the fragments it discarded, and TestLossyFlowException saw "doomed
// message 25 reported delivered but never reached the server").
func TestRejectedFlowDoesNotAcknowledgeWhatItDiscards(t *testing.T) {
	link := simLink{Delay: 10 * time.Millisecond}
	m, client, server := newSim(t, 1, link, link, Config{})
	key := FlowKey{Metadata: "doomed"}
	delivered, abandoned := map[uint64]bool{}, 0
	client.onReceipt = func(msg any) {
		switch r := msg.(type) {
		case *Delivered:
			delivered[r.Tag] = true
		case *Abandoned:
			abandoned++
		}
	}
	got := map[uint64]bool{}
	server.onMessage = func(id uint64, data []byte) {
		got[binary.BigEndian.Uint64(data)] = true
		if len(got) == 20 {
			// The first report is lost: it is sent again with the next acknowledgement,
			// after more of the flow's data arrived.
			server.link.Cut = true
			server.deliver(&RejectFlow{FlowID: id, Code: 7})
			m.after(30*time.Millisecond, func() { server.link.Cut = false })
		}
	}
	const n = 100
	for i := range n {
		client.write(&Write{Key: key, Data: simPayload(i, 1000), Receipt: &Receipt{To: client.receiptTo, Tag: uint64(i)}})
	}
	m.run(m.clock.now+time.Minute, func() bool { return len(delivered)+abandoned == n })
	if len(delivered)+abandoned != n || len(client.rejected) != 1 {
		t.Fatalf("%d delivered, %d abandoned of %d; %d rejections", len(delivered), abandoned, n, len(client.rejected))
	}
	for i := range uint64(n) {
		if delivered[i] && !got[i] {
			t.Fatalf("message %d reported delivered, but the receiver discarded it (%d delivered, %d handed over)", i, len(delivered), len(got))
		}
	}
}
