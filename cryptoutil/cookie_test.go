package cryptoutil

import (
	"bytes"
	"net/netip"
	"sync"
	"testing"
	"time"
)

var (
	cookieSecret = bytes.Repeat([]byte{0xC0}, 32)
	cookieAddr   = netip.MustParseAddrPort("203.0.113.5:40000")
	cookieNow    = time.Unix(1_700_000_000, 0)
	cookieTag    = []byte("0123456789abcdef")
)

func newCookies(t testing.TB) *CookieService {
	t.Helper()
	s, err := NewCookieService(cookieSecret, 95*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCookieValid(t *testing.T) {
	s := newCookies(t)
	c := s.Mint(cookieTag, cookieAddr, cookieNow)
	if len(c) != 64 {
		t.Fatal(len(c))
	}
	for _, dt := range []time.Duration{0, time.Second, 95 * time.Second, 95*time.Second + 999*time.Millisecond, -2 * time.Second} {
		if err := s.Check(c[:], cookieAddr, cookieNow.Add(dt)); err != nil {
			t.Errorf("after %v: %v", dt, err)
		}
	}
	// Idempotent within a second (a retransmitted IHello), different across seconds
	// and tags.
	if s.Mint(cookieTag, cookieAddr, cookieNow.Add(500*time.Millisecond)) != c {
		t.Error("same tag and second, different cookie")
	}
	if s.Mint(cookieTag, cookieAddr, cookieNow.Add(time.Second)) == c {
		t.Error("next second, same cookie")
	}
	if s.Mint([]byte("another tag....."), cookieAddr, cookieNow) == c {
		t.Error("other tag, same cookie")
	}
	// IPv4 and IPv4-mapped IPv6 are the same address.
	mapped := netip.AddrPortFrom(netip.AddrFrom16(cookieAddr.Addr().As16()), cookieAddr.Port())
	if err := s.Check(c[:], mapped, cookieNow); err != nil {
		t.Errorf("mapped address: %v", err)
	}
	v6 := netip.MustParseAddrPort("[2001:db8::1]:1935")
	c6 := s.Mint(cookieTag, v6, cookieNow)
	if err := s.Check(c6[:], v6, cookieNow); err != nil {
		t.Errorf("IPv6: %v", err)
	}
	if s.TTL() != 95*time.Second {
		t.Error(s.TTL())
	}
}

func TestCookieRejections(t *testing.T) {
	s := newCookies(t)
	c := s.Mint(cookieTag, cookieAddr, cookieNow)
	for _, dt := range []time.Duration{96 * time.Second, time.Hour} {
		if err := s.Check(c[:], cookieAddr, cookieNow.Add(dt)); err != ErrCookieExpired {
			t.Errorf("after %v: %v, want ErrCookieExpired", dt, err)
		}
	}
	if err := s.Check(c[:], cookieAddr, cookieNow.Add(-3*time.Second)); err != ErrCookieInvalid {
		t.Errorf("from the future: %v", err)
	}
	for _, other := range []string{"203.0.113.5:40001", "203.0.113.6:40000", "[2001:db8::1]:40000"} {
		if err := s.Check(c[:], netip.MustParseAddrPort(other), cookieNow); err != ErrCookieAddress {
			t.Errorf("%s: %v, want ErrCookieAddress", other, err)
		}
	}
	// Expiry is reported before an address change (the cookie is useless either way).
	if err := s.Check(c[:], netip.MustParseAddrPort("198.51.100.1:1"), cookieNow.Add(time.Hour)); err != ErrCookieExpired {
		t.Errorf("expired and moved: %v", err)
	}
	for i := range c {
		for _, bit := range []byte{0x01, 0x80} {
			bad := c
			bad[i] ^= bit
			err := s.Check(bad[:], cookieAddr, cookieNow)
			want := ErrCookieInvalid
			if i >= 44 {
				want = ErrCookieAddress // MAC b is what binds the address
			}
			if err != want {
				t.Fatalf("flip byte %d bit %#x: %v, want %v", i, bit, err, want)
			}
		}
	}
	for _, n := range []int{0, 1, 63, 65, 128} {
		b := make([]byte, n)
		copy(b, c[:])
		if err := s.Check(b, cookieAddr, cookieNow); err != ErrCookieInvalid {
			t.Errorf("length %d: %v", n, err)
		}
	}
	other, err := NewCookieService(bytes.Repeat([]byte{0xC1}, 32), 95*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Check(c[:], cookieAddr, cookieNow); err != ErrCookieInvalid {
		t.Errorf("other secret: %v", err)
	}
}

func TestCookieServiceConfig(t *testing.T) {
	if _, err := NewCookieService(make([]byte, 15), time.Minute); err == nil {
		t.Error("short secret accepted")
	}
	if _, err := NewCookieService(cookieSecret, 500*time.Millisecond); err == nil {
		t.Error("sub-second TTL accepted")
	}
	// The service copies the secret.
	secret := bytes.Repeat([]byte{7}, 32)
	s, _ := NewCookieService(secret, time.Minute)
	c := s.Mint(cookieTag, cookieAddr, cookieNow)
	secret[0] = 8
	if err := s.Check(c[:], cookieAddr, cookieNow); err != nil {
		t.Errorf("secret not copied: %v", err)
	}
}

func TestCookieConcurrent(t *testing.T) {
	s := newCookies(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := netip.AddrPortFrom(cookieAddr.Addr(), uint16(1000+g))
			for i := range 200 {
				now := cookieNow.Add(time.Duration(i) * time.Second)
				c := s.Mint(cookieTag, addr, now)
				if err := s.Check(c[:], addr, now); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestCookieAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	s := newCookies(t)
	c := s.Mint(cookieTag, cookieAddr, cookieNow)
	if a := testing.AllocsPerRun(100, func() { s.Mint(cookieTag, cookieAddr, cookieNow) }); a != 0 {
		t.Errorf("Mint allocates %v times", a)
	}
	if a := testing.AllocsPerRun(100, func() { _ = s.Check(c[:], cookieAddr, cookieNow) }); a != 0 {
		t.Errorf("Check allocates %v times", a)
	}
}
