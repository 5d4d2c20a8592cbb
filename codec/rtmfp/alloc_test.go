package rtmfp

import (
	"errors"
	"testing"
)

// TestDecodersDoNotAllocate checks that every decoder keeps sub-slices of its input. Each
// case first decodes its input once without error (a decoder that failed early would
// allocate nothing and prove nothing).
func TestDecodersDoNotAllocate(t *testing.T) {
	chunks := captureChunks(t)
	rd := Redirect{Tag: tagT, Addresses: []Address{addr("198.51.100.7:50000", 2), addr("[2001:db8::1]:1", 1)}}.Append(nil)[3:]
	fi := FIHello{EPD: AppendEPDFingerprint(nil, peerB), ReplyAddress: addr("[2001:db8::1]:1", 2), Tag: tagT}.Append(nil)[3:]
	cc := CookieChange{OldCookie: []byte("old cookie"), NewCookie: []byte("new cookie")}.Append(nil)[3:]
	bm := AckBitmap{FlowID: 1, CumulativeAck: 10, Bitmap: []byte{0x81, 0x03}}.Append(nil)[3:]
	var addrs [MaxRedirectAddresses]Address
	var ranges [MaxAckRanges]AckRange
	second := func(_ any, err error) error { return err }
	for name, fn := range map[string]func() error{
		"IHello": func() error {
			v, err := ParseIHello(chunks[ChunkIHello][0])
			return errors.Join(err, second(ParseEPD(v.EPD)))
		},
		"RHello":       func() error { return second(ParseRHello(chunks[ChunkRHello][0])) },
		"IIKeying":     func() error { return second(ParseIIKeying(chunks[ChunkIIKeying][0])) },
		"RIKeying":     func() error { return second(ParseRIKeying(chunks[ChunkRIKeying][0])) },
		"Redirect":     func() error { return second(ParseRedirect(rd, addrs[:0])) },
		"FIHello":      func() error { return second(ParseFIHello(fi)) },
		"CookieChange": func() error { return second(ParseCookieChange(cc)) },
		"UserData": func() error {
			v, err := ParseUserData(chunks[ChunkUserData][0])
			return errors.Join(err, second(ParseFlowOptions(v.Options)))
		},
		"NextUserData": func() error { return second(ParseNextUserData(chunks[ChunkNextUserData][0])) },
		"AckRanges":    func() error { return second(ParseAckRanges(chunks[ChunkAckRanges][0], ranges[:0])) },
		"AckBitmap": func() error {
			v, err := ParseAckBitmap(bm)
			_ = v.AsRanges(ranges[:0])
			return err
		},
		"ECNReport":     func() error { return second(ParseECNReport(chunks[ChunkECNReport][0])) },
		"BufferProbe":   func() error { return second(ParseBufferProbe([]byte{0x05})) },
		"FlowException": func() error { return second(ParseFlowException([]byte{0x05, 0x00})) },
		"Ping":          func() error { return second(ParsePing([]byte{1})) },
		"Close":         func() error { return second(ParseClose(nil)) },
	} {
		if err := fn(); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if n := testing.AllocsPerRun(50, func() { _ = fn() }); n != 0 {
			t.Errorf("%s: %v allocs", name, n)
		}
	}
}
