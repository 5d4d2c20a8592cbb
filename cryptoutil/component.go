package cryptoutil

import (
	"fmt"

	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
)

// Session key component option types (RFC 7425 §4.5, hmac-sseq-and-groups.md §2.1).
const (
	KeyOptionEphemeralDHKey  = 0x0D // <group VLU> <public key>
	KeyOptionExtraRandomness = 0x0E // random bytes
	KeyOptionHMAC            = 0x1A // <flags> <HMAC length VLU>
	KeyOptionDHGroupSelect   = 0x1D // <group VLU> (the key is in the certificate)
	KeyOptionSequence        = 0x1E // <flags>
)

// ComponentNegotiation is what a session key component says about the two mechanisms.
// An absent option or empty value counts as flags 0, a missing length as 0.
type ComponentNegotiation struct {
	HMACFlags     NegotiationFlags // flags of the 0x1A option
	HMACLength    int              // length in the 0x1A option (what its sender appends); above 255 reads as 255
	SequenceFlags NegotiationFlags // flags of the 0x1E option
}

// InitiatorComponent is a parsed initiator session key component (SKIC, from IIKeying).
// Slices refer into Raw.
//
//	Flash Player: 02 1D 02 | 41 0E <64 random> | 03 1A 02 0A | 02 1E 02
//	tcconn:       02 1D 0E | 41 0E <64 random> | 03 1A 07 10 | 02 1E 07
type InitiatorComponent struct {
	Raw []byte // the component as parsed
	// Group is the selected DH group: the first 0x1D (group select) option, or for an
	// ephemeral initiator the group of its first 0x0D option. 0 when there is neither
	// or the number exceeds 255.
	Group DHGroup
	// EphemeralKey is the public key of the first 0x0D option for Group (ephemeral
	// initiators only); nil when the key is in the certificate.
	EphemeralKey []byte
	// Randomness is the 0x0E option's value.
	Randomness []byte
	ComponentNegotiation
}

// set reads a 0x1A or 0x1E option into cn.
func (cn *ComponentNegotiation) set(o rtmfp.Option) {
	switch o.Type {
	case KeyOptionHMAC:
		if len(o.Value) > 0 {
			cn.HMACFlags = NegotiationFlags(o.Value[0])
			if l, _, err := rtmfp.ReadVLU(o.Value[1:]); err == nil {
				cn.HMACLength = int(min(l, 255))
			}
		}
	case KeyOptionSequence:
		if len(o.Value) > 0 {
			cn.SequenceFlags = NegotiationFlags(o.Value[0])
		}
	}
}

// ParseInitiatorComponent parses an SKIC. The first option of each type counts, option
// order does not matter, unknown options are ignored.
func ParseInitiatorComponent(skic []byte) (InitiatorComponent, error) {
	ic := InitiatorComponent{Raw: skic}
	var seenHMAC, seenSeq, seenSelect, seenEph bool
	it := rtmfp.NewOptionIterator(skic)
	for it.Next() {
		o := it.Option()
		switch o.Type {
		case KeyOptionHMAC:
			if !seenHMAC {
				seenHMAC = true
				ic.set(o)
			}
		case KeyOptionSequence:
			if !seenSeq {
				seenSeq = true
				ic.set(o)
			}
		case KeyOptionDHGroupSelect:
			if !seenSelect {
				g, _, err := rtmfp.ReadVLU(o.Value)
				if err != nil {
					return InitiatorComponent{}, fmt.Errorf("%w: group select: %v", ErrMalformedComponent, err)
				}
				seenSelect = true
				ic.Group = groupFromVLU(g)
			}
		case KeyOptionEphemeralDHKey:
			if _, _, err := rtmfp.ReadVLU(o.Value); err != nil {
				return InitiatorComponent{}, fmt.Errorf("%w: ephemeral key: %v", ErrMalformedComponent, err)
			}
			seenEph = true
		case KeyOptionExtraRandomness:
			if ic.Randomness == nil {
				ic.Randomness = o.Value
			}
		}
	}
	if err := it.Err(); err != nil {
		return InitiatorComponent{}, fmt.Errorf("%w: %v", ErrMalformedComponent, err)
	}
	if seenEph {
		// The key of the selected group, or without a group select the first key.
		it := rtmfp.NewOptionIterator(skic)
		for it.Next() {
			o := it.Option()
			if o.Type != KeyOptionEphemeralDHKey {
				continue
			}
			g, n, _ := rtmfp.ReadVLU(o.Value)
			if !seenSelect {
				ic.Group = groupFromVLU(g)
			} else if groupFromVLU(g) != ic.Group {
				continue
			}
			ic.EphemeralKey = o.Value[n:]
			break
		}
	}
	return ic, nil
}

