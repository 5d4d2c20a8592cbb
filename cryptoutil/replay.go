package cryptoutil

// MaxSequenceGap is how far behind the highest accepted session sequence number a
// number may be and still be accepted (rtmfp-cpp's MAX_SSEQ_GAP).
const MaxSequenceGap = 32

// ReplayWindow remembers which session sequence numbers have been received, with
// rtmfp-cpp's rule (hmac-sseq-and-groups.md §3.6). With H the highest number accepted
// so far:
//
//	n >  H            accepted (no limit on a forward jump)
//	n == H            rejected (already seen)
//	H−31 ≤ n ≤ H−1    accepted once each
//	n ≤ H−32          rejected (when H > 32; below that nothing is written off yet)
//
//	bit i of seen = "H−i was accepted"      (i = 0 … 63, only 0 … 32 matter)
//	  63                               32 31                             1 0
//	+-----------------------------------+--------------------------------+-+
//	| ignored                           | H−31 … H−1                     |H|
//	+-----------------------------------+--------------------------------+-+
//
// The zero value is an empty window that accepts anything. It uses O(1) memory and is
// not safe for concurrent use.
type ReplayWindow struct {
	highest uint64
	seen    uint64
	started bool
}

// Check reports whether n would be accepted, without recording it.
func (w *ReplayWindow) Check(n uint64) bool {
	if !w.started || n > w.highest {
		return true
	}
	d := w.highest - n
	if w.highest > MaxSequenceGap && n <= w.highest-MaxSequenceGap {
		return false
	}
	// Here d ≤ 32: either H ≤ 32 (so d ≤ H ≤ 32) or n > H−32.
	return w.seen&(1<<d) == 0
}

// Accept records n as received. Call it only after Check(n) returned true and the
// packet carrying n was authenticated.
func (w *ReplayWindow) Accept(n uint64) {
	switch {
	case !w.started:
		w.started, w.highest, w.seen = true, n, 1
	case n > w.highest:
		if shift := n - w.highest; shift < 64 {
			w.seen = w.seen<<shift | 1
		} else {
			w.seen = 1
		}
		w.highest = n
	default:
		if d := w.highest - n; d < 64 {
			w.seen |= 1 << d
		}
	}
}

// CheckAndAccept records n and reports true if n is acceptable, or reports false and
// leaves the window unchanged.
func (w *ReplayWindow) CheckAndAccept(n uint64) bool {
	if !w.Check(n) {
		return false
	}
	w.Accept(n)
	return true
}

// Highest returns the highest number accepted so far and whether any was.
func (w *ReplayWindow) Highest() (uint64, bool) { return w.highest, w.started }
