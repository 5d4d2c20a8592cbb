package cryptoutil

import (
	"errors"
	"fmt"
	"io"

	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
)

// ErrMalformedCertificate means a certificate whose option list does not parse.
var ErrMalformedCertificate = errors.New("cryptoutil: malformed certificate")

// Certificate option types (RFC 7425 §4.3, handshake-and-rendezvous.md §3.2).
const (
	CertOptionHostname         = 0x00 // required hostname (an option of type 0 with a value)
	CertOptionAncillaryData    = 0x0A // "accepts ancillary data": the endpoint serves 0x0A EPDs
	CertOptionExtraRandomness  = 0x0E // random bytes that make the certificate unique
	CertOptionEphemeralDHGroup = 0x15 // value: group VLU (ephemeral DH, key in the SKRC)
	CertOptionStaticDHKey      = 0x1D // value: group VLU, public key (static DH)
)

// ServerCertificateLen is the size of NewServerCertificate's output.
const ServerCertificateLen = 77

// StaticDHKey is one 0x1D option of a certificate.
type StaticDHKey struct {
	Group DHGroup // 0 for group numbers above 255
	Key   []byte  // unpadded public key; refers into the parsed certificate
}

// Certificate is a parsed RTMFP certificate. Slices refer into the parsed bytes.
type Certificate struct {
	Raw       []byte // the whole certificate
	Canonical []byte // the part before a 0x00 marker (all of Raw when there is none)
	ID        PeerID // SHA-256 of Canonical: the endpoint's peer ID / fingerprint

	AcceptsAncillaryData bool          // option 0x0A present
	Hostname             []byte        // option 0x00 value, if any
	ExtraRandomness      []byte        // option 0x0E value, if any
	EphemeralGroups      []DHGroup     // 0x15 options in order (servers)
	StaticKeys           []StaticDHKey // 0x1D options in order (clients)
}

// ParseCertificate parses the canonical part of a certificate (options after a 0x00
// marker are not covered by the peer ID and are ignored).
//
//	Flash client:  81 02 1D 02 <128-byte group-2 key>
//	rtmfp-cpp:     84 02 1D 10 <512> | 82 02 1D 0E <256> | 81 02 1D 02 <128>
//	classic server: 01 0A | 41 0E <64 random> | 02 15 02 | 02 15 05 | 02 15 0E
//	ours:           01 0A | 41 0E <64 random> | 02 15 02 | 02 15 10 | 02 15 0E
//	tcserver:       01 0A | 02 15 10 | 02 15 0E | 02 15 02 | 41 0E <64 random>
func ParseCertificate(cert []byte) (Certificate, error) {
	c := Certificate{Raw: cert}
	it := rtmfp.NewOptionIterator(cert)
	for it.Next() {
		o := it.Option()
		switch o.Type {
		case CertOptionHostname:
			c.Hostname = o.Value
		case CertOptionAncillaryData:
			c.AcceptsAncillaryData = true
		case CertOptionExtraRandomness:
			c.ExtraRandomness = o.Value
		case CertOptionEphemeralDHGroup:
			g, _, err := rtmfp.ReadVLU(o.Value)
			if err != nil {
				return Certificate{}, fmt.Errorf("%w: ephemeral group: %v", ErrMalformedCertificate, err)
			}
			c.EphemeralGroups = append(c.EphemeralGroups, groupFromVLU(g))
		case CertOptionStaticDHKey:
			g, n, err := rtmfp.ReadVLU(o.Value)
			if err != nil {
				return Certificate{}, fmt.Errorf("%w: static key group: %v", ErrMalformedCertificate, err)
			}
			c.StaticKeys = append(c.StaticKeys, StaticDHKey{Group: groupFromVLU(g), Key: o.Value[n:]})
		}
	}
	if err := it.Err(); err != nil {
		return Certificate{}, fmt.Errorf("%w: %v", ErrMalformedCertificate, err)
	}
	c.Canonical = cert
	if it.Terminated() {
		end := len(cert) - len(it.Rest()) - 1
		c.Canonical = cert[:end:end]
	}
	c.ID = PeerIDFromCertificate(c.Canonical)
	return c, nil
}

// StaticKey returns the public key of the first 0x1D option for group g (not simply the
// first 0x1D option: rtmfp-cpp lists groups 16, 14, 2 in that order).
func (c *Certificate) StaticKey(g DHGroup) ([]byte, bool) {
	for _, k := range c.StaticKeys {
		if k.Group == g && g != 0 {
			return k.Key, true
		}
	}
	return nil, false
}

