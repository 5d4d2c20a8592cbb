package cryptoutil

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
)

// fuzzKeys are the keys of the captured sessions, by FuzzOpen selector.
type fuzzKeys struct {
	aes, mac []byte
	mode     Mode
}

func loadFuzzKeys(f testing.TB) []fuzzKeys {
	f.Helper()
	def := DefaultKey()
	m := loadFlash(f)
	sessions, _ := parseReadme(f)
	g14, g16, nohmac := sessions["g14"], sessions["g16"], sessions["g14-nohmac"]
	return []fuzzKeys{
		0: {def[:], nil, Mode{}},
		1: {m.keyIR[:16], nil, Mode{}}, // Flash C→S
		2: {nohmac.Table["keyIR"][:16], nil, Mode{SequenceNumbers: true}},
		3: {g14.Table["keyIR"][:16], g14.Table["HMAC key C→S"], Mode{SequenceNumbers: true, HMACLength: 16}},
		4: {m.keyRI[:16], nil, Mode{}}, // Flash S→C
		5: {nohmac.Table["keyRI"][:16], nil, Mode{SequenceNumbers: true}},
		6: {g14.Table["keyRI"][:16], g14.Table["HMAC key S→C"], Mode{SequenceNumbers: true, HMACLength: 16}},
		7: {g16.Table["keyIR"][:16], g16.Table["HMAC key C→S"], Mode{SequenceNumbers: true, HMACLength: 16}},
		8: {g16.Table["keyRI"][:16], g16.Table["HMAC key S→C"], Mode{SequenceNumbers: true, HMACLength: 16}},
	}
}

// fuzzSelector picks the FuzzOpen keys that open a capture file.
func fuzzSelector(name string) byte {
	c2s := strings.Contains(name, "c2s") || !strings.Contains(name, "s2c") && !strings.Contains(name, "RHello") &&
		!strings.Contains(name, "RIKeying") && name != "6.dat" && name != "9.dat"
	switch {
	case strings.Contains(name, "ello") || strings.Contains(name, "eying"):
		return 0
	case strings.HasSuffix(name, ".dat"):
		return map[bool]byte{true: 1, false: 4}[c2s]
	case strings.Contains(name, "nohmac"):
		return map[bool]byte{true: 2, false: 5}[c2s]
	case strings.HasPrefix(name, "g16"):
		return map[bool]byte{true: 7, false: 8}[c2s]
	default:
		return map[bool]byte{true: 3, false: 6}[c2s]
	}
}

func addCaptureSeeds(f testing.TB, add func(name string, b []byte)) {
	f.Helper()
	for _, dir := range []string{flashDir, rfc7425Dir} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".dat") || strings.HasSuffix(e.Name(), ".bin") {
				b, err := os.ReadFile(filepath.Join(dir, e.Name()))
				if err != nil {
					f.Fatal(err)
				}
				add(e.Name(), b)
			}
		}
	}
}

// FuzzOpen feeds arbitrary datagrams to Decrypters in checksum, sequence-number and
// HMAC mode. Open must never panic; whatever it accepts must re-seal to the same bytes
// (when the sequence number VLU is canonical), and OpenInPlace must agree with Open.
func FuzzOpen(f *testing.F) {
	keys := loadFuzzKeys(f)
	addCaptureSeeds(f, func(name string, b []byte) { f.Add(b, fuzzSelector(name)) })
	f.Add(make([]byte, 20), byte(0))
	f.Add(bytes.Repeat([]byte{0xFF}, 36), byte(2))
	f.Fuzz(func(t *testing.T, datagram []byte, sel byte) {
		k := keys[int(sel)%len(keys)]
		d, err := NewDecrypter(k.aes, k.mac, k.mode)
		if err != nil {
			t.Fatal(err)
		}
		orig := append([]byte(nil), datagram...)
		packet, seq, err := d.Open(nil, datagram)
		if !bytes.Equal(orig, datagram) {
			t.Fatal("Open modified its input")
		}
		d2, _ := NewDecrypter(k.aes, k.mac, k.mode)
		packet2, seq2, err2 := d2.OpenInPlace(append([]byte(nil), datagram...))
		if err != err2 || seq != seq2 || !bytes.Equal(packet, packet2) {
			t.Fatalf("Open and OpenInPlace disagree: %v / %v", err, err2)
		}
		if err != nil {
			return
		}
		if k.mode.SequenceNumbers {
			if _, _, err := d.Open(nil, datagram); err != ErrReplay {
				t.Fatalf("second Open: %v, want ErrReplay", err)
			}
		}
		e, err := NewEncrypter(k.aes, k.mac, k.mode)
		if err != nil {
			t.Fatal(err)
		}
		e.SetNextSequence(seq)
		canonical := !k.mode.SequenceNumbers || datagramSeqLen(t, k, datagram) == rtmfp.VLULen(seq)
		sid, _ := SessionID(datagram)
		if got := e.Seal(nil, sid, packet); canonical && !bytes.Equal(got, datagram) {
			t.Fatalf("re-seal differs\n got %x\nwant %x", got, datagram)
		}
	})
}

