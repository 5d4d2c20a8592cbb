package cryptoutil

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// Known answers from a real Flash Player 11.7 session (testdata/flash-session,
// framing-and-crypto.md §10.2, handshake-and-rendezvous.md §9.1).
const (
	flashServerPrivate = "00FFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF"
	flashSKIC          = "021d02410ef39d1c5592126b046da3eb5fae38c04631bf90cb7a44a5cc526a256e321b389ed9f0c19346ab5b0dda10ce8045cbd5f538dd1de2b574c77e0afe4c77f8809569031a020a021e02"
	flashSKRC          = "031a0000021e0081020d02eb93677023c1fc1223e636134aa839b9c33891380868c4753d1a45deefc92b925346ef482735349e6d9a5bca2ca29407710fac393c8a3c05ad951a1fa1f3a2a4dfd641a06f739ba82c26ac45c08919d8dae41ac21ed6de83298ac9535c913ed6696f5061c27b6d5e424dfe63a09f788e9351ee29537bd6b4b9c0dfe1c913d762"
	// The client certificate: 132 bytes. (framing-and-crypto.md §10.2 prints one byte
	// too many: its trailing 4c is the SKIC's length field in IIKeying.)
	flashClientCert   = "81021d02d29eaed01fedbb439022d9203a1b7ee4dc261922e5fbda3236648367d2af6e90a5d22cadd9b6759f0ae9f7cd349ed6408fb9cedeb272b34b2c4b22cdeaf384a7063fd0be63c6041e5ddc75142c286200c67d1caa963e1adf7ffec0683237d311a9c7446ff4d7e0ee9d370f000b72f85347ec6b572891be7fe11d6413653b7cda"
	flashClientPeerID = "9210df7cb656cad82a607efd810e6c3f922a062ec7dae6df0f39e8a7248dcbf8"
	flashServerPeerID = "86241000ea4d58784f613f40f28bc022b475d8682d2091c5ed8a1af5bf0aa0c4"
	flashKeyIRPrefix  = "ca3e6206c4fe662bbd950e8d03574e35"
	flashKeyRIPrefix  = "bc4b145aafb0f8287b3cf87bd036acf0"
	flashClientSID    = 0x02000000
	flashServerSID    = 1
)

type flashMaterial struct {
	serverKey          *DHKey
	cert, skic, skrc   []byte
	secret             []byte
	keyIR, keyRI       [32]byte
	serverCert, cookie []byte
}

// loadFlash decrypts the four handshake datagrams and derives the session keys from the
// server's private exponent.
func loadFlash(tb testing.TB) flashMaterial {
	tb.Helper()
	var m flashMaterial
	var err error
	if m.serverKey, err = NewDHKey(Group2, mustHex(tb, flashServerPrivate)); err != nil {
		tb.Fatal(err)
	}
	typ, p := firstChunk(tb, openStartup(tb, readFile(tb, flashDir, "RHello.dat")))
	if typ != 0x70 {
		tb.Fatalf("RHello chunk type %#x", typ)
	}
	_, m.cookie, m.serverCert = rhello(tb, p)
	typ, p = firstChunk(tb, openStartup(tb, readFile(tb, flashDir, "IIKeying.dat")))
	if typ != 0x38 {
		tb.Fatalf("IIKeying chunk type %#x", typ)
	}
	_, _, m.cert, m.skic = iikeying(tb, p)
	typ, p = firstChunk(tb, openStartup(tb, readFile(tb, flashDir, "RIKeying.dat")))
	if typ != 0x78 {
		tb.Fatalf("RIKeying chunk type %#x", typ)
	}
	_, m.skrc = rikeying(tb, p)
	c, err := ParseCertificate(m.cert)
	if err != nil {
		tb.Fatal(err)
	}
	clientKey, ok := c.StaticKey(Group2)
	if !ok {
		tb.Fatal("no group 2 key in the Flash certificate")
	}
	if m.secret, err = m.serverKey.SharedSecret(clientKey); err != nil {
		tb.Fatal(err)
	}
	m.keyIR, m.keyRI = DeriveKeys(m.secret, m.skic, m.skrc)
	return m
}

