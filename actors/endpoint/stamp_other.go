//go:build !linux

package endpoint

import (
	"errors"
	"net"
)

// stampSpace: kernel receive times are read on Linux only.
var stampSpace = 0

func enableStamps(*net.UDPConn) error {
	return errors.New("kernel receive timestamps are supported on Linux only")
}

func kernelStamp([]byte) (int64, bool) { return 0, false }
