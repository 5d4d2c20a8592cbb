package rtmfp

import "testing"

var benchAck = func() AckRanges {
	a := AckRanges{FlowID: 2, BufferBlocks: 16383, CumulativeAck: 100000}
	for i := 0; i < 50; i++ {
		a.Ranges = append(a.Ranges, AckRange{Holes: uint64(i%3 + 1), Received: uint64(i*7 + 1)})
	}
	return a
}()

// packet1200 is a full session packet: an ECN report, an ack with 50 ranges, then user data
// fragments of one flow (a 0x10 and 0x11 continuations) until 1200 bytes are used.
func packet1200(tb testing.TB) []byte {
	w := NewPacketWriter(make([]byte, 0, MaxPacketSize), Header{Flags: FlagTC | ModeInitiator}.WithTimestamp(1).WithEcho(2), MaxPacketSize)
	w.WriteChunk(ECNReport{})
	if _, ok := w.WriteAckRanges(benchAck); !ok {
		tb.Fatal("ack")
	}
	data := make([]byte, 60)
	u := UserData{Flags: UserDataOptions | FragmentFirst, FlowID: 3, SequenceNumber: 1000, FSNOffset: 1,
		Options: FlowOptions{Metadata: []byte("TC\x04\x01"), ReturnFlowID: 2, HasReturnFlow: true}.Append(nil), Data: data}
	for w.WriteUserData(u) {
		u.Flags = FragmentMiddle
		u.Options = nil
		u.SequenceNumber++
		u.FSNOffset++
	}
	if room := w.UserDataRoom(u); room >= 0 {
		u.Data = data[:room]
		w.WriteUserData(u)
	}
	if w.Len() != MaxPacketSize {
		tb.Fatalf("packet is %d bytes", w.Len())
	}
	return w.Packet()
}

func BenchmarkParsePacket1200(b *testing.B) {
	p := packet1200(b)
	var ranges [MaxAckRanges]AckRange
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		r, err := NewPacketReader(p)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for r.Next() {
			c := r.Chunk()
			switch c.Type {
			case ChunkUserData, ChunkNextUserData:
				u, err := r.UserData()
				if err != nil {
					b.Fatal(err)
				}
				if u.HasOptions() {
					if _, err := ParseFlowOptions(u.Options); err != nil {
						b.Fatal(err)
					}
				}
				n += len(u.Data)
			case ChunkAckRanges:
				a, err := ParseAckRanges(c.Payload, ranges[:0])
				if err != nil {
					b.Fatal(err)
				}
				n += len(a.Ranges)
			case ChunkECNReport:
				if _, err := ParseECNReport(c.Payload); err != nil {
					b.Fatal(err)
				}
			}
		}
		if r.Err() != nil || n == 0 {
			b.Fatal(r.Err())
		}
	}
}

func BenchmarkWritePacket1200(b *testing.B) {
	buf := make([]byte, 0, 16+MaxPacketSize)
	data := make([]byte, 60)
	opts := FlowOptions{Metadata: []byte("TC\x04\x01"), ReturnFlowID: 2, HasReturnFlow: true}.Append(nil)
	var ecn ChunkEncoder = &ECNReport{} // boxed once, not per packet
	b.ReportAllocs()
	b.SetBytes(MaxPacketSize)
	for b.Loop() {
		w := NewPacketWriter(buf[:6], Header{Flags: FlagTC | ModeInitiator}.WithTimestamp(1).WithEcho(2), MaxPacketSize)
		w.WriteChunk(ecn)
		w.WriteAckRanges(benchAck)
		u := UserData{Flags: UserDataOptions | FragmentFirst, FlowID: 3, SequenceNumber: 1000, FSNOffset: 1, Options: opts, Data: data}
		for w.WriteUserData(u) {
			u.Flags = FragmentMiddle
			u.Options = nil
			u.SequenceNumber++
			u.FSNOffset++
		}
		if room := w.UserDataRoom(u); room >= 0 {
			u.Data = data[:room]
			w.WriteUserData(u)
		}
		if w.Len() != MaxPacketSize {
			b.Fatal(w.Len())
		}
	}
}

func BenchmarkAckRangesParse(b *testing.B) {
	enc := benchAck.Append(nil)[ChunkHeaderLen:]
	var dst [MaxAckRanges]AckRange
	b.ReportAllocs()
	for b.Loop() {
		a, err := ParseAckRanges(enc, dst[:0])
		if err != nil || len(a.Ranges) != 50 {
			b.Fatal(err)
		}
	}
}

func BenchmarkAckRangesAppend(b *testing.B) {
	buf := make([]byte, 0, MaxPacketSize)
	b.ReportAllocs()
	for b.Loop() {
		out, n, ok := AppendAckRanges(buf[:0], benchAck, 200)
		if !ok || n == 0 || len(out) > 200 {
			b.Fatal(n, ok)
		}
	}
}
