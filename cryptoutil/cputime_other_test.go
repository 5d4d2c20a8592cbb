//go:build !linux

package cryptoutil

import "testing"

// reportCPUPerOp runs loop; the CPU time per operation is measured on Linux only.
func reportCPUPerOp(_ *testing.B, loop func()) { loop() }