// SupportsEphemeral reports whether the certificate lists group g in a 0x15 option.
func (c *Certificate) SupportsEphemeral(g DHGroup) bool {
	for _, h := range c.EphemeralGroups {
		if h == g && g != 0 {
			return true
		}
	}
	return false
}

// IsStatic reports whether the certificate carries static keys and no ephemeral groups,
// IsEphemeral the reverse; rtmfp-cpp rejects certificates that are both or neither.
func (c *Certificate) IsStatic() bool { return len(c.StaticKeys) > 0 && len(c.EphemeralGroups) == 0 }

// IsEphemeral: see IsStatic.
func (c *Certificate) IsEphemeral() bool {
	return len(c.EphemeralGroups) > 0 && len(c.StaticKeys) == 0
}

// ChooseGroup returns the first group of prefs (the initiator's own preference order, for
// example Group14, Group2) that the responder certificate offers, as rtmfp-cpp's
// initiator does (hmac-sseq-and-groups.md §4.3); false if there is none.
func (c *Certificate) ChooseGroup(prefs ...DHGroup) (DHGroup, bool) {
	for _, g := range prefs {
		if g.Valid() && (c.SupportsEphemeral(g) || c.hasStatic(g)) {
			return g, true
		}
	}
	return 0, false
}

func (c *Certificate) hasStatic(g DHGroup) bool {
	_, ok := c.StaticKey(g)
	return ok
}

// appendKeyOption appends <VLU len> <typ> <group VLU> <key>.
func appendKeyOption(b []byte, typ uint64, g DHGroup, key []byte) []byte {
	inner := rtmfp.VLULen(typ) + rtmfp.VLULen(uint64(g)) + len(key)
	b = rtmfp.AppendVLU(b, uint64(inner))
	b = rtmfp.AppendVLU(b, typ)
	b = rtmfp.AppendVLU(b, uint64(g))
	return append(b, key...)
}

// AppendStaticCertificate appends an initiator certificate holding one static public
// key option per key, in the order given (Flash Player: one group-2 key):
//
//	<VLU len> 1D <group VLU> <public key>     e.g. 81 02 1D 02 <128 bytes>
func AppendStaticCertificate(b []byte, keys ...*DHKey) []byte {
	for _, k := range keys {
		b = appendKeyOption(b, CertOptionStaticDHKey, k.group, k.pub)
	}
	return b
}

// serverGroups are the ephemeral DH groups the server certificate offers, in its order.
// Strict Flash-era clients read the classic responder certificate of Adobe's Stratus,
// Cumulus and Mona by its size (77 bytes, dialects.md), which leaves room for three
// groups. Group 5 takes the middle place there, but no known initiator picks it (Flash
// Player uses group 2, rtmfp-cpp prefers 16, 14, 2 and has no 5), while an RFC 7425 peer
// that offers only group 16 finds no common group without it; rtmfp-cpp's tcserver offers
// 16, 14 and 2 in its own 77 bytes. So group 16 takes group 5's place, and 2 and 14 keep
// their offsets.
var serverGroups = [3]DHGroup{Group2, Group16, Group14}

// AppendServerCertificate appends the 77-byte responder certificate: the classic layout
// Adobe's Stratus, Cumulus and Mona send (it accepts ancillary data, carries 64 bytes of
// randomness and offers three ephemeral DH groups), with serverGroups as its groups.
//
//	01 0A | 41 0E <64 random bytes> | 02 15 02 | 02 15 10 | 02 15 0E
func AppendServerCertificate(b []byte, random *[64]byte) []byte {
	b = append(b, 0x01, CertOptionAncillaryData)
	b = rtmfp.AppendOption(b, CertOptionExtraRandomness, random[:])
	for _, g := range serverGroups {
		b = rtmfp.AppendOptionVLU(b, CertOptionEphemeralDHGroup, uint64(g))
	}
	return b
}

// NewServerCertificate returns a fresh 77-byte classic responder certificate (see
// AppendServerCertificate) with 64 random bytes read from rand. Its SHA-256 is the
// server's peer ID, so a server that wants a stable peer ID persists the certificate.
func NewServerCertificate(rand io.Reader) ([]byte, error) {
	var r [64]byte
	if _, err := io.ReadFull(rand, r[:]); err != nil {
		return nil, fmt.Errorf("cryptoutil: reading certificate randomness: %w", err)
	}
	return AppendServerCertificate(make([]byte, 0, ServerCertificateLen), &r), nil
}
