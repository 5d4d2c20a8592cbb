//go:build !linux

package endpoint

import "net"

// UDP segmentation offload is used on Linux only.
var segmentOOBSize = 0

func probeSegmentation(*net.UDPConn) bool     { return false }
func putSegmentSize(oob []byte, _ int) []byte { return oob }
func segmentationRefused(error) bool          { return false }