// PeerPublicKey returns the initiator's public key for the selected group: the SKIC's
// own 0x0D key (ephemeral initiator) or else the certificate's 0x1D key whose group
// matches (static initiator; not necessarily the first one). It does not validate the
// key (SharedSecret does).
func (ic *InitiatorComponent) PeerPublicKey(cert *Certificate) ([]byte, error) {
	if ic.EphemeralKey != nil {
		return ic.EphemeralKey, nil
	}
	if cert != nil {
		if k, ok := cert.StaticKey(ic.Group); ok {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: %v", ErrNoPublicKey, ic.Group)
}

// AppendResponderComponent appends the responder session key component (SKRC) for an
// agreement and the responder's ephemeral key:
//
//	classic:   03 1A 00 00 | 02 1E 00 | <VLU len> 0D <group VLU> <public key>
//	otherwise: 03 1A <flags> <len> | 02 1E <flags> | <VLU len> 0D <group VLU> <public key>
//	           flags = SND if sending | SOR | REQ if requiring; len = a.HMACLength
//
// Against tcconn's defaults that is `03 1A 07 10 | 02 1E 07 | 82 02 0D 0E <256>`.
func AppendResponderComponent(b []byte, a Agreement, key *DHKey) []byte {
	if a.Classic() {
		b = append(b, 0x03, KeyOptionHMAC, 0x00, 0x00, 0x02, KeyOptionSequence, 0x00)
	} else {
		b = appendNegotiationOptions(b, a.HMACFlags(), a.HMACLength, a.SequenceFlags())
	}
	return appendKeyOption(b, KeyOptionEphemeralDHKey, key.group, key.pub)
}

func appendNegotiationOptions(b []byte, hf NegotiationFlags, hlen int, sf NegotiationFlags) []byte {
	b = rtmfp.AppendVLU(b, uint64(1+1+rtmfp.VLULen(uint64(hlen))))
	b = append(b, KeyOptionHMAC, byte(hf))
	b = rtmfp.AppendVLU(b, uint64(hlen))
	return append(b, 0x02, KeyOptionSequence, byte(sf))
}

// AppendInitiatorComponent appends a static initiator's SKIC: the group select, the
// random bytes (64 in practice; omitted when empty) and the negotiation options with
// flags SND if send-always | SOR | REQ if receive-required:
//
//	02 1D <group> | 41 0E <64 random> | 03 1A <flags> <len> | 02 1E <flags>
//	FlashInitiatorPolicy(): ... 03 1A 02 0A | 02 1E 02      StrictPolicy(): ... 03 1A 07 10 | 02 1E 07
func AppendInitiatorComponent(b []byte, group DHGroup, random []byte, p Policy) []byte {
	b = rtmfp.AppendOptionVLU(b, KeyOptionDHGroupSelect, uint64(group))
	if len(random) > 0 {
		b = rtmfp.AppendOption(b, KeyOptionExtraRandomness, random)
	}
	return appendNegotiationOptions(b,
		flagsFor(p.HMACSendAlways, p.HMACRecvRequired), p.hmacLength(),
		flagsFor(p.SequenceSendAlways, p.SequenceRecvRequired))
}

// ParseResponderComponent reads the negotiation options of an SKRC and the public key of
// its first 0x0D option for group g (nil if there is none).
func ParseResponderComponent(skrc []byte, g DHGroup) (ComponentNegotiation, []byte, error) {
	var cn ComponentNegotiation
	var seenHMAC, seenSeq bool
	var key []byte
	it := rtmfp.NewOptionIterator(skrc)
	for it.Next() {
		o := it.Option()
		switch o.Type {
		case KeyOptionHMAC:
			if !seenHMAC {
				seenHMAC = true
				cn.set(o)
			}
		case KeyOptionSequence:
			if !seenSeq {
				seenSeq = true
				cn.set(o)
			}
		case KeyOptionEphemeralDHKey:
			h, n, err := rtmfp.ReadVLU(o.Value)
			if err != nil {
				return ComponentNegotiation{}, nil, fmt.Errorf("%w: ephemeral key: %v", ErrMalformedComponent, err)
			}
			if key == nil && groupFromVLU(h) == g && g != 0 {
				key = o.Value[n:]
			}
		}
	}
	if err := it.Err(); err != nil {
		return ComponentNegotiation{}, nil, fmt.Errorf("%w: %v", ErrMalformedComponent, err)
	}
	return cn, key, nil
}
