package session

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// ranges returns the set's ranges as a slice, for comparisons.
func (s *seqSet) ranges() []seqRange { return slices.Clone(s.r) }

// checkSeqSet verifies the representation invariant: sorted, disjoint, not adjacent.
func checkSeqSet(t testing.TB, s *seqSet) {
	t.Helper()
	for i, r := range s.r {
		if r.from > r.to {
			t.Fatalf("range %d inverted: %+v", i, r)
		}
		if i > 0 && s.r[i-1].to+1 >= r.from {
			t.Fatalf("ranges %d and %d overlap or touch: %+v %+v", i-1, i, s.r[i-1], r)
		}
	}
}

func TestSeqSetAddMergesAndKeepsOrder(t *testing.T) {
	cases := []struct {
		name string
		adds [][2]uint64
		want []seqRange
	}{
		{"empty add ignored", [][2]uint64{{5, 4}}, nil},
		{"single", [][2]uint64{{3, 3}}, []seqRange{{3, 3}}},
		{"disjoint sorted", [][2]uint64{{10, 12}, {1, 2}, {5, 5}}, []seqRange{{1, 2}, {5, 5}, {10, 12}}},
		{"adjacent below merges", [][2]uint64{{5, 6}, {3, 4}}, []seqRange{{3, 6}}},
		{"adjacent above merges", [][2]uint64{{5, 6}, {7, 9}}, []seqRange{{5, 9}}},
		{"fills a one-wide hole", [][2]uint64{{1, 3}, {5, 7}, {4, 4}}, []seqRange{{1, 7}}},
		{"overlap", [][2]uint64{{1, 5}, {3, 8}}, []seqRange{{1, 8}}},
		{"contained", [][2]uint64{{1, 10}, {3, 4}}, []seqRange{{1, 10}}},
		{"swallows several", [][2]uint64{{2, 2}, {4, 4}, {6, 6}, {9, 9}, {0, 7}}, []seqRange{{0, 7}, {9, 9}}},
		{"zero start", [][2]uint64{{0, 0}, {1, 1}}, []seqRange{{0, 1}}},
		{"top of range", [][2]uint64{{^uint64(0) - 1, ^uint64(0)}, {5, 5}, {0, ^uint64(0) - 2}}, []seqRange{{0, ^uint64(0)}}},
		{"max does not wrap", [][2]uint64{{0, 0}, {^uint64(0), ^uint64(0)}}, []seqRange{{0, 0}, {^uint64(0), ^uint64(0)}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var s seqSet
			for _, a := range c.adds {
				s.Add(a[0], a[1])
				checkSeqSet(t, &s)
			}
			if got := s.ranges(); !slices.Equal(got, c.want) {
				t.Fatalf("ranges %v, want %v", got, c.want)
			}
			if s.Len() != len(c.want) {
				t.Fatalf("Len %d, want %d", s.Len(), len(c.want))
			}
		})
	}
}

func TestSeqSetContainsAndCumulative(t *testing.T) {
	var s seqSet
	if _, ok := s.Cumulative(); ok {
		t.Fatal("empty set has a cumulative value")
	}
	s.Add(1, 4)
	if _, ok := s.Cumulative(); ok {
		t.Fatal("a set without 0 has a cumulative value")
	}
	s.Add(0, 0)
	s.Add(7, 9)
	if c, ok := s.Cumulative(); !ok || c != 4 {
		t.Fatalf("Cumulative = %d, %v; want 4, true", c, ok)
	}
	for n, want := range map[uint64]bool{0: true, 1: true, 4: true, 5: false, 6: false, 7: true, 9: true, 10: false, ^uint64(0): false} {
		if s.Contains(n) != want {
			t.Errorf("Contains(%d) = %v", n, !want)
		}
	}
	if r := s.Range(1); r != (seqRange{7, 9}) {
		t.Fatalf("Range(1) = %+v", r)
	}
	s.Reset()
	if s.Len() != 0 || s.Contains(0) {
		t.Fatal("Reset left ranges")
	}
}

// TestSeqSetMatchesNaiveModel runs random additions against a map and compares every
// membership query, the cumulative value and the canonical range form.
func TestSeqSetMatchesNaiveModel(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		var s seqSet
		model := map[uint64]bool{}
		const universe = 80
		for op := 0; op < 60; op++ {
			from := rng.Uint64N(universe)
			to := from + rng.Uint64N(6)
			if rng.IntN(8) == 0 {
				to = from - 1 // empty: ignored (from > to) unless from is 0, where it wraps
				if from == 0 {
					to = 0
				}
			}
			s.Add(from, to)
			for n := from; n <= to && to >= from; n++ {
				model[n] = true
			}
			checkSeqSet(t, &s)
			for n := uint64(0); n < universe+8; n++ {
				if s.Contains(n) != model[n] {
					t.Fatalf("seed %d op %d: Contains(%d) = %v, model %v (ranges %v)", seed, op, n, s.Contains(n), model[n], s.r)
				}
			}
			// Canonical form: rebuild the ranges from the model.
			var want []seqRange
			for n := uint64(0); n < universe+8; n++ {
				if !model[n] {
					continue
				}
				if k := len(want); k > 0 && want[k-1].to+1 == n {
					want[k-1].to = n
				} else {
					want = append(want, seqRange{n, n})
				}
			}
			if !slices.Equal(s.ranges(), want) {
				t.Fatalf("seed %d op %d: ranges %v, want %v", seed, op, s.r, want)
			}
			cum, ok := s.Cumulative()
			if ok != model[0] {
				t.Fatalf("Cumulative ok %v, model has 0: %v", ok, model[0])
			}
			if ok {
				n := uint64(0)
				for model[n+1] {
					n++
				}
				if cum != n {
					t.Fatalf("Cumulative %d, want %d", cum, n)
				}
			}
		}
	}
}
