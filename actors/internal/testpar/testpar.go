// Package testpar sets how many parallel tests a test binary runs at once when the
// command line does not say, for packages whose tests mostly wait (on loopback round
// trips, on a simulated lossy link, on streams paced on the wall clock, on ffmpeg): go
// test's default, GOMAXPROCS, leaves the cores idle while two of them wait.
//
// Under the race detector the default stays: the detector makes such tests CPU-bound
// (it costs each several times its CPU), so more at once would only stretch each test's
// wall-clock time against the deadlines and the media policies it checks.
package testpar

import (
	"flag"
	"strconv"
	"testing"
)

// Default makes n the value of -test.parallel unless it was given or the race detector
// is on. Call it from TestMain after flag.Parse.
func Default(n int) {
	if Race || n < 1 {
		return
	}
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if set {
		return
	}
	if err := flag.Set("test.parallel", strconv.Itoa(n)); err != nil {
		panic("testpar: " + err.Error())
	}
}

// Run is a TestMain's body for a package that needs nothing else: it parses the flags,
// applies Default(n) and runs the tests, returning their exit code.
func Run(m *testing.M, n int) int {
	flag.Parse()
	Default(n)
	return m.Run()
}
