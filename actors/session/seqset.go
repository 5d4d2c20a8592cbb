package session

// seqRange is an inclusive range of sequence numbers.
type seqRange struct{ from, to uint64 }

// seqSet is a set of sequence numbers kept as sorted, disjoint, non-adjacent inclusive
// ranges. A receive flow uses it for what it has received or been told to skip (the
// forward sequence number): its first range, which always starts at 0, ends at the
// cumulative acknowledgement, and the ranges after it are what a Data Acknowledgement
// Ranges chunk reports.
//
// The number of ranges is what costs memory, and a hostile sender controls it; callers
// check Len against a limit before adding isolated numbers.
type seqSet struct {
	r []seqRange
}

// Len returns the number of disjoint ranges.
func (s *seqSet) Len() int { return len(s.r) }

// Range returns the i-th range.
func (s *seqSet) Range(i int) seqRange { return s.r[i] }

// Contains reports whether n is in the set.
func (s *seqSet) Contains(n uint64) bool {
	i := s.search(n)
	return i < len(s.r) && s.r[i].from <= n
}

// search returns the index of the first range whose end is ≥ n.
func (s *seqSet) search(n uint64) int {
	lo, hi := 0, len(s.r)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.r[m].to < n {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// Add inserts [from, to] (from ≤ to), merging with overlapping or adjacent ranges.
func (s *seqSet) Add(from, to uint64) {
	if from > to {
		return
	}
	// First range that could touch [from, to]: its end ≥ from−1.
	lo := 0
	if from > 0 {
		lo = s.search(from - 1)
	}
	hi := lo
	for hi < len(s.r) && (to == ^uint64(0) || s.r[hi].from <= to+1) {
		hi++
	}
	if lo == hi {
		s.r = append(s.r, seqRange{})
		copy(s.r[lo+1:], s.r[lo:])
		s.r[lo] = seqRange{from, to}
		return
	}
	nr := seqRange{min(from, s.r[lo].from), max(to, s.r[hi-1].to)}
	s.r[lo] = nr
	s.r = append(s.r[:lo+1], s.r[hi:]...)
}

// Cumulative returns the end of the range that starts at 0, i.e. the highest n such that
// every number ≤ n is in the set, and false if 0 itself is not in the set.
func (s *seqSet) Cumulative() (uint64, bool) {
	if len(s.r) == 0 || s.r[0].from != 0 {
		return 0, false
	}
	return s.r[0].to, true
}

// Reset empties the set, keeping its storage.
func (s *seqSet) Reset() { s.r = s.r[:0] }
