package rtmfp

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/actorrtmfp/actorrtmfp/codec/internal/hexlit"
)

// Test-only decryption of the captures in ../../testdata. The real crypto layer is package
// cryptoutil; this is just enough AES-128-CBC (zero IV) to get the plaintexts.

const testdataDir = "../../testdata"

func mustHex(t testing.TB, s string) []byte { t.Helper(); return hexlit.Decode(t, s) }

func decryptCBC(t testing.TB, key, ct []byte) []byte {
	t.Helper()
	blk, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	if len(ct)%16 != 0 {
		t.Fatalf("ciphertext length %d", len(ct))
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(blk, make([]byte, 16)).CryptBlocks(pt, ct)
	return pt
}

// inetChecksum is the RFC 1071 checksum over an even-length region.
func inetChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	s = (s >> 16) + (s & 0xFFFF)
	s += s >> 16
	return ^uint16(s)
}

var (
	defaultKey = []byte("Adobe Systems 02")
	flashKeyIR = "ca3e6206c4fe662bbd950e8d03574e35"
	flashKeyRI = "bc4b145aafb0f8287b3cf87bd036acf0"
)

// flashPlain returns the packet (flags byte to the end of the padding) of a Flash capture file.
func flashPlain(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testdataDir, "flash-session", name))
	if err != nil {
		t.Fatal(err)
	}
	key := defaultKey
	switch name {
	case "5.dat", "7.dat", "8.dat", "10.dat", "11.dat":
		key = mustHex(t, flashKeyIR)
	case "6.dat", "9.dat":
		key = mustHex(t, flashKeyRI)
	}
	pt := decryptCBC(t, key, raw[4:])
	if got, want := inetChecksum(pt[2:]), uint16(pt[0])<<8|uint16(pt[1]); got != want {
		t.Fatalf("%s: checksum %04x, want %04x (wrong key?)", name, got, want)
	}
	return pt[2:]
}

// rfcPlain returns the packet of an rtmfp-cpp capture file: startup packets use the default
// key and a checksum; session packets carry a session sequence number and either a 16-byte
// HMAC trailer (g14-, g16-) or a checksum (g14-nohmac-).
func rfcPlain(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testdataDir, "rfc7425-session", name))
	if err != nil {
		t.Fatal(err)
	}
	n := capturePos(t, name)
	if n <= 4 { // handshake
		pt := decryptCBC(t, defaultKey, raw[4:])
		if got, want := inetChecksum(pt[2:]), uint16(pt[0])<<8|uint16(pt[1]); got != want {
			t.Fatalf("%s: checksum %04x, want %04x", name, got, want)
		}
		return pt[2:]
	}
	c2s := strings.Contains(name, "-c2s-")
	var key string
	hmac := 16
	switch {
	case strings.HasPrefix(name, "g14-nohmac-"):
		key, hmac = map[bool]string{true: "eb6edfc24f2c8aca9804131d3bb65143", false: "3904b64b56da5e60b2a35561cdea5e68"}[c2s], 0
	case strings.HasPrefix(name, "g14-"):
		key = map[bool]string{true: "2ad925c489b8b06faf8bd614107e3f0c", false: "b741f2a1ae9c87e86e624ac82241dfbe"}[c2s]
	case strings.HasPrefix(name, "g16-"):
		key = map[bool]string{true: "055299fb6db05ae1d08d242311a7e1db", false: "9ac4dfe8184c0c92c84c0e751bc9a180"}[c2s]
	}
	pt := decryptCBC(t, mustHex(t, key), raw[4:len(raw)-hmac])
	_, vn, err := ReadVLU(pt)
	if err != nil {
		t.Fatal(err)
	}
	pt = pt[vn:]
	if hmac == 0 {
		pt = pt[2:] // checksum
	}
	return pt
}

// capturePos extracts the capture position from names like "g14-05-c2s-connect.bin" or
// "g14-nohmac-05-c2s-connect.bin".
func capturePos(t testing.TB, name string) int {
	t.Helper()
	for _, p := range strings.Split(name, "-")[1:] {
		if len(p) == 2 && p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9' {
			return int(p[0]-'0')*10 + int(p[1]-'0')
		}
	}
	t.Fatalf("no position in %s", name)
	return 0
}

