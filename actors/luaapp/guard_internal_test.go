package luaapp

import (
	"runtime"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/clock"
)

// TestWalkGarbageIsNotGrowth: what a walk allocates itself (its maps and stack, about half
// the estimate of a big state) is not the state's growth. Taken for it, the next look at
// the heap walked the state again at once, walk after walk near the limit. Not parallel:
// it reads the process heap, which nothing else may grow by a quarter of the limit
// between the walk and the look.
func TestWalkGarbageIsNotGrowth(t *testing.T) {
	const limit = 64 << 20
	g := newGuard(clock.Real(), time.Minute, limit)
	defer g.stop()
	var walkGarbage [][]byte
	g.estimate = func() int64 {
		walkGarbage = append(walkGarbage, make([]byte, limit)) // kept: no collection may hide it
		return 1 << 20
	}
	g.arm()
	defer g.disarm()
	if !g.check() {
		t.Fatal("a 1 MB state was found over its 64 MB limit")
	}
	heap.read() // the sampler's next reading
	if g.grown() {
		t.Errorf("after a walk that allocated %d MB, the heap look walks the unchanged state again", limit>>20)
	}
	runtime.KeepAlive(walkGarbage)
}
