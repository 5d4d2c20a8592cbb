//go:build race

package cryptoutil

// raceEnabled: the race detector makes sync.Pool drop items, so allocation counts of
// pooled code are meaningless under -race.
const raceEnabled = true
