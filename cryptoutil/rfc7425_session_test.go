package cryptoutil

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"os"
	"strings"
	"testing"
)

// Known answers from rtmfp-cpp's tcconn ↔ tcserver (testdata/rfc7425-session): the
// expected values are read from that directory's README so that every datagram listed
// there is checked.

const (
	rfcClientSID = 0x02000000 // bytes 02 00 00 00
	rfcServerSID = 0x03000000 // bytes 03 00 00 00
)

func TestReadmeParsed(t *testing.T) {
	sessions, files := parseReadme(t)
	if len(sessions) != 3 || len(files) != 18 {
		t.Fatalf("parsed %d sessions and %d files from the README, want 3 and 18", len(sessions), len(files))
	}
	entries, err := os.ReadDir(rfc7425Dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".bin") {
			n++
			if files[e.Name()] == nil {
				t.Errorf("%s has no README entry", e.Name())
			}
		}
	}
	if n != len(files) {
		t.Errorf("%d .bin files, %d README entries", n, len(files))
	}
}

// rfcSide is one end's crypto for a captured session.
type rfcSide struct {
	enc *Encrypter
	dec *Decrypter
}

func TestRFC7425Sessions(t *testing.T) {
	sessions, files := parseReadme(t)
	for _, tc := range []struct {
		session      string
		group        DHGroup
		sessionFiles int
	}{{"g14", Group14, 6}, {"g16", Group16, 2}} {
		t.Run(tc.session, func(t *testing.T) {
			s := sessions[tc.session]
			if s == nil {
				t.Fatalf("session %s missing from README", tc.session)
			}
			serverKey, err := NewDHKey(tc.group, s.Blocks["Server (responder) DH private exponent"])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(serverKey.PublicKey(), s.Blocks["Server ephemeral public key"]) {
				t.Fatal("2^x mod p differs from the README's server public key")
			}

			// Startup packets.
			var cert, skic, skrc, rhelloCert []byte
			for _, f := range []string{"01-c2s-ihello", "02-s2c-rhello", "03-c2s-iikeying", "04-s2c-rikeying"} {
				name := tc.session + "-" + f + ".bin"
				packet := checkStartupFile(t, name, files[name])
				typ, payload := firstChunk(t, packet)
				switch typ {
				case 0x70:
					_, _, rhelloCert = rhello(t, payload)
				case 0x38:
					_, _, cert, skic = iikeying(t, payload)
				case 0x78:
					_, skrc = rikeying(t, payload)
				}
			}
			if !bytes.Equal(skic, s.Blocks["SKIC"]) || !bytes.Equal(skrc, s.Blocks["SKRC"]) {
				t.Fatal("components in IIKeying / RIKeying differ from the README")
			}
			if len(rhelloCert) != ServerCertificateLen {
				t.Errorf("RHello certificate is %d bytes", len(rhelloCert))
			}

			// The initiator's certificate: three static keys, 16, 14, 2.
			c, err := ParseCertificate(cert)
			if err != nil {
				t.Fatal(err)
			}
			if len(cert) != 908 || len(c.StaticKeys) != 3 || c.StaticKeys[0].Group != Group16 ||
				c.StaticKeys[1].Group != Group14 || c.StaticKeys[2].Group != Group2 || !c.IsStatic() {
				t.Fatalf("certificate: %d bytes, keys %+v", len(cert), c.StaticKeys)
			}
			if c.ID != PeerIDFromCertificate(cert) {
				t.Error("Certificate.ID differs from PeerIDFromCertificate")
			}
			ic, err := ParseInitiatorComponent(skic)
			if err != nil {
				t.Fatal(err)
			}
			clientKey, err := ic.PeerPublicKey(&c)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(clientKey, s.Blocks["Client static public key"]) {
				t.Fatal("client key for the selected group differs from the README")
			}

			// DH and key schedule.
			secret, err := serverKey.SharedSecret(clientKey)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(secret, s.Blocks["Shared secret"]) {
				t.Fatal("shared secret differs from the README")
			}
			checkKeyTable(t, s, secret, skic, skrc)

			// Responder negotiation: both mechanisms on, 16-byte HMACs both ways, and
			// the SKRC content tcserver sent (in classic option order).
			ra, err := NegotiateResponder(ic, Policy{})
			if err != nil {
				t.Fatal(err)
			}
			want := Agreement{Group: tc.group, SendHMAC: true, RecvHMAC: true, HMACLength: 16, FarHMACLength: 16, SendSequence: true, RecvSequence: true}
			if ra != want {
				t.Fatalf("responder agreement %+v", ra)
			}
			ours := AppendResponderComponent(nil, ra, serverKey)
			if !bytes.Equal(ours, swapFirstOptions(skrc)) {
				t.Errorf("SKRC\n got %x\nwant %x (tcserver's, reordered)", ours, swapFirstOptions(skrc))
			}
			// Initiator negotiation (tcconn's policy) on tcserver's SKRC.
			ia, peer, err := NegotiateInitiator(StrictPolicy(), skrc, tc.group)
			if err != nil {
				t.Fatal(err)
			}
			if ia != mirror(ra) || !bytes.Equal(peer, serverKey.PublicKey()) {
				t.Fatalf("initiator agreement %+v", ia)
			}
			// tcconn's SKIC is what AppendInitiatorComponent writes for its policy.
			if got := AppendInitiatorComponent(nil, tc.group, ic.Randomness, StrictPolicy()); !bytes.Equal(got, skic) {
				t.Errorf("SKIC\n got %x\nwant %x", got, skic)
			}

			var resp, init rfcSide
			if resp.enc, resp.dec, err = NewSessionCrypto(Responder, secret, skic, skrc, ra); err != nil {
				t.Fatal(err)
			}
			if init.enc, init.dec, err = NewSessionCrypto(Initiator, secret, skic, skrc, ia); err != nil {
				t.Fatal(err)
			}
			if n := checkSessionFiles(t, tc.session, files, &resp, &init); n != tc.sessionFiles {
				t.Errorf("%d session datagrams checked, want %d", n, tc.sessionFiles)
			}
		})
	}
}

