package cryptoutil

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
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

// ivSetter is implemented by the standard library's CBC modes.
type ivSetter interface{ SetIV([]byte) }

var zeroIV [aes.BlockSize]byte

func newCBC(aesKey []byte, encrypt bool) (cipher.BlockMode, ivSetter, error) {
	if len(aesKey) != 16 {
		return nil, nil, fmt.Errorf("cryptoutil: AES key must be 16 bytes, got %d", len(aesKey))
	}
	block, err := aes.NewCipher(aesKey)
	if err != nil {
		return nil, nil, err
	}
	var m cipher.BlockMode
	if encrypt {
		m = cipher.NewCBCEncrypter(block, zeroIV[:])
	} else {
		m = cipher.NewCBCDecrypter(block, zeroIV[:])
	}
	s, ok := m.(ivSetter)
	if !ok {
		return nil, nil, errors.New("cryptoutil: CBC mode cannot reset its IV")
	}
	return m, s, nil
}

func newMAC(mode Mode, hmacKey []byte) hash.Hash {
	if mode.HMACLength == 0 {
		return nil
	}
	return hmac.New(sha256.New, hmacKey)
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
