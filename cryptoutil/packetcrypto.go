package cryptoutil

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
)

// Reasons a datagram is dropped by Decrypter.Open. They are distinct values so that the
// socket layer can count drops by reason.
var (
	// ErrShortDatagram: fewer than 4 + 16 (+ HMAC length) bytes.
	ErrShortDatagram = errors.New("cryptoutil: datagram too short")
	// ErrBadLength: the ciphertext is not a multiple of the AES block size.
	ErrBadLength = errors.New("cryptoutil: ciphertext length not a multiple of 16")
	// ErrBadHMAC: the HMAC trailer does not verify.
	ErrBadHMAC = errors.New("cryptoutil: HMAC mismatch")
	// ErrBadChecksum: the 16-bit checksum does not verify (or the block is too short
	// to hold one).
	ErrBadChecksum = errors.New("cryptoutil: checksum mismatch")
	// ErrReplay: the session sequence number was already received or is too old.
	ErrReplay = errors.New("cryptoutil: replayed session sequence number")
	// ErrBadSequence: the session sequence number VLU is malformed.
	ErrBadSequence = errors.New("cryptoutil: malformed session sequence number")
)

// Sizes of the packet framing.
const (
	// SSIDLen is the size of the scrambled session ID in front of the ciphertext.
	SSIDLen = 4
	// ChecksumLen is the size of the checksum field.
	ChecksumLen = 2
	// MinHMACLength and MaxHMACLength bound a negotiated HMAC trailer (RFC 7425 §4.6.4).
	MinHMACLength = 4
	MaxHMACLength = sha256.Size
	// DefaultHMACLength is the trailer length this package advertises and sends.
	DefaultHMACLength = 16
	// MinDatagramLen is the shortest datagram without HMAC: SSID + one AES block.
	MinDatagramLen = SSIDLen + aes.BlockSize
)

// DefaultKey returns the AES-128 key of all startup (handshake) packets, the ASCII bytes
// "Adobe Systems 02" (RFC 7425 §4.1). It returns a fresh array each time.
func DefaultKey() [16]byte {
	return [16]byte{'A', 'd', 'o', 'b', 'e', ' ', 'S', 'y', 's', 't', 'e', 'm', 's', ' ', '0', '2'}
}

// Mode is the framing of one direction of a session.
type Mode struct {
	// SequenceNumbers puts a session sequence number VLU in front of every packet
	// (inside the encryption) and makes the receiver check it for replays.
	SequenceNumbers bool
	// HMACLength is the length of the HMAC-SHA256 trailer over the ciphertext, 4…32;
	// 0 means no HMAC, and then a 16-bit checksum protects the plaintext instead.
	HMACLength int
}

func (m Mode) validate(hmacKey []byte) error {
	if m.HMACLength == 0 {
		return nil
	}
	if m.HMACLength < MinHMACLength || m.HMACLength > MaxHMACLength {
		return fmt.Errorf("cryptoutil: HMAC length %d outside %d…%d", m.HMACLength, MinHMACLength, MaxHMACLength)
	}
	if len(hmacKey) == 0 {
		return errors.New("cryptoutil: HMAC mode without HMAC key")
	}
	return nil
}

// zeroCBC is AES-CBC with an IV of zero restarted for every packet, run straight over
// the block cipher. (The standard library's CBC modes would each keep a second copy of
// the key schedule, about 500 bytes per direction of every session.) It keeps the key, so
// that the expanded schedule can be dropped while a session is idle and rebuilt on its
// next packet: crypto/aes keeps both the encryption and the decryption schedule in every
// cipher, about 500 bytes, whichever one is used.
type zeroCBC struct {
	key [16]byte
	b   cipher.Block // nil while released
}

func newCBC(aesKey []byte) (zeroCBC, error) {
	if len(aesKey) != 16 {
		return zeroCBC{}, fmt.Errorf("cryptoutil: AES key must be 16 bytes, got %d", len(aesKey))
	}
	c := zeroCBC{key: [16]byte(aesKey)}
	c.block()
	return c, nil
}

// block returns the cipher, expanding the key if it was released.
func (c *zeroCBC) block() cipher.Block {
	if c.b == nil {
		b, err := aes.NewCipher(c.key[:])
		if err != nil {
			panic(err) // cannot happen: newCBC checked the key's length
		}
		c.b = b
	}
	return c.b
}

// release drops the expanded key schedule; the next use rebuilds it.
func (c *zeroCBC) release() { c.b = nil }

// encrypt encrypts buf (a multiple of 16 bytes) in place.
func (c *zeroCBC) encrypt(buf []byte) {
	b := c.block()
	for i := 0; i+aes.BlockSize <= len(buf); i += aes.BlockSize {
		blk := buf[i : i+aes.BlockSize]
		if i > 0 {
			subtle.XORBytes(blk, blk, buf[i-aes.BlockSize:i])
		}
		b.Encrypt(blk, blk)
	}
}

// decrypt decrypts src into dst (same length, a multiple of 16). dst may be src itself:
// blocks are processed from the last, so each previous ciphertext block is still intact
// when it is needed.
func (c *zeroCBC) decrypt(dst, src []byte) {
	b := c.block()
	for i := len(src) - aes.BlockSize; i >= 0; i -= aes.BlockSize {
		out := dst[i : i+aes.BlockSize]
		b.Decrypt(out, src[i:i+aes.BlockSize])
		if i > 0 {
			subtle.XORBytes(out, out, src[i-aes.BlockSize:i])
		}
	}
}

// packetMAC is a direction's HMAC state and the buffer its sums go to. Only sessions in
// HMAC mode (RFC 7425) have one: the Flash dialect's checksum sessions, most of a
// server's, do not carry its ~50 bytes plus the pointer-free sum buffer.
type packetMAC struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

func newMAC(mode Mode, hmacKey []byte) *packetMAC {
	if mode.HMACLength == 0 {
		return nil
	}
	return &packetMAC{h: hmac.New(sha256.New, hmacKey)}
}

// of returns the HMAC of b (the buffer is reused by the next call).
func (m *packetMAC) of(b []byte) []byte {
	m.h.Reset()
	m.h.Write(b)
	return m.h.Sum(m.sum[:0])
}

// SessionID returns the session ID encoded in a datagram's first 12 bytes, w0 XOR w1 XOR
// w2 as big-endian words; false if the datagram is shorter than 12 bytes.
//
//	+----------+----------+----------+----
//	|    w0    |    w1    |    w2    | ...
//	+----------+----------+----------+----
//	 SSID field  first 8 ciphertext bytes
//
// The result is the big-endian reading of the 4 session ID bytes as they appear in
// IIKeying / RIKeying (rtmfp-cpp writes host order there; treat them as opaque).
func SessionID(datagram []byte) (uint32, bool) {
	if len(datagram) < 12 {
		return 0, false
	}
	return binary.BigEndian.Uint32(datagram) ^ binary.BigEndian.Uint32(datagram[4:]) ^
		binary.BigEndian.Uint32(datagram[8:]), true
}

// ScrambleSessionID writes the SSID field (datagram[0:4]) of an already encrypted
// datagram so that it decodes to id; false if the datagram is shorter than 12 bytes.
// Seal does this itself.
func ScrambleSessionID(datagram []byte, id uint32) bool {
	if len(datagram) < 12 {
		return false
	}
	binary.BigEndian.PutUint32(datagram, id^binary.BigEndian.Uint32(datagram[4:])^binary.BigEndian.Uint32(datagram[8:]))
	return true
}
