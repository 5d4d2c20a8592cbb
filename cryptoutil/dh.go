package cryptoutil

import (
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/bits"
	"strconv"
	"strings"
)

// Errors of the Diffie-Hellman layer.
var (
	// ErrUnsupportedGroup means a DH group number other than 2, 5, 14 or 16.
	ErrUnsupportedGroup = errors.New("cryptoutil: unsupported DH group")
	// ErrBadPublicKey means a far public key failed the RFC 7425 §4.6.2 sanity checks.
	ErrBadPublicKey = errors.New("cryptoutil: DH public key rejected")
	// ErrBadPrivateKey means a private exponent outside 2 … p−2.
	ErrBadPrivateKey = errors.New("cryptoutil: DH private key out of range")
)

// DHGroup is a MODP Diffie-Hellman group number as carried in certificates (option 0x15,
// 0x1D) and session key components (options 0x0D, 0x1D). The generator is 2 in every
// group.
type DHGroup uint8

// The MODP groups this package implements.
const (
	Group2  DHGroup = 2  // 1024-bit, RFC 2409 §6.2 (Flash Player's group)
	Group5  DHGroup = 5  // 1536-bit, RFC 3526 §2
	Group14 DHGroup = 14 // 2048-bit, RFC 3526 §3 (what rtmfp-cpp picks from the classic certificate)
	Group16 DHGroup = 16 // 4096-bit, RFC 3526 §5
)

// groupParams are the immutable per-group tables. Nothing in this package writes to the
// big.Int values after init; accessors hand out copies.
type groupParams struct {
	p        *big.Int // the prime
	upper    *big.Int // p − 2^24, the largest acceptable far public key
	size     int      // bytes of p
	expBits  int      // bits of a generated private exponent
	expBytes int      // expBits / 8
	pMinus1  *big.Int // p − 1
}

// The primes, from RFC 2409 / RFC 3526 (cross-checked in hmac-sseq-and-groups.md §4.1).
const (
	modpPrefix = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74" +
		"020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437" +
		"4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED" +
		"EE386BFB5A899FA5AE9F24117C4B1FE649286651"
	prime1024 = modpPrefix + "ECE65381FFFFFFFFFFFFFFFF"
	prime1536 = modpPrefix + "ECE45B3DC2007CB8A163BF05" +
		"98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB" +
		"9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF"
	prime2048Body = modpPrefix + "ECE45B3DC2007CB8A163BF05" +
		"98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB" +
		"9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B" +
		"E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718" +
		"3995497CEA956AE515D2261898FA051015728E5A8AA"
	prime2048 = prime2048Body + "CAA68FFFFFFFFFFFFFFFF"
	prime4096 = prime2048Body + "AC42DAD33170D04507A33" +
		"A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7" +
		"ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864" +
		"D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2" +
		"08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7" +
		"88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8" +
		"DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2" +
		"233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9" +
		"93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF"
)

var (
	group2Params  = newGroupParams(prime1024, 224)
	group5Params  = newGroupParams(prime1536, 256)
	group14Params = newGroupParams(prime2048, 320)
	group16Params = newGroupParams(prime4096, 480)
	two           = big.NewInt(2)
)

func newGroupParams(hex string, expBits int) *groupParams {
	p, ok := new(big.Int).SetString(strings.ReplaceAll(hex, " ", ""), 16)
	if !ok {
		panic("cryptoutil: bad prime table")
	}
	return &groupParams{
		p:        p,
		upper:    new(big.Int).Sub(p, big.NewInt(1<<24)),
		size:     (p.BitLen() + 7) / 8,
		expBits:  expBits,
		expBytes: expBits / 8,
		pMinus1:  new(big.Int).Sub(p, big.NewInt(1)),
	}
}

func (g DHGroup) params() *groupParams {
	switch g {
	case Group2:
		return group2Params
	case Group5:
		return group5Params
	case Group14:
		return group14Params
	case Group16:
		return group16Params
	}
	return nil
}

// Valid reports whether g is one of the groups this package implements.
func (g DHGroup) Valid() bool { return g.params() != nil }

// Size returns the size of the group's prime in bytes (128, 192, 256 or 512), which is
// also the usual length of a public key or shared secret in that group. It returns 0
// for an unsupported group.
func (g DHGroup) Size() int {
	if p := g.params(); p != nil {
		return p.size
	}
	return 0
}

// Prime returns a copy of the group's prime p, or nil for an unsupported group. The
// caller may modify the returned value.
func (g DHGroup) Prime() *big.Int {
	if p := g.params(); p != nil {
		return new(big.Int).Set(p.p)
	}
	return nil
}

// ExponentBits returns the length in bits of the private exponents GenerateDHKey draws
// for g: 224, 256, 320 and 480 bits for groups 2, 5, 14 and 16 (RFC 3526 §8 strengths,
// as rtmfp-cpp uses for 2, 14 and 16). It returns 0 for an unsupported group.
func (g DHGroup) ExponentBits() int {
	if p := g.params(); p != nil {
		return p.expBits
	}
	return 0
}

// String returns "group2", "group14" … (also for unsupported numbers).
func (g DHGroup) String() string { return "group" + strconv.Itoa(int(g)) }

