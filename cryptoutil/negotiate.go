package cryptoutil

import (
	"errors"
	"fmt"

	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
)

// Reasons a session key negotiation aborts (hmac-sseq-and-groups.md §2.4). The side that
// aborts sends nothing (responder: no RIKeying; initiator: ignores the RIKeying).
var (
	// ErrMalformedComponent means a session key component whose options do not parse.
	ErrMalformedComponent = errors.New("cryptoutil: malformed session key component")
	// ErrMechanismRequired means this side requires receiving HMAC or sequence numbers
	// and the far side offers neither to send them always nor on request.
	ErrMechanismRequired = errors.New("cryptoutil: required mechanism not offered by far side")
	// ErrBadHMACLength means this side will check HMACs and the far side advertised a
	// length outside 4…32.
	ErrBadHMACLength = errors.New("cryptoutil: far HMAC length outside 4…32")
	// ErrNoPublicKey means no public key for the selected group was found.
	ErrNoPublicKey = errors.New("cryptoutil: no DH public key for the selected group")
	// ErrBadPolicy means a local Policy with an HMAC length outside 4…32.
	ErrBadPolicy = errors.New("cryptoutil: invalid local negotiation policy")
)

// NegotiationFlags are the flag bits of the 0x1A (HMAC) and 0x1E (session sequence
// number) options.
type NegotiationFlags uint8

// The flag bits.
const (
	FlagRequest       NegotiationFlags = 0x01 // REQ: "I request it" (a hard requirement)
	FlagSendOnRequest NegotiationFlags = 0x02 // SOR: "I will send it on request"
	FlagSendAlways    NegotiationFlags = 0x04 // SND: "I will always send it"
)

// Offers reports whether f promises to send the mechanism, always or on request.
func (f NegotiationFlags) Offers() bool { return f&(FlagSendAlways|FlagSendOnRequest) != 0 }

// flagsFor returns the flags a side writes: SND if it sends | SOR | REQ if it requires.
func flagsFor(send, recv bool) NegotiationFlags {
	f := FlagSendOnRequest
	if send {
		f |= FlagSendAlways
	}
	if recv {
		f |= FlagRequest
	}
	return f
}

// Policy is one side's local wish for the two mechanisms, before combining with the far
// side: per mechanism "send always" and "receive required" (rtmfp-cpp's four setters).
// The zero value is the server default: require nothing, send only when asked, so that
// Flash-era clients get the classic `03 1A 00 00 02 1E 00`.
type Policy struct {
	HMACSendAlways       bool // always append HMACs (flag SND)
	HMACRecvRequired     bool // require HMACs on received packets (flag REQ)
	SequenceSendAlways   bool // always send session sequence numbers (flag SND)
	SequenceRecvRequired bool // require session sequence numbers (flag REQ)
	// HMACLength is the HMAC length this side advertises and appends when it sends
	// HMACs; 0 means DefaultHMACLength (16). Flash Player advertises 10.
	HMACLength int
}

// StrictPolicy requires and always sends both mechanisms, like rtmfp-cpp's tcconn and
// tcserver by default.
func StrictPolicy() Policy {
	return Policy{HMACSendAlways: true, HMACRecvRequired: true, SequenceSendAlways: true, SequenceRecvRequired: true}
}

// FlashInitiatorPolicy is what Flash Player and librtmfp advertise as initiators: both
// mechanisms on request only, HMAC length 10.
func FlashInitiatorPolicy() Policy { return Policy{HMACLength: 10} }

func (p Policy) hmacLength() int {
	if p.HMACLength == 0 {
		return DefaultHMACLength
	}
	return p.HMACLength
}

func (p Policy) validate() error {
	if l := p.hmacLength(); l < MinHMACLength || l > MaxHMACLength {
		return fmt.Errorf("%w: HMAC length %d", ErrBadPolicy, p.HMACLength)
	}
	return nil
}

// Agreement is the outcome of the negotiation from one side's point of view ("send" =
// what this side sends). Both sides reach mirror-image agreements.
type Agreement struct {
	Group DHGroup // the DH group of the session

	SendHMAC bool // this side appends HMACs (of HMACLength bytes)
	RecvHMAC bool // this side requires HMACs (of FarHMACLength bytes) on what it receives
	// HMACLength is the length this side advertises in its component and appends
	// when SendHMAC (0 for a responder's classic component).
	HMACLength int
	// FarHMACLength is the length the far side advertised (4…32 when RecvHMAC).
	FarHMACLength int

	SendSequence bool // this side numbers its packets
	RecvSequence bool // this side requires numbered packets
}

// Classic reports whether neither mechanism is used in either direction; a responder
// then answers with exactly `03 1A 00 00 02 1E 00`, the only prefix librtmfp accepts.
func (a Agreement) Classic() bool {
	return !a.SendHMAC && !a.RecvHMAC && !a.SendSequence && !a.RecvSequence
}

// HMACFlags returns the 0x1A flags this side writes: SND if it sends | SOR | REQ if it
// requires, or 0 in the classic case.
func (a Agreement) HMACFlags() NegotiationFlags {
	if a.Classic() {
		return 0
	}
	return flagsFor(a.SendHMAC, a.RecvHMAC)
}

// SequenceFlags returns the 0x1E flags this side writes (see HMACFlags).
func (a Agreement) SequenceFlags() NegotiationFlags {
	if a.Classic() {
		return 0
	}
	return flagsFor(a.SendSequence, a.RecvSequence)
}

