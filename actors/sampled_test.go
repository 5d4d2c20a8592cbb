package actors

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestSampledLogsOneLinePerMessagePerSecond: a thousand refusals in a burst make one
// line per message (two if the burst straddles a second), not a thousand.
func TestSampledLogsOneLinePerMessagePerSecond(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	log := Sampled(zap.New(core))
	for range 1000 {
		log.Warn("refused a")
		log.Warn("refused b")
	}
	for _, msg := range []string{"refused a", "refused b"} {
		if n := logs.FilterMessage(msg).Len(); n < 1 || n > 2 {
			t.Fatalf("%d lines of %q for a burst of 1,000, want 1 (2 across a second)", n, msg)
		}
	}
}
