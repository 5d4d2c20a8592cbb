package server_test

import (
	"flag"
	"os"
	"testing"

	"github.com/actorrtmfp/actorrtmfp/actors/internal/testpar"
)

// testParallel is how many of the package's parallel tests run at once when the user did
// not say (-parallel). go test's default is GOMAXPROCS, but these tests mostly wait: on
// loopback round trips, on streams paced on the wall clock, on ffmpeg, on paced floods;
// each uses a fraction of a core. The tests that saturate the cores (the memory attack,
// 500 clients' handshakes) or count goroutines are not parallel: Go runs them first, each
// alone. Under the race detector (testpar) go test's default stays. All at once starved
// one another on a busy machine (dials past their deadlines, fast players behind a slow
// one) while the slow-subscriber tests still streamed on the wall clock; since they pace
// the server's clock and the send queue's per-acknowledgement work stopped growing with
// its length, sixteen held beside four CPU hogs (docs/benchmarks.md, "Test suite wall
// time").
const testParallel = 16

func TestMain(m *testing.M) {
	flag.Parse()
	testpar.Default(testParallel)
	if os.Getenv(helperServerEnv) == "1" {
		// A helper server process (TestHelperServerProcess) needs no clips and ends with
		// os.Exit, which would leave their folder behind.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "actorrtmfp-server-test-")
	if err != nil {
		panic(err)
	}
	clips.dir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
