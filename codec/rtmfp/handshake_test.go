package rtmfp

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func addr(s string, origin byte) Address {
	return Address{AddrPort: netip.MustParseAddrPort(s), Origin: origin}
}

func TestAddressEncoding(t *testing.T) {
	for _, tc := range []struct {
		a   Address
		hex string
	}{
		{addr("203.0.113.5:40000", OriginPublic), "02cb0071059c40"},
		{addr("192.168.1.10:50000", OriginLocal), "01c0a8010ac350"},
		{addr("10.0.0.1:1", OriginRelay), "030a0000010001"},
		{addr("[2001:db8::1]:1935", OriginPublic), "8220010db8000000000000000000000001078f"},
		{addr("[::ffff:198.51.100.7]:50000", OriginPublic), "02c6336407c350"}, // mapped → IPv4
		{addr("[fe80::1%eth0]:5", OriginLocal), "81fe8000000000000000000000000000010005"},
		{Address{}, "00000000000000"},
	} {
		enc := tc.a.Append(nil)
		if want := mustHex(t, tc.hex); !bytes.Equal(enc, want) || tc.a.Len() != len(enc) {
			t.Errorf("%v: %x (Len %d), want %x", tc.a, enc, tc.a.Len(), want)
			continue
		}
		got, n, err := ParseAddress(append(enc, 0xEE))
		if err != nil || n != len(enc) {
			t.Errorf("%x: %v n=%d", enc, err, n)
		}
		want := tc.a
		want.AddrPort = netip.AddrPortFrom(want.AddrPort.Addr().Unmap().WithZone(""), want.AddrPort.Port())
		if !want.AddrPort.Addr().IsValid() {
			want.AddrPort = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
		}
		if got != want {
			t.Errorf("%x decoded %v, want %v", enc, got, want)
		}
	}
	// IPv6 flag with a mapped address decodes as IPv4; reserved flag bits are ignored.
	a, n, err := ParseAddress(mustHex(t, "fe00000000000000000000ffffc0a80101 0050"))
	if err != nil || n != 19 || a != addr("192.168.1.1:80", 2) {
		t.Fatalf("%v %d %v", a, n, err)
	}
	for _, bad := range []string{"", "02c0a80101", "02c0a8010100", "80000000000000000000000000000000000000"[:36]} {
		if _, _, err := ParseAddress(mustHex(t, bad)); !errors.Is(err, ErrShort) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

var peerB = bytes.Repeat([]byte{0xB0}, 32)
var tagT = []byte("TTTTTTTTTTTTTTTT")

// TestRendezvousTemplates encodes the byte templates of handshake-and-rendezvous.md §9.2.
func TestRendezvousTemplates(t *testing.T) {
	epd := AppendEPDFingerprint(nil, peerB)
	fi := FIHello{EPD: epd, ReplyAddress: addr("203.0.113.5:40000", OriginPublic), Tag: tagT}
	want := append(append(mustHex(t, "0f003a 22210f"), peerB...), mustHex(t, "02cb0071059c40")...)
	want = append(want, tagT...)
	if got := fi.Append(nil); !bytes.Equal(got, want) || fi.Len() != len(want) {
		t.Fatalf("FIHello %x\nwant    %x", got, want)
	}
	back, err := ParseFIHello(want[3:])
	if err != nil || !sameValue(back, fi) {
		t.Fatalf("FIHello decode %+v %v", back, err)
	}

	rd := Redirect{Tag: tagT, Addresses: []Address{addr("198.51.100.7:50000", OriginPublic), addr("192.168.1.10:50000", OriginLocal)}}
	want = append(append(mustHex(t, "71001f 10"), tagT...), mustHex(t, "02c6336407c350 01c0a8010ac350")...)
	if got := rd.Append(nil); !bytes.Equal(got, want) || rd.Len() != len(want) {
		t.Fatalf("Redirect %x\nwant     %x", got, want)
	}
	var buf [4]Address
	rback, err := ParseRedirect(want[3:], buf[:0])
	if err != nil || !sameValue(rback, rd) || &rback.Addresses[0] != &buf[0] {
		t.Fatalf("Redirect decode %+v %v", rback, err)
	}
}

func TestEPD(t *testing.T) {
	fp := bytes.Repeat([]byte{0x42}, 32)
	// tcconn -f: fingerprint then URL.
	list := AppendEPDURL(AppendEPDFingerprint(nil, fp), "rtmfp://h/app")
	e, err := ParseEPD(list)
	if err != nil || !bytes.Equal(e.Fingerprint, fp) || !e.HasURL || string(e.URL) != "rtmfp://h/app" || e.HasHostname {
		t.Fatalf("%+v %v", e, err)
	}
	if got := e.Append(nil); !bytes.Equal(got, list) || e.Len() != len(list) {
		t.Fatalf("re-encoded %x", got)
	}
	// Hostname, an unknown option, a stray marker, a bare app path, a duplicate URL.
	list = AppendOption(nil, EPDHostname, []byte("example.net"))
	list = AppendOption(list, 0x33, []byte{1, 2})
	list = append(list, 0)
	list = AppendEPDURL(list, "live")
	list = AppendEPDURL(list, "other")
	e, err = ParseEPD(list)
	if err != nil || !e.HasHostname || string(e.Hostname) != "example.net" || string(e.URL) != "live" || e.Fingerprint != nil {
		t.Fatalf("%+v %v", e, err)
	}
	// Empty URL is present, not absent.
	e, err = ParseEPD(AppendEPDURL(nil, ""))
	if err != nil || !e.HasURL || len(e.URL) != 0 {
		t.Fatalf("%+v %v", e, err)
	}
	if _, err := ParseEPD(AppendEPDFingerprint(nil, fp[:31])); !errors.Is(err, ErrFingerprintLength) {
		t.Fatal(err)
	}
	if _, err := ParseEPD([]byte{0x05, 0x0A, 'a'}); err == nil {
		t.Fatal("truncated option accepted")
	}
	// A long URL makes the lengths multi-byte VLUs.
	long := "rtmfp://" + strings.Repeat("x", 300) + "/"
	ih := IHello{EPD: AppendEPDURL(nil, long), Tag: tagT}
	enc := ih.Append(nil)
	if !bytes.Equal(enc[3:7], []byte{0x82, 0x38, 0x82, 0x36}) {
		t.Fatalf("lengths %x", enc[3:7])
	}
	back, err := ParseIHello(enc[3:])
	if err != nil {
		t.Fatal(err)
	}
	if e, err := ParseEPD(back.EPD); err != nil || string(e.URL) != long || !bytes.Equal(back.Tag, tagT) {
		t.Fatalf("%v %v", e, err)
	}
}

func TestHandshakeRoundTrips(t *testing.T) {
	big := bytes.Repeat([]byte{0xA5}, 20000) // a length that needs a 3-byte VLU
	for _, c := range []ChunkEncoder{
		IHello{},
		IHello{EPD: []byte{0x01, 0x0A}},
		IHello{EPD: big, Tag: tagT},
		RHello{},
		RHello{Tag: tagT, Cookie: bytes.Repeat([]byte{1}, 64), Certificate: []byte{1, 0x0A}},
		RHello{Tag: tagT, Certificate: big},
		IIKeying{},
		IIKeying{InitiatorSessionID: 0xFFFFFFFF, Cookie: []byte{9}, Certificate: big[:300], SKIC: big[:76], Signature: []byte{'X'}},
		RIKeying{},
		RIKeying{ResponderSessionID: 0x03000000, SKRC: big[:139], Signature: []byte{'X'}},
		Redirect{},
		Redirect{Tag: tagT, Addresses: []Address{addr("[2001:db8::7]:65535", OriginRelay), addr("1.2.3.4:0", OriginUnknown)}},
		FIHello{ReplyAddress: addr("[::1]:9", OriginLocal)},
		FIHello{EPD: AppendEPDFingerprint(nil, peerB), ReplyAddress: addr("1.1.1.1:1", OriginPublic), Tag: tagT},
		CookieChange{},
		CookieChange{OldCookie: big[:65], NewCookie: big[:66]},
	} {
		enc := c.Append([]byte{0xEE})[1:]
		if len(enc) != c.Len() {
			t.Fatalf("%T: Len %d, wrote %d", c, c.Len(), len(enc))
		}
		it := NewChunkIterator(enc)
		if !it.Next() {
			t.Fatalf("%T: %v", c, it.Err())
		}
		ch := it.Chunk()
		var back any
		var err error
		switch ch.Type {
		case ChunkIHello:
			back, err = ParseIHello(ch.Payload)
		case ChunkRHello:
			back, err = ParseRHello(ch.Payload)
		case ChunkIIKeying:
			back, err = ParseIIKeying(ch.Payload)
		case ChunkRIKeying:
			back, err = ParseRIKeying(ch.Payload)
		case ChunkRedirect:
			back, err = ParseRedirect(ch.Payload, nil)
		case ChunkFIHello:
			back, err = ParseFIHello(ch.Payload)
		case ChunkCookieChange:
			back, err = ParseCookieChange(ch.Payload)
		default:
			t.Fatalf("%T wrote type %02x", c, ch.Type)
		}
		if err != nil || !sameValue(back, c) {
			t.Fatalf("%T: decoded %+v, %v", c, back, err)
		}
		// Every strict prefix, fed to every handshake decoder, decodes or fails without a
		// panic (a prefix may still be valid: several chunks end in a variable-length field).
		for i := 0; i < len(ch.Payload); i++ {
			_, _ = ParseIIKeying(ch.Payload[:i])
			_, _ = ParseRIKeying(ch.Payload[:i])
			_, _ = ParseRHello(ch.Payload[:i])
			_, _ = ParseFIHello(ch.Payload[:i])
		}
	}
}

func TestHandshakeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func([]byte) error
		hex  string
	}{
		{"IHello empty", func(b []byte) error { _, err := ParseIHello(b); return err }, ""},
		{"IHello EPD overrun", func(b []byte) error { _, err := ParseIHello(b); return err }, "05010a"},
		{"RHello cookie overrun", func(b []byte) error { _, err := ParseRHello(b); return err }, "00 40 0102"},
		{"IIKeying short ID", func(b []byte) error { _, err := ParseIIKeying(b); return err }, "020000"},
		{"IIKeying no SKIC", func(b []byte) error { _, err := ParseIIKeying(b); return err }, "02000000 00 00"},
		{"IIKeying VLU overflow", func(b []byte) error { _, err := ParseIIKeying(b); return err }, "00000001 ffffffffffffffffffff7f"},
		{"RIKeying short", func(b []byte) error { _, err := ParseRIKeying(b); return err }, "00000001 81"},
		{"Redirect cut address", func(b []byte) error { _, err := ParseRedirect(b, nil); return err }, "00 02c0a80101c3"},
		{"FIHello no address", func(b []byte) error { _, err := ParseFIHello(b); return err }, "0100 02"},
		{"CookieChange overrun", func(b []byte) error { _, err := ParseCookieChange(b); return err }, "03aa"},
	} {
		if err := tc.fn(mustHex(t, tc.hex)); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestRedirectLimits(t *testing.T) {
	rd := Redirect{Tag: tagT}
	for i := 0; i < MaxRedirectAddresses; i++ {
		rd.Addresses = append(rd.Addresses, addr("10.0.0.1:1", OriginLocal))
	}
	enc := rd.Append(nil)
	dst := make([]Address, 0, MaxRedirectAddresses)
	back, err := ParseRedirect(enc[3:], dst)
	if err != nil || len(back.Addresses) != MaxRedirectAddresses {
		t.Fatalf("%d %v", len(back.Addresses), err)
	}
	rd.Addresses = append(rd.Addresses, addr("10.0.0.2:2", OriginLocal))
	enc = rd.Append(nil)
	if _, err := ParseRedirect(enc[3:], dst); !errors.Is(err, ErrTooManyAddresses) {
		t.Fatal(err)
	}
	// The iterator has no limit.
	tag, it, err := RedirectAddresses(enc[3:])
	n := 0
	for it.Next() {
		n++
	}
	if err != nil || it.Err() != nil || n != MaxRedirectAddresses+1 || !bytes.Equal(tag, tagT) {
		t.Fatalf("%d %v %v", n, err, it.Err())
	}
	// An empty address list is legal (zenomt: "the address this came from").
	r, err := ParseRedirect([]byte{0}, nil)
	if err != nil || len(r.Tag) != 0 || len(r.Addresses) != 0 {
		t.Fatalf("%+v %v", r, err)
	}
}
