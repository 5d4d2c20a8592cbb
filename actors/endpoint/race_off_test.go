//go:build !race

package endpoint

// raceEnabled scales the lossy-link tests: the race detector slows every actor ~10×.
const raceEnabled = false
