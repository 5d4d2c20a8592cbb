package cryptoutil

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"math/rand/v2"
	"testing"
)

var allGroups = []DHGroup{Group2, Group5, Group14, Group16}

func TestGroupTables(t *testing.T) {
	sizes := map[DHGroup]int{Group2: 128, Group5: 192, Group14: 256, Group16: 512}
	expBits := map[DHGroup]int{Group2: 224, Group5: 256, Group14: 320, Group16: 480}
	for _, g := range allGroups {
		if !g.Valid() || g.Size() != sizes[g] || g.ExponentBits() != expBits[g] {
			t.Errorf("%v: Valid %v Size %d ExponentBits %d", g, g.Valid(), g.Size(), g.ExponentBits())
		}
		p := g.Prime()
		if p.BitLen() != 8*sizes[g] {
			t.Errorf("%v: prime has %d bits", g, p.BitLen())
		}
		// RFC 2409/3526 primes: top and bottom 64 bits set, safe prime.
		ones := new(big.Int).SetUint64(^uint64(0))
		if new(big.Int).And(p, ones).Cmp(ones) != 0 || new(big.Int).Rsh(p, uint(p.BitLen()-64)).Cmp(ones) != 0 {
			t.Errorf("%v: prime does not start and end with 64 one bits", g)
		}
		q := new(big.Int).Rsh(p, 1)
		if !p.ProbablyPrime(8) || !q.ProbablyPrime(8) {
			t.Errorf("%v: not a safe prime", g)
		}
		// Prime returns a copy.
		p.SetInt64(7)
		if g.Prime().Cmp(big.NewInt(7)) == 0 {
			t.Errorf("%v: Prime returned the shared value", g)
		}
	}
	for _, g := range []DHGroup{0, 1, 3, 15, 17, 255} {
		if g.Valid() || g.Size() != 0 || g.Prime() != nil || g.ExponentBits() != 0 {
			t.Errorf("group %d reported as supported", g)
		}
		if _, err := GenerateDHKey(g, rand.NewChaCha8([32]byte{})); !errors.Is(err, ErrUnsupportedGroup) {
			t.Errorf("GenerateDHKey(%d): %v", g, err)
		}
		if _, err := NewDHKey(g, []byte{5}); !errors.Is(err, ErrUnsupportedGroup) {
			t.Errorf("NewDHKey(%d): %v", g, err)
		}
		if err := ValidatePublicKey(g, []byte{5}); !errors.Is(err, ErrUnsupportedGroup) {
			t.Errorf("ValidatePublicKey(%d): %v", g, err)
		}
	}
	if Group14.String() != "group14" {
		t.Error(Group14.String())
	}
}

