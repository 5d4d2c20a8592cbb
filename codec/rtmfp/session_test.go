package rtmfp

import (
	"bytes"
	"errors"
	"testing"
)

const maxU64 = ^uint64(0)

// decodeSession decodes one encoded session chunk by its type.
func decodeSession(t *testing.T, enc []byte) any {
	t.Helper()
	it := NewChunkIterator(enc)
	if !it.Next() {
		t.Fatalf("%x: %v", enc, it.Err())
	}
	c := it.Chunk()
	if len(it.Rest()) != 0 {
		t.Fatalf("%x: trailing bytes", enc)
	}
	var v any
	var err error
	switch c.Type {
	case ChunkPing:
		v, err = ParsePing(c.Payload)
	case ChunkPingReply:
		v, err = ParsePingReply(c.Payload)
	case ChunkClose:
		v, err = ParseClose(c.Payload)
	case ChunkCloseAck:
		v, err = ParseCloseAck(c.Payload)
	case ChunkECNReport:
		v, err = ParseECNReport(c.Payload)
	case ChunkBufferProbe:
		v, err = ParseBufferProbe(c.Payload)
	case ChunkFlowException:
		v, err = ParseFlowException(c.Payload)
	case ChunkUserData:
		v, err = ParseUserData(c.Payload)
	case ChunkNextUserData:
		v, err = ParseNextUserData(c.Payload)
	case ChunkAckRanges:
		v, err = ParseAckRanges(c.Payload, nil)
	case ChunkAckBitmap:
		v, err = ParseAckBitmap(c.Payload)
	default:
		t.Fatalf("type %02x", c.Type)
	}
	if err != nil {
		t.Fatalf("%x: %v", enc, err)
	}
	return v
}

func TestSessionRoundTrips(t *testing.T) {
	opts := FlowOptions{Metadata: []byte("TC\x04\x00"), ReturnFlowID: 2, HasReturnFlow: true}.Append(nil)
	data := bytes.Repeat([]byte{0x5A}, 1000)
	manyRanges := make([]AckRange, 300)
	for i := range manyRanges {
		manyRanges[i] = AckRange{Holes: uint64(i%5 + 1), Received: uint64(i*37 + 1)}
	}
	for _, c := range []ChunkEncoder{
		Ping{}, Ping{Payload: []byte("M\x81\x00")}, PingReply{}, PingReply{Payload: data},
		Close{}, CloseAck{},
		ECNReport{}, ECNReport{CECount: 255},
		BufferProbe{}, BufferProbe{FlowID: maxU64},
		FlowException{}, FlowException{FlowID: 1 << 40, Code: maxU64},
		UserData{},
		UserData{Flags: UserDataOptions | FragmentFirst, FlowID: 2, SequenceNumber: 1, FSNOffset: 1, Options: opts, Data: data},
		UserData{Flags: FragmentMiddle | UserDataAbandon | UserDataFinal, FlowID: maxU64, SequenceNumber: maxU64, FSNOffset: maxU64},
		UserData{Flags: UserDataOptions, FlowID: 3, SequenceNumber: 1 << 50, FSNOffset: 7, Options: []byte{0}},
		NextUserData{}, NextUserData{Flags: FragmentLast, Data: data}, NextUserData{Flags: UserDataOptions, Options: opts},
		AckRanges{}, AckRanges{FlowID: 2, BufferBlocks: 16383, CumulativeAck: 1},
		AckRanges{FlowID: maxU64, BufferBlocks: maxU64, CumulativeAck: maxU64, Ranges: []AckRange{{1, 1}, {maxU64, maxU64}}},
		AckRanges{FlowID: 5, BufferBlocks: 64, CumulativeAck: 1000, Ranges: manyRanges},
		AckBitmap{}, AckBitmap{FlowID: 9, BufferBlocks: 1, CumulativeAck: 77, Bitmap: []byte{0x81, 0x00, 0xFF}},
	} {
		enc := c.Append(nil)
		if len(enc) != c.Len() {
			t.Fatalf("%T %+v: Len %d, wrote %d", c, c, c.Len(), len(enc))
		}
		if back := decodeSession(t, enc); !sameValue(back, c) {
			t.Fatalf("%T: decoded %+v\nwant %+v", c, back, c)
		}
	}
}