// EncryptMode is the Mode of this side's Encrypter.
func (a Agreement) EncryptMode() Mode {
	m := Mode{SequenceNumbers: a.SendSequence}
	if a.SendHMAC {
		m.HMACLength = a.HMACLength
	}
	return m
}

// DecryptMode is the Mode of this side's Decrypter.
func (a Agreement) DecryptMode() Mode {
	m := Mode{SequenceNumbers: a.RecvSequence}
	if a.RecvHMAC {
		m.HMACLength = a.FarHMACLength
	}
	return m
}

// combine applies rtmfp-cpp's rule for one mechanism (hmac-sseq-and-groups.md §2.3):
// abort if we require it and the far side offers neither SND nor SOR; far SND makes us
// require it; far REQ makes us send it.
func combine(sendAlways, recvRequired bool, far NegotiationFlags) (send, recv bool, ok bool) {
	if recvRequired && !far.Offers() {
		return false, false, false
	}
	return sendAlways || far&FlagRequest != 0, recvRequired || far&FlagSendAlways != 0, true
}

// agree combines a local policy with the far component's negotiation options.
func agree(local Policy, far ComponentNegotiation, g DHGroup) (Agreement, error) {
	if err := local.validate(); err != nil {
		return Agreement{}, err
	}
	a := Agreement{Group: g, HMACLength: local.hmacLength(), FarHMACLength: far.HMACLength}
	var ok bool
	if a.SendSequence, a.RecvSequence, ok = combine(local.SequenceSendAlways, local.SequenceRecvRequired, far.SequenceFlags); !ok {
		return Agreement{}, fmt.Errorf("%w: session sequence numbers", ErrMechanismRequired)
	}
	if a.SendHMAC, a.RecvHMAC, ok = combine(local.HMACSendAlways, local.HMACRecvRequired, far.HMACFlags); !ok {
		return Agreement{}, fmt.Errorf("%w: HMAC", ErrMechanismRequired)
	}
	if a.RecvHMAC && (far.HMACLength < MinHMACLength || far.HMACLength > MaxHMACLength) {
		return Agreement{}, fmt.Errorf("%w: %d", ErrBadHMACLength, far.HMACLength)
	}
	return a, nil
}

// NegotiateResponder combines the initiator's component with the responder's local
// policy (sequence numbers, then HMAC, then the DH group, as rtmfp-cpp does). Errors:
// ErrMechanismRequired, ErrBadHMACLength, ErrUnsupportedGroup, ErrBadPolicy.
func NegotiateResponder(ic InitiatorComponent, local Policy) (Agreement, error) {
	a, err := agree(local, ic.ComponentNegotiation, ic.Group)
	if err != nil {
		return Agreement{}, err
	}
	if !ic.Group.Valid() {
		return Agreement{}, fmt.Errorf("%w: %d", ErrUnsupportedGroup, ic.Group)
	}
	if a.Classic() {
		a.HMACLength = 0 // the classic component advertises length 0
	}
	return a, nil
}

// NegotiateInitiator combines the responder's SKRC (from RIKeying) with the initiator's
// local policy and returns the agreement and the responder's ephemeral public key for
// ourGroup, validated (ValidatePublicKey). Errors: ErrMalformedComponent,
// ErrMechanismRequired, ErrBadHMACLength, ErrNoPublicKey, ErrBadPublicKey,
// ErrUnsupportedGroup, ErrBadPolicy; the initiator then ignores the RIKeying.
func NegotiateInitiator(local Policy, skrc []byte, ourGroup DHGroup) (Agreement, []byte, error) {
	return NegotiateInitiatorStatic(local, skrc, ourGroup, nil)
}

// AppendStaticResponderComponent appends the SKRC of a responder whose DH key is in its
// certificate (a P2P peer: Flash Player, librtmfp): the negotiation options, then the
// random bytes as an extra-randomness option, and no key. For a classic agreement and 64
// random bytes that is the 73-byte component Flash peers send:
//
//	03 1A 00 00 | 02 1E 00 | 41 0E <64 random>
func AppendStaticResponderComponent(b []byte, a Agreement, random []byte) []byte {
	if a.Classic() {
		b = append(b, 0x03, KeyOptionHMAC, 0x00, 0x00, 0x02, KeyOptionSequence, 0x00)
	} else {
		b = appendNegotiationOptions(b, a.HMACFlags(), a.HMACLength, a.SequenceFlags())
	}
	return rtmfp.AppendOption(b, KeyOptionExtraRandomness, random)
}

// NegotiateInitiatorStatic is NegotiateInitiator for a responder that may hold its key in
// its certificate: the responder's public key is the SKRC's 0x0D option for ourGroup if
// there is one, else certKey (the static key of ourGroup in the responder's certificate).
// The key is validated either way.
func NegotiateInitiatorStatic(local Policy, skrc []byte, ourGroup DHGroup, certKey []byte) (Agreement, []byte, error) {
	if !ourGroup.Valid() {
		return Agreement{}, nil, fmt.Errorf("%w: %d", ErrUnsupportedGroup, ourGroup)
	}
	cn, key, err := ParseResponderComponent(skrc, ourGroup)
	if err != nil {
		return Agreement{}, nil, err
	}
	a, err := agree(local, cn, ourGroup)
	if err != nil {
		return Agreement{}, nil, err
	}
	if key == nil {
		key = certKey
	}
	if key == nil {
		return Agreement{}, nil, fmt.Errorf("%w: %v", ErrNoPublicKey, ourGroup)
	}
	if err := ValidatePublicKey(ourGroup, key); err != nil {
		return Agreement{}, nil, err
	}
	return a, key, nil
}