// datagramSeqLen returns the length of the sequence number VLU in an accepted datagram.
func datagramSeqLen(t *testing.T, k fuzzKeys, datagram []byte) int {
	c, err := newCBC(k.aes)
	if err != nil {
		t.Fatal(err)
	}
	ct := datagram[4 : len(datagram)-k.mode.HMACLength]
	plain := make([]byte, len(ct))
	c.decrypt(plain, ct)
	_, n, _ := rtmfp.ReadVLU(plain)
	return n
}

// Every capture file is a seed that FuzzOpen's selector actually opens.
func TestFuzzOpenSeeds(t *testing.T) {
	keys := loadFuzzKeys(t)
	n := 0
	addCaptureSeeds(t, func(name string, b []byte) {
		k := keys[fuzzSelector(name)]
		d, err := NewDecrypter(k.aes, k.mac, k.mode)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := d.Open(nil, b); err != nil {
			t.Errorf("%s with selector %d: %v", name, fuzzSelector(name), err)
		}
		n++
	})
	if n != 29 {
		t.Errorf("%d capture files, want 29", n)
	}
}

// FuzzSealOpen: any packet sealed in any mode opens to itself plus 0xFF padding.
func FuzzSealOpen(f *testing.F) {
	addCaptureSeeds(f, func(_ string, b []byte) { f.Add(b, byte(3), uint64(0)) })
	f.Add([]byte{}, byte(0), uint64(127))
	f.Fuzz(func(t *testing.T, packet []byte, sel byte, seq uint64) {
		m := testModes[int(sel)%len(testModes)]
		e, d := newPair(t, m)
		e.SetNextSequence(seq)
		front := e.PacketOffset() - SSIDLen
		n := e.SealedLen(len(packet))
		dg := e.Seal(nil, uint32(seq), packet)
		if len(dg) != n {
			t.Fatalf("SealedLen %d, Seal %d", n, len(dg))
		}
		p, got, err := d.Open(nil, dg)
		if err != nil {
			t.Fatal(err)
		}
		if m.SequenceNumbers && got != seq {
			t.Fatalf("seq %d, want %d", got, seq)
		}
		pad := len(p) - len(packet)
		if front+len(packet) == 0 {
			pad-- // an empty plaintext still fills one block
		}
		if !bytes.Equal(p[:len(packet)], packet) || pad > 15 || len(stripPadding(p[len(packet):])) != 0 {
			t.Fatalf("packet mismatch (%d bytes of padding)", len(p)-len(packet))
		}
	})
}

