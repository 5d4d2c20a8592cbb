package cryptoutil

import (
	"crypto/aes"
	"encoding/binary"
	"slices"

	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
)

// Encrypter seals the packets of one direction: a session's outgoing direction, or
// startup packets with DefaultKey and Mode{}. It keeps one CBC mode whose IV it resets
// for every packet, an HMAC state in HMAC mode and the transmit sequence number, and does not
// allocate when dst has room. Not safe for concurrent use.
type Encrypter struct {
	cbc  zeroCBC
	mac  *packetMAC // nil without HMAC
	mode Mode
	seq  uint64
}

// NewEncrypter returns an Encrypter with a 16-byte AES key, the direction's HMAC key
// (ignored, may be nil, when mode.HMACLength is 0) and the direction's mode.
func NewEncrypter(aesKey, hmacKey []byte, mode Mode) (*Encrypter, error) {
	if err := mode.validate(hmacKey); err != nil {
		return nil, err
	}
	c, err := newCBC(aesKey)
	if err != nil {
		return nil, err
	}
	return &Encrypter{cbc: c, mac: newMAC(mode, hmacKey), mode: mode}, nil
}

// NewStartupEncrypter returns an Encrypter for startup packets: DefaultKey, checksum,
// no sequence numbers.
func NewStartupEncrypter() *Encrypter {
	k := DefaultKey()
	e, err := NewEncrypter(k[:], nil, Mode{})
	if err != nil {
		panic(err) // cannot happen: the key and mode are constants
	}
	return e
}

// Mode returns the Encrypter's mode.
func (e *Encrypter) Mode() Mode { return e.mode }

// ReleaseKeySchedule drops the expanded AES key schedule (about 500 bytes) until the
// next Seal rebuilds it: for the encrypter of a session that has been idle for a while.
// The key, the mode and the sequence number are kept.
func (e *Encrypter) ReleaseKeySchedule() { e.cbc.release() }

// HoldsKeySchedule tells whether the expanded key schedule is held (not released since
// the last Seal).
func (e *Encrypter) HoldsKeySchedule() bool { return e.cbc.b != nil }

// NextSequence returns the session sequence number the next Seal will use.
func (e *Encrypter) NextSequence() uint64 { return e.seq }

// SetNextSequence sets the session sequence number the next Seal will use. Sessions
// never need it (numbering starts at 0); tests re-sealing captured packets do.
func (e *Encrypter) SetNextSequence(n uint64) { e.seq = n }

// frontLen is the plaintext in front of the packet: sequence number and/or checksum.
func (e *Encrypter) frontLen() int {
	n := 0
	if e.mode.SequenceNumbers {
		n = rtmfp.VLULen(e.seq)
	}
	if e.mode.HMACLength == 0 {
		n += ChecksumLen
	}
	return n
}

// PacketOffset returns where, counted from the start of the datagram, the next Seal
// puts the first byte of the packet. A caller that builds its packet directly at
// dst[len(dst)+PacketOffset():] saves Seal a copy.
func (e *Encrypter) PacketOffset() int { return SSIDLen + e.frontLen() }

// SealedLen returns the size of the datagram the next Seal produces for a packet of
// packetLen bytes, so that callers can keep to a size budget (1200 bytes of plaintext
// in rtmfp-cpp, framing-and-crypto.md §7.4).
func (e *Encrypter) SealedLen(packetLen int) int {
	return SSIDLen + paddedLen(e.frontLen()+packetLen) + e.mode.HMACLength
}

// paddedLen rounds n up to a whole number of AES blocks, at least one.
func paddedLen(n int) int {
	if n <= 0 {
		return aes.BlockSize
	}
	return (n + aes.BlockSize - 1) &^ (aes.BlockSize - 1)
}

// Seal appends one datagram carrying packet to dst and returns the extended slice.
// packet is the plaintext from the flags byte to the end of the last chunk, without
// checksum or padding. farSessionID is the session ID the far end chose for itself (0
// for startup packets to a fresh initiator).
//
//	dst: ... | SSID | E(zeroIV, [seq VLU] [checksum] packet 0xFF…) | [HMAC[:L]]
//	SSID = farSessionID XOR w1 XOR w2 (w1, w2 = first two big-endian ciphertext words)
//
// With sequence numbers on, each call uses the next number (from 0). packet may overlap
// dst in any way, for example be built in place at dst[len(dst)+PacketOffset():]: Seal
// never writes to dst[:len(dst)] and copies the packet before writing anything else.
func (e *Encrypter) Seal(dst []byte, farSessionID uint32, packet []byte) []byte {
	front := e.frontLen()
	padded := paddedLen(front + len(packet))
	total := SSIDLen + padded + e.mode.HMACLength
	start := len(dst)
	dst = slices.Grow(dst, total)[:start+total]
	d := dst[start:]
	plain := d[SSIDLen : SSIDLen+padded]

	// Copy first: packet may overlap the region the prefix is written to.
	copy(plain[front:], packet)
	for i := front + len(packet); i < padded; i++ {
		plain[i] = 0xFF
	}
	off := 0
	if e.mode.SequenceNumbers {
		off = len(rtmfp.AppendVLU(plain[:0], e.seq))
		e.seq++
	}
	if e.mode.HMACLength == 0 {
		binary.BigEndian.PutUint16(plain[off:], Checksum(plain[off+ChecksumLen:]))
	}

	e.cbc.encrypt(plain)
	binary.BigEndian.PutUint32(d, farSessionID^binary.BigEndian.Uint32(d[4:])^binary.BigEndian.Uint32(d[8:]))

	if e.mode.HMACLength > 0 {
		s := e.mac.of(plain)
		copy(d[SSIDLen+padded:], s[:e.mode.HMACLength])
	}
	return dst
}
