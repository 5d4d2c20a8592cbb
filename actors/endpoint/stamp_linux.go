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

// withFD runs fn on conn's file descriptor.
func withFD(conn *net.UDPConn, fn func(fd int) error) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// kernelStamp returns the kernel's receive time (Unix nanoseconds) found in a datagram's
// control messages, without allocating; ok is false if there is none.
func kernelStamp(oob []byte) (ns int64, ok bool) {
	lenSize := unix.SizeofCmsghdr - 8 // the length field is a size_t; level and type int32
	for len(oob) >= unix.SizeofCmsghdr {
		var l uint64
		if lenSize == 8 {
			l = binary.NativeEndian.Uint64(oob)
		} else {
			l = uint64(binary.NativeEndian.Uint32(oob))
		}
		level := int32(binary.NativeEndian.Uint32(oob[lenSize:]))
		typ := int32(binary.NativeEndian.Uint32(oob[lenSize+4:]))
		hdr := uint64(unix.CmsgLen(0))
		if l < hdr || l > uint64(len(oob)) {
			return 0, false
		}
		if level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS {
			data := oob[hdr:l]
			switch len(data) {
			case 16: // struct timespec of a 64-bit kernel ABI
				return int64(binary.NativeEndian.Uint64(data))*1e9 + int64(binary.NativeEndian.Uint64(data[8:])), true
			case 8: // 32-bit time_t and long
				return int64(int32(binary.NativeEndian.Uint32(data)))*1e9 + int64(int32(binary.NativeEndian.Uint32(data[4:]))), true
			}
			return 0, false
		}
		next := unix.CmsgSpace(int(l - hdr))
		if next <= 0 || next > len(oob) {
			return 0, false
		}
		oob = oob[next:]
	}
	return 0, false
}
