package member

import (
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/codec/group"
)

func newTestStream() *stream {
	return &stream{frags: map[uint64]*frag{}, missing: map[uint64]*miss{}, lane: -1}
}

func storeID(m *member, s *stream, id uint64, size int) {
	m.store(s, &frag{f: group.Fragment{ID: id, Data: make([]byte, size)}, at: time.Unix(0, 0)})
}

// The lowest id kept is the lowest id still held after every eviction, whatever order the
// fragments came in (pulled ones arrive late, older than those pushed) and whatever holes the
// stream has.
func TestEvictionKeepsTheLowestIDHeld(t *testing.T) {
	m := &member{}
	s := newTestStream()
	for _, id := range []uint64{5, 3, 4, 10, 8, 20, 2, 12, 11} {
		storeID(m, s, id, 1)
	}
	for len(s.order) > 0 {
		m.evictOldest(s)
		var want uint64
		for id := range s.frags {
			if want == 0 || id < want {
				want = id
			}
		}
		if s.lo != want {
			t.Fatalf("after evicting up to %v: lo %d, want %d (held %d)", s.order, s.lo, want, len(s.frags))
		}
	}
	if s.bytes != 0 || len(s.frags) != 0 {
		t.Fatalf("all evicted: %d bytes, %d fragments left", s.bytes, len(s.frags))
	}
	// A stream that starts again after being emptied keeps its lowest id.
	storeID(m, s, 30, 1)
	if s.lo != 30 {
		t.Fatalf("lo %d after a store into an empty stream, want 30", s.lo)
	}
}

// The byte bound evicts in arrival order and the lowest id follows.
func TestByteBoundEvictsInArrivalOrder(t *testing.T) {
	m := &member{}
	s := newTestStream()
	const size = 1 << 20
	n := uint64(maxStreamBytes/size) + 3
	for id := uint64(1); id <= n; id++ {
		storeID(m, s, id, size)
	}
	if s.bytes > maxStreamBytes {
		t.Fatalf("%d bytes kept, bound %d", s.bytes, maxStreamBytes)
	}
	if s.lo != 4 || s.frags[3] != nil || s.frags[4] == nil {
		t.Fatalf("lo %d, want 4 (the three oldest gone)", s.lo)
	}
}

// A window's worth of fragments given up at once, as a tick does when the window passes.
func BenchmarkWindowEviction(b *testing.B) {
	m := &member{}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := newTestStream()
		for id := uint64(1); id <= 20000; id++ {
			storeID(m, s, id, 0)
		}
		b.StartTimer()
		for len(s.order) > 0 {
			m.evictOldest(s)
		}
	}
}
