package rtmfp

import "testing"

// TestDecodersDoNotAllocate checks that every decoder keeps sub-slices of its input.
func TestDecodersDoNotAllocate(t *testing.T) {
	chunks := captureChunks(t)
	rd := Redirect{Tag: tagT, Addresses: []Address{addr("198.51.100.7:50000", 2), addr("[2001:db8::1]:1", 1)}}.Append(nil)[3:]
	fi := FIHello{EPD: AppendEPDFingerprint(nil, peerB), ReplyAddress: addr("[2001:db8::1]:1", 2), Tag: tagT}.Append(nil)[3:]
	bm := AckBitmap{FlowID: 1, CumulativeAck: 10, Bitmap: []byte{0x81, 0x03}}.Append(nil)[3:]
	var addrs [MaxRedirectAddresses]Address
	var ranges [MaxAckRanges]AckRange
	for name, fn := range map[string]func(){
		"IHello": func() {
			v, _ := ParseIHello(chunks[ChunkIHello][0])
			_, _ = ParseEPD(v.EPD)
		},
		"RHello":   func() { _, _ = ParseRHello(chunks[ChunkRHello][0]) },
		"IIKeying": func() { _, _ = ParseIIKeying(chunks[ChunkIIKeying][0]) },
		"RIKeying": func() { _, _ = ParseRIKeying(chunks[ChunkRIKeying][0]) },
		"Redirect": func() { _, _ = ParseRedirect(rd, addrs[:0]) },
		"FIHello":  func() { _, _ = ParseFIHello(fi) },
		"CookieChange": func() {
			_, _ = ParseCookieChange(rd)
		},
		"UserData": func() {
			v, _ := ParseUserData(chunks[ChunkUserData][0])
			_, _ = ParseFlowOptions(v.Options)
		},
		"NextUserData":  func() { _, _ = ParseNextUserData(chunks[ChunkNextUserData][0]) },
		"AckRanges":     func() { _, _ = ParseAckRanges(chunks[ChunkAckRanges][0], ranges[:0]) },
		"AckBitmap":     func() { v, _ := ParseAckBitmap(bm); _ = v.AsRanges(ranges[:0]) },
		"ECNReport":     func() { _, _ = ParseECNReport(chunks[ChunkECNReport][0]) },
		"BufferProbe":   func() { _, _ = ParseBufferProbe([]byte{0x05}) },
		"FlowException": func() { _, _ = ParseFlowException([]byte{0x05, 0x00}) },
		"Ping":          func() { _, _ = ParsePing([]byte{1}) },
		"Close":         func() { _, _ = ParseClose(nil) },
	} {
		if n := testing.AllocsPerRun(50, fn); n != 0 {
			t.Errorf("%s: %v allocs", name, n)
		}
	}
}
