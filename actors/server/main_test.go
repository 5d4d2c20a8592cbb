package server_test

import (
	"flag"
	"os"
	"testing"

	"github.com/actorrtmfp/actorrtmfp/actors/internal/testpar"
)

// testParallel is how many of the package's parallel tests run at once when the user did
// not say (-parallel). go test's default is GOMAXPROCS, but these tests mostly wait: on
// loopback round trips, on streams paced on the wall clock, on ffmpeg; each uses a fraction
// of a core. The tests that saturate the cores (floods, a memory attack, goroutine
// counting) are not parallel: Go runs them first, each alone. Under the race detector
// (testpar) go test's default stays. More than eight at once (all of them, or the floods
// among them) starved one another on a busy machine: dials past their deadlines, a burst
// of lookups spread thin enough to pass a rate limit, fast players behind a slow one.
const testParallel = 8

func TestMain(m *testing.M) {
	flag.Parse()
	testpar.Default(testParallel)
	dir, err := os.MkdirTemp("", "actorrtmfp-server-test-")
	if err != nil {
		panic(err)
	}
	clips.dir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
