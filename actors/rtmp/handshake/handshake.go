// Package handshake is the RTMP handshake, both sides: the digest ("complex") one that
// Flash Player needs, and the plain one that ffmpeg, OBS and librtmp send.
package handshake

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The RTMP handshake (Adobe's RTMP specification §5.2): C0 (version 3) and C1 (1536
// bytes) from the client, S0, S1 and S2 from the server, C2 from the client.
//
// Flash Player plays H.264 and AAC from a server only after the "digest" handshake that
// Flash Media Server answers (every RTMP server that serves Flash does it; gortmplib
// implements it only inside encrypted RTMPE): a C1 whose version field is not zero
// carries an HMAC-SHA256 digest at one of two places, keyed with the player's key. The
// server then proves itself with a digest of its own in S1 (the server's key) and one in
// S2 over the client's digest. A C1 without a digest (ffmpeg, OBS, librtmp) gets the
// plain handshake: S1 random, S2 an echo of C1.
const (
	handshakeSize = 1536
	digestLen     = 32
	// serverVersion is the version S1 announces with a digest (Flash Media Server 4.5):
	// clients that check S1 (ffmpeg) do so only from version 3 on.
	serverVersion = 0x04050001
)

var (
	playerKey = []byte("Genuine Adobe Flash Player 001")
	serverKey = []byte("Genuine Adobe Flash Media Server 001")
	// keyTail completes both keys for the S2/C2 digests.
	keyTail = []byte{
		0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
		0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
	}
	serverFullKey = append(append([]byte(nil), serverKey...), keyTail...)
)

// Handshake errors.
var (
	// ErrVersion means a first byte that is not RTMP's version 3 (e.g. an HTTP request).
	ErrVersion = errors.New("rtmp handshake: not an RTMP handshake")
	// ErrEncrypted means an RTMPE handshake (version 6 or 8), which is not served: RTMPS
	// encrypts instead.
	ErrEncrypted = errors.New("rtmp handshake: encrypted RTMP (RTMPE) is not served; use RTMPS")
)

// digestAt returns where the digest of a 1536-byte C1 or S1 is in scheme 0 or 1: after
// the time and version (scheme 0) or after the first half (scheme 1), at an offset given
// by the sum of the four bytes before.
func digestAt(b []byte, scheme int) int {
	base := 8
	if scheme == 1 {
		base = 772
	}
	return base + 4 + (int(b[base])+int(b[base+1])+int(b[base+2])+int(b[base+3]))%728
}

// digestOf returns the HMAC-SHA256 of b without its 32 bytes at at.
func digestOf(b []byte, at int, key []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(b[:at])
	h.Write(b[at+digestLen:])
	return h.Sum(nil)
}

// clientDigest returns the digest of a C1 and its scheme, or false for a plain C1.
func clientDigest(c1 []byte) ([]byte, int, bool) {
	if binary.BigEndian.Uint32(c1[4:8]) == 0 {
		return nil, 0, false
	}
	for scheme := range 2 {
		at := digestAt(c1, scheme)
		if d := c1[at : at+digestLen]; hmac.Equal(d, digestOf(c1, at, playerKey)) {
			return d, scheme, true
		}
	}
	return nil, 0, false
}

// Server answers a client's handshake on rw and reports whether it was the digest one.
func Server(rw io.ReadWriter) (digest bool, err error) {
	c := make([]byte, 1+handshakeSize)
	if _, err := io.ReadFull(rw, c[:1]); err != nil {
		return false, err
	}
	switch c[0] {
	case 3:
	case 6, 8:
		return false, ErrEncrypted
	default:
		return false, fmt.Errorf("%w (first byte 0x%02x)", ErrVersion, c[0])
	}
	if _, err := io.ReadFull(rw, c[1:]); err != nil {
		return false, err
	}
	c1 := c[1:]
	out := make([]byte, 1+2*handshakeSize)
	out[0] = 3
	s1, s2 := out[1:1+handshakeSize], out[1+handshakeSize:]
	if _, err := rand.Read(s1[8:]); err != nil {
		return false, err
	}
	cd, scheme, ok := clientDigest(c1)
	if ok {
		binary.BigEndian.PutUint32(s1[4:8], serverVersion)
		at := digestAt(s1, scheme)
		copy(s1[at:], digestOf(s1, at, serverKey))
		if _, err := rand.Read(s2[:handshakeSize-digestLen]); err != nil {
			return false, err
		}
		key := hmac.New(sha256.New, serverFullKey)
		key.Write(cd)
		h := hmac.New(sha256.New, key.Sum(nil))
		h.Write(s2[:handshakeSize-digestLen])
		copy(s2[handshakeSize-digestLen:], h.Sum(nil))
	} else {
		copy(s2, c1)
	}
	if _, err := rw.Write(out); err != nil {
		return false, err
	}
	// C2: an echo of S1 (or its digest), which no server relies on.
	if _, err := io.ReadFull(rw, c1); err != nil {
		return false, err
	}
	return ok, nil
}

// Client is the client's side, with a digest when withDigest (as Flash Player sends it);
// it checks the server's digests when it sent one.
func Client(rw io.ReadWriter, withDigest bool) error {
	out := make([]byte, 1+handshakeSize)
	out[0] = 3
	c1 := out[1:]
	if _, err := rand.Read(c1[8:]); err != nil {
		return err
	}
	var cd []byte
	if withDigest {
		binary.BigEndian.PutUint32(c1[4:8], 0x80000702) // Flash Player 11's
		at := digestAt(c1, 0)
		cd = digestOf(c1, at, playerKey)
		copy(c1[at:], cd)
	}
	if _, err := rw.Write(out); err != nil {
		return err
	}
	in := make([]byte, 1+2*handshakeSize)
	if _, err := io.ReadFull(rw, in); err != nil {
		return err
	}
	if in[0] != 3 {
		return fmt.Errorf("%w (server version %d)", ErrVersion, in[0])
	}
	s1, s2 := in[1:1+handshakeSize], in[1+handshakeSize:]
	if withDigest {
		at := digestAt(s1, 0)
		if !hmac.Equal(s1[at:at+digestLen], digestOf(s1, at, serverKey)) {
			return errors.New("rtmp handshake: the server's S1 digest does not verify")
		}
		key := hmac.New(sha256.New, serverFullKey)
		key.Write(cd)
		h := hmac.New(sha256.New, key.Sum(nil))
		h.Write(s2[:handshakeSize-digestLen])
		if !hmac.Equal(s2[handshakeSize-digestLen:], h.Sum(nil)) {
			return errors.New("rtmp handshake: the server's S2 digest does not verify")
		}
	} else if !bytes.Equal(s2, c1) {
		return errors.New("rtmp handshake: the server's S2 is not an echo of C1")
	}
	_, err := rw.Write(s1) // C2
	return err
}
