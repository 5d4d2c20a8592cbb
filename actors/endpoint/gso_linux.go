//go:build linux

package endpoint

import (
	"encoding/binary"
	"errors"
	"net"

	"golang.org/x/sys/unix"
)

// segmentOOBSize is the control-message space of a UDP_SEGMENT option.
var segmentOOBSize = unix.CmsgSpace(2)

// probeSegmentation reports whether the kernel offers UDP segmentation offload (GSO,
// Linux 4.18) on conn: one sendmmsg entry may then carry a run of datagrams of one size
// to one destination, which the kernel (or the network card) cuts into datagrams.
func probeSegmentation(conn *net.UDPConn) bool {
	return withFD(conn, func(fd int) error {
		_, err := unix.GetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_SEGMENT)
		return err
	}) == nil
}

// putSegmentSize writes a UDP_SEGMENT control message for segments of size bytes into
// oob (segmentOOBSize bytes) and returns it.
func putSegmentSize(oob []byte, size int) []byte {
	binary.NativeEndian.PutUint16(putCmsg(oob, unix.IPPROTO_UDP, unix.UDP_SEGMENT, 2), uint16(size))
	return oob[:segmentOOBSize]
}

// segmentationRefused reports whether a send failed because of segmentation itself (a
// device without checksum offload, a path through IPsec, an old kernel), after which the
// writer sends datagrams one by one.
func segmentationRefused(err error) bool {
	return errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOPROTOOPT) || errors.Is(err, unix.EOPNOTSUPP)
}
