package cryptoutil

import "fmt"

// Role is a side's role in a session's handshake.
type Role uint8

// The two roles. A server is the responder for every client session.
const (
	Responder Role = iota + 1
	Initiator
)

// String returns "responder" or "initiator".
func (r Role) String() string {
	switch r {
	case Responder:
		return "responder"
	case Initiator:
		return "initiator"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// SessionKeys are the keys of both directions of a session.
//
//	keyIR, keyRI = DeriveKeys(secret, skic, skrc)
//	AES key   = key[0:16]            HMAC key = HMAC-SHA256(secret, key)
//	responder: encrypts with RI, decrypts with IR; initiator: the reverse
type SessionKeys struct {
	IR, RI         [32]byte // DeriveKeys output
	HMACIR, HMACRI [32]byte // HMACKeyFor of each
}

// NewSessionKeys derives all keys of a session.
func NewSessionKeys(secret, skic, skrc []byte) SessionKeys {
	var k SessionKeys
	k.IR, k.RI = DeriveKeys(secret, skic, skrc)
	k.HMACIR = HMACKeyFor(secret, k.IR)
	k.HMACRI = HMACKeyFor(secret, k.RI)
	return k
}

// NewSessionCrypto derives the session keys from the DH shared secret and the two
// components and returns this side's Encrypter and Decrypter, framed as the agreement
// (this side's view, from NegotiateResponder or NegotiateInitiator) says. The responder
// encrypts with keyRI and decrypts with keyIR; the initiator the reverse.
func NewSessionCrypto(role Role, secret, skic, skrc []byte, a Agreement) (*Encrypter, *Decrypter, error) {
	k := NewSessionKeys(secret, skic, skrc)
	var enc, dec, encMAC, decMAC *[32]byte
	switch role {
	case Responder:
		enc, encMAC, dec, decMAC = &k.RI, &k.HMACRI, &k.IR, &k.HMACIR
	case Initiator:
		enc, encMAC, dec, decMAC = &k.IR, &k.HMACIR, &k.RI, &k.HMACRI
	default:
		return nil, nil, fmt.Errorf("cryptoutil: invalid role %d", role)
	}
	e, err := NewEncrypter(enc[:16], encMAC[:], a.EncryptMode())
	if err != nil {
		return nil, nil, err
	}
	d, err := NewDecrypter(dec[:16], decMAC[:], a.DecryptMode())
	if err != nil {
		return nil, nil, err
	}
	return e, d, nil
}
