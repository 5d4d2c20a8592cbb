package session

import (
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
