package server_test

import (
	"flag"
	"os"
	"strconv"
	"testing"
)

// testParallel is how many of the package's parallel tests run at once when the user did
// not say (-parallel). go test's default is GOMAXPROCS, but these tests mostly wait: on
// loopback round trips, on streams paced on the wall clock, on ffmpeg; each uses a fraction
// of a core. The tests that saturate the cores (floods, a memory attack, goroutine
// counting) are not parallel: Go runs them first, each alone. Under the race detector the
// tests are CPU-bound (it costs each several times its CPU), so more at once would only
// stretch each test's wall-clock time against the streams' media policies: go test's
// default stays.
const testParallel = 8

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set && !raceEnabled {
		if err := flag.Set("test.parallel", strconv.Itoa(testParallel)); err != nil {
			panic(err)
		}
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
