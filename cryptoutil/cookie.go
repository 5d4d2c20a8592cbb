package cryptoutil

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"hash"
	"net/netip"
	"sync"
	"time"
)

// Reasons Check rejects a cookie echoed in IIKeying.
var (
	// ErrCookieInvalid: not minted by this service (wrong length, tampered, other
	// secret) or minted in the future. Drop the IIKeying.
	ErrCookieInvalid = errors.New("cryptoutil: invalid cookie")
	// ErrCookieExpired: genuine but older than the TTL. Drop the IIKeying.
	ErrCookieExpired = errors.New("cryptoutil: expired cookie")
	// ErrCookieAddress: genuine and fresh but minted for another address (the client's
	// NAT mapping changed). Answer with an RHello Cookie Change (0x79).
	ErrCookieAddress = errors.New("cryptoutil: cookie minted for another address")
)

// CookieLen is the size of a cookie: the 64 bytes strict Flash-era clients expect.
const CookieLen = 64

// MaxCookieSkew is how far in the future a cookie's mint time may be (clock steps).
const MaxCookieSkew = 2 * time.Second

// Cookie layout. Every MAC is HMAC-SHA256 keyed with the service secret, truncated.
//
//	 0               8                       24                   44                   64
//	+---------------+-----------------------+--------------------+--------------------+
//	| mint time     | nonce                 | MAC a              | MAC b              |
//	| unix s, u64BE | HMAC("n"‖time‖tag)    | HMAC("a"‖time‖     | HMAC("b"‖time‖     |
//	|               |   [:16]               |   nonce)[:20]      |   nonce‖addr)[:20] |
//	+---------------+-----------------------+--------------------+--------------------+
//	addr = 16-byte IPv6 form of the unmapped address ‖ port u16BE
//
// The nonce is derived from the IHello tag, so a retransmitted IHello within the same
// second gets the same cookie. MAC a proves the cookie is ours and fresh whatever the
// address; MAC b binds it to the address the RHello was sent to.
const (
	cookieTimeEnd  = 8
	cookieNonceEnd = 24
	cookieMACAEnd  = 44
	cookieMACLen   = 20
	addrEncLen     = 18
)

// CookieService mints and checks stateless handshake cookies: no per-IHello state, a
// bounded lifetime, and binding to the client's address. It is safe for concurrent use
// (HMAC states are pooled) and Mint/Check do not allocate in steady state.
type CookieService struct {
	ttl  int64 // seconds
	pool sync.Pool
}

type cookieMAC struct {
	h   hash.Hash
	in  [1 + 8 + 16 + addrEncLen]byte
	sum [sha256.Size]byte
}

// NewCookieService returns a service keyed with secret (32 random bytes; at least 16)
// whose cookies live for ttl (at least one second; the granularity is one second).
// zenomt's server uses 95 s, Cumulus 120 s.
func NewCookieService(secret []byte, ttl time.Duration) (*CookieService, error) {
	if len(secret) < 16 {
		return nil, errors.New("cryptoutil: cookie secret shorter than 16 bytes")
	}
	if ttl < time.Second {
		return nil, errors.New("cryptoutil: cookie TTL below one second")
	}
	key := append([]byte(nil), secret...)
	s := &CookieService{ttl: int64(ttl / time.Second)}
	s.pool.New = func() any { return &cookieMAC{h: hmac.New(sha256.New, key)} }
	return s, nil
}

// TTL returns the cookie lifetime.
func (s *CookieService) TTL() time.Duration { return time.Duration(s.ttl) * time.Second }

// mac computes HMAC(secret, in[:n] ‖ extra) into m.sum.
func (m *cookieMAC) mac(n int, extra []byte) []byte {
	m.h.Reset()
	m.h.Write(m.in[:n])
	if len(extra) > 0 {
		m.h.Write(extra)
	}
	return m.h.Sum(m.sum[:0])
}

func putAddr(b []byte, addr netip.AddrPort) {
	a16 := addr.Addr().Unmap().As16()
	copy(b, a16[:])
	binary.BigEndian.PutUint16(b[16:], addr.Port())
}

// Mint returns the cookie for an IHello with the given tag from addr at time now.
func (s *CookieService) Mint(tag []byte, addr netip.AddrPort, now time.Time) [CookieLen]byte {
	var c [CookieLen]byte
	t := max(now.Unix(), 0)
	m := s.pool.Get().(*cookieMAC)
	m.in[0] = 'n'
	binary.BigEndian.PutUint64(m.in[1:9], uint64(t))
	copy(c[:cookieTimeEnd], m.in[1:9])
	copy(c[cookieTimeEnd:cookieNonceEnd], m.mac(9, tag))
	copy(m.in[9:25], c[cookieTimeEnd:cookieNonceEnd])
	m.in[0] = 'a'
	copy(c[cookieNonceEnd:cookieMACAEnd], m.mac(25, nil))
	m.in[0] = 'b'
	putAddr(m.in[25:], addr)
	copy(c[cookieMACAEnd:], m.mac(len(m.in), nil))
	s.pool.Put(m)
	return c
}

// Check verifies a cookie echoed in IIKeying from addr at time now. It returns nil,
// ErrCookieInvalid, ErrCookieExpired or ErrCookieAddress (see there). MACs are compared
// in constant time.
func (s *CookieService) Check(cookie []byte, addr netip.AddrPort, now time.Time) error {
	if len(cookie) != CookieLen {
		return ErrCookieInvalid
	}
	m := s.pool.Get().(*cookieMAC)
	defer s.pool.Put(m)
	m.in[0] = 'a'
	copy(m.in[1:25], cookie[:cookieNonceEnd])
	if subtle.ConstantTimeCompare(m.mac(25, nil)[:cookieMACLen], cookie[cookieNonceEnd:cookieMACAEnd]) != 1 {
		return ErrCookieInvalid
	}
	t := int64(binary.BigEndian.Uint64(cookie))
	n := now.Unix()
	switch {
	case t < 0 || t > n+int64(MaxCookieSkew/time.Second):
		return ErrCookieInvalid
	case n-t > s.ttl:
		return ErrCookieExpired
	}
	m.in[0] = 'b'
	putAddr(m.in[25:], addr)
	if subtle.ConstantTimeCompare(m.mac(len(m.in), nil)[:cookieMACLen], cookie[cookieMACAEnd:]) != 1 {
		return ErrCookieAddress
	}
	return nil
}
