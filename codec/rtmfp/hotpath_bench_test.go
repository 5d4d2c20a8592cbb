package rtmfp_test

import (
	"bytes"
	"testing"

	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// Combined hot-path benchmarks: what a server does with one full session datagram on
// receive (copy out of the socket buffer, decrypt and verify, walk the chunks, decode the
// user data and the ack) and on send (assemble a packet, seal it). Every figure is per
// datagram of 1,200 bytes of plaintext: the encrypted block is exactly 1,200 bytes (sequence
// number VLU, checksum and packet, no padding), so the datagram is 1,204 bytes on the wire,
// plus 16 for the HMAC.

var (
	hotAESKey  = bytes.Repeat([]byte{0xA5}, 16)
	hotHMACKey = bytes.Repeat([]byte{0x5A}, 32)
	// A mid-session ack: cumulative ack, then a few ranges after losses.
	hotAck = rtmfp.AckRanges{FlowID: 2, BufferBlocks: 16383, CumulativeAck: 123456, Ranges: []rtmfp.AckRange{
		{Holes: 1, Received: 4}, {Holes: 2, Received: 17}, {Holes: 1, Received: 1}, {Holes: 3, Received: 40},
	}}
	hotHeader = rtmfp.Header{Flags: rtmfp.FlagTC | rtmfp.ModeInitiator}.WithTimestamp(0x1E70).WithEcho(0x6451)
	// Media message fragments: a 0x10 chunk, then 0x11 continuations of the same flow.
	hotData = bytes.Repeat([]byte{0x17, 0x01, 0x00, 0x00, 0x2A}, 1200/5)
)

const (
	hotSessionID = 0x02000000
	hotFragment  = 180  // data bytes per user data chunk
	hotBlock     = 1200 // bytes of plaintext per datagram
	// hotFirstSeq keeps the session sequence number VLU at 3 bytes (2^14 … 2^21−1), as it
	// is for most of a session's life, so every pre-sealed datagram has the same layout.
	hotFirstSeq = 1 << 20
)

var (
	modeChecksum = cryptoutil.Mode{}
	modeHMACSeq  = cryptoutil.Mode{SequenceNumbers: true, HMACLength: cryptoutil.DefaultHMACLength}
)

func hotPair(tb testing.TB, m cryptoutil.Mode) (*cryptoutil.Encrypter, *cryptoutil.Decrypter) {
	tb.Helper()
	e, err := cryptoutil.NewEncrypter(hotAESKey, hotHMACKey, m)
	if err != nil {
		tb.Fatal(err)
	}
	d, err := cryptoutil.NewDecrypter(hotAESKey, hotHMACKey, m)
	if err != nil {
		tb.Fatal(err)
	}
	if m.SequenceNumbers {
		e.SetNextSequence(hotFirstSeq)
	}
	return e, d
}

// writeHotPacket appends the benchmark packet to b with a PacketWriter: the header, an ack,
// then user data fragments of flow 5 until exactly size bytes are used. It returns the
// writer and the number of user data bytes written.
func writeHotPacket(b []byte, size int) (rtmfp.PacketWriter, int, bool) {
	w := rtmfp.NewPacketWriter(b, hotHeader, size)
	if _, ok := w.WriteAckRanges(hotAck); !ok {
		return w, 0, false
	}
	u := rtmfp.UserData{Flags: rtmfp.FragmentFirst, FlowID: 5, SequenceNumber: 9000, FSNOffset: 3, Data: hotData[:hotFragment]}
	n := 0
	for w.WriteUserData(u) {
		n += len(u.Data)
		u.Flags = rtmfp.FragmentMiddle
		u.SequenceNumber++
		u.FSNOffset++
	}
	if room := w.UserDataRoom(u); room >= 0 {
		u.Flags = rtmfp.FragmentLast
		u.Data = hotData[:room]
		if !w.WriteUserData(u) {
			return w, n, false
		}
		n += room
	}
	return w, n, w.Len() == size
}

// hotPacketSize is the packet length that makes the encrypted block exactly hotBlock bytes
// for e's next Seal: the block minus the sequence number VLU and the checksum.
func hotPacketSize(tb testing.TB, e *cryptoutil.Encrypter) int {
	tb.Helper()
	size := hotBlock - (e.PacketOffset() - cryptoutil.SSIDLen)
	want := cryptoutil.SSIDLen + hotBlock + e.Mode().HMACLength
	if got := e.SealedLen(size); got != want {
		tb.Fatalf("a %d-byte packet seals to %d bytes, want %d", size, got, want)
	}
	return size
}

// sealHotDatagrams seals n copies of the benchmark packet with consecutive session sequence
// numbers (all equal without sequence numbers) and returns them and the user data bytes each
// carries.
func sealHotDatagrams(tb testing.TB, e *cryptoutil.Encrypter, n int) ([][]byte, int) {
	tb.Helper()
	size := hotPacketSize(tb, e)
	w, data, ok := writeHotPacket(nil, size)
	if !ok {
		tb.Fatalf("benchmark packet is %d bytes, want %d", w.Len(), size)
	}
	dgs := make([][]byte, n)
	for i := range dgs {
		dgs[i] = e.Seal(nil, hotSessionID, w.Packet())
	}
	return dgs, data
}

// receiveHot is the measured receive path for one datagram: copy it into the reusable
// socket buffer, decrypt and verify it in place, walk the chunks, decode user data and acks.
// It returns the user data bytes and ack ranges seen.
func receiveHot(b *testing.B, d *cryptoutil.Decrypter, sock, datagram []byte, ranges []rtmfp.AckRange) (data, nranges int) {
	n := copy(sock, datagram)
	packet, _, err := d.OpenInPlace(sock[:n])
	if err != nil {
		b.Fatal(err)
	}
	r, err := rtmfp.NewPacketReader(packet)
	if err != nil {
		b.Fatal(err)
	}
	for r.Next() {
		c := r.Chunk()
		switch c.Type {
		case rtmfp.ChunkUserData, rtmfp.ChunkNextUserData:
			u, err := r.UserData()
			if err != nil {
				b.Fatal(err)
			}
			data += len(u.Data)
		case rtmfp.ChunkAckRanges:
			a, err := rtmfp.ParseAckRanges(c.Payload, ranges)
			if err != nil {
				b.Fatal(err)
			}
			nranges += len(a.Ranges)
		}
	}
	if err := r.Err(); err != nil {
		b.Fatal(err)
	}
	return data, nranges
}

// BenchmarkDecryptVerifyParse1200: checksum mode (what Flash Player negotiates). The same
// datagram is received again and again; without sequence numbers that is what a Decrypter
// sees for every packet (no replay state).
func BenchmarkDecryptVerifyParse1200(b *testing.B) {
	e, d := hotPair(b, modeChecksum)
	dgs, wantData := sealHotDatagrams(b, e, 1)
	dg := dgs[0]
	sock := make([]byte, 2048)
	ranges := make([]rtmfp.AckRange, 0, rtmfp.MaxAckRanges)
	b.ReportAllocs()
	b.SetBytes(int64(len(dg)))
	for b.Loop() {
		if data, n := receiveHot(b, d, sock, dg, ranges); data != wantData || n != len(hotAck.Ranges) {
			b.Fatalf("decoded %d data bytes and %d ranges, want %d and %d", data, n, wantData, len(hotAck.Ranges))
		}
	}
}

// BenchmarkDecryptVerifyParse1200HMACSeq: 16-byte HMAC and session sequence numbers (what
// rtmfp-cpp requires). The replay window must see a fresh number every time, so the setup
// seals a ring of hotRing datagrams with increasing numbers (untimed) and the loop receives
// them in order. When the ring wraps, the Decrypter's window is emptied, which is the only
// extra work in the loop: one 16-byte store every hotRing datagrams. Every timed Open thus
// runs the full check — HMAC, decryption, sequence number above the highest seen, window
// update — on a datagram that is not in the CPU caches any more than a fresh socket read
// would be (the ring is hotRing × 1,220 bytes).
func BenchmarkDecryptVerifyParse1200HMACSeq(b *testing.B) {
	const hotRing = 256
	e, d := hotPair(b, modeHMACSeq)
	dgs, wantData := sealHotDatagrams(b, e, hotRing)
	sock := make([]byte, 2048)
	ranges := make([]rtmfp.AckRange, 0, rtmfp.MaxAckRanges)
	window := d.Window()
	i := 0
	b.ReportAllocs()
	b.SetBytes(int64(len(dgs[0])))
	for b.Loop() {
		if i == hotRing {
			i = 0
			*window = cryptoutil.ReplayWindow{}
		}
		if data, n := receiveHot(b, d, sock, dgs[i], ranges); data != wantData || n != len(hotAck.Ranges) {
			b.Fatalf("decoded %d data bytes and %d ranges, want %d and %d", data, n, wantData, len(hotAck.Ranges))
		}
		i++
	}
	if h, ok := window.Highest(); !ok || h < hotFirstSeq {
		b.Fatalf("replay window highest %d (%v): the loop did not check sequence numbers", h, ok)
	}
}

// benchAssemble builds the packet in place at dst[PacketOffset():] with a PacketWriter
// (header, ack, user data fragments) and seals it into the same reusable buffer.
func benchAssemble(b *testing.B, m cryptoutil.Mode) {
	e, _ := hotPair(b, m)
	size := hotPacketSize(b, e)
	buf := make([]byte, 0, 2048)
	want := e.SealedLen(size)
	b.ReportAllocs()
	b.SetBytes(int64(want))
	for b.Loop() {
		if m.SequenceNumbers {
			e.SetNextSequence(hotFirstSeq) // same VLU length, so the same packet size
		}
		w, _, ok := writeHotPacket(buf[:e.PacketOffset()], size)
		if !ok {
			b.Fatalf("packet is %d bytes, want %d", w.Len(), size)
		}
		if dg := e.Seal(buf[:0], hotSessionID, w.Packet()); len(dg) != want {
			b.Fatalf("datagram is %d bytes, want %d", len(dg), want)
		}
	}
}

// BenchmarkAssembleEncrypt1200: checksum mode.
func BenchmarkAssembleEncrypt1200(b *testing.B) { benchAssemble(b, modeChecksum) }

// BenchmarkAssembleEncrypt1200HMACSeq: 16-byte HMAC and session sequence numbers.
func BenchmarkAssembleEncrypt1200HMACSeq(b *testing.B) { benchAssemble(b, modeHMACSeq) }

// TestHotPathRoundTrip checks the benchmark fixture itself: the assembled packet seals and
// opens to the same chunks in both modes, and the receive path allocates nothing.
func TestHotPathRoundTrip(t *testing.T) {
	for _, m := range []cryptoutil.Mode{modeChecksum, modeHMACSeq} {
		e, d := hotPair(t, m)
		dgs, wantData := sealHotDatagrams(t, e, 2)
		if len(dgs[0]) != cryptoutil.SSIDLen+hotBlock+m.HMACLength {
			t.Fatalf("mode %+v: datagram is %d bytes", m, len(dgs[0]))
		}
		sock := make([]byte, 2048)
		ranges := make([]rtmfp.AckRange, 0, rtmfp.MaxAckRanges)
		for i, dg := range dgs {
			n := copy(sock, dg)
			packet, seq, err := d.OpenInPlace(sock[:n])
			if err != nil {
				t.Fatalf("mode %+v datagram %d: %v", m, i, err)
			}
			if m.SequenceNumbers && seq != hotFirstSeq+uint64(i) {
				t.Errorf("mode %+v datagram %d: sequence number %d", m, i, seq)
			}
			r, err := rtmfp.NewPacketReader(packet)
			if err != nil {
				t.Fatal(err)
			}
			if r.Header() != hotHeader {
				t.Errorf("header %+v, want %+v", r.Header(), hotHeader)
			}
			data, chunks, next := 0, 0, 0
			for r.Next() {
				chunks++
				c := r.Chunk()
				switch c.Type {
				case rtmfp.ChunkNextUserData:
					next++
					fallthrough
				case rtmfp.ChunkUserData:
					u, err := r.UserData()
					if err != nil || u.FlowID != 5 {
						t.Fatalf("user data %+v: %v", u, err)
					}
					data += len(u.Data)
				case rtmfp.ChunkAckRanges:
					a, err := rtmfp.ParseAckRanges(c.Payload, ranges)
					if err != nil || len(a.Ranges) != len(hotAck.Ranges) {
						t.Fatalf("ack %+v: %v", a, err)
					}
				}
			}
			if data != wantData || next < 5 || chunks != next+2 {
				t.Errorf("mode %+v: %d chunks (%d Next User Data), %d data bytes (want %d)", m, chunks, next, data, wantData)
			}
		}
	}
	// The receive path of the benchmark, outside the benchmark harness.
	e, d := hotPair(t, modeChecksum)
	dgs, _ := sealHotDatagrams(t, e, 1)
	sock := make([]byte, 2048)
	ranges := make([]rtmfp.AckRange, 0, rtmfp.MaxAckRanges)
	allocs := testing.AllocsPerRun(100, func() {
		packet, _, err := d.OpenInPlace(sock[:copy(sock, dgs[0])])
		if err != nil {
			t.Fatal(err)
		}
		r, _ := rtmfp.NewPacketReader(packet)
		for r.Next() {
			if c := r.Chunk(); c.Type == rtmfp.ChunkAckRanges {
				_, _ = rtmfp.ParseAckRanges(c.Payload, ranges)
			} else {
				_, _ = r.UserData()
			}
		}
	})
	if allocs != 0 {
		t.Errorf("receive path: %v allocations per datagram, want 0", allocs)
	}
}