func TestRFC7425NoHMACSession(t *testing.T) {
	sessions, files := parseReadme(t)
	s := sessions["g14-nohmac"]
	if s == nil {
		t.Fatal("g14-nohmac missing from README")
	}
	secret, skic, skrc := s.Blocks["Shared secret"], s.Blocks["SKIC"], s.Blocks["SKRC"]
	if len(secret) != 256 || len(skic) != 76 || len(skrc) != 267 {
		t.Fatal("key material missing from README")
	}
	checkKeyTable(t, s, secret, skic, skrc)
	ic, err := ParseInitiatorComponent(skic)
	if err != nil {
		t.Fatal(err)
	}
	ra, err := NegotiateResponder(ic, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if ra.SendHMAC || ra.RecvHMAC || !ra.SendSequence || !ra.RecvSequence || ra.Classic() {
		t.Fatalf("agreement %+v", ra)
	}
	// Same negotiation options as tcserver -H (03 1A 02 10 | 02 1E 07), any key.
	k, err := NewDHKey(Group14, []byte{0x12, 0x34, 0x56, 0x78, 0x9a})
	if err != nil {
		t.Fatal(err)
	}
	if got := AppendResponderComponent(nil, ra, k)[:7]; !bytes.Equal(got, swapFirstOptions(skrc)[:7]) {
		t.Errorf("negotiation options %x", got)
	}
	_, peer, err := ParseResponderComponent(skrc, Group14)
	if err != nil || len(peer) != 256 {
		t.Fatalf("server key in SKRC: %d bytes, %v", len(peer), err)
	}
	ia, _, err := NegotiateInitiator(Policy{SequenceSendAlways: true, SequenceRecvRequired: true}, skrc, Group14)
	if err != nil {
		t.Fatal(err)
	}
	if ia != mirror(ra) {
		t.Fatalf("initiator agreement %+v, responder %+v", ia, ra)
	}
	var resp, init rfcSide
	if resp.enc, resp.dec, err = NewSessionCrypto(Responder, secret, skic, skrc, ra); err != nil {
		t.Fatal(err)
	}
	if init.enc, init.dec, err = NewSessionCrypto(Initiator, secret, skic, skrc, ia); err != nil {
		t.Fatal(err)
	}
	if n := checkSessionFiles(t, "g14-nohmac", files, &resp, &init); n != 2 {
		t.Errorf("%d session datagrams checked, want 2", n)
	}
}

// mirror swaps the send and receive sides of an agreement.
func mirror(a Agreement) Agreement {
	return Agreement{Group: a.Group,
		SendHMAC: a.RecvHMAC, RecvHMAC: a.SendHMAC, HMACLength: a.FarHMACLength, FarHMACLength: a.HMACLength,
		SendSequence: a.RecvSequence, RecvSequence: a.SendSequence}
}

// swapFirstOptions turns tcserver's `02 1E f | 03 1A f l | key` into the classic order
// `03 1A f l | 02 1E f | key`.
func swapFirstOptions(skrc []byte) []byte {
	out := append([]byte(nil), skrc[3:7]...)
	out = append(out, skrc[0:3]...)
	return append(out, skrc[7:]...)
}

func checkKeyTable(t *testing.T, s *readmeSession, secret, skic, skrc []byte) {
	t.Helper()
	keyIR, keyRI := DeriveKeys(secret, skic, skrc)
	ir, ri := Nonce(secret, skic), Nonce(secret, skrc)
	hir, hri := HMACKeyFor(secret, keyIR), HMACKeyFor(secret, keyRI)
	checks := map[string][]byte{
		"keyIR": keyIR[:], "keyRI": keyRI[:],
		"AES key C→S (keyIR[0:16])": keyIR[:16], "AES key S→C (keyRI[0:16])": keyRI[:16],
		"initiator nonce": ir[:], "responder nonce": ri[:],
	}
	if s.Name != "g14-nohmac" {
		checks["HMAC key C→S"] = hir[:]
		checks["HMAC key S→C"] = hri[:]
	}
	for label, got := range checks {
		want, ok := s.Table[label]
		if !ok {
			t.Errorf("%s: README row %q missing", s.Name, label)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %s = %x, want %x", s.Name, label, got, want)
		}
	}
	k := NewSessionKeys(secret, skic, skrc)
	if k.IR != keyIR || k.RI != keyRI || k.HMACIR != hir || k.HMACRI != hri {
		t.Error("NewSessionKeys disagrees with DeriveKeys / HMACKeyFor")
	}
}

// checkStartupFile decrypts a startup datagram and compares it with the README.
func checkStartupFile(t *testing.T, name string, f *readmeFile) []byte {
	t.Helper()
	if f == nil {
		t.Fatalf("%s: no README entry", name)
	}
	datagram := readFile(t, rfc7425Dir, name)
	sid, _ := SessionID(datagram)
	wantSID := uint32(0)
	if strings.Contains(name, "rikeying") {
		wantSID = rfcClientSID
	}
	if sid != wantSID {
		t.Errorf("%s: SessionID %#x, want %#x", name, sid, wantSID)
	}
	packet, _, err := NewStartupDecrypter().Open(nil, datagram)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !bytes.Equal(packet, f.Packet) {
		t.Fatalf("%s: packet\n got %x\nwant %x", name, packet, f.Packet)
	}
	plain := decryptRaw(t, DefaultKey(), datagram, 0)
	if int(plain[0])<<8|int(plain[1]) != f.Checksum {
		t.Errorf("%s: checksum field %x, README %04x", name, plain[:2], f.Checksum)
	}
	resealCheck(t, name, NewStartupEncrypter(), sid, packet, f.Padding, datagram)
	return packet
}

// decryptRaw AES-CBC-decrypts a datagram's ciphertext without any checks.
func decryptRaw(t *testing.T, key [16]byte, datagram []byte, hmacLen int) []byte {
	t.Helper()
	// The standard library's CBC, independent of the code under test.
	blk, err := aes.NewCipher(key[:])
	if err != nil {
		t.Fatal(err)
	}
	ct := datagram[4 : len(datagram)-hmacLen]
	out := make([]byte, len(ct))
	cipher.NewCBCDecrypter(blk, make([]byte, 16)).CryptBlocks(out, ct)
	return out
}

// resealCheck seals the packet without its padding and with it, and expects the
// captured datagram both times.
func resealCheck(t *testing.T, name string, e *Encrypter, sid uint32, packet []byte, padding int, datagram []byte) {
	t.Helper()
	stripped := stripPadding(packet)
	if len(packet)-len(stripped) != padding {
		t.Errorf("%s: %d padding bytes, README says %d", name, len(packet)-len(stripped), padding)
	}
	seq := e.NextSequence()
	if got := e.Seal(nil, sid, stripped); !bytes.Equal(got, datagram) {
		t.Errorf("%s: re-sealed\n got %x\nwant %x", name, got, datagram)
	}
	e.SetNextSequence(seq)
	if got := e.Seal(nil, sid, packet); !bytes.Equal(got, datagram) {
		t.Errorf("%s: re-sealed with padding differs", name)
	}
}

// checkSessionFiles opens every session datagram of a capture in file order, C→S with
// the responder's Decrypter and S→C with the initiator's, and re-seals each with the
// sending side's Encrypter.
func checkSessionFiles(t *testing.T, session string, files map[string]*readmeFile, resp, init *rfcSide) int {
	t.Helper()
	entries, err := os.ReadDir(rfc7425Dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, session+"-")
		if !ok || !strings.HasSuffix(name, ".bin") || rest[0] < '0' || rest[0] > '9' || rest < "05" {
			continue
		}
		f := files[name]
		if f == nil {
			t.Fatalf("%s: no README entry", name)
		}
		n++
		datagram := readFile(t, rfc7425Dir, name)
		c2s := strings.Contains(name, "-c2s-")
		recv, send, wantSID := init.dec, resp.enc, uint32(rfcClientSID)
		if c2s {
			recv, send, wantSID = resp.dec, init.enc, rfcServerSID
		}
		sid, _ := SessionID(datagram)
		if sid != wantSID {
			t.Errorf("%s: SessionID %#x, want %#x", name, sid, wantSID)
		}
		hl := recv.Mode().HMACLength
		if (f.HMAC != nil) != (hl > 0) || (f.HMAC != nil && !bytes.Equal(datagram[len(datagram)-hl:], f.HMAC)) {
			t.Errorf("%s: HMAC trailer / mode mismatch with README", name)
		}
		// A corrupted HMAC or ciphertext is rejected before anything else.
		if hl > 0 {
			bad := append([]byte(nil), datagram...)
			bad[len(bad)-1] ^= 1
			if _, _, err := recv.Open(nil, bad); err != ErrBadHMAC {
				t.Errorf("%s: corrupted HMAC: %v", name, err)
			}
		}
		packet, seq, err := recv.Open(nil, datagram)
		if err != nil {
			t.Fatalf("%s: Open: %v", name, err)
		}
		if int(seq) != f.Seq {
			t.Errorf("%s: seq %d, README %d", name, seq, f.Seq)
		}
		if !bytes.Equal(packet, f.Packet) {
			t.Errorf("%s: packet\n got %x\nwant %x", name, packet, f.Packet)
		}
		if _, _, err := recv.Open(nil, datagram); err != ErrReplay {
			t.Errorf("%s: replayed datagram: %v, want ErrReplay", name, err)
		}
		if f.Checksum >= 0 {
			var key [16]byte
			keyIR, keyRI := readmeKeys(t, session)
			if c2s {
				copy(key[:], keyIR[:16])
			} else {
				copy(key[:], keyRI[:16])
			}
			plain := decryptRaw(t, key, datagram, 0)
			// seq VLU is one byte here; the checksummed region is odd.
			if int(plain[1])<<8|int(plain[2]) != f.Checksum || (len(plain)-3)%2 != 1 {
				t.Errorf("%s: checksum field %x, README %04x", name, plain[1:3], f.Checksum)
			}
		}
		send.SetNextSequence(seq)
		resealCheck(t, name, send, sid, packet, f.Padding, datagram)
	}
	return n
}

// readmeKeys returns keyIR and keyRI of a README session.
func readmeKeys(t *testing.T, session string) ([32]byte, [32]byte) {
	t.Helper()
	sessions, _ := parseReadme(t)
	s := sessions[session]
	var ir, ri [32]byte
	copy(ir[:], s.Table["keyIR"])
	copy(ri[:], s.Table["keyRI"])
	return ir, ri
}
