package cryptoutil

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// bench1200 holds packets that make exactly 1200 bytes of plaintext (framing-and-crypto.md
// §7.4): 1198 bytes with a checksum, 1199 with a one-byte sequence number and HMAC.
var bench1200 = bytes.Repeat([]byte{0x4a}, 1199)

func benchSeal(b *testing.B, m Mode, packetLen int) {
	e, _ := newPair(b, m)
	packet := bench1200[:packetLen]
	buf := make([]byte, 0, 1400)
	b.ReportAllocs()
	b.SetBytes(int64(len(packet)))
	for b.Loop() {
		e.SetNextSequence(0) // keep the sequence number VLU at one byte
		buf = e.Seal(buf[:0], 0x02000000, packet)
	}
}

func benchOpen(b *testing.B, m Mode, packetLen int) {
	e, d := newPair(b, m)
	dg := e.Seal(nil, 0x02000000, bench1200[:packetLen])
	out := make([]byte, 0, 1400)
	b.ReportAllocs()
	b.SetBytes(int64(len(dg)))
	for b.Loop() {
		d.window = ReplayWindow{} // the same datagram again is not a replay here
		if _, _, err := d.Open(out[:0], dg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncrypt1200: Seal, checksum mode, 1200 bytes of plaintext.
func BenchmarkEncrypt1200(b *testing.B) { benchSeal(b, Mode{}, 1198) }

// BenchmarkEncrypt1200HMACSeq: Seal with a 16-byte HMAC and sequence numbers, 1200 bytes
// of plaintext.
func BenchmarkEncrypt1200HMACSeq(b *testing.B) {
	benchSeal(b, Mode{SequenceNumbers: true, HMACLength: 16}, 1199)
}

// BenchmarkDecrypt1200: Open, checksum mode, 1200 bytes of plaintext.
func BenchmarkDecrypt1200(b *testing.B) { benchOpen(b, Mode{}, 1198) }

// BenchmarkDecrypt1200HMACSeq: Open with a 16-byte HMAC and sequence numbers.
func BenchmarkDecrypt1200HMACSeq(b *testing.B) {
	benchOpen(b, Mode{SequenceNumbers: true, HMACLength: 16}, 1199)
}

func BenchmarkOpenInPlace1200(b *testing.B) {
	e, d := newPair(b, Mode{})
	dg := e.Seal(nil, 1, bench1200[:1198])
	work := make([]byte, len(dg))
	b.ReportAllocs()
	b.SetBytes(int64(len(dg)))
	for b.Loop() {
		copy(work, dg)
		if _, _, err := d.OpenInPlace(work); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChecksum1200(b *testing.B) {
	buf := bytes.Repeat([]byte{0x12, 0x34, 0x56}, 400)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		Checksum(buf)
	}
}

// BenchmarkCBC compares the standard library's CBC decrypter (a mode object with its own
// copy of the key schedule) with zeroCBC, the loop over the block cipher the Encrypter and
// Decrypter use, both ways.
func BenchmarkCBC(b *testing.B) {
	ct := make([]byte, 1200)
	out := make([]byte, 1200)
	blk, _ := aes.NewCipher(testAESKey)
	b.Run("stdlib-decrypt", func(b *testing.B) {
		m := cipher.NewCBCDecrypter(blk, zeroIV[:])
		b.ReportAllocs()
		b.SetBytes(1200)
		for b.Loop() {
			m.(interface{ SetIV([]byte) }).SetIV(zeroIV[:])
			m.CryptBlocks(out, ct)
		}
	})
	b.Run("zeroCBC-decrypt", func(b *testing.B) {
		c, _ := newCBC(testAESKey)
		b.ReportAllocs()
		b.SetBytes(1200)
		for b.Loop() {
			c.decrypt(out, ct)
		}
	})
	b.Run("stdlib-encrypt", func(b *testing.B) {
		m := cipher.NewCBCEncrypter(blk, zeroIV[:])
		b.ReportAllocs()
		b.SetBytes(1200)
		for b.Loop() {
			m.(interface{ SetIV([]byte) }).SetIV(zeroIV[:])
			m.CryptBlocks(out, ct)
		}
	})
	b.Run("zeroCBC-encrypt", func(b *testing.B) {
		c, _ := newCBC(testAESKey)
		b.ReportAllocs()
		b.SetBytes(1200)
		for b.Loop() {
			c.encrypt(out)
		}
	})
}

func benchKeys(b *testing.B, g DHGroup, seed byte) *DHKey {
	k, err := GenerateDHKey(g, rand.NewChaCha8([32]byte{seed}))
	if err != nil {
		b.Fatal(err)
	}
	return k
}

func BenchmarkSharedSecret(b *testing.B) {
	for _, g := range allGroups {
		b.Run(g.String(), func(b *testing.B) {
			a, p := benchKeys(b, g, 1), benchKeys(b, g, 2)
			peer := p.PublicKey()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.SharedSecret(peer); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkGenerateDHKey(b *testing.B) {
	for _, g := range allGroups {
		b.Run(g.String(), func(b *testing.B) {
			r := rand.NewChaCha8([32]byte{3})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := GenerateDHKey(g, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDeriveKeys(b *testing.B) {
	secret := bytes.Repeat([]byte{0x5C}, 256)
	skic := bytes.Repeat([]byte{0x1D}, 76)
	skrc := bytes.Repeat([]byte{0x0D}, 267)
	b.ReportAllocs()
	for b.Loop() {
		NewSessionKeys(secret, skic, skrc)
	}
}

func BenchmarkCookieMint(b *testing.B) {
	s := newCookies(b)
	b.ReportAllocs()
	for b.Loop() {
		s.Mint(cookieTag, cookieAddr, cookieNow)
	}
}

func BenchmarkCookieCheck(b *testing.B) {
	s := newCookies(b)
	c := s.Mint(cookieTag, cookieAddr, cookieNow)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Check(c[:], cookieAddr, cookieNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCookieCheckParallel(b *testing.B) {
	s := newCookies(b)
	c := s.Mint(cookieTag, cookieAddr, cookieNow)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		a := netip.AddrPortFrom(cookieAddr.Addr(), cookieAddr.Port())
		for pb.Next() {
			if err := s.Check(c[:], a, cookieNow); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkKeyScheduleRebuild: what a released key schedule costs the next packet (the
// expansion and its allocation), against the 1,200-byte Open it precedes.
func BenchmarkKeyScheduleRebuild(b *testing.B) {
	c, _ := newCBC(testAESKey)
	b.ReportAllocs()
	for b.Loop() {
		c.release()
		c.block()
	}
}

// BenchmarkResponderKeying is the crypto of one IIKeying at an ephemeral-DH responder (a
// server), per group the initiator selected: its certificate and SKIC parsed, the
// negotiation, the shared secret, the SKRC and both directions' session ciphers. The
// responder's own key is reused across handshakes (the endpoint renews it every 1,000
// uses or 10 s), so its generation is left out; BenchmarkGenerateDHKey gives it. Beside
// the wall time it reports the CPU time per operation (cpu-ns/op, Linux), which a shared
// machine disturbs less.
func BenchmarkResponderKeying(b *testing.B) {
	for _, g := range allGroups {
		b.Run(g.String(), func(b *testing.B) {
			server, client := benchKeys(b, g, 1), benchKeys(b, g, 2)
			cert := AppendStaticCertificate(nil, client)
			skic := AppendInitiatorComponent(nil, g, bytes.Repeat([]byte{0x0E}, 64), StrictPolicy())
			b.ReportAllocs()
			reportCPUPerOp(b, func() {
				for b.Loop() {
					if err := responderKeying(server, cert, skic); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// responderKeying is what BenchmarkResponderKeying measures.
func responderKeying(server *DHKey, cert, skic []byte) error {
	c, err := ParseCertificate(cert)
	if err != nil {
		return err
	}
	ic, err := ParseInitiatorComponent(skic)
	if err != nil {
		return err
	}
	a, err := NegotiateResponder(ic, StrictPolicy())
	if err != nil {
		return err
	}
	peer, err := ic.PeerPublicKey(&c)
	if err != nil {
		return err
	}
	secret, err := server.SharedSecret(peer)
	if err != nil {
		return err
	}
	skrc := AppendResponderComponent(nil, a, server)
	_, _, err = NewSessionCrypto(Responder, secret, skic, skrc, a)
	return err
}
