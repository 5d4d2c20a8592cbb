//go:build race

package server_test

// raceEnabled: the race detector inflates a process's resident set with its shadow memory.
const raceEnabled = true
