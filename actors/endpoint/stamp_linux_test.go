//go:build linux

package endpoint

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// stampMessage builds the control messages a read returns: an unrelated one first, then
// the receive time (the kernel's own are read in TestKernelStampsAreArrivalTimes).
func stampMessage(sec, nsec int64) []byte {
	b := make([]byte, unix.CmsgSpace(1)+unix.CmsgSpace(16))
	putCmsg(b, unix.IPPROTO_IP, unix.IP_TOS, 1)
	ts := putCmsg(b[unix.CmsgSpace(1):], unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, 16)
	binary.NativeEndian.PutUint64(ts, uint64(sec))
	binary.NativeEndian.PutUint64(ts[8:], uint64(nsec))
	return b
}

// TestKernelStampParse finds the receive time after another control message and refuses
// truncated or malformed ones.
func TestKernelStampParse(t *testing.T) {
	if unix.SizeofCmsghdr != 16 {
		t.Skip("64-bit layout only")
	}
	oob := stampMessage(1_700_000_000, 123_456_789)
	if ns, ok := kernelStamp(oob); !ok || ns != 1_700_000_000_123_456_789 {
		t.Fatalf("got %d, %v", ns, ok)
	}
	for _, cut := range []int{0, 8, 20, len(oob) - 1} {
		if _, ok := kernelStamp(oob[:cut]); ok {
			t.Errorf("a stamp found in the first %d of %d bytes", cut, len(oob))
		}
	}
	bad := append([]byte(nil), oob...)
	binary.NativeEndian.PutUint64(bad, 4) // a length shorter than a header
	if _, ok := kernelStamp(bad); ok {
		t.Error("a stamp found after a malformed header")
	}
}

// FuzzKernelStamp: any control bytes are parsed without panicking.
func FuzzKernelStamp(f *testing.F) {
	f.Add(stampMessage(1, 2))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, oob []byte) {
		kernelStamp(oob)
	})
}
