package cryptoutil

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
)

// ErrBadPeerID means a peer ID string that is not 64 hexadecimal digits.
var ErrBadPeerID = errors.New("cryptoutil: peer ID must be 64 hex digits")

// PeerIDLen is the size of a peer ID: a SHA-256 digest.
const PeerIDLen = sha256.Size

// PeerID identifies an RTMFP endpoint: the SHA-256 of the canonical part of its
// certificate (RFC 7425 §4.3.2). Flash shows it as NetConnection.nearID / farID, peers put
// it in 0x0F endpoint discriminators, NetGroup member lists carry it.
type PeerID [PeerIDLen]byte

// String returns the peer ID as 64 lowercase hexadecimal digits.
func (id PeerID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is all zeros (no peer ID).
func (id PeerID) IsZero() bool { return id == PeerID{} }

// ParsePeerID parses 64 hexadecimal digits (either case).
func ParsePeerID(s string) (PeerID, error) {
	var id PeerID
	if len(s) != 2*PeerIDLen {
		return id, ErrBadPeerID
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return PeerID{}, ErrBadPeerID
	}
	return id, nil
}

// PeerIDFromBytes converts a 32-byte slice (for example the value of a 0x0F EPD option)
// to a PeerID; false if b is not 32 bytes long.
func PeerIDFromBytes(b []byte) (PeerID, bool) {
	if len(b) != PeerIDLen {
		return PeerID{}, false
	}
	return PeerID(b), true
}

// PeerIDFromCertificate returns the SHA-256 of the certificate's canonical part: the
// bytes before a 0x00 marker at an option boundary, or all of cert when it has none
// (Flash and Cumulus certificates have none). A certificate whose option list is
// malformed is hashed whole.
//
//	cert: | option | option | ... | 00 | non-canonical options ... |
//	       \______ hashed ________/
func PeerIDFromCertificate(cert []byte) PeerID {
	return sha256.Sum256(canonicalCertificate(cert))
}

// canonicalCertificate returns the part of cert before its 0x00 marker.
func canonicalCertificate(cert []byte) []byte {
	it := rtmfp.NewOptionIterator(cert)
	for it.Next() {
	}
	if it.Err() == nil && it.Terminated() {
		end := len(cert) - len(it.Rest()) - 1
		return cert[:end:end]
	}
	return cert
}