func TestFlashHandshakeMaterial(t *testing.T) {
	m := loadFlash(t)
	if !bytes.Equal(m.skic, mustHex(t, flashSKIC)) {
		t.Errorf("SKIC = %x", m.skic)
	}
	if !bytes.Equal(m.skrc, mustHex(t, flashSKRC)) {
		t.Errorf("SKRC = %x", m.skrc)
	}
	if !bytes.Equal(m.cert, mustHex(t, flashClientCert)) || len(m.cert) != 132 {
		t.Errorf("certificate (%d bytes) = %x", len(m.cert), m.cert)
	}
	if got := PeerIDFromCertificate(m.cert).String(); got != flashClientPeerID {
		t.Errorf("client peer ID = %s", got)
	}
	if len(m.serverCert) != ServerCertificateLen {
		t.Errorf("server certificate is %d bytes", len(m.serverCert))
	}
	if got := PeerIDFromCertificate(m.serverCert).String(); got != flashServerPeerID {
		t.Errorf("server peer ID = %s", got)
	}
	if len(m.cookie) != CookieLen {
		t.Errorf("cookie is %d bytes", len(m.cookie))
	}
}

func TestFlashDHAndKeys(t *testing.T) {
	m := loadFlash(t)
	// The server's public key is the 128 bytes after 81 02 0D 02 in the SKRC.
	if pub := m.serverKey.PublicKey(); !bytes.Equal(pub, m.skrc[11:]) || len(pub) != 128 {
		t.Errorf("server public key = %x", pub)
	}
	if len(m.secret) != 128 {
		t.Errorf("shared secret is %d bytes", len(m.secret))
	}
	if got := hex.EncodeToString(m.keyIR[:16]); got != flashKeyIRPrefix {
		t.Errorf("keyIR = %s", got)
	}
	if got := hex.EncodeToString(m.keyRI[:16]); got != flashKeyRIPrefix {
		t.Errorf("keyRI = %s", got)
	}
}