// groupFromVLU maps a group number read from the wire to a DHGroup. Numbers above 255
// become 0, which is never valid.
func groupFromVLU(v uint64) DHGroup {
	if v > 255 {
		return 0
	}
	return DHGroup(v)
}

// DHKey is a Diffie-Hellman key pair in one MODP group. It is immutable after
// construction and safe for concurrent use.
//
// Exponentiation uses math/big's Exp, which is not constant-time. The private exponent
// is ephemeral (one per handshake) and the computation happens once per session, which
// is the same exposure as the OpenSSL BIGNUM code of the reference implementations.
type DHKey struct {
	group  DHGroup
	params *groupParams
	x      *big.Int
	pub    []byte
}

// GenerateDHKey draws a fresh private exponent of g.ExponentBits() bits with the top bit
// set from rand and computes the public key 2^x mod p. If (with negligible probability)
// the public key would fail ValidatePublicKey, another exponent is drawn.
func GenerateDHKey(g DHGroup, rand io.Reader) (*DHKey, error) {
	gp := g.params()
	if gp == nil {
		return nil, fmt.Errorf("%w: %d", ErrUnsupportedGroup, g)
	}
	buf := make([]byte, gp.expBytes)
	for range 8 {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return nil, fmt.Errorf("cryptoutil: reading DH private key: %w", err)
		}
		buf[0] |= 0x80
		k := newDHKey(g, gp, new(big.Int).SetBytes(buf))
		if validatePublic(gp, k.pub) == nil {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: random source produced only weak keys", ErrBadPrivateKey)
}

// NewDHKey builds a key pair from a known private exponent (big-endian, leading zeros
// allowed), for known-answer tests and for persisted keys. The exponent must lie in
// 2 … p−2.
func NewDHKey(g DHGroup, private []byte) (*DHKey, error) {
	gp := g.params()
	if gp == nil {
		return nil, fmt.Errorf("%w: %d", ErrUnsupportedGroup, g)
	}
	x := new(big.Int).SetBytes(private)
	if x.Cmp(two) < 0 || x.Cmp(gp.pMinus1) >= 0 {
		return nil, ErrBadPrivateKey
	}
	return newDHKey(g, gp, x), nil
}

func newDHKey(g DHGroup, gp *groupParams, x *big.Int) *DHKey {
	y := new(big.Int).Exp(two, x, gp.p)
	return &DHKey{group: g, params: gp, x: x, pub: y.Bytes()}
}

// Group returns the key's group.
func (k *DHKey) Group() DHGroup { return k.group }

// PublicKey returns a copy of the public key 2^x mod p as unpadded big-endian bytes
// (leading zero bytes stripped, like big.Int.Bytes), normally g.Size() bytes and one
// byte shorter about once in 256 keys.
func (k *DHKey) PublicKey() []byte { return append([]byte(nil), k.pub...) }

// AppendPublicKey appends the unpadded public key to b.
func (k *DHKey) AppendPublicKey(b []byte) []byte { return append(b, k.pub...) }

// PublicKeyLen returns the length of the unpadded public key.
func (k *DHKey) PublicKeyLen() int { return len(k.pub) }

// SharedSecret validates the far side's public key (ValidatePublicKey) and returns
// peerPublic^x mod p as unpadded big-endian bytes, exactly like big.Int.Bytes: the
// secret is one byte shorter than the prime about once in 256 sessions and that shorter
// string is the HMAC key every derivation uses (hmac-sseq-and-groups.md §4.7).
func (k *DHKey) SharedSecret(peerPublic []byte) ([]byte, error) {
	if err := validatePublic(k.params, peerPublic); err != nil {
		return nil, err
	}
	y := new(big.Int).SetBytes(peerPublic)
	return y.Exp(y, k.x, k.params.p).Bytes(), nil
}

// ValidatePublicKey applies rtmfp-cpp's checks (RFC 7425 §4.6.2) to a far public key y
// (big-endian, leading zeros allowed): 2^24 ≤ y ≤ p − 2^24, and y has at least 16 one
// bits and at least 16 zero bits, zeros above its most significant one bit not counted.
func ValidatePublicKey(g DHGroup, y []byte) error {
	gp := g.params()
	if gp == nil {
		return fmt.Errorf("%w: %d", ErrUnsupportedGroup, g)
	}
	return validatePublic(gp, y)
}

func validatePublic(gp *groupParams, y []byte) error {
	for len(y) > 0 && y[0] == 0 {
		y = y[1:]
	}
	if len(y) > gp.size {
		return fmt.Errorf("%w: larger than the prime", ErrBadPublicKey)
	}
	ones := 0
	for _, c := range y {
		ones += bits.OnesCount8(c)
	}
	bitLen := 0
	if len(y) > 0 {
		bitLen = 8*len(y) - bits.LeadingZeros8(y[0])
	}
	if bitLen <= 24 {
		return fmt.Errorf("%w: below 2^24", ErrBadPublicKey)
	}
	if ones < 16 || bitLen-ones < 16 {
		return fmt.Errorf("%w: fewer than 16 one or zero bits", ErrBadPublicKey)
	}
	if new(big.Int).SetBytes(y).Cmp(gp.upper) > 0 {
		return fmt.Errorf("%w: above p − 2^24", ErrBadPublicKey)
	}
	return nil
}
