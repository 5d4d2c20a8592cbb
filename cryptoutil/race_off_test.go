//go:build !race

package cryptoutil

const raceEnabled = false
