package cryptoutil

import (
	"crypto/hmac"
	"crypto/sha256"
)

// hmacSHA256 returns HMAC-SHA256(key, msg).
func hmacSHA256(key, msg []byte) (out [32]byte) {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	m.Sum(out[:0])
	return out
}

// DeriveKeys computes the two 32-byte session keys from the DH shared secret (unpadded,
// as SharedSecret returns it) and the two session key components exactly as carried in
// IIKeying (skic) and RIKeying (skrc) (framing-and-crypto.md §9.3,
// hmac-sseq-and-groups.md §3.5):
//
//	keyIR = HMAC-SHA256(secret, HMAC-SHA256(skrc, skic))   protects initiator → responder
//	keyRI = HMAC-SHA256(secret, HMAC-SHA256(skic, skrc))   protects responder → initiator
//
// The AES-128 key of a direction is the first 16 bytes of its key; its HMAC key is
// HMACKeyFor(secret, key). A responder decrypts with keyIR and encrypts with keyRI; an
// initiator does the reverse.
func DeriveKeys(secret, skic, skrc []byte) (keyIR, keyRI [32]byte) {
	innerIR := hmacSHA256(skrc, skic)
	innerRI := hmacSHA256(skic, skrc)
	return hmacSHA256(secret, innerIR[:]), hmacSHA256(secret, innerRI[:])
}

// HMACKeyFor returns the packet-HMAC key of the direction protected by key (keyIR or
// keyRI from DeriveKeys): HMAC-SHA256(secret, key) over the full 32-byte key, not the
// truncated AES key.
func HMACKeyFor(secret []byte, key [32]byte) [32]byte { return hmacSHA256(secret, key[:]) }

// Nonce returns a session nonce, HMAC-SHA256(secret, component): the near nonce with
// one's own session key component, the far nonce with the other side's
// (framing-and-crypto.md §9.4). NetGroup authentication uses them.
func Nonce(secret, component []byte) [32]byte { return hmacSHA256(secret, component) }