func TestGenerateDHKeyAgreement(t *testing.T) {
	r := rand.NewChaCha8([32]byte{1})
	for _, g := range allGroups {
		a, err := GenerateDHKey(g, r)
		if err != nil {
			t.Fatal(err)
		}
		b, err := GenerateDHKey(g, r)
		if err != nil {
			t.Fatal(err)
		}
		if a.Group() != g || a.x.BitLen() != g.ExponentBits() || b.x.BitLen() != g.ExponentBits() {
			t.Errorf("%v: exponent bits %d, %d", g, a.x.BitLen(), b.x.BitLen())
		}
		if a.x.Cmp(b.x) == 0 {
			t.Errorf("%v: two keys share an exponent", g)
		}
		if err := ValidatePublicKey(g, a.PublicKey()); err != nil {
			t.Errorf("%v: own public key rejected: %v", g, err)
		}
		s1, err := a.SharedSecret(b.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		s2, err := b.SharedSecret(a.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(s1, s2) || len(s1) > g.Size() || len(s1) < g.Size()-4 {
			t.Errorf("%v: secrets differ or odd size (%d, %d)", g, len(s1), len(s2))
		}
		// PublicKey returns a copy.
		pub := a.PublicKey()
		pub[0] ^= 0xFF
		if bytes.Equal(pub, a.PublicKey()) || a.PublicKeyLen() != len(pub) {
			t.Errorf("%v: PublicKey exposes internal storage", g)
		}
		if got := a.AppendPublicKey([]byte{9}); got[0] != 9 || !bytes.Equal(got[1:], a.PublicKey()) {
			t.Errorf("%v: AppendPublicKey", g)
		}
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestGenerateDHKeyRandFailure(t *testing.T) {
	if _, err := GenerateDHKey(Group2, failingReader{}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("GenerateDHKey with failing reader: %v", err)
	}
	// A reader of zeros still gives a valid exponent (top bit forced).
	k, err := GenerateDHKey(Group2, bytes.NewReader(make([]byte, 1024)))
	if err != nil {
		t.Fatal(err)
	}
	if k.x.BitLen() != 224 {
		t.Errorf("exponent has %d bits", k.x.BitLen())
	}
}

func TestNewDHKeyRange(t *testing.T) {
	p := Group2.Prime()
	pm1 := new(big.Int).Sub(p, big.NewInt(1))
	pm2 := new(big.Int).Sub(p, big.NewInt(2))
	for _, tc := range []struct {
		x  []byte
		ok bool
	}{
		{nil, false}, {[]byte{0}, false}, {[]byte{1}, false}, {[]byte{0, 0, 2}, true},
		{pm2.Bytes(), true}, {pm1.Bytes(), false}, {p.Bytes(), false}, {append([]byte{1}, p.Bytes()...), false},
	} {
		_, err := NewDHKey(Group2, tc.x)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadPrivateKey)) {
			t.Errorf("NewDHKey(%x): %v", tc.x, err)
		}
	}
}

func TestValidatePublicKey(t *testing.T) {
	p := Group2.Prime()
	upper := new(big.Int).Sub(p, big.NewInt(1<<24))
	tooHigh := new(big.Int).Add(upper, big.NewInt(1))
	for _, tc := range []struct {
		name string
		y    []byte
		ok   bool
	}{
		{"empty", nil, false},
		{"zero", []byte{0}, false},
		{"one", []byte{1}, false},
		{"2^24-1", []byte{0xFF, 0xFF, 0xFF}, false},
		{"2^24 (one bit)", []byte{1, 0, 0, 0}, false},
		{"16 ones 16 zeros", []byte{0xFF, 0xFF, 0, 0}, true},
		{"same with leading zeros", []byte{0, 0, 0xFF, 0xFF, 0, 0}, true},
		{"17 ones 15 zeros", []byte{0xFF, 0xFF, 0x80, 0}, false},
		{"15 ones (leading zero not counted)", []byte{0x7F, 0xFF, 0, 0}, false},
		{"17 ones 16 zeros", []byte{0x01, 0xFF, 0xFF, 0, 0}, true},
		{"p - 2^24", upper.Bytes(), true},
		{"p - 2^24 + 1", tooHigh.Bytes(), false},
		{"p - 1", new(big.Int).Sub(p, big.NewInt(1)).Bytes(), false},
		{"p", p.Bytes(), false},
		{"longer than p", append([]byte{1}, make([]byte, 128)...), false},
	} {
		err := ValidatePublicKey(Group2, tc.y)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadPublicKey)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	k, err := NewDHKey(Group2, []byte{0x12, 0x34, 0x56, 0x78, 0x9a})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{nil, {1}, {2}, new(big.Int).Sub(p, big.NewInt(1)).Bytes()} {
		if _, err := k.SharedSecret(bad); !errors.Is(err, ErrBadPublicKey) {
			t.Errorf("SharedSecret(%x): %v", bad, err)
		}
	}
}

// testExponent is a deterministic 224-bit exponent with the top bit set.
func testExponent(i uint64) []byte {
	var seed [8]byte
	binary.BigEndian.PutUint64(seed[:], i)
	h := sha256.Sum256(seed[:])
	h[0] |= 0x80
	return h[:28]
}

// Public keys and shared secrets are unpadded: about one in 256 is shorter than the
// prime, and that shorter byte string (no leading zero) is what goes on the wire and
// into the key derivation.
func TestLeadingZeroPublicKey(t *testing.T) {
	for i := uint64(0); i < 5000; i++ {
		k, err := NewDHKey(Group2, testExponent(i))
		if err != nil {
			t.Fatal(err)
		}
		pub := k.PublicKey()
		if len(pub) == Group2.Size() {
			continue
		}
		if pub[0] == 0 {
			t.Fatalf("exponent %d: public key keeps a leading zero", i)
		}
		y := new(big.Int).Exp(big.NewInt(2), new(big.Int).SetBytes(testExponent(i)), Group2.Prime())
		if !bytes.Equal(pub, y.Bytes()) {
			t.Fatal("public key differs from big.Int.Bytes")
		}
		// The certificate option length follows the key: 81 01 instead of 81 02.
		cert := AppendStaticCertificate(nil, k)
		if want := []byte{0x81, 0x01, 0x1D, 0x02}; len(pub) == 127 && !bytes.Equal(cert[:4], want) {
			t.Errorf("certificate prefix %x", cert[:4])
		}
		c, err := ParseCertificate(cert)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := c.StaticKey(Group2); !bytes.Equal(got, pub) {
			t.Error("short key does not round-trip through a certificate")
		}
		t.Logf("exponent %d: %d-byte public key", i, len(pub))
		return
	}
	t.Fatal("no short public key found in 5000 exponents")
}

func TestLeadingZeroSharedSecret(t *testing.T) {
	a, err := NewDHKey(Group2, testExponent(1<<32))
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(0); i < 5000; i++ {
		b, err := NewDHKey(Group2, testExponent(i))
		if err != nil {
			t.Fatal(err)
		}
		s1, err := a.SharedSecret(b.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		if len(s1) == Group2.Size() {
			continue
		}
		s2, err := b.SharedSecret(a.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(s1, s2) || s1[0] == 0 {
			t.Fatalf("short secrets differ or keep a leading zero: %x / %x", s1[:2], s2[:2])
		}
		// The padded form would give different keys: the unpadded one is the contract.
		padded := append(make([]byte, Group2.Size()-len(s1)), s1...)
		k1, _ := DeriveKeys(s1, []byte("skic"), []byte("skrc"))
		k2, _ := DeriveKeys(padded, []byte("skic"), []byte("skrc"))
		if k1 == k2 {
			t.Error("padding the secret did not change the keys")
		}
		t.Logf("peer exponent %d: %d-byte secret", i, len(s1))
		return
	}
	t.Fatal("no short shared secret found in 5000 peers")
}
