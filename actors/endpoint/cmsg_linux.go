//go:build linux

package endpoint

import (
	"encoding/binary"
	"net"

	"golang.org/x/sys/unix"
)

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

// A control message header is a size_t length, then int32 level and type
// (unix.SizeofCmsghdr bytes); the data starts at unix.CmsgLen(0).
const cmsgLenSize = unix.SizeofCmsghdr - 8

// putCmsg writes the header of a control message of level and type with n bytes of data
// at the start of b (unix.CmsgSpace(n) bytes, zeroed) and returns the data's room.
func putCmsg(b []byte, level, typ int32, n int) []byte {
	clear(b[:unix.CmsgSpace(n)])
	if cmsgLenSize == 8 {
		binary.NativeEndian.PutUint64(b, uint64(unix.CmsgLen(n)))
	} else {
		binary.NativeEndian.PutUint32(b, uint32(unix.CmsgLen(n)))
	}
	binary.NativeEndian.PutUint32(b[cmsgLenSize:], uint32(level))
	binary.NativeEndian.PutUint32(b[cmsgLenSize+4:], uint32(typ))
	return b[unix.CmsgLen(0):unix.CmsgLen(n)]
}

// nextCmsg reads the control message at the start of oob: its level, type and data, and
// what follows it; ok is false at the end or on a malformed header.
func nextCmsg(oob []byte) (level, typ int32, data, rest []byte, ok bool) {
	if len(oob) < unix.SizeofCmsghdr {
		return 0, 0, nil, nil, false
	}
	var l uint64
	if cmsgLenSize == 8 {
		l = binary.NativeEndian.Uint64(oob)
	} else {
		l = uint64(binary.NativeEndian.Uint32(oob))
	}
	hdr := uint64(unix.CmsgLen(0))
	if l < hdr || l > uint64(len(oob)) {
		return 0, 0, nil, nil, false
	}
	level = int32(binary.NativeEndian.Uint32(oob[cmsgLenSize:]))
	typ = int32(binary.NativeEndian.Uint32(oob[cmsgLenSize+4:]))
	next := min(unix.CmsgSpace(int(l-hdr)), len(oob))
	return level, typ, oob[hdr:l], oob[next:], true
}
