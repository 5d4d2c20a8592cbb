//go:build linux

package endpoint

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// stampMessage builds the control messages a read returns: an unrelated one first, then
// the receive time.
func stampMessage(sec, nsec int64) []byte {
	put := func(b []byte, level, typ int32, data []byte) []byte {
		h := make([]byte, unix.CmsgSpace(len(data)))
		binary.NativeEndian.PutUint64(h, uint64(unix.CmsgLen(len(data))))
		binary.NativeEndian.PutUint32(h[8:], uint32(level))
		binary.NativeEndian.PutUint32(h[12:], uint32(typ))
		copy(h[unix.CmsgLen(0):], data)
		return append(b, h...)
	}
	ts := make([]byte, 16)
	binary.NativeEndian.PutUint64(ts, uint64(sec))
	binary.NativeEndian.PutUint64(ts[8:], uint64(nsec))
	b := put(nil, unix.IPPROTO_IP, unix.IP_TOS, []byte{0})
	return put(b, unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, ts)
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
