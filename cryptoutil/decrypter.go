package cryptoutil

import (
	"crypto/aes"
	"crypto/subtle"
	"encoding/binary"
	"slices"

	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
)

// Decrypter opens the datagrams of one direction. With sequence numbers on it keeps the
// direction's ReplayWindow. It does not allocate when dst has room. Not safe for
// concurrent use.
type Decrypter struct {
	cbc    zeroCBC
	mac    *packetMAC // nil without HMAC
	mode   Mode
	window ReplayWindow
}

// NewDecrypter returns a Decrypter with a 16-byte AES key, the direction's HMAC key
// (ignored, may be nil, when mode.HMACLength is 0) and the direction's mode, whose
// HMACLength is the length the far side advertised.
func NewDecrypter(aesKey, hmacKey []byte, mode Mode) (*Decrypter, error) {
	if err := mode.validate(hmacKey); err != nil {
		return nil, err
	}
	c, err := newCBC(aesKey)
	if err != nil {
		return nil, err
	}
	return &Decrypter{cbc: c, mac: newMAC(mode, hmacKey), mode: mode}, nil
}

// NewStartupDecrypter returns a Decrypter for startup packets: DefaultKey, checksum, no
// sequence numbers.
func NewStartupDecrypter() *Decrypter {
	k := DefaultKey()
	d, err := NewDecrypter(k[:], nil, Mode{})
	if err != nil {
		panic(err) // cannot happen: the key and mode are constants
	}
	return d
}

// Mode returns the Decrypter's mode.
func (d *Decrypter) Mode() Mode { return d.mode }

// ReleaseKeySchedule drops the expanded AES key schedule (about 500 bytes) until the
// next Open rebuilds it (about a tenth of a microsecond): for the decrypter of a session
// that has been idle for a while. The key, the mode and the replay window are kept.
func (d *Decrypter) ReleaseKeySchedule() { d.cbc.release() }

// HoldsKeySchedule tells whether the expanded key schedule is held (not released since
// the last Open).
func (d *Decrypter) HoldsKeySchedule() bool { return d.cbc.b != nil }

// Window returns the Decrypter's replay window (for inspection and tests).
func (d *Decrypter) Window() *ReplayWindow { return &d.window }

// Open checks and decrypts one datagram, appending the plaintext block to dst, and
// returns the packet: the plaintext from the flags byte to the end of the block, 0xFF
// padding included (the chunk parser stops at a 0xFF chunk type), as a sub-slice of the
// extended dst. seq is the session sequence number (0 without sequence numbers).
//
// The checks follow rtmfp-cpp (hmac-sseq-and-groups.md §3.6): length; HMAC over the
// ciphertext, compared in constant time, before decrypting; decryption with a zero IV;
// the sequence number and the replay window; the checksum when there is no HMAC; and
// only then is the sequence number recorded. Failures return one of ErrShortDatagram,
// ErrBadLength, ErrBadHMAC, ErrBadSequence, ErrReplay or ErrBadChecksum.
//
// dst may be the datagram itself or overlap it in any way (datagram is then
// overwritten); OpenInPlace is the simplest form of that.
func (d *Decrypter) Open(dst, datagram []byte) (packet []byte, seq uint64, err error) {
	ct, err := d.checkCiphertext(datagram)
	if err != nil {
		return nil, 0, err
	}
	start := len(dst)
	dst = slices.Grow(dst, len(ct))[:start+len(ct)]
	out := dst[start:]
	if inexactOverlap(out, ct) {
		d.cbc.decrypt(ct, ct)
		copy(out, ct)
	} else {
		d.cbc.decrypt(out, ct)
	}
	return d.finish(out)
}

// OpenInPlace is Open decrypting into the datagram's own ciphertext bytes; the returned
// packet is a sub-slice of datagram.
func (d *Decrypter) OpenInPlace(datagram []byte) (packet []byte, seq uint64, err error) {
	ct, err := d.checkCiphertext(datagram)
	if err != nil {
		return nil, 0, err
	}
	d.cbc.decrypt(ct, ct)
	return d.finish(ct)
}

// checkCiphertext checks the datagram's length and HMAC and returns the ciphertext.
func (d *Decrypter) checkCiphertext(datagram []byte) ([]byte, error) {
	l := d.mode.HMACLength
	if len(datagram) < MinDatagramLen+l {
		return nil, ErrShortDatagram
	}
	ct := datagram[SSIDLen : len(datagram)-l]
	if len(ct)%aes.BlockSize != 0 {
		return nil, ErrBadLength
	}
	if l > 0 {
		s := d.mac.of(ct)
		if subtle.ConstantTimeCompare(s[:l], datagram[len(datagram)-l:]) != 1 {
			return nil, ErrBadHMAC
		}
	}
	return ct, nil
}

// finish checks sequence number and checksum of a decrypted block.
func (d *Decrypter) finish(plain []byte) ([]byte, uint64, error) {
	off := 0
	var seq uint64
	if d.mode.SequenceNumbers {
		v, n, err := rtmfp.ReadVLU(plain)
		if err != nil {
			return nil, 0, ErrBadSequence
		}
		if !d.window.Check(v) {
			return nil, v, ErrReplay
		}
		seq, off = v, n
	}
	if d.mode.HMACLength == 0 {
		if len(plain)-off < ChecksumLen {
			return nil, seq, ErrBadChecksum
		}
		if binary.BigEndian.Uint16(plain[off:]) != Checksum(plain[off+ChecksumLen:]) {
			return nil, seq, ErrBadChecksum
		}
		off += ChecksumLen
	}
	if d.mode.SequenceNumbers {
		d.window.Accept(seq)
	}
	return plain[off:], seq, nil
}