// The server side of the negotiation reproduces the captured SKRC byte for byte, and
// the initiator side reproduces Flash Player's SKIC from its random bytes.
func TestFlashComponents(t *testing.T) {
	m := loadFlash(t)
	ic, err := ParseInitiatorComponent(m.skic)
	if err != nil {
		t.Fatal(err)
	}
	if ic.Group != Group2 || ic.HMACFlags != FlagSendOnRequest || ic.HMACLength != 10 || ic.SequenceFlags != FlagSendOnRequest {
		t.Fatalf("parsed SKIC = %+v", ic.ComponentNegotiation)
	}
	a, err := NegotiateResponder(ic, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Classic() || a.EncryptMode() != (Mode{}) || a.DecryptMode() != (Mode{}) {
		t.Fatalf("agreement = %+v", a)
	}
	if got := AppendResponderComponent(nil, a, m.serverKey); !bytes.Equal(got, m.skrc) {
		t.Errorf("SKRC\n got %x\nwant %x", got, m.skrc)
	}
	if got := AppendInitiatorComponent(nil, Group2, ic.Randomness, FlashInitiatorPolicy()); !bytes.Equal(got, m.skic) {
		t.Errorf("SKIC\n got %x\nwant %x", got, m.skic)
	}
	// The initiator (Flash policy) accepts the classic SKRC and finds the server key.
	ia, peer, err := NegotiateInitiator(FlashInitiatorPolicy(), m.skrc, Group2)
	if err != nil {
		t.Fatal(err)
	}
	if !ia.Classic() || !bytes.Equal(peer, m.serverKey.PublicKey()) {
		t.Errorf("initiator agreement %+v, peer key %x", ia, peer)
	}
	// A strict initiator (rtmfp-cpp default) refuses the classic SKRC.
	if _, _, err := NegotiateInitiator(StrictPolicy(), m.skrc, Group2); err == nil {
		t.Error("strict initiator accepted the classic SKRC")
	}
}

type flashPacket struct {
	file   string
	c2s    bool
	sid    uint32
	packet string // expected packet (flags to last chunk), padding excluded; "" = not checked
}

var flashPackets = []flashPacket{
	{"IHello.dat", true, 0, "0b1e60 30002b 1a190a72746d66703a2f2f3139322e3136382e3133372e3138332f 2175b73f525fa0dd1f75ae339a706cc3"},
	{"RHello.dat", false, 0, ""},
	{"IIKeying.dat", true, 0, ""},
	{"RIKeying.dat", false, flashClientSID, ""},
	{"5.dat", true, flashServerSID, ""},
	{"6.dat", false, flashClientSID, ""},
	{"7.dat", true, flashServerSID, "0d1e766455 510004 01ff7f01"},
	{"8.dat", true, flashServerSID, ""},
	{"9.dat", false, flashClientSID, ""},
	{"10.dat", true, flashServerSID, "0d1eb76497 510004 01ff7f02"},
	{"11.dat", true, flashServerSID, "0d208d666d 4c0000"},
}

// Every datagram of the capture decrypts with a valid checksum, decodes to the documented
// session ID, and re-seals to the identical bytes.
func TestFlashPacketsRoundTrip(t *testing.T) {
	m := loadFlash(t)
	for _, fp := range flashPackets {
		t.Run(fp.file, func(t *testing.T) {
			datagram := readFile(t, flashDir, fp.file)
			var key []byte
			switch {
			case fp.sid == 0 || fp.file == "RIKeying.dat":
				k := DefaultKey()
				key = k[:]
			case fp.c2s:
				key = m.keyIR[:16]
			default:
				key = m.keyRI[:16]
			}
			sid, ok := SessionID(datagram)
			if !ok || sid != fp.sid {
				t.Fatalf("SessionID = %#x, want %#x", sid, fp.sid)
			}
			d, err := NewDecrypter(key, nil, Mode{})
			if err != nil {
				t.Fatal(err)
			}
			packet, seq, err := d.Open(nil, datagram)
			if err != nil || seq != 0 {
				t.Fatalf("Open: seq %d, %v", seq, err)
			}
			wantMod := byte(2)
			if fp.c2s {
				wantMod = 1
			}
			if fp.sid == 0 || fp.file == "RIKeying.dat" {
				wantMod = 3
			}
			if packet[0]&3 != wantMod {
				t.Errorf("flags %#02x: mode %d, want %d", packet[0], packet[0]&3, wantMod)
			}
			if (2+len(packet))%16 != 0 {
				t.Errorf("checksum + packet = %d bytes, not a block multiple", 2+len(packet))
			}
			stripped := stripPadding(packet)
			if fp.packet != "" && !bytes.Equal(stripped, mustHex(t, fp.packet)) {
				t.Errorf("packet = %x\nwant     %s", stripped, fp.packet)
			}
			e, err := NewEncrypter(key, nil, Mode{})
			if err != nil {
				t.Fatal(err)
			}
			if got := e.Seal(nil, sid, stripped); !bytes.Equal(got, datagram) {
				t.Errorf("re-sealed (padding stripped)\n got %x\nwant %x", got, datagram)
			}
			if got := e.Seal(nil, sid, packet); !bytes.Equal(got, datagram) {
				t.Errorf("re-sealed (with padding)\n got %x\nwant %x", got, datagram)
			}
			// Wrong direction key must fail the checksum.
			if fp.sid != 0 && fp.file != "RIKeying.dat" {
				other := m.keyRI[:16]
				if !fp.c2s {
					other = m.keyIR[:16]
				}
				od, _ := NewDecrypter(other, nil, Mode{})
				if _, _, err := od.Open(nil, datagram); err != ErrBadChecksum {
					t.Errorf("Open with the other direction's key: %v, want ErrBadChecksum", err)
				}
			}
		})
	}
}

// The §10.1 vector: the IHello packet sealed with the default key and session ID 0 is
// exactly the documented datagram.
func TestSealIHelloVector(t *testing.T) {
	e := NewStartupEncrypter()
	want := mustHex(t, ihelloDatagram)
	if n := e.SealedLen(89); n != len(want) {
		t.Errorf("SealedLen(89) = %d, want %d", n, len(want))
	}
	got := e.Seal(nil, 0, mustHex(t, ihelloPacket))
	if !bytes.Equal(got, want) {
		t.Fatalf("Seal\n got %x\nwant %x", got, want)
	}
	p, _, err := NewStartupDecrypter().Open(nil, got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stripPadding(p), mustHex(t, ihelloPacket)) || len(p) != 94 {
		t.Errorf("Open = %x", p)
	}
}