func TestEmptyChunksTolerateExtraBytes(t *testing.T) {
	if _, err := ParseClose([]byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseCloseAck([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if e, err := ParseECNReport([]byte{3, 9}); err != nil || e.CECount != 3 {
		t.Fatal(e, err)
	}
	if _, err := ParseECNReport(nil); !errors.Is(err, ErrShort) {
		t.Fatal(err)
	}
	if b, err := ParseBufferProbe([]byte{0x81, 0x00, 0xAA}); err != nil || b.FlowID != 128 {
		t.Fatal(b, err)
	}
	if _, err := ParseFlowException([]byte{0x02}); !errors.Is(err, ErrShort) {
		t.Fatal(err)
	}
	if (Ping{Payload: []byte{1}}).Reply().Payload[0] != 1 {
		t.Fatal("Reply")
	}
}

func TestUserDataOptionsMarker(t *testing.T) {
	// OPT set with no options: a lone marker is written and read back.
	u := UserData{Flags: UserDataOptions, FlowID: 1, SequenceNumber: 1, FSNOffset: 1, Data: []byte{0x14}}
	enc := u.Append(nil)
	if !bytes.Equal(enc, mustHex(t, "100006 80010101 00 14")) {
		t.Fatalf("%x", enc)
	}
	back, err := ParseUserData(enc[3:])
	if err != nil || !bytes.Equal(back.Options, []byte{0}) || !bytes.Equal(back.Data, []byte{0x14}) {
		t.Fatalf("%+v %v", back, err)
	}
	// Options without OPT are not written.
	u = UserData{FlowID: 1, SequenceNumber: 1, Options: []byte{0}, Data: []byte{1}}
	if enc := u.Append(nil); !bytes.Equal(enc, mustHex(t, "100005 00010100 01")) {
		t.Fatalf("%x", enc)
	}
}

func TestUserDataErrors(t *testing.T) {
	for _, tc := range []struct {
		hex string
		err error
	}{
		{"", ErrShort},
		{"00", ErrShort},
		{"00 02 01", ErrShort},
		{"00 02 01 02", ErrFSNOffset},                       // offset 2 > seq 1
		{"80 02 01 01 0500544304", ErrShort},                // option overruns
		{"80 02 01 01 020a02", ErrShort},                    // no marker
		{"80 02 01 01 02 8180", ErrOptionLength},            // option type VLU cut
		{"00 ffffffffffffffffffff7f 01 01", ErrVLUOverflow}, // flow ID > 64 bits
	} {
		if _, err := ParseUserData(mustHex(t, tc.hex)); !errors.Is(err, tc.err) {
			t.Errorf("%q: %v, want %v", tc.hex, err, tc.err)
		}
	}
	if _, err := ParseNextUserData(nil); !errors.Is(err, ErrShort) {
		t.Fatal(err)
	}
	if _, err := ParseNextUserData(mustHex(t, "80 0300")); !errors.Is(err, ErrShort) {
		t.Fatal(err)
	}
	// Redundant VLU marker (80 00) still ends the list.
	u, err := ParseUserData(mustHex(t, "80 02 01 01 020a02 8000 14"))
	if err != nil || !bytes.Equal(u.Options, mustHex(t, "020a02 8000")) || !bytes.Equal(u.Data, []byte{0x14}) {
		t.Fatalf("%+v %v", u, err)
	}
	if list, rest, err := SplitTerminatedOptions(mustHex(t, "020a02 8000 14")); err != nil || !bytes.Equal(list, mustHex(t, "020a02")) || !bytes.Equal(rest, []byte{0x14}) {
		t.Fatalf("%x %x %v", list, rest, err)
	}
}

func TestNextUserDataFollow(t *testing.T) {
	prev := UserData{Flags: FragmentFirst, FlowID: 7, SequenceNumber: 10, FSNOffset: 3}
	n := NextUserData{Flags: FragmentLast, Data: []byte("x")}
	u, err := n.Follow(prev)
	if err != nil || u.FlowID != 7 || u.SequenceNumber != 11 || u.FSN() != 7 || u.FSNOffset != 4 || u.Fragment() != FragmentLast {
		t.Fatalf("%+v %v", u, err)
	}
	if !u.Follows(prev) || prev.Follows(u) {
		t.Fatal("Follows")
	}
	if _, err := n.Follow(UserData{SequenceNumber: maxU64}); !errors.Is(err, ErrSequenceOverflow) {
		t.Fatal(err)
	}
	if !(UserData{Flags: UserDataAbandon | UserDataFinal}).Abandoned() || !(UserData{Flags: UserDataFinal}).Final() {
		t.Fatal("flag helpers")
	}
}

func TestFlowOptions(t *testing.T) {
	f := FlowOptions{Metadata: []byte("TC\x04\x00"), ReturnFlowID: 2, HasReturnFlow: true}
	enc := f.Append(nil)
	if !bytes.Equal(enc, mustHex(t, "0500544304000 20a0200")) || f.Len() != len(enc) {
		t.Fatalf("%x", enc)
	}
	back, err := ParseFlowOptions(enc)
	if err != nil || !sameValue(back, f) || !back.Acceptable() {
		t.Fatalf("%+v %v", back, err)
	}
	// Big return flow ID, empty metadata, an ignorable option (0x2000) and a mandatory one.
	list := AppendOption(nil, FlowOptionMetadata, nil)
	list = AppendOptionVLU(list, FlowOptionReturnAssociation, maxU64)
	list = AppendOption(list, 0x2000, []byte{1})
	list = AppendOption(list, 0x1FFF, nil)
	list = AppendOption(list, 0x05, nil)
	list = append(list, 0)
	back, err = ParseFlowOptions(list)
	if err != nil || back.Metadata == nil || len(back.Metadata) != 0 || back.ReturnFlowID != maxU64 ||
		!back.HasUnknownMandatory || back.UnknownMandatory != 0x1FFF || back.Acceptable() {
		t.Fatalf("%+v %v", back, err)
	}
	// Only ignorable unknowns: acceptable.
	back, err = ParseFlowOptions(append(AppendOption(nil, 0x7FFF, nil), 0))
	if err != nil || !back.Acceptable() || back.Metadata != nil || back.HasReturnFlow {
		t.Fatalf("%+v %v", back, err)
	}
	// Nothing at all.
	if f := (FlowOptions{}); !bytes.Equal(f.Append(nil), []byte{0}) || f.Len() != 1 {
		t.Fatal("empty list")
	}
	if _, err := ParseFlowOptions(mustHex(t, "010a 00")); err == nil {
		t.Fatal("return association without a VLU accepted")
	}
}

func TestAckRangesDecodingRule(t *testing.T) {
	// cumulative ack 3; received 6-7, 10, 12-14: holes 4-5 (2), 8-9 (2), 11 (1).
	seqs := []SeqRange{{6, 7}, {10, 10}, {12, 14}}
	ranges, err := SeqRangesToAckRanges(3, seqs, nil)
	want := []AckRange{{2, 2}, {2, 1}, {1, 3}}
	if err != nil || !sameValue(ranges, want) {
		t.Fatalf("%v %v", ranges, err)
	}
	a := AckRanges{FlowID: 2, BufferBlocks: 127, CumulativeAck: 3, Ranges: ranges}
	// Wire: minus-one values 1 1 | 1 0 | 0 2.
	if enc := a.Append(nil); !bytes.Equal(enc, mustHex(t, "510009 02 7f 03 0101 0100 0002")) {
		t.Fatalf("%x", enc)
	}
	back, err := AckRangesToSeqRanges(3, want, nil)
	if err != nil || !sameValue(back, seqs) {
		t.Fatalf("%v %v", back, err)
	}
	for _, bad := range [][]SeqRange{{{4, 5}}, {{6, 5}}, {{6, 7}, {8, 9}}, {{3, 3}}} {
		if _, err := SeqRangesToAckRanges(3, bad, nil); !errors.Is(err, ErrAckRange) {
			t.Errorf("%v accepted", bad)
		}
	}
	if _, err := AckRangesToSeqRanges(maxU64-3, []AckRange{{2, 2}}, nil); !errors.Is(err, ErrAckRange) {
		t.Error("overflow accepted")
	}
	if _, ok := (AckRange{0, 1}).Absolute(0); ok {
		t.Error("zero holes accepted")
	}
	if s, ok := (AckRange{1, 1}).Absolute(maxU64 - 2); !ok || s.From != maxU64 || s.To != maxU64 {
		t.Errorf("%v %v", s, ok)
	}
	if _, ok := MakeAckRange(0, SeqRange{2, maxU64}); !ok {
		t.Error("range to 2^64-1 refused")
	}
	if _, ok := MakeAckRange(maxU64-1, SeqRange{maxU64, maxU64}); ok {
		t.Error("range without hole accepted")
	}
}

func TestAckRangesParsing(t *testing.T) {
	// A trailing range cut in the middle is ignored (rtmfp-cpp does the same).
	a, err := ParseAckRanges(mustHex(t, "02 7f 03 0101 81"), nil)
	if err != nil || len(a.Ranges) != 1 {
		t.Fatalf("%+v %v", a, err)
	}
	a, err = ParseAckRanges(mustHex(t, "02 7f 03 0101 05"), nil)
	if err != nil || len(a.Ranges) != 1 {
		t.Fatalf("%+v %v", a, err)
	}
	for _, bad := range []string{"", "02", "02 7f", "02 7f 81"} {
		if _, err := ParseAckRanges(mustHex(t, bad), nil); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := ParseAckRanges(mustHex(t, "02 7f 03 81ffffffffffffffff7f 00"), nil); !errors.Is(err, ErrAckRange) {
		t.Error(err)
	}
	// No allocation with a big enough dst, and the cap on stored ranges.
	var big AckRanges
	for i := 0; i < MaxAckRanges+10; i++ {
		big.Ranges = append(big.Ranges, AckRange{1, 1})
	}
	enc := big.Append(nil)
	dst := make([]AckRange, 0, MaxAckRanges)
	back, err := ParseAckRanges(enc[3:], dst)
	if err != nil || len(back.Ranges) != MaxAckRanges || &back.Ranges[0] != &dst[:1][0] {
		t.Fatalf("%d %v", len(back.Ranges), err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseAckRanges(enc[3:], dst) }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
	if (AckRanges{BufferBlocks: 64}).BufferBytes() != 65536 || (AckRanges{BufferBlocks: maxU64}).BufferBytes() != maxU64 {
		t.Fatal("BufferBytes")
	}
}

func TestAppendAckRangesBudget(t *testing.T) {
	a := AckRanges{FlowID: 2, BufferBlocks: 16383, CumulativeAck: 1}
	for i := 0; i < 100; i++ {
		a.Ranges = append(a.Ranges, AckRange{Holes: 1, Received: 200}) // 1 + 2 bytes each
	}
	head := ChunkHeaderLen + 1 + 2 + 1
	for _, tc := range []struct{ budget, ranges int }{
		{head - 1, -1}, {head, 0}, {head + 2, 0}, {head + 3, 1}, {head + 3*50 + 2, 50}, {100000, 100},
	} {
		out, n, ok := AppendAckRanges([]byte{0xEE}, a, tc.budget)
		if tc.ranges < 0 {
			if ok || len(out) != 1 {
				t.Fatalf("budget %d: wrote %x", tc.budget, out)
			}
			continue
		}
		if !ok || n != tc.ranges || len(out)-1 > tc.budget {
			t.Fatalf("budget %d: %d ranges, %d bytes, ok %v", tc.budget, n, len(out)-1, ok)
		}
		back, err := ParseAckRanges(out[1+ChunkHeaderLen:], nil)
		if err != nil || !sameValue(back.Ranges, a.Ranges[:n]) || back.CumulativeAck != 1 {
			t.Fatalf("budget %d: %+v %v", tc.budget, back, err)
		}
	}
}

func TestAckBitmap(t *testing.T) {
	// cumulative ack 10: bit 0 of byte 0 is seq 12, bit 7 is 19, bit 0 of byte 1 is 20.
	b := AckBitmap{FlowID: 1, CumulativeAck: 10, Bitmap: []byte{0x81, 0x03}}
	for seq, want := range map[uint64]bool{5: true, 10: true, 11: false, 12: true, 13: false, 19: true, 20: true, 21: true, 22: false, 27: false, 28: false, 1000: false} {
		if b.Received(seq) != want {
			t.Errorf("Received(%d) = %v", seq, !want)
		}
	}
	r := b.AsRanges(nil)
	want := []AckRange{{Holes: 1, Received: 1}, {Holes: 6, Received: 3}} // 12, then 19-21
	if !sameValue(r.Ranges, want) || r.CumulativeAck != 10 || r.FlowID != 1 {
		t.Fatalf("%+v", r)
	}
	seqs, err := AckRangesToSeqRanges(10, r.Ranges, nil)
	if err != nil || !sameValue(seqs, []SeqRange{{12, 12}, {19, 21}}) {
		t.Fatalf("%v %v", seqs, err)
	}
	var c AckBitmap
	c.CumulativeAck = 10
	for _, s := range []uint64{3, 11, 12, 19, 20, 21} {
		c.SetReceived(s)
	}
	if !bytes.Equal(c.Bitmap, b.Bitmap) {
		t.Fatalf("SetReceived built %x", c.Bitmap)
	}
	// A run that reaches the end of the bitmap, near 2^64.
	d := AckBitmap{CumulativeAck: maxU64 - 4, Bitmap: []byte{0xFF}}
	r = d.AsRanges(nil)
	if !sameValue(r.Ranges, []AckRange{{1, 3}}) {
		t.Fatalf("%+v", r.Ranges)
	}
	if (AckBitmap{BufferBlocks: 2}).BufferBytes() != 2048 {
		t.Fatal("BufferBytes")
	}
}
