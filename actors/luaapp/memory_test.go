package luaapp

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// heapShapes are the shapes scripts build, whose estimate TestEstimateTracksTheHeap checks.
var heapShapes = []struct{ name, src string }{
	{"small arrays", `keep = {} for i = 1, 100000 do keep[i] = {i} end`},
	{"records", `keep = {} for i = 1, 50000 do keep[i] = {name = "n" .. i, age = i, tags = {"a", "b"}} end`},
	{"strings", `keep = {} for i = 1, 20000 do keep[i] = string.rep("x", 1000) .. i end`},
	{"string-keyed map", `keep = {} for i = 1, 50000 do keep["key" .. i] = i end`},
	{"closures", `keep = {} for i = 1, 50000 do local n = i keep[i] = function() return n end end`},
}

// TestEstimateTracksTheHeap: what docs/applications.md says of the memory estimate — within
// about a factor of two of the Go heap a state holds — for the shapes scripts build.
//
// The heap a state holds is the live heap after building it less the one before, which
// means something only where nothing else frees memory in between. In this test's process
// other tests' servers and states stop after their tests returned and free their memory
// when they get the CPU, which once made the difference negative. So the state is built
// and the heap read in a child process that runs nothing else (TestHelperHeapProcess), and
// this process frees 64 MB between each pair of readings, the disturbance that must not be
// measured.
func TestEstimateTracksTheHeap(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHeapProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), heapChildEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() // only if the test fails before the child has finished
	var output []string
	seen := 0
	garbage := make([]byte, 64<<20)
	for out := bufio.NewScanner(outPipe); out.Scan(); {
		line := out.Text()
		output = append(output, line)
		if strings.HasPrefix(line, "BUILT ") {
			garbage = nil
			runtime.GC()
			garbage = make([]byte, 64<<20)
			io.WriteString(in, "read\n")
			continue
		}
		name, est, heap, ok := parseHeapLine(line)
		if !ok {
			continue
		}
		seen++
		ratio := float64(est) / float64(heap)
		t.Logf("%s: estimate %d KB, heap %d KB (×%.2f)", name, est>>10, heap>>10, ratio)
		if ratio < 0.5 || ratio > 2 {
			t.Errorf("%s: the estimate is %.2f× the heap the state holds, beyond a factor of two", name, ratio)
		}
	}
	runtime.KeepAlive(garbage)
	in.Close()
	if err := cmd.Wait(); err != nil || seen != len(heapShapes) {
		t.Fatalf("the heap measuring process (%v) reported %d shapes, want %d:\n%s", err, seen, len(heapShapes), strings.Join(output, "\n"))
	}
}

// heapChildEnv makes TestHelperHeapProcess measure.
const heapChildEnv = "LUAAPP_HEAP_CHILD"

// TestHelperHeapProcess is TestEstimateTracksTheHeap's child process. It does nothing
// unless LUAAPP_HEAP_CHILD=1. Then, alone in its process, it builds each of heapShapes in
// a state of its own, prints "BUILT <name>", waits for a line on stdin, and prints
// "HEAP <name>\t<estimate>\t<heap>": the heap is the live heap's growth from before the
// build to after the line, each read after a collection.
func TestHelperHeapProcess(t *testing.T) {
	if os.Getenv(heapChildEnv) != "1" {
		return
	}
	in := bufio.NewScanner(os.Stdin)
	for _, shape := range heapShapes {
		L := lua.NewState()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if err := L.DoString(shape.src); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("BUILT %s\n", shape.name)
		if !in.Scan() {
			t.Fatal("stdin closed before the reading")
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
		fmt.Printf("HEAP %s\t%d\t%d\n", shape.name, estimate(L, 0), heap)
		runtime.KeepAlive(L)
		L.Close()
	}
}

func parseHeapLine(line string) (name string, est, heap int64, ok bool) {
	rest, ok := strings.CutPrefix(line, "HEAP ")
	if !ok {
		return "", 0, 0, false
	}
	f := strings.Split(rest, "\t")
	if len(f) != 3 {
		return "", 0, 0, false
	}
	est, err1 := strconv.ParseInt(f[1], 10, 64)
	heap, err2 := strconv.ParseInt(f[2], 10, 64)
	return f[0], est, heap, err1 == nil && err2 == nil
}
