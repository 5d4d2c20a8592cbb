package cryptoutil

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"
)

var (
	testAESKey  = []byte("0123456789abcdef")
	testHMACKey = sha256.New().Sum(nil)
)

var testModes = []Mode{
	{},
	{SequenceNumbers: true},
	{HMACLength: 16},
	{SequenceNumbers: true, HMACLength: 16},
	{SequenceNumbers: true, HMACLength: 4},
	{SequenceNumbers: true, HMACLength: 32},
	{HMACLength: 10},
}

func newPair(tb testing.TB, m Mode) (*Encrypter, *Decrypter) {
	tb.Helper()
	e, err := NewEncrypter(testAESKey, testHMACKey, m)
	if err != nil {
		tb.Fatal(err)
	}
	d, err := NewDecrypter(testAESKey, testHMACKey, m)
	if err != nil {
		tb.Fatal(err)
	}
	return e, d
}

func TestSealOpenRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, m := range testModes {
		t.Run(fmt.Sprintf("%+v", m), func(t *testing.T) {
			e, d := newPair(t, m)
			var buf, out []byte
			for i, n := 0, 1; n <= 1300; i, n = i+1, n+1+n/40 {
				packet := make([]byte, n)
				for j := range packet {
					packet[j] = byte(r.Uint32())
				}
				sid := r.Uint32()
				buf = e.Seal(buf[:0], sid, packet)
				if len(buf) < MinDatagramLen+m.HMACLength || (len(buf)-SSIDLen-m.HMACLength)%16 != 0 {
					t.Fatalf("len %d: datagram of %d bytes", n, len(buf))
				}
				if got, ok := SessionID(buf); !ok || got != sid {
					t.Fatalf("SessionID = %#x, want %#x", got, sid)
				}
				p, seq, err := d.Open(out[:0], buf)
				if err != nil {
					t.Fatalf("len %d: Open: %v", n, err)
				}
				if m.SequenceNumbers && seq != uint64(i) || !m.SequenceNumbers && seq != 0 {
					t.Fatalf("seq %d, want %d", seq, i)
				}
				if !bytes.Equal(p[:n], packet) || len(p)-n > 15 || len(stripPadding(p[n:])) != 0 {
					t.Fatalf("len %d: packet mismatch or bad padding (%d bytes after packet)", n, len(p)-n)
				}
				out = p[:0]
			}
		})
	}
}

func TestSealedLen(t *testing.T) {
	for _, m := range testModes {
		e, _ := newPair(t, m)
		for _, seq := range []uint64{0, 127, 128, 1 << 20} {
			e.SetNextSequence(seq)
			for n := 0; n < 70; n++ {
				want := e.SealedLen(n)
				off := e.PacketOffset()
				got := e.Seal(nil, 1, make([]byte, n))
				if len(got) != want {
					t.Fatalf("%+v seq %d: SealedLen(%d) = %d, Seal made %d", m, seq, n, want, len(got))
				}
				if wantOff := SSIDLen + vluLenIf(m.SequenceNumbers, seq) + checksumIf(m.HMACLength == 0); off != wantOff {
					t.Fatalf("%+v seq %d: PacketOffset %d, want %d", m, seq, off, wantOff)
				}
				e.SetNextSequence(seq)
			}
		}
	}
	// A 1200-byte budget with checksum and no sequence numbers: 1198 packet bytes.
	e := NewStartupEncrypter()
	if e.SealedLen(1198) != 4+1200 || e.SealedLen(1199) != 4+1216 {
		t.Errorf("SealedLen(1198) = %d, SealedLen(1199) = %d", e.SealedLen(1198), e.SealedLen(1199))
	}
}

