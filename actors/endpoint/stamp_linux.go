//go:build linux

package endpoint

import (
	"encoding/binary"
	"net"

	"golang.org/x/sys/unix"
)

// stampSpace is the control-message space a read slot needs for its kernel receive time.
var stampSpace = unix.CmsgSpace(16)

// enableStamps asks the kernel to record when each datagram of conn arrived
// (SO_TIMESTAMPNS); the reads then return that time as a control message.
func enableStamps(conn *net.UDPConn) error {
	return withFD(conn, func(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) })
}

// kernelStamp returns the kernel's receive time (Unix nanoseconds) found in a datagram's
// control messages, without allocating; ok is false if there is none.
func kernelStamp(oob []byte) (ns int64, ok bool) {
	for {
		level, typ, data, rest, ok := nextCmsg(oob)
		if !ok {
			return 0, false
		}
		if level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS {
			switch len(data) {
			case 16: // struct timespec of a 64-bit kernel ABI
				return int64(binary.NativeEndian.Uint64(data))*1e9 + int64(binary.NativeEndian.Uint64(data[8:])), true
			case 8: // 32-bit time_t and long
				return int64(int32(binary.NativeEndian.Uint32(data)))*1e9 + int64(int32(binary.NativeEndian.Uint32(data[4:]))), true
			}
			return 0, false
		}
		oob = rest
	}
}
