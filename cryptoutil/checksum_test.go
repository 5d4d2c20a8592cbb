package cryptoutil

import (
	"math/rand/v2"
	"testing"
)

// ihelloPacket is the §10.1 IHello packet (framing-and-crypto.md), flags byte first.
const ihelloPacket = `0B 82 60 30 00 53 42 41 0A 72 74 6D 66 70 3A 2F 2F 73 74 72 61 74 75 73 2E 61 64 6F
62 65 2E 63 6F 6D 2F 39 35 36 64 30 30 39 35 62 63 39 34 31 36 32 34 62 32 30 64 62
37 37 66 2D 37 36 33 61 63 34 66 34 36 32 38 39 2F 7D 1C 42 FB 55 1B B4 E7 8F 34 B6
C4 A0 11 CC BD`

// ihelloDatagram is the §10.1 datagram: default key, session ID 0.
const ihelloDatagram = `95 BD 4A 12 D9 7A E8 AF 4C C7 A2 BD 26 39 77 19 D7 42 31 A2 31 BB 05 7C 0D E4 03 2A
4E FA C3 9B 11 D8 B8 98 3F D6 AA B7 A1 98 F2 5F 75 ED E2 41 E5 20 0B 30 FC 5D 46 33
05 F5 8B 93 A9 BE 90 2D 8F 07 72 87 20 B1 5E 15 08 95 83 A9 C1 C9 9A 6A EC 93 04 FF
2B 66 A5 25 6D E7 06 48 D4 38 01 6B 8A C6 67 8B`

// refChecksum is the textbook word-by-word algorithm, odd byte as the low byte.
func refChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1])
	}
	for s > 0xFFFF {
		s = s>>16 + s&0xFFFF
	}
	return ^uint16(s)
}

func TestChecksumVectors(t *testing.T) {
	padded := append(mustHex(t, ihelloPacket), 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
	for _, tc := range []struct {
		name string
		in   []byte
		want uint16
	}{
		{"zenomt odd length", []byte{1, 2, 3, 4, 5}, 0xFBF4},
		{"rust-rtmfp", mustHex(t, "0B 00 00 30 00 09 02 01 0A 41 42 43 44 45 46 00"), 0x1BFC},
		{"§10.1 IHello + padding", padded, 0x0A4D},
		{"empty", nil, 0xFFFF},
		{"single byte is low byte", []byte{0x12}, ^uint16(0x0012)},
		{"all ones", []byte{0xFF, 0xFF, 0xFF, 0xFF}, 0x0000},
		{"all zeros", make([]byte, 40), 0xFFFF},
	} {
		if got := Checksum(tc.in); got != tc.want {
			t.Errorf("%s: Checksum = %#04x, want %#04x", tc.name, got, tc.want)
		}
	}
}

// The RFC 1071 high-byte convention would give a different answer for odd lengths;
// make sure we do not use it.
func TestChecksumOddByteIsLow(t *testing.T) {
	b := []byte{1, 2, 3, 4, 5}
	rfc1071 := ^uint16(0x0102 + 0x0304 + 0x0500)
	if Checksum(b) == rfc1071 {
		t.Fatal("odd trailing byte added as the high byte")
	}
}

func TestChecksumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 4200)
	for n := 0; n <= len(buf); n += 1 + n/50 {
		for range 4 {
			for i := range buf[:n] {
				buf[i] = byte(r.Uint32())
			}
			if got, want := Checksum(buf[:n]), refChecksum(buf[:n]); got != want {
				t.Fatalf("len %d: Checksum = %#04x, reference %#04x", n, got, want)
			}
		}
	}
	// Carry-heavy inputs: long runs of 0xFF with one odd byte.
	for n := 0; n < 200; n++ {
		for i := range buf[:n] {
			buf[i] = 0xFF
		}
		if n > 0 {
			buf[n/2] = 0xFE
		}
		if got, want := Checksum(buf[:n]), refChecksum(buf[:n]); got != want {
			t.Fatalf("0xFF run len %d: Checksum = %#04x, reference %#04x", n, got, want)
		}
	}
}
