//go:build !race

package testpar

// Race reports whether the binary was built with the race detector.
const Race = false