// chunksEnd returns the offset in packet where the chunks end (the padding starts).
func chunksEnd(t testing.TB, packet []byte) int {
	t.Helper()
	_, rest, err := ParseHeader(packet)
	if err != nil {
		t.Fatal(err)
	}
	it := NewChunkIterator(rest)
	for it.Next() {
	}
	if it.Err() != nil {
		t.Fatal(it.Err())
	}
	for _, c := range it.Rest() {
		if c != 0xFF {
			t.Fatalf("non-padding byte after the chunks: % x", it.Rest())
		}
	}
	return len(packet) - len(it.Rest())
}

// reencodeChunk decodes c with its type's decoder and encodes the result again (the whole
// chunk). known is false for types without a decoder.
func reencodeChunk(c Chunk) (out []byte, known bool, err error) {
	switch c.Type {
	case ChunkIHello:
		v, err := ParseIHello(c.Payload)
		return v.Append(nil), true, err
	case ChunkRHello:
		v, err := ParseRHello(c.Payload)
		return v.Append(nil), true, err
	case ChunkIIKeying:
		v, err := ParseIIKeying(c.Payload)
		return v.Append(nil), true, err
	case ChunkRIKeying:
		v, err := ParseRIKeying(c.Payload)
		return v.Append(nil), true, err
	case ChunkRedirect:
		v, err := ParseRedirect(c.Payload, nil)
		return v.Append(nil), true, err
	case ChunkFIHello:
		v, err := ParseFIHello(c.Payload)
		return v.Append(nil), true, err
	case ChunkCookieChange:
		v, err := ParseCookieChange(c.Payload)
		return v.Append(nil), true, err
	case ChunkPing:
		v, err := ParsePing(c.Payload)
		return v.Append(nil), true, err
	case ChunkPingReply:
		v, err := ParsePingReply(c.Payload)
		return v.Append(nil), true, err
	case ChunkUserData:
		v, err := ParseUserData(c.Payload)
		return v.Append(nil), true, err
	case ChunkNextUserData:
		v, err := ParseNextUserData(c.Payload)
		return v.Append(nil), true, err
	case ChunkAckRanges:
		v, err := ParseAckRanges(c.Payload, nil)
		return v.Append(nil), true, err
	case ChunkAckBitmap:
		v, err := ParseAckBitmap(c.Payload)
		return v.Append(nil), true, err
	case ChunkBufferProbe:
		v, err := ParseBufferProbe(c.Payload)
		return v.Append(nil), true, err
	case ChunkFlowException:
		v, err := ParseFlowException(c.Payload)
		return v.Append(nil), true, err
	case ChunkClose:
		v, err := ParseClose(c.Payload)
		return v.Append(nil), true, err
	case ChunkCloseAck:
		v, err := ParseCloseAck(c.Payload)
		return v.Append(nil), true, err
	case ChunkECNReport:
		v, err := ParseECNReport(c.Payload)
		return v.Append(nil), true, err
	}
	return nil, false, nil
}

// reencodePacket parses packet chunk by chunk and builds it again from the decoded values;
// the result must equal the packet without its padding.
func reencodePacket(t testing.TB, packet []byte) []byte {
	t.Helper()
	r, err := NewPacketReader(packet)
	if err != nil {
		t.Fatal(err)
	}
	out := r.Header().Append(nil)
	for r.Next() {
		c := r.Chunk()
		enc, known, err := reencodeChunk(c)
		if err != nil {
			t.Fatalf("chunk %02x: %v", c.Type, err)
		}
		if !known {
			enc = c.Append(nil)
		}
		if _, err := r.UserData(); err != nil {
			t.Fatalf("chunk %02x: user data: %v", c.Type, err)
		}
		out = append(out, enc...)
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	return out
}

// sameValue compares decoded values, treating nil and empty slices as equal.
func sameValue(a, b any) bool { return sameReflect(reflect.ValueOf(a), reflect.ValueOf(b)) }

func sameReflect(a, b reflect.Value) bool {
	if a.Type() != b.Type() {
		return false
	}
	switch a.Kind() {
	case reflect.Slice:
		if a.Type().Elem().Kind() == reflect.Uint8 {
			return bytes.Equal(a.Bytes(), b.Bytes())
		}
		if a.Len() != b.Len() {
			return false
		}
		for i := 0; i < a.Len(); i++ {
			if !sameReflect(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Struct:
		if a.Type().Comparable() {
			return a.Equal(b)
		}
		for i := 0; i < a.NumField(); i++ {
			if !sameReflect(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	default:
		return a.Equal(b)
	}
}
