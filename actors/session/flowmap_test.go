package session

import (
	"maps"
	"math/rand/v2"
	"testing"
)

// TestFlowMapMatchesMap: random operations on a flowMap and on a Go map agree, across
// the switch from the inline list to a map; deleting during iteration works.
func TestFlowMapMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var fm flowMap[uint64, int]
		ref := map[uint64]int{}
		keys := uint64(3 + round%20)
		for op := range 300 {
			k := r.Uint64N(keys)
			switch r.IntN(4) {
			case 0, 1:
				fm.set(k, op)
				ref[k] = op
			case 2:
				fm.del(k)
				delete(ref, k)
			case 3:
				// delete every odd value while iterating
				seen := map[uint64]int{}
				for k, v := range fm.all() {
					seen[k] = v
					if v%2 == 1 {
						fm.del(k)
					}
				}
				if !maps.Equal(seen, ref) {
					t.Fatalf("round %d op %d: iteration saw %v, want %v", round, op, seen, ref)
				}
				maps.DeleteFunc(ref, func(_ uint64, v int) bool { return v%2 == 1 })
			}
			if fm.len() != len(ref) {
				t.Fatalf("round %d op %d: len %d, want %d", round, op, fm.len(), len(ref))
			}
			for k := range keys {
				want, ok := ref[k]
				if got := fm.get(k); got != want || !ok && got != 0 {
					t.Fatalf("round %d op %d: get(%d) = %d, want %d", round, op, k, got, want)
				}
			}
		}
		fm.clear()
		if fm.len() != 0 || fm.get(0) != 0 {
			t.Fatal("not empty after clear")
		}
	}
}