// FuzzNegotiation runs the component and certificate parsers and both negotiation
// sides on arbitrary bytes. Whatever a responder accepts must yield an SKRC that the
// initiator described by the SKIC accepts, with mirror-image agreements.
func FuzzNegotiation(f *testing.F) {
	m := loadFlash(f)
	f.Add(m.skic, byte(0))
	f.Add(m.skrc, byte(0x10))
	f.Add(m.cert, byte(0))
	f.Add(m.serverCert, byte(0))
	sessions, _ := parseReadme(f)
	for _, s := range sessions {
		f.Add(s.Blocks["SKIC"], byte(0x0F))
		f.Add(s.Blocks["SKRC"], byte(0xF0))
	}
	for _, name := range []string{"g14-03-c2s-iikeying.bin", "g16-03-c2s-iikeying.bin"} {
		_, p := firstChunk(f, openStartup(f, readFile(f, rfc7425Dir, name)))
		_, _, cert, _ := iikeying(f, p)
		f.Add(cert, byte(0x30))
	}
	keys := map[DHGroup]*DHKey{}
	for _, g := range allGroups {
		k, err := NewDHKey(g, []byte{0x71, 0x2C, 0x3A, 0x99, 0x5E, 0x11})
		if err != nil {
			f.Fatal(err)
		}
		keys[g] = k
	}
	f.Fuzz(func(t *testing.T, data []byte, bits byte) {
		if c, err := ParseCertificate(data); err == nil {
			if !bytes.HasPrefix(data, c.Canonical) || c.ID != sha256.Sum256(c.Canonical) || c.ID != PeerIDFromCertificate(data) {
				t.Fatal("certificate canonical part / peer ID")
			}
			seen := map[DHGroup]bool{}
			for _, k := range c.StaticKeys {
				if k.Group == 0 || seen[k.Group] {
					continue
				}
				seen[k.Group] = true // StaticKey returns the first key of a group
				if got, ok := c.StaticKey(k.Group); !ok || !bytes.Equal(got, k.Key) {
					t.Fatal("StaticKey lookup")
				}
			}
			c.ChooseGroup(Group16, Group14, Group5, Group2)
		}
		for _, g := range allGroups {
			if a, peer, err := NegotiateInitiator(policyFromBits(int(bits>>4)), data, g); err == nil {
				if ValidatePublicKey(g, peer) != nil || a.Group != g {
					t.Fatal("initiator returned an unvalidated key")
				}
			}
		}
		ic, err := ParseInitiatorComponent(data)
		if err != nil {
			return
		}
		ra, err := NegotiateResponder(ic, policyFromBits(int(bits&15)))
		if err != nil {
			return
		}
		if ra.RecvHMAC && (ra.FarHMACLength < 4 || ra.FarHMACLength > 32) {
			t.Fatalf("accepted HMAC length %d", ra.FarHMACLength)
		}
		skrc := AppendResponderComponent(nil, ra, keys[ra.Group])
		if ic.HMACLength < MinHMACLength || ic.HMACLength > MaxHMACLength {
			return // no initiator policy advertises that length
		}
		ip := Policy{
			HMACSendAlways:       ic.HMACFlags&FlagSendAlways != 0,
			HMACRecvRequired:     ic.HMACFlags&FlagRequest != 0,
			SequenceSendAlways:   ic.SequenceFlags&FlagSendAlways != 0,
			SequenceRecvRequired: ic.SequenceFlags&FlagRequest != 0,
			HMACLength:           ic.HMACLength,
		}
		ia, peer, err := NegotiateInitiator(ip, skrc, ra.Group)
		if err != nil {
			t.Fatalf("initiator refused our SKRC %x: %v", skrc[:7], err)
		}
		if ia != mirror(ra) || !bytes.Equal(peer, keys[ra.Group].PublicKey()) {
			t.Fatalf("agreements %+v / %+v", ia, ra)
		}
	})
}

// FuzzCookieCheck: Check never panics and accepts nothing but the one cookie minted for
// the seed's tag, address and time.
func FuzzCookieCheck(f *testing.F) {
	s, err := NewCookieService(cookieSecret, 95*time.Second)
	if err != nil {
		f.Fatal(err)
	}
	valid := s.Mint(cookieTag, cookieAddr, cookieNow)
	a16 := cookieAddr.Addr().As16()
	addr := binary.BigEndian.AppendUint16(a16[:], cookieAddr.Port())
	f.Add(valid[:], addr, int64(0))
	f.Add(valid[:], addr, int64(200))
	f.Add(valid[:], append(addr[:17:17], 0), int64(0))
	m := loadFlash(f)
	f.Add(m.cookie, addr, int64(0))
	_, p := firstChunk(f, openStartup(f, readFile(f, rfc7425Dir, "g14-02-s2c-rhello.bin")))
	_, tcCookie, _ := rhello(f, p)
	f.Add(tcCookie, addr, int64(0))
	f.Fuzz(func(t *testing.T, cookie, addrBytes []byte, dt int64) {
		ap := cookieAddr
		if len(addrBytes) >= 18 {
			ap = netip.AddrPortFrom(netip.AddrFrom16([16]byte(addrBytes)).Unmap(), binary.BigEndian.Uint16(addrBytes[16:]))
		}
		now := cookieNow.Add(time.Duration(dt%(1<<40)) * time.Millisecond)
		err := s.Check(cookie, ap, now)
		switch err {
		case nil:
			if !bytes.Equal(cookie, valid[:]) || ap != cookieAddr {
				t.Fatalf("accepted a cookie that was never minted: %x", cookie)
			}
		case ErrCookieInvalid:
		case ErrCookieExpired, ErrCookieAddress:
			if !bytes.Equal(cookie[:44], valid[:44]) {
				t.Fatalf("%v for a cookie that was never minted: %x", err, cookie)
			}
		default:
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// FuzzChecksum compares Checksum with the word-by-word reference.
func FuzzChecksum(f *testing.F) {
	addCaptureSeeds(f, func(_ string, b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Checksum(b), refChecksum(b); got != want {
			t.Fatalf("Checksum %#04x, reference %#04x", got, want)
		}
	})
}
