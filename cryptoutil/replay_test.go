package cryptoutil

import "testing"

// refWindow is rtmfp-cpp's rule written naively: a set of seen numbers, and after
// accepting n > 32 every number 0 … n−32 counts as seen.
type refWindow struct {
	seen  map[uint64]bool
	floor uint64 // numbers < floor are seen
}

func (r *refWindow) check(n uint64) bool { return n >= r.floor && !r.seen[n] }
func (r *refWindow) accept(n uint64) {
	r.seen[n] = true
	if n > MaxSequenceGap && n-MaxSequenceGap+1 > r.floor {
		r.floor = n - MaxSequenceGap + 1
	}
}

func TestReplayWindowEdges(t *testing.T) {
	var w ReplayWindow
	if _, ok := w.Highest(); ok {
		t.Fatal("empty window has a highest number")
	}
	for _, n := range []uint64{0, 1<<64 - 1, 12345} {
		if !w.Check(n) {
			t.Errorf("empty window rejects %d", n)
		}
	}
	steps := []struct {
		n  uint64
		ok bool
	}{
		{0, true}, {0, false}, // duplicate
		{5, true}, {3, true}, {3, false}, {1, true}, {2, true}, {4, true}, {5, false},
		{32, true}, {0, false}, {6, true}, // H = 32: nothing written off yet, 6 never seen
		{33, true},            // H = 33: 0 and 1 written off
		{1, false}, {7, true}, // 7 = H−26, unseen
		{100, true},                                      // big jump
		{68, false}, {69, true}, {99, true}, {99, false}, // H−32 rejected, H−31 accepted once
		{100, false}, {101, true}, {69, false}, // 69 = 101−32 now written off
		{1<<64 - 1, true}, {1<<64 - 2, true}, {1<<64 - 33, false}, {1<<64 - 32, true},
	}
	for i, s := range steps {
		if got := w.CheckAndAccept(s.n); got != s.ok {
			t.Fatalf("step %d: CheckAndAccept(%d) = %v, want %v", i, s.n, got, s.ok)
		}
	}
	if h, ok := w.Highest(); !ok || h != 1<<64-1 {
		t.Errorf("Highest = %d, %v", h, ok)
	}
}

// A rejected number leaves the window unchanged; Check never records.
func TestReplayWindowCheckIsPure(t *testing.T) {
	var w ReplayWindow
	w.Accept(10)
	for range 3 {
		if !w.Check(11) || !w.Check(9) || w.Check(10) {
			t.Fatal("Check changed the window")
		}
	}
}

func TestReplayWindowMatchesReference(t *testing.T) {
	// A deterministic walk with reordering, duplicates and jumps.
	var w ReplayWindow
	ref := refWindow{seen: map[uint64]bool{}}
	x := uint64(0x9E3779B97F4A7C15)
	base := uint64(0)
	for i := range 200000 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		var n uint64
		switch x % 10 {
		case 0: // forward jump
			base += x >> 58
			n = base
		case 1: // far in the past
			n = base - min(base, 30+x>>60)
		default: // near the front, reordered
			base++
			n = base - min(base, (x>>8)%40)
		}
		want := ref.check(n)
		if got := w.Check(n); got != want {
			t.Fatalf("step %d: Check(%d) = %v, reference %v (highest %v)", i, n, got, want, w.highest)
		}
		if want {
			w.Accept(n)
			ref.accept(n)
		}
	}
}
