package rtmfp

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Known-answer tests against the two captures in ../../testdata (see their README files and
// the fact sheets handshake-and-rendezvous.md §9, flows-and-flash-messages.md §12).

// Values of the Flash Player 11.7 capture (framing-and-crypto.md §10.2, handshake §9.1).
const (
	flashTag    = "2175b73f525fa0dd1f75ae339a706cc3"
	flashCookie = "b549c3e57f851a22a7e0a078bc6348a97c289b6430ba2b78c8a63c0efa863cd485481fa001d44e4272208e5dc3186d070a84dc385e3561f13263ae857f478a1b"
	flashCert   = "010a410edca02507eed7fde67b9b219331ecfa94a214c3b5ed2039fd3f0581e835f495047b746a80694a62780464cbcc63e38c9f9f4d3cc3cbfbd62a6323c945fafa1077021502021505021" + "50e"
	// framing-and-crypto.md §10.2 prints 133 bytes for this certificate: its last byte, 4c,
	// is really the SKIC's length field. The certificate is the 132 bytes its length 81 04
	// announces, and hashing those gives the documented peer ID.
	flashCCert = "81021d02d29eaed01fedbb439022d9203a1b7ee4dc261922e5fbda3236648367d2af6e90a5d22cadd9b6759f0ae9f7cd349ed6408fb9cedeb272b34b2c4b22cdeaf384a7063fd0be63c6041e5ddc75142c286200c67d1caa963e1adf7ffec0683237d311a9c7446ff4d7e0ee9d370f000b72f85347ec6b572891be7fe11d6413653b7cda"
	flashSKIC  = "021d02410ef39d1c5592126b046da3eb5fae38c04631bf90cb7a44a5cc526a256e321b389ed9f0c19346ab5b0dda10ce8045cbd5f538dd1de2b574c77e0afe4c77f8809569031a020a021e02"
	flashSKRC  = "031a0000021e0081020d02eb93677023c1fc1223e636134aa839b9c33891380868c4753d1a45deefc92b925346ef482735349e6d9a5bca2ca29407710fac393c8a3c05ad951a1fa1f3a2a4dfd641a06f739ba82c26ac45c08919d8dae41ac21ed6de83298ac9535c913ed6696f5061c27b6d5e424dfe63a09f788e9351ee29537bd6b4b9c0dfe1c913d762"
)

func onlyChunk(t *testing.T, packet []byte) (Header, Chunk) {
	t.Helper()
	r, err := NewPacketReader(packet)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Next() {
		t.Fatalf("no chunk: %v", r.Err())
	}
	c := r.Chunk()
	if r.Next() || r.Err() != nil {
		t.Fatalf("more than one chunk (%v)", r.Err())
	}
	return r.Header(), c
}

func wantHeader(t *testing.T, h Header, flags byte, ts, echo uint16) {
	t.Helper()
	if h.Flags != flags || h.Timestamp != ts || h.TimestampEcho != echo {
		t.Fatalf("header = %+v, want flags %02x ts %d echo %d", h, flags, ts, echo)
	}
}

func wantBytes(t *testing.T, what string, got []byte, wantHex string) {
	t.Helper()
	if want := mustHex(t, wantHex); !bytes.Equal(got, want) {
		t.Fatalf("%s = %x, want %x", what, got, want)
	}
}

// checkReencode requires that decoding and re-encoding every chunk of packet reproduces it.
func checkReencode(t *testing.T, packet []byte) {
	t.Helper()
	end := chunksEnd(t, packet)
	if got := reencodePacket(t, packet); !bytes.Equal(got, packet[:end]) {
		t.Fatalf("re-encoded\n%x\nwant\n%x", got, packet[:end])
	}
}

func TestFlashIHello(t *testing.T) {
	p := flashPlain(t, "IHello.dat")
	end := chunksEnd(t, p)
	wantBytes(t, "packet", p[:end], "0b1e60 30002b 1a190a72746d66703a2f2f3139322e3136382e3133372e3138332f"+flashTag)
	h, c := onlyChunk(t, p)
	wantHeader(t, h, 0x0B, 0x1E60, 0)
	if h.Mode() != ModeStartup || !h.HasTimestamp() || h.HasEcho() {
		t.Fatalf("header %+v", h)
	}
	ih, err := ParseIHello(c.Payload)
	if err != nil {
		t.Fatal(err)
	}
	wantBytes(t, "tag", ih.Tag, flashTag)
	epd, err := ParseEPD(ih.EPD)
	if err != nil {
		t.Fatal(err)
	}
	if !epd.HasURL || string(epd.URL) != "rtmfp://192.168.137.183/" || epd.Fingerprint != nil || epd.HasHostname {
		t.Fatalf("EPD = %+v", epd)
	}
	if got := AppendEPDURL(nil, "rtmfp://192.168.137.183/"); !bytes.Equal(got, ih.EPD) {
		t.Fatalf("AppendEPDURL = %x, want %x", got, ih.EPD)
	}
	checkReencode(t, p)
}

func TestFlashRHello(t *testing.T) {
	p := flashPlain(t, "RHello.dat")
	h, c := onlyChunk(t, p)
	wantHeader(t, h, 0x0B, 0x6449, 0)
	if c.Type != ChunkRHello || len(c.Payload) != 0x9F {
		t.Fatalf("chunk %02x len %d", c.Type, len(c.Payload))
	}
	rh, err := ParseRHello(c.Payload)
	if err != nil {
		t.Fatal(err)
	}
	wantBytes(t, "tag", rh.Tag, flashTag)
	wantBytes(t, "cookie", rh.Cookie, flashCookie)
	wantBytes(t, "certificate", rh.Certificate, flashCert)
	if len(rh.Certificate) != 77 {
		t.Fatalf("certificate length %d", len(rh.Certificate))
	}
	id := sha256.Sum256(rh.Certificate)
	wantBytes(t, "server peer ID", id[:], "86241000ea4d58784f613f40f28bc022b475d8682d2091c5ed8a1af5bf0aa0c4")
	checkReencode(t, p)
}

func TestFlashIIKeying(t *testing.T) {
	p := flashPlain(t, "IIKeying.dat")
	h, c := onlyChunk(t, p)
	wantHeader(t, h, 0x0B, 0x1E69, 0)
	if c.Type != ChunkIIKeying || len(c.Payload) != 0x119 {
		t.Fatalf("chunk %02x len %d", c.Type, len(c.Payload))
	}
	ik, err := ParseIIKeying(c.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if ik.InitiatorSessionID != 0x02000000 {
		t.Fatalf("session ID %08x", ik.InitiatorSessionID)
	}
	wantBytes(t, "cookie", ik.Cookie, flashCookie)
	wantBytes(t, "certificate", ik.Certificate, flashCCert)
	wantBytes(t, "SKIC", ik.SKIC, flashSKIC)
	wantBytes(t, "signature", ik.Signature, "58")
	id := sha256.Sum256(ik.Certificate)
	wantBytes(t, "client peer ID", id[:], "9210df7cb656cad82a607efd810e6c3f922a062ec7dae6df0f39e8a7248dcbf8")
	checkReencode(t, p)
}

func TestFlashRIKeying(t *testing.T) {
	p := flashPlain(t, "RIKeying.dat")
	h, c := onlyChunk(t, p)
	wantHeader(t, h, 0x0B, 0x6451, 0)
	if c.Type != ChunkRIKeying || len(c.Payload) != 0x92 {
		t.Fatalf("chunk %02x len %d", c.Type, len(c.Payload))
	}
	rk, err := ParseRIKeying(c.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if rk.ResponderSessionID != 1 {
		t.Fatalf("session ID %08x", rk.ResponderSessionID)
	}
	wantBytes(t, "SKRC", rk.SKRC, flashSKRC)
	wantBytes(t, "signature", rk.Signature, "58")
	checkReencode(t, p)
}

// collect reads every chunk of a packet, resolving user data.
type seen struct {
	c   Chunk
	ud  UserData
	err error
}

func collect(t *testing.T, packet []byte) (Header, []seen) {
	t.Helper()
	r, err := NewPacketReader(packet)
	if err != nil {
		t.Fatal(err)
	}
	var out []seen
	for r.Next() {
		ud, err := r.UserData()
		out = append(out, seen{r.Chunk(), ud, err})
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	return r.Header(), out
}

func wantAck(t *testing.T, c Chunk, flow, blocks, cum uint64, ranges ...AckRange) {
	t.Helper()
	if c.Type != ChunkAckRanges {
		t.Fatalf("chunk type %02x, want 51", c.Type)
	}
	a, err := ParseAckRanges(c.Payload, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.FlowID != flow || a.BufferBlocks != blocks || a.CumulativeAck != cum || !sameValue(a.Ranges, ranges) {
		t.Fatalf("ack = %+v, want flow %d blocks %d cum %d ranges %v", a, flow, blocks, cum, ranges)
	}
}

func wantUserData(t *testing.T, s seen, typ byte, flags byte, flow, seq, fsn uint64, dataPrefix string) {
	t.Helper()
	if s.c.Type != typ || s.err != nil {
		t.Fatalf("chunk %02x err %v, want %02x", s.c.Type, s.err, typ)
	}
	u := s.ud
	if u.Flags != flags || u.FlowID != flow || u.SequenceNumber != seq || u.FSN() != fsn {
		t.Fatalf("user data flags %02x flow %d seq %d fsn %d, want %02x %d %d %d",
			u.Flags, u.FlowID, u.SequenceNumber, u.FSN(), flags, flow, seq, fsn)
	}
	if p := mustHex(t, dataPrefix); !bytes.HasPrefix(u.Data, p) {
		t.Fatalf("data %x does not start with %x", u.Data, p)
	}
}

func wantFlowOptions(t *testing.T, u UserData, metadata string, ret int64) {
	t.Helper()
	if !u.HasOptions() {
		t.Fatal("no options")
	}
	f, err := ParseFlowOptions(u.Options)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.Metadata, mustHex(t, metadata)) || f.HasUnknownMandatory {
		t.Fatalf("flow options %+v", f)
	}
	if (ret >= 0) != f.HasReturnFlow || (ret >= 0 && f.ReturnFlowID != uint64(ret)) {
		t.Fatalf("return flow %v %d, want %d", f.HasReturnFlow, f.ReturnFlowID, ret)
	}
	if enc := f.Append(nil); !bytes.Equal(enc, u.Options) {
		t.Fatalf("options re-encode %x, want %x", enc, u.Options)
	}
}

func TestFlashSessionPackets(t *testing.T) {
	const connectStart = "1400000000020007" + "636f6e6e656374" // AMF0-in-TC command "connect"

	t.Run("5 connect", func(t *testing.T) {
		p := flashPlain(t, "5.dat")
		h, cs := collect(t, p)
		wantHeader(t, h, 0x8D, 0x1E70, 0x6451)
		if len(cs) != 1 || len(cs[0].c.Payload) != 0xFD {
			t.Fatalf("chunks %+v", cs)
		}
		wantUserData(t, cs[0], ChunkUserData, 0x80, 2, 1, 0, connectStart)
		wantBytes(t, "options", cs[0].ud.Options, "05005443040000")
		wantFlowOptions(t, cs[0].ud, "54430400", -1)
		if !bytes.Contains(cs[0].ud.Data, []byte("WIN 11,7,700,202")) {
			t.Fatal("flashVer missing")
		}
		checkReencode(t, p)
	})
	t.Run("6 result (server)", func(t *testing.T) {
		p := flashPlain(t, "6.dat")
		h, cs := collect(t, p)
		wantHeader(t, h, 0x4E, h.Timestamp, h.TimestampEcho)
		if len(cs) != 2 {
			t.Fatalf("%d chunks", len(cs))
		}
		wantAck(t, cs[0].c, 2, 0x7F, 1)
		wantUserData(t, cs[1], ChunkUserData, 0x80, 1, 1, 0, "140000000002000"+"75f726573756c74")
		wantFlowOptions(t, cs[1].ud, "54430400", 2)
		checkReencode(t, p)
	})
	t.Run("7 ack", func(t *testing.T) {
		p := flashPlain(t, "7.dat")
		wantBytes(t, "packet", p, "0d1e766455 510004 01ff7f01 ffff")
		h, cs := collect(t, p)
		wantHeader(t, h, 0x0D, 0x1E76, 0x6455)
		if len(cs) != 1 {
			t.Fatalf("%d chunks", len(cs))
		}
		wantAck(t, cs[0].c, 1, 16383, 1)
		checkReencode(t, p)
	})
	t.Run("8 setPeerInfo", func(t *testing.T) {
		p := flashPlain(t, "8.dat")
		h, cs := collect(t, p)
		wantHeader(t, h, 0x8D, h.Timestamp, h.TimestampEcho)
		if len(cs) != 1 || len(cs[0].c.Payload) != 0x4F {
			t.Fatalf("chunks %+v", cs)
		}
		wantUserData(t, cs[0], ChunkUserData, 0x00, 2, 2, 1, "11")
		if !bytes.Contains(cs[0].ud.Data, mustHex(t, "0002000b"+hex.EncodeToString([]byte("setPeerInfo")))) {
			t.Fatalf("data %x", cs[0].ud.Data)
		}
		if cs[0].ud.Options != nil {
			t.Fatal("options without OPT")
		}
		checkReencode(t, p)
	})
	t.Run("9 keepalive (server, quirky)", func(t *testing.T) {
		p := flashPlain(t, "9.dat")
		_, cs := collect(t, p)
		if len(cs) != 2 {
			t.Fatalf("%d chunks", len(cs))
		}
		wantAck(t, cs[0].c, 2, 0x7F, 2)
		// go-rtmfp repeats the option bytes without the OPT flag: they are data.
		wantUserData(t, cs[1], ChunkUserData, 0x00, 1, 2, 0, "05005443040002"+"0a0200"+"04")
		checkReencode(t, p)
	})
	t.Run("10 ack", func(t *testing.T) {
		p := flashPlain(t, "10.dat")
		wantBytes(t, "packet", p, "0d1eb76497 510004 01ff7f02 ffff")
		_, cs := collect(t, p)
		wantAck(t, cs[0].c, 1, 16383, 2)
		checkReencode(t, p)
	})
	t.Run("11 close ack", func(t *testing.T) {
		p := flashPlain(t, "11.dat")
		h, cs := collect(t, p)
		wantHeader(t, h, 0x0D, 0x208D, 0x666D)
		if len(cs) != 1 || cs[0].c.Type != ChunkCloseAck || len(cs[0].c.Payload) != 0 {
			t.Fatalf("chunks %+v", cs)
		}
		checkReencode(t, p)
	})
}

// TestCumulusWikiIHello decodes the IHello plaintext of framing-and-crypto.md §10.1.
func TestCumulusWikiIHello(t *testing.T) {
	p := mustHex(t, `0B 82 60 30 00 53 42 41 0A 72 74 6D 66 70 3A 2F 2F 73 74 72 61 74 75 73 2E 61 64 6F
  62 65 2E 63 6F 6D 2F 39 35 36 64 30 30 39 35 62 63 39 34 31 36 32 34 62 32 30 64 62
  37 37 66 2D 37 36 33 61 63 34 66 34 36 32 38 39 2F 7D 1C 42 FB 55 1B B4 E7 8F 34 B6
  C4 A0 11 CC BD`)
	h, c := onlyChunk(t, p)
	wantHeader(t, h, 0x0B, 0x8260, 0)
	ih, err := ParseIHello(c.Payload)
	if err != nil {
		t.Fatal(err)
	}
	epd, err := ParseEPD(ih.EPD)
	if err != nil {
		t.Fatal(err)
	}
	if string(epd.URL) != "rtmfp://stratus.adobe.com/956d0095bc941624b20db77f-763ac4f46289/" {
		t.Fatalf("URL %q", epd.URL)
	}
	wantBytes(t, "tag", ih.Tag, "7d1c42fb551bb4e78f34b6c4a011ccbd")
	if got := (IHello{EPD: AppendEPDURL(nil, string(epd.URL)), Tag: ih.Tag}).Append(Header{Flags: 0x0B, Timestamp: 0x8260}.WithTimestamp(0x8260).Append(nil)); !bytes.Equal(got, p) {
		t.Fatalf("built %x, want %x", got, p)
	}
}

// rtmfp-cpp g14 session (README of ../../testdata/rfc7425-session).
const (
	g14Tag  = "8c103e878457a5f9994a6b676c788f83"
	g14SKIC = `021d0e410e2eb77581a1fcd9562ffd986f841a0bb0c9a891e8a4a01cc15995e7
c35a85cc4f80221e6c12696ed6a667a2a444d2f8e49d20ce0b04eea0bff71a33
b3e1004b61031a0710021e07`
	g14SKRC = `021e07031a071082020d0e19d46420c0e8fb128d7151c989ed3df5a2ea8aaacf
b74d38259793ce69ec190518cc7d171b7a935ea355f2910085ea943bd4fc7e6e
8176437b2bfa61a17108afb83d821ff36772ca97ef4b30b9ab5534768587cf24
82736c05e156b0b1df2a686774c05067d59cc97ef4b3211b26bd970050098110
c339bca0671c168a9bd45bb5bf280c98d51175611f77b052763c66febc25631c
51b30053de419d794f80db94bd19c852768010cfaab6b440e195d3caed3373ce
2cbecc37af5c859b28ba10fa586a2fe8967d132f33b5d9bc49a9965f84a06236
e17f233be917e6be3090b36435c36ab6c2dac72595f55ab2ab07d2c053d1dabb
681da58284f128c2dc303d`
)

func TestRFC7425Handshake(t *testing.T) {
	var cookie []byte
	t.Run("IHello", func(t *testing.T) {
		p := rfcPlain(t, "g14-01-c2s-ihello.bin")
		h, c := onlyChunk(t, p)
		wantHeader(t, h, 0x0B, 0, 0)
		ih, err := ParseIHello(c.Payload)
		if err != nil {
			t.Fatal(err)
		}
		wantBytes(t, "EPD", ih.EPD, "1d0a"+hex.EncodeToString([]byte("rtmfp://127.0.0.1:19650/live")))
		wantBytes(t, "tag", ih.Tag, g14Tag)
		epd, err := ParseEPD(ih.EPD)
		if err != nil || string(epd.URL) != "rtmfp://127.0.0.1:19650/live" {
			t.Fatalf("EPD %+v %v", epd, err)
		}
		checkReencode(t, p)
	})
	t.Run("RHello", func(t *testing.T) {
		p := rfcPlain(t, "g14-02-s2c-rhello.bin")
		h, c := onlyChunk(t, p)
		wantHeader(t, h, 0x0B, 1002, 0)
		rh, err := ParseRHello(c.Payload)
		if err != nil {
			t.Fatal(err)
		}
		wantBytes(t, "tag", rh.Tag, g14Tag)
		if len(rh.Cookie) != 65 || len(rh.Certificate) != 77 {
			t.Fatalf("cookie %d certificate %d bytes", len(rh.Cookie), len(rh.Certificate))
		}
		if !bytes.HasPrefix(rh.Certificate, []byte{0x01, 0x0A, 0x41, 0x0E}) ||
			!bytes.HasSuffix(rh.Certificate, mustHex(t, "021502 021505 02150e")) {
			t.Fatalf("certificate %x", rh.Certificate)
		}
		cookie = rh.Cookie
		checkReencode(t, p)
	})
	t.Run("IIKeying", func(t *testing.T) {
		p := rfcPlain(t, "g14-03-c2s-iikeying.bin")
		h, c := onlyChunk(t, p)
		wantHeader(t, h, 0x0B, 0, 0)
		ik, err := ParseIIKeying(c.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if ik.InitiatorSessionID != 0x02000000 {
			t.Fatalf("session ID %08x", ik.InitiatorSessionID)
		}
		if cookie != nil && !bytes.Equal(ik.Cookie, cookie) {
			t.Fatalf("cookie echo %x, want %x", ik.Cookie, cookie)
		}
		if len(ik.Certificate) != 908 {
			t.Fatalf("certificate %d bytes", len(ik.Certificate))
		}
		// Three static DH keys: groups 16, 14 and 2.
		var groups []byte
		it := NewOptionIterator(ik.Certificate)
		for it.Next() {
			if o := it.Option(); o.Type == 0x1D {
				groups = append(groups, o.Value[0])
			}
		}
		if it.Err() != nil || !bytes.Equal(groups, []byte{0x10, 0x0E, 0x02}) {
			t.Fatalf("certificate groups %x (%v)", groups, it.Err())
		}
		wantBytes(t, "SKIC", ik.SKIC, g14SKIC)
		wantBytes(t, "signature", ik.Signature, "58")
		checkReencode(t, p)
	})
	t.Run("RIKeying", func(t *testing.T) {
		p := rfcPlain(t, "g14-04-s2c-rikeying.bin")
		h, c := onlyChunk(t, p)
		wantHeader(t, h, 0x0B, 1002, 0)
		rk, err := ParseRIKeying(c.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if rk.ResponderSessionID != 0x03000000 {
			t.Fatalf("session ID %08x", rk.ResponderSessionID)
		}
		wantBytes(t, "SKRC", rk.SKRC, g14SKRC)
		wantBytes(t, "signature", rk.Signature, "58")
		checkReencode(t, p)
	})
}

func wantECN(t *testing.T, c Chunk, count byte) {
	t.Helper()
	e, err := ParseECNReport(c.Payload)
	if c.Type != ChunkECNReport || err != nil || e.CECount != count {
		t.Fatalf("chunk %02x %x: %+v %v", c.Type, c.Payload, e, err)
	}
}

func TestRFC7425Session(t *testing.T) {
	t.Run("05 connect", func(t *testing.T) {
		p := rfcPlain(t, "g14-05-c2s-connect.bin")
		h, cs := collect(t, p)
		wantHeader(t, h, 0x8D, 0, 1002)
		if len(cs) != 1 {
			t.Fatalf("%d chunks", len(cs))
		}
		wantUserData(t, cs[0], ChunkUserData, 0x80, 2, 1, 0, "1400000000020007636f6e6e656374")
		wantFlowOptions(t, cs[0].ud, "54430400", -1)
		checkReencode(t, p)
	})
	t.Run("06 ack", func(t *testing.T) {
		p := rfcPlain(t, "g14-06-s2c-ack.bin")
		wantBytes(t, "packet", p, "0e03ea0000ec000100510003024001")
		h, cs := collect(t, p)
		wantHeader(t, h, 0x0E, 1002, 0)
		wantECN(t, cs[0].c, 0)
		wantAck(t, cs[1].c, 2, 64, 1)
		checkReencode(t, p)
	})
	t.Run("07 result, no timestamp", func(t *testing.T) {
		p := rfcPlain(t, "g14-07-s2c-result.bin")
		h, cs := collect(t, p)
		wantHeader(t, h, 0x82, 0, 0)
		if h.HasTimestamp() || h.HasEcho() || h.Mode() != ModeResponder || h.Len() != 1 {
			t.Fatalf("header %+v", h)
		}
		wantUserData(t, cs[0], ChunkUserData, 0x80, 2, 1, 0, "14000000000200075f726573756c74")
		wantFlowOptions(t, cs[0].ud, "54430400", 2)
		checkReencode(t, p)
	})
	t.Run("08 ack, flags 01", func(t *testing.T) {
		p := rfcPlain(t, "g14-08-c2s-ack.bin")
		wantBytes(t, "packet", p, "01ec00010051000402ff7f01ffffff")
		h, cs := collect(t, p)
		wantHeader(t, h, 0x01, 0, 0)
		wantECN(t, cs[0].c, 0)
		wantAck(t, cs[1].c, 2, 16383, 1)
		checkReencode(t, p)
	})
	t.Run("09 next user data", func(t *testing.T) {
		p := rfcPlain(t, "g14-09-c2s-setpeerinfo-createstream.bin")
		h, cs := collect(t, p)
		wantHeader(t, h, 0x81, 0, 0)
		if len(cs) != 2 {
			t.Fatalf("%d chunks", len(cs))
		}
		wantUserData(t, cs[0], ChunkUserData, 0x00, 2, 2, 1, "14000000000200"+"0b"+hex.EncodeToString([]byte("setPeerInfo")))
		wantUserData(t, cs[1], ChunkNextUserData, 0x00, 2, 3, 1, "14000000000200"+"0c"+hex.EncodeToString([]byte("createStream")))
		if cs[1].ud.FSNOffset != 2 {
			t.Fatalf("FSN offset %d", cs[1].ud.FSNOffset)
		}
		checkReencode(t, p)

		// The writer turns the second chunk into 0x11 by itself and reproduces the packet.
		w := NewPacketWriter(nil, h, MaxPacketSize)
		if !w.WriteUserData(cs[0].ud) || !w.WriteUserData(cs[1].ud) {
			t.Fatal("write failed")
		}
		if end := chunksEnd(t, p); !bytes.Equal(w.Packet(), p[:end]) {
			t.Fatalf("writer built\n%x\nwant\n%x", w.Packet(), p[:end])
		}
	})
	t.Run("10 result + ack", func(t *testing.T) {
		p := rfcPlain(t, "g14-10-s2c-result-ack.bin")
		h, cs := collect(t, p)
		wantHeader(t, h, 0x82, 0, 0)
		if len(cs) != 3 {
			t.Fatalf("%d chunks", len(cs))
		}
		wantUserData(t, cs[0], ChunkUserData, 0x00, 2, 2, 1, "14000000000200075f726573756c74")
		wantECN(t, cs[1].c, 0)
		wantAck(t, cs[2].c, 2, 64, 3)
		checkReencode(t, p)
	})
}

// TestAllCaptures decodes and re-encodes every packet of both captures, g16 and nohmac
// included.
func TestAllCaptures(t *testing.T) {
	for _, dir := range []string{"flash-session", "rfc7425-session"} {
		ents, err := os.ReadDir(filepath.Join(testdataDir, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			name := e.Name()
			if !strings.HasSuffix(name, ".dat") && !strings.HasSuffix(name, ".bin") {
				continue
			}
			t.Run(name, func(t *testing.T) {
				var p []byte
				if dir == "flash-session" {
					p = flashPlain(t, name)
				} else {
					p = rfcPlain(t, name)
				}
				checkReencode(t, p)
			})
		}
	}
}

// TestRFC7425ReadmePlaintexts checks the helper decryption against plaintexts printed in
// the README, so that the tests above really use the documented bytes.
func TestRFC7425ReadmePlaintexts(t *testing.T) {
	for name, want := range map[string]string{
		"g14-01-c2s-ihello.bin":                   "0b000030002f1e1d0a72746d66703a2f2f3132372e302e302e313a31393635302f6c6976658c103e878457a5f9994a6b676c788f83ffffffffffffffffff",
		"g14-09-c2s-setpeerinfo-createstream.bin": "8110002100020201140000000002000b73657450656572496e666f0000000000000000000511001f00140000000002000c63726561746553747265616d00400000000000000005ffffffffffffffff",
		"g14-10-s2c-result-ack.bin":               "821000260002020114000000000200075f726573756c7400400000000000000005003ff0000000000000ec000100510003024003ffffffffffffffffffffff",
		"g16-06-s2c-ack.bin":                      "0e03ec0001ec000100510003024001",
		"g14-nohmac-06-s2c-ack.bin":               "0e03eb0000ec000100510003024001ffffffffffffffffffffffffffff",
	} {
		wantBytes(t, name, rfcPlain(t, name), want)
	}
}