func vluLenIf(on bool, v uint64) int {
	if !on {
		return 0
	}
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func checksumIf(on bool) int {
	if on {
		return 2
	}
	return 0
}

// The sequence number VLU grows from one to two bytes at 128 and is read back.
func TestSequenceNumberVLU(t *testing.T) {
	for _, m := range []Mode{{SequenceNumbers: true}, {SequenceNumbers: true, HMACLength: 16}} {
		e, d := newPair(t, m)
		e.SetNextSequence(126)
		for want := uint64(126); want < 131; want++ {
			if e.NextSequence() != want {
				t.Fatalf("NextSequence %d, want %d", e.NextSequence(), want)
			}
			dg := e.Seal(nil, 7, []byte{0x09, 0x00, 0x01, 0x01, 0x00, 0x00})
			_, seq, err := d.Open(nil, dg)
			if err != nil || seq != want {
				t.Fatalf("%+v: seq %d, %v; want %d", m, seq, err, want)
			}
		}
	}
}

func TestSealAppendsAndAliases(t *testing.T) {
	for _, m := range testModes {
		packet := []byte("\x89\x12\x34\x10\x00\x05hello world, a packet that spans blocks")
		e1, _ := newPair(t, m)
		want := e1.Seal(nil, 0xABCD, packet)

		// Appends after existing content.
		e2, _ := newPair(t, m)
		got := e2.Seal([]byte("prefix"), 0xABCD, packet)
		if string(got[:6]) != "prefix" || !bytes.Equal(got[6:], want) {
			t.Errorf("%+v: Seal does not append", m)
		}

		// Packet built in place at PacketOffset (zero-copy path).
		e3, _ := newPair(t, m)
		buf := make([]byte, 3, 2048)
		off := len(buf) + e3.PacketOffset()
		copy(buf[off:off+len(packet)], packet)
		got = e3.Seal(buf, 0xABCD, buf[off:off+len(packet)])
		if !bytes.Equal(got[3:], want) {
			t.Errorf("%+v: in-place packet sealed differently", m)
		}

		// Packet at the very start of dst's spare capacity (overlaps the prefix area).
		e4, _ := newPair(t, m)
		buf = make([]byte, 0, 2048)
		copy(buf[:len(packet)], packet)
		got = e4.Seal(buf, 0xABCD, buf[:len(packet)])
		if !bytes.Equal(got, want) {
			t.Errorf("%+v: overlapping packet sealed differently", m)
		}

		// Packet is dst's existing content.
		e5, _ := newPair(t, m)
		buf = append(make([]byte, 0, 2048), packet...)
		got = e5.Seal(buf, 0xABCD, buf)
		if !bytes.Equal(got[:len(packet)], packet) || !bytes.Equal(got[len(packet):], want) {
			t.Errorf("%+v: packet in dst[:len(dst)] sealed differently", m)
		}
	}
}

func TestOpenAliasing(t *testing.T) {
	for _, m := range testModes {
		e, _ := newPair(t, m)
		packet := bytes.Repeat([]byte{0x0d, 0x01, 0x02, 0x51}, 20)
		dg := e.Seal(nil, 9, packet)
		for name, open := range map[string]func(d *Decrypter, dg []byte) ([]byte, uint64, error){
			"fresh":       func(d *Decrypter, dg []byte) ([]byte, uint64, error) { return d.Open(nil, dg) },
			"dst=dg[:0]":  func(d *Decrypter, dg []byte) ([]byte, uint64, error) { return d.Open(dg[:0], dg) },
			"dst=dg[4:4]": func(d *Decrypter, dg []byte) ([]byte, uint64, error) { return d.Open(dg[4:4], dg) },
			"dst=dg[9:9]": func(d *Decrypter, dg []byte) ([]byte, uint64, error) { return d.Open(dg[9:9], dg) },
			"in place":    func(d *Decrypter, dg []byte) ([]byte, uint64, error) { return d.OpenInPlace(dg) },
		} {
			_, d := newPair(t, m)
			cp := append(make([]byte, 0, len(dg)+64), dg...)
			p, _, err := open(d, cp)
			if err != nil || !bytes.Equal(p[:len(packet)], packet) {
				t.Errorf("%+v %s: %v", m, name, err)
			}
		}
	}
}

// encryptRaw builds a datagram from an arbitrary plaintext block (for malformed
// plaintexts Seal cannot produce).
func encryptRaw(t *testing.T, plain []byte, hmacLen int) []byte {
	t.Helper()
	// The standard library's CBC, independent of the code under test.
	blk, err := aes.NewCipher(testAESKey)
	if err != nil {
		t.Fatal(err)
	}
	dg := make([]byte, 4+len(plain))
	cipher.NewCBCEncrypter(blk, zeroIV[:]).CryptBlocks(dg[4:], plain)
	if hmacLen > 0 {
		mac := hmacSHA256(testHMACKey, dg[4:])
		dg = append(dg, mac[:hmacLen]...)
	}
	return dg
}

func TestOpenErrors(t *testing.T) {
	for _, m := range testModes {
		t.Run(fmt.Sprintf("%+v", m), func(t *testing.T) {
			e, _ := newPair(t, m)
			good := e.Seal(nil, 1, []byte("\x09\x00\x01\x01\x00\x00 some chunk bytes here"))
			l := m.HMACLength
			open := func(dg []byte) error {
				_, d := newPair(t, m)
				_, _, err := d.Open(nil, dg)
				return err
			}
			if err := open(good); err != nil {
				t.Fatal(err)
			}
			for n := 0; n < MinDatagramLen+l; n++ {
				if err := open(good[:n]); err != ErrShortDatagram {
					t.Errorf("len %d: %v, want ErrShortDatagram", n, err)
				}
			}
			if err := open(append(append([]byte(nil), good...), 0)); err != ErrBadLength && l == 0 {
				t.Errorf("one extra byte: %v, want ErrBadLength", err)
			}
			if l > 0 {
				// Every byte of ciphertext and trailer is covered; the SSID is not.
				for i := 4; i < len(good); i++ {
					bad := append([]byte(nil), good...)
					bad[i] ^= 0x40
					if err := open(bad); err != ErrBadHMAC {
						t.Fatalf("flip byte %d: %v, want ErrBadHMAC", i, err)
					}
				}
				if err := open(append(append([]byte(nil), good[:len(good)-l]...), make([]byte, l)...)); err != ErrBadHMAC {
					t.Errorf("zero HMAC: %v", err)
				}
			} else {
				for i := 4; i < len(good); i++ {
					bad := append([]byte(nil), good...)
					bad[i] ^= 0x40
					if err := open(bad); err != ErrBadChecksum && err != ErrBadSequence {
						t.Fatalf("flip byte %d: %v, want ErrBadChecksum", i, err)
					}
				}
			}
			bad := append([]byte(nil), good...)
			bad[0] ^= 0xFF // SSID is not authenticated: only the session ID changes
			if err := open(bad); err != nil {
				t.Errorf("flipped SSID: %v", err)
			}
			// Replay.
			_, d := newPair(t, m)
			if _, _, err := d.Open(nil, good); err != nil {
				t.Fatal(err)
			}
			_, _, err := d.Open(nil, good)
			if m.SequenceNumbers && err != ErrReplay || !m.SequenceNumbers && err != nil {
				t.Errorf("second Open: %v", err)
			}
			if m.SequenceNumbers {
				// A sequence number VLU that never ends.
				if err := open(encryptRaw(t, bytes.Repeat([]byte{0x80}, 32), l)); err != ErrBadSequence {
					t.Errorf("unterminated VLU: %v", err)
				}
				if l == 0 {
					// A VLU that fills the block leaves no room for the checksum.
					vlu := append(bytes.Repeat([]byte{0x80}, 15), 0x01)
					if err := open(encryptRaw(t, vlu, 0)); err != ErrBadChecksum {
						t.Errorf("no room for checksum: %v", err)
					}
				}
			}
		})
	}
}

// A packet that fails its checksum does not consume its sequence number.
func TestFailedPacketKeepsSequenceFree(t *testing.T) {
	m := Mode{SequenceNumbers: true}
	e, d := newPair(t, m)
	good := e.Seal(nil, 1, []byte("\x09\x00\x01\x01\x00\x00 chunk"))
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 1 // garbles the last block only: seq intact, checksum wrong
	if _, _, err := d.Open(nil, bad); err != ErrBadChecksum {
		t.Fatalf("corrupted: %v", err)
	}
	if _, seq, err := d.Open(nil, good); err != nil || seq != 0 {
		t.Fatalf("genuine packet after a forged one: seq %d, %v", seq, err)
	}
	if h, ok := d.Window().Highest(); !ok || h != 0 {
		t.Errorf("window highest %d %v", h, ok)
	}
}

// Out-of-order delivery within the window is accepted once.
func TestDecrypterReorder(t *testing.T) {
	e, d := newPair(t, Mode{SequenceNumbers: true, HMACLength: 16})
	var dgs [][]byte
	for range 40 {
		dgs = append(dgs, e.Seal(nil, 1, []byte{0x09, 0, 0}))
	}
	for _, i := range []int{0, 39, 20, 8} { // 8 = 39−31: the oldest still accepted
		if _, seq, err := d.Open(nil, dgs[i]); err != nil || int(seq) != i {
			t.Fatalf("packet %d: seq %d %v", i, seq, err)
		}
	}
	for _, i := range []int{39, 20, 8, 7, 1} { // duplicates, or ≤ 39−32
		if _, _, err := d.Open(nil, dgs[i]); err != ErrReplay {
			t.Errorf("packet %d: %v, want ErrReplay", i, err)
		}
	}
}

func TestConstructorErrors(t *testing.T) {
	for _, tc := range []struct {
		key, mac []byte
		m        Mode
	}{
		{make([]byte, 15), nil, Mode{}},
		{make([]byte, 32), nil, Mode{}},
		{nil, nil, Mode{}},
		{testAESKey, nil, Mode{HMACLength: 16}},
		{testAESKey, testHMACKey, Mode{HMACLength: 3}},
		{testAESKey, testHMACKey, Mode{HMACLength: 33}},
		{testAESKey, testHMACKey, Mode{HMACLength: -1}},
	} {
		if _, err := NewEncrypter(tc.key, tc.mac, tc.m); err == nil {
			t.Errorf("NewEncrypter(%d-byte key, %+v) accepted", len(tc.key), tc.m)
		}
		if _, err := NewDecrypter(tc.key, tc.mac, tc.m); err == nil {
			t.Errorf("NewDecrypter(%d-byte key, %+v) accepted", len(tc.key), tc.m)
		}
	}
	k := DefaultKey()
	if string(k[:]) != "Adobe Systems 02" {
		t.Errorf("DefaultKey = %q", k)
	}
	k[0] = 'X'
	if DefaultKey()[0] != 'A' {
		t.Error("DefaultKey is shared")
	}
	if NewStartupEncrypter().Mode() != (Mode{}) || NewStartupDecrypter().Mode() != (Mode{}) {
		t.Error("startup mode")
	}
}

func TestSessionIDHelpers(t *testing.T) {
	for n := range 12 {
		if _, ok := SessionID(make([]byte, n)); ok {
			t.Errorf("SessionID accepted %d bytes", n)
		}
		if ScrambleSessionID(make([]byte, n), 1) {
			t.Errorf("ScrambleSessionID accepted %d bytes", n)
		}
	}
	dg := []byte{0, 0, 0, 0, 1, 2, 3, 4, 0x10, 0x20, 0x30, 0x40, 0xEE}
	if !ScrambleSessionID(dg, 0x02000000) {
		t.Fatal("ScrambleSessionID failed")
	}
	if id, ok := SessionID(dg); !ok || id != 0x02000000 {
		t.Errorf("SessionID = %#x", id)
	}
	if !bytes.Equal(dg[:4], []byte{0x02 ^ 0x01 ^ 0x10, 0x02 ^ 0x20, 0x03 ^ 0x30, 0x04 ^ 0x40}) {
		t.Errorf("SSID bytes %x", dg[:4])
	}
}

func TestZeroAllocs(t *testing.T) {
	packet := bytes.Repeat([]byte{0x4a}, 1100)
	for _, m := range testModes {
		e, d := newPair(t, m)
		e.SetNextSequence(1000)
		buf := make([]byte, 0, 1400)
		out := make([]byte, 0, 1400)
		if a := testing.AllocsPerRun(100, func() { e.Seal(buf[:0], 5, packet) }); a != 0 {
			t.Errorf("%+v: Seal allocates %v times", m, a)
		}
		// Distinct datagrams (sequence numbers) for every run so that none is a replay.
		dgs := make([][]byte, 101)
		for i := range dgs {
			dgs[i] = e.Seal(nil, 5, packet)
		}
		i := 0
		if a := testing.AllocsPerRun(100, func() {
			if _, _, err := d.Open(out[:0], dgs[i]); err != nil {
				t.Fatal(err)
			}
			i++
		}); a != 0 {
			t.Errorf("%+v: Open allocates %v times", m, a)
		}
	}
}

var zeroIV [16]byte

// TestReleaseKeySchedule: dropping the expanded keys between packets changes nothing on
// the wire (the same datagrams as a pair never released, sequence numbers and replay
// window kept) and frees the schedule until the next packet.
func TestReleaseKeySchedule(t *testing.T) {
	packet := bytes.Repeat([]byte{0x5c}, 300)
	for _, m := range testModes {
		t.Run(fmt.Sprintf("%+v", m), func(t *testing.T) {
			e, d := newPair(t, m)
			ref, _ := newPair(t, m)
			var dgs [][]byte
			for i := range 6 {
				if i%2 == 1 {
					e.ReleaseKeySchedule()
					if e.HoldsKeySchedule() {
						t.Fatal("encrypter kept its schedule after ReleaseKeySchedule")
					}
				}
				got := e.Seal(nil, 7, packet)
				if want := ref.Seal(nil, 7, packet); !bytes.Equal(got, want) {
					t.Fatalf("packet %d: released encrypter sealed a different datagram", i)
				}
				dgs = append(dgs, got)
			}
			for i, dg := range dgs {
				d.ReleaseKeySchedule()
				if d.HoldsKeySchedule() {
					t.Fatal("decrypter kept its schedule after ReleaseKeySchedule")
				}
				p, _, err := d.Open(nil, dg)
				if err != nil || !bytes.Equal(p[:len(packet)], packet) {
					t.Fatalf("packet %d after release: %v", i, err)
				}
			}
			if m.SequenceNumbers {
				d.ReleaseKeySchedule()
				if _, _, err := d.Open(nil, dgs[0]); err != ErrReplay {
					t.Fatalf("replay after release: %v, want ErrReplay", err)
				}
			}
		})
	}
}
