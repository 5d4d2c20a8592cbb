package luaapp

import (
	"runtime"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// TestEstimateTracksTheHeap: what docs/applications.md says of the memory estimate — within
// about a factor of two of the Go heap a state holds — for the shapes scripts build. Not
// parallel: it reads the process heap.
func TestEstimateTracksTheHeap(t *testing.T) {
	for name, src := range map[string]string{
		"small arrays":     `keep = {} for i = 1, 100000 do keep[i] = {i} end`,
		"records":          `keep = {} for i = 1, 50000 do keep[i] = {name = "n" .. i, age = i, tags = {"a", "b"}} end`,
		"strings":          `keep = {} for i = 1, 20000 do keep[i] = string.rep("x", 1000) .. i end`,
		"string-keyed map": `keep = {} for i = 1, 50000 do keep["key" .. i] = i end`,
		"closures":         `keep = {} for i = 1, 50000 do local n = i keep[i] = function() return n end end`,
	} {
		L := lua.NewState()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if err := L.DoString(src); err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
		est := estimate(L, 0)
		ratio := float64(est) / float64(heap)
		t.Logf("%s: estimate %d KB, heap %d KB (×%.2f)", name, est>>10, heap>>10, ratio)
		if ratio < 0.5 || ratio > 2 {
			t.Errorf("%s: the estimate is %.2f× the heap the state holds, beyond a factor of two", name, ratio)
		}
		runtime.KeepAlive(L)
		L.Close()
	}
}
