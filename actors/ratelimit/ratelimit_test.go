package ratelimit

import (
	"net/netip"
	"testing"
	"time"
)

func TestBucketBurstThenRate(t *testing.T) {
	var b Bucket
	now := time.Unix(1000, 0)
	for i := range 4 {
		if !b.Take(2, 4, now) {
			t.Fatalf("take %d of a burst of 4 refused", i)
		}
	}
	if b.Take(2, 4, now) {
		t.Fatal("a fifth take in the same instant succeeded")
	}
	if !b.Take(2, 4, now.Add(500*time.Millisecond)) {
		t.Fatal("half a second at 2/s did not give a token")
	}
	if b.Take(2, 4, now.Add(500*time.Millisecond)) {
		t.Fatal("one token gave two takes")
	}
	if !b.Take(2, 4, now.Add(time.Hour)) || b.tokens != 3 {
		t.Fatalf("after an hour the bucket holds %v tokens after a take, want 3 (capped at the burst)", b.tokens)
	}
}

func TestPerAddressBoundsItsTable(t *testing.T) {
	l := NewPerAddress(1, 1, 2)
	now := time.Unix(1000, 0)
	a, b, c := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	if !l.Allow(a, now) || !l.Allow(b, now) {
		t.Fatal("first takes refused")
	}
	if l.Allow(a, now) {
		t.Fatal("a's second take in the same instant succeeded")
	}
	if l.Allow(c, now) {
		t.Fatal("a third address got a bucket while both others were busy")
	}
	// A second later both buckets are full again: they are forgotten for the newcomer.
	if !l.Allow(c, now.Add(time.Second)) {
		t.Fatal("a third address was refused although the others were idle")
	}
	if l.Len() != 1 {
		t.Fatalf("%d buckets, want only the newcomer's", l.Len())
	}
}

func TestSource(t *testing.T) {
	for _, c := range []struct{ addr, want string }{
		{"192.0.2.7", "192.0.2.7/32"},
		{"::ffff:192.0.2.7", "192.0.2.7/32"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
	} {
		if got := Source(netip.MustParseAddr(c.addr)); got.String() != c.want {
			t.Errorf("Source(%s) = %s, want %s", c.addr, got, c.want)
		}
	}
	if Source(netip.MustParseAddr("2001:db8:1:2::1")) == Source(netip.MustParseAddr("2001:db8:1:3::1")) {
		t.Error("two /64s share a source")
	}
}
