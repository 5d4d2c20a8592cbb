package cryptoutil

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// skicWith builds a tcconn-shaped SKIC with the given raw negotiation options.
func skicWith(t *testing.T, group byte, opts string) []byte {
	t.Helper()
	b := []byte{0x02, 0x1D, group, 0x41, 0x0E}
	b = append(b, make([]byte, 64)...)
	return append(b, mustHex(t, opts)...)
}

func TestNegotiateResponderTable(t *testing.T) {
	strict := StrictPolicy()
	for _, tc := range []struct {
		name    string
		skic    []byte
		policy  Policy
		err     error
		prefix  string // expected SKRC negotiation options
		hmac    [2]bool
		seq     [2]bool // send, recv
		farHMAC int
	}{
		{"tcconn default", skicWith(t, 14, "031a0710 021e07"), Policy{}, nil, "031a0710021e07", [2]bool{true, true}, [2]bool{true, true}, 16},
		{"tcconn -H -S", skicWith(t, 14, "031a0210 021e02"), Policy{}, nil, "031a0000021e00", [2]bool{}, [2]bool{}, 16},
		{"tcconn -H", skicWith(t, 14, "031a0210 021e07"), Policy{}, nil, "031a0210021e07", [2]bool{}, [2]bool{true, true}, 16},
		{"tcconn -S", skicWith(t, 14, "031a0710 021e02"), Policy{}, nil, "031a0710021e02", [2]bool{true, true}, [2]bool{}, 16},
		{"Flash Player", skicWith(t, 2, "031a020a 021e02"), Policy{}, nil, "031a0000021e00", [2]bool{}, [2]bool{}, 10},
		{"options reversed", skicWith(t, 14, "021e07 031a0710"), Policy{}, nil, "031a0710021e07", [2]bool{true, true}, [2]bool{true, true}, 16},
		{"no negotiation options", skicWith(t, 2, ""), Policy{}, nil, "031a0000021e00", [2]bool{}, [2]bool{}, 0},
		{"empty option values", skicWith(t, 2, "011a 011e"), Policy{}, nil, "031a0000021e00", [2]bool{}, [2]bool{}, 0},
		{"REQ only: we send", skicWith(t, 2, "031a0110 021e01"), Policy{}, nil, "031a0610021e06", [2]bool{true, false}, [2]bool{true, false}, 16},
		{"SND only: we require", skicWith(t, 2, "031a0410 021e04"), Policy{}, nil, "031a0310021e03", [2]bool{false, true}, [2]bool{false, true}, 16},
		{"first option counts", skicWith(t, 2, "031a0710 031a0000 021e07 021e00"), Policy{}, nil, "031a0710021e07", [2]bool{true, true}, [2]bool{true, true}, 16},
		{"strict server, SOR client", skicWith(t, 14, "031a0210 021e02"), strict, nil, "031a0710021e07", [2]bool{true, true}, [2]bool{true, true}, 16},
		{"strict server, Flash client", skicWith(t, 2, "031a020a 021e02"), strict, nil, "031a0710021e07", [2]bool{true, true}, [2]bool{true, true}, 10},
		{"strict server, Cumulus-like flags", skicWith(t, 2, "031a0000 021e00"), strict, ErrMechanismRequired, "", [2]bool{}, [2]bool{}, 0},
		{"strict server, seq offered, HMAC not", skicWith(t, 2, "031a0000 021e02"), strict, ErrMechanismRequired, "", [2]bool{}, [2]bool{}, 0},
		{"HMAC length 3", skicWith(t, 2, "031a0703 021e07"), Policy{}, ErrBadHMACLength, "", [2]bool{}, [2]bool{}, 0},
		{"HMAC length 33", skicWith(t, 2, "031a0721 021e07"), Policy{}, ErrBadHMACLength, "", [2]bool{}, [2]bool{}, 0},
		{"HMAC length 4", skicWith(t, 2, "031a0704 021e07"), Policy{}, nil, "031a0710021e07", [2]bool{true, true}, [2]bool{true, true}, 4},
		{"HMAC length 32", skicWith(t, 2, "031a0720 021e07"), Policy{}, nil, "031a0710021e07", [2]bool{true, true}, [2]bool{true, true}, 32},
		{"HMAC length missing", skicWith(t, 2, "021a04 021e07"), Policy{}, ErrBadHMACLength, "", [2]bool{}, [2]bool{}, 0},
		{"HMAC length as two-byte VLU", skicWith(t, 2, "041a048100 021e07"), Policy{}, ErrBadHMACLength, "", [2]bool{}, [2]bool{}, 0},
		{"bad length ignored when not receiving", skicWith(t, 2, "031a0221 021e07"), Policy{}, nil, "031a0210021e07", [2]bool{}, [2]bool{true, true}, 33},
		{"our length 10", skicWith(t, 2, "031a0710 021e07"), Policy{HMACLength: 10}, nil, "031a070a021e07", [2]bool{true, true}, [2]bool{true, true}, 16},
		{"bad policy", skicWith(t, 2, "031a0710 021e07"), Policy{HMACLength: 40}, ErrBadPolicy, "", [2]bool{}, [2]bool{}, 0},
		{"group 3", skicWith(t, 3, "031a0710 021e07"), Policy{}, ErrUnsupportedGroup, "", [2]bool{}, [2]bool{}, 0},
		{"group 5", skicWith(t, 5, "031a0710 021e07"), Policy{}, nil, "031a0710021e07", [2]bool{true, true}, [2]bool{true, true}, 16},
		{"no group select", mustHex(t, "031a0710 021e07"), Policy{}, ErrUnsupportedGroup, "", [2]bool{}, [2]bool{}, 0},
		{"group above 255", mustHex(t, "031d8202 031a0710 021e07"), Policy{}, ErrUnsupportedGroup, "", [2]bool{}, [2]bool{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ic, err := ParseInitiatorComponent(tc.skic)
			if err != nil {
				t.Fatal(err)
			}
			a, err := NegotiateResponder(ic, tc.policy)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if a.SendHMAC != tc.hmac[0] || a.RecvHMAC != tc.hmac[1] || a.SendSequence != tc.seq[0] || a.RecvSequence != tc.seq[1] || a.FarHMACLength != tc.farHMAC {
				t.Errorf("agreement %+v", a)
			}
			k, _ := NewDHKey(ic.Group, []byte{0x55, 0x66, 0x77, 0x88, 0x99})
			skrc := AppendResponderComponent(nil, a, k)
			if got := fmt.Sprintf("%x", skrc[:7]); got != tc.prefix {
				t.Errorf("SKRC options %s, want %s", got, tc.prefix)
			}
			// The responder's modes follow the agreement.
			em, dm := a.EncryptMode(), a.DecryptMode()
			if em.SequenceNumbers != a.SendSequence || dm.SequenceNumbers != a.RecvSequence ||
				(em.HMACLength != 0) != a.SendHMAC || (dm.HMACLength != 0) != a.RecvHMAC ||
				(a.RecvHMAC && dm.HMACLength != tc.farHMAC) || (a.SendHMAC && em.HMACLength != a.HMACLength) {
				t.Errorf("modes %+v / %+v for %+v", em, dm, a)
			}
		})
	}
}

func TestParseInitiatorComponentErrors(t *testing.T) {
	for _, tc := range []string{
		"05 1d 02",                         // option overruns
		"02 1d 80",                         // group VLU truncated
		"81",                               // length VLU truncated
		"02 0d 80",                         // ephemeral key group truncated
		"ff ff ff ff ff ff ff ff ff ff ff", // VLU overflow
	} {
		if _, err := ParseInitiatorComponent(mustHex(t, tc)); !errors.Is(err, ErrMalformedComponent) {
			t.Errorf("%s: %v", tc, err)
		}
	}
	// An empty component parses to nothing.
	ic, err := ParseInitiatorComponent(nil)
	if err != nil || ic.Group != 0 || ic.HMACFlags != 0 {
		t.Errorf("empty: %+v %v", ic, err)
	}
}

// An ephemeral initiator puts its key in the SKIC instead of the certificate.
func TestEphemeralInitiator(t *testing.T) {
	k, err := NewDHKey(Group14, []byte{1, 2, 3, 4, 5, 6, 7})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewDHKey(Group2, []byte{9, 9, 9, 9})
	skic := appendKeyOption(nil, KeyOptionEphemeralDHKey, Group2, other.PublicKey())
	skic = appendKeyOption(skic, KeyOptionEphemeralDHKey, Group14, k.PublicKey())
	skic = append(skic, mustHex(t, "031a0710021e07")...)

	ic, err := ParseInitiatorComponent(skic)
	if err != nil {
		t.Fatal(err)
	}
	if ic.Group != Group2 || !bytes.Equal(ic.EphemeralKey, other.PublicKey()) {
		t.Errorf("without group select: group %v", ic.Group)
	}
	// With a group select (after the keys) the matching key is taken.
	ic, err = ParseInitiatorComponent(append(append([]byte(nil), skic...), 0x02, 0x1D, 0x0E))
	if err != nil {
		t.Fatal(err)
	}
	if ic.Group != Group14 || !bytes.Equal(ic.EphemeralKey, k.PublicKey()) {
		t.Errorf("with group select: group %v", ic.Group)
	}
	if got, err := ic.PeerPublicKey(nil); err != nil || !bytes.Equal(got, k.PublicKey()) {
		t.Errorf("PeerPublicKey: %v", err)
	}
	// A static initiator whose certificate lacks the selected group.
	ic, _ = ParseInitiatorComponent(skicWith(t, 14, "031a0710021e07"))
	c, _ := ParseCertificate(AppendStaticCertificate(nil, other))
	if _, err := ic.PeerPublicKey(&c); !errors.Is(err, ErrNoPublicKey) {
		t.Errorf("missing group: %v", err)
	}
}

func TestNegotiateInitiatorTable(t *testing.T) {
	k14, _ := NewDHKey(Group14, []byte{0x42, 0x42, 0x42, 0x42, 0x42})
	key14 := appendKeyOption(nil, KeyOptionEphemeralDHKey, Group14, k14.PublicKey())
	k2, _ := NewDHKey(Group2, []byte{0x42, 0x42, 0x42, 0x42, 0x43})
	key2 := appendKeyOption(nil, KeyOptionEphemeralDHKey, Group2, k2.PublicKey())
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	strict := StrictPolicy()
	for _, tc := range []struct {
		name   string
		policy Policy
		skrc   []byte
		err    error
		want   Agreement
	}{
		{"strict vs classic", strict, cat(mustHex(t, "031a0000021e00"), key14), ErrMechanismRequired, Agreement{}},
		{"strict vs SOR only", strict, cat(mustHex(t, "031a0210021e02"), key14), nil,
			Agreement{Group: Group14, SendHMAC: true, RecvHMAC: true, HMACLength: 16, FarHMACLength: 16, SendSequence: true, RecvSequence: true}},
		{"strict vs tcserver order", strict, cat(mustHex(t, "021e07031a0710"), key14), nil,
			Agreement{Group: Group14, SendHMAC: true, RecvHMAC: true, HMACLength: 16, FarHMACLength: 16, SendSequence: true, RecvSequence: true}},
		{"Flash vs classic", FlashInitiatorPolicy(), cat(mustHex(t, "031a0000021e00"), key14), nil,
			Agreement{Group: Group14, HMACLength: 10, FarHMACLength: 0}},
		{"Flash vs RFC server", FlashInitiatorPolicy(), cat(mustHex(t, "031a0710021e07"), key14), nil,
			Agreement{Group: Group14, SendHMAC: true, RecvHMAC: true, HMACLength: 10, FarHMACLength: 16, SendSequence: true, RecvSequence: true}},
		{"far SND with length 0", Policy{}, cat(mustHex(t, "031a0400021e00"), key14), ErrBadHMACLength, Agreement{}},
		{"no key", Policy{}, mustHex(t, "031a0000021e00"), ErrNoPublicKey, Agreement{}},
		{"key for another group", Policy{}, cat(mustHex(t, "031a0000021e00"), key2), ErrNoPublicKey, Agreement{}},
		{"key of the right group after another", Policy{}, cat(key2, mustHex(t, "031a0000021e00"), key14), nil,
			Agreement{Group: Group14, HMACLength: 16}},
		{"weak key", Policy{}, cat(mustHex(t, "031a0000021e00"), appendKeyOption(nil, KeyOptionEphemeralDHKey, Group14, []byte{1})), ErrBadPublicKey, Agreement{}},
		{"malformed", Policy{}, mustHex(t, "031a00"), ErrMalformedComponent, Agreement{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, peer, err := NegotiateInitiator(tc.policy, tc.skrc, Group14)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if a != tc.want || !bytes.Equal(peer, k14.PublicKey()) {
				t.Errorf("agreement %+v", a)
			}
		})
	}
	if _, _, err := NegotiateInitiator(Policy{}, key2, 3); !errors.Is(err, ErrUnsupportedGroup) {
		t.Errorf("group 3: %v", err)
	}
}

func policyFromBits(b int) Policy {
	return Policy{HMACSendAlways: b&1 != 0, HMACRecvRequired: b&2 != 0, SequenceSendAlways: b&4 != 0, SequenceRecvRequired: b&8 != 0}
}

// Every combination of initiator and responder policy negotiates, both ends agree, a
// mechanism is on in a direction iff the sender wants to send it or the receiver
// requires it, and the resulting crypto interoperates.
func TestNegotiationAllPolicies(t *testing.T) {
	rk, _ := NewDHKey(Group2, []byte{0x31, 0x41, 0x59, 0x26, 0x53})
	secret := []byte("a shared secret, in real life from DH")
	for ib := range 16 {
		for rb := range 16 {
			ip, rp := policyFromBits(ib), policyFromBits(rb)
			skic := AppendInitiatorComponent(nil, Group2, make([]byte, 64), ip)
			ic, err := ParseInitiatorComponent(skic)
			if err != nil {
				t.Fatal(err)
			}
			ra, err := NegotiateResponder(ic, rp)
			if err != nil {
				t.Fatalf("%+v / %+v: responder: %v", ip, rp, err)
			}
			skrc := AppendResponderComponent(nil, ra, rk)
			ia, _, err := NegotiateInitiator(ip, skrc, Group2)
			if err != nil {
				t.Fatalf("%+v / %+v: initiator: %v (skrc %x)", ip, rp, err, skrc[:7])
			}
			if ia != mirror(ra) {
				t.Fatalf("%+v / %+v: agreements %+v / %+v", ip, rp, ia, ra)
			}
			if ia.SendHMAC != (ip.HMACSendAlways || rp.HMACRecvRequired) ||
				ra.SendHMAC != (rp.HMACSendAlways || ip.HMACRecvRequired) ||
				ia.SendSequence != (ip.SequenceSendAlways || rp.SequenceRecvRequired) ||
				ra.SendSequence != (rp.SequenceSendAlways || ip.SequenceRecvRequired) {
				t.Fatalf("%+v / %+v: unexpected agreement %+v", ip, rp, ra)
			}
			ie, id, err := NewSessionCrypto(Initiator, secret, skic, skrc, ia)
			if err != nil {
				t.Fatal(err)
			}
			re, rd, err := NewSessionCrypto(Responder, secret, skic, skrc, ra)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if p, _, err := rd.Open(nil, ie.Seal(nil, 3, []byte{0x89, 1, 2})); err != nil || p[0] != 0x89 {
					t.Fatalf("I→R: %v", err)
				}
				if p, _, err := id.Open(nil, re.Seal(nil, 4, []byte{0x4a, 1, 2})); err != nil || p[0] != 0x4a {
					t.Fatalf("R→I: %v", err)
				}
			}
		}
	}
	if _, _, err := NewSessionCrypto(Role(9), secret, nil, nil, Agreement{}); err == nil {
		t.Error("invalid role accepted")
	}
	if Responder.String() != "responder" || Initiator.String() != "initiator" || Role(9).String() == "" {
		t.Error("Role.String")
	}
}

func TestAppendInitiatorComponentShapes(t *testing.T) {
	r := bytes.Repeat([]byte{0xAB}, 64)
	want := "021d0e410e" + fmt.Sprintf("%x", r) + "031a0710021e07"
	if got := fmt.Sprintf("%x", AppendInitiatorComponent(nil, Group14, r, StrictPolicy())); got != want {
		t.Errorf("strict SKIC %s", got)
	}
	if got := AppendInitiatorComponent(nil, Group2, r, StrictPolicy()); len(got) != 76 {
		t.Errorf("SKIC is %d bytes, want 76", len(got))
	}
	if got := fmt.Sprintf("%x", AppendInitiatorComponent([]byte{1}, Group16, nil, Policy{HMACSendAlways: true})); got != "01021d10031a0610021e02" {
		t.Errorf("no randomness: %s", got)
	}
}

func TestStaticResponderComponent(t *testing.T) {
	random := bytes.Repeat([]byte{0xAB}, 64)
	ic, err := ParseInitiatorComponent(AppendInitiatorComponent(nil, Group2, bytes.Repeat([]byte{1}, 64), FlashInitiatorPolicy()))
	if err != nil {
		t.Fatal(err)
	}
	a, err := NegotiateResponder(ic, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	skrc := AppendStaticResponderComponent(nil, a, random)
	want := append([]byte{0x03, 0x1A, 0x00, 0x00, 0x02, 0x1E, 0x00, 0x41, 0x0E}, random...)
	if !bytes.Equal(skrc, want) || len(skrc) != 73 {
		t.Fatalf("static SKRC = %x (%d bytes), want the 73-byte Flash peer component", skrc, len(skrc))
	}
	// The initiator finds no key in it and takes the certificate's.
	responder, _ := NewDHKey(Group2, bytes.Repeat([]byte{7}, 28))
	if _, _, err := NegotiateInitiator(FlashInitiatorPolicy(), skrc, Group2); !errors.Is(err, ErrNoPublicKey) {
		t.Fatalf("NegotiateInitiator without a key: %v", err)
	}
	ag, key, err := NegotiateInitiatorStatic(FlashInitiatorPolicy(), skrc, Group2, responder.PublicKey())
	if err != nil || !bytes.Equal(key, responder.PublicKey()) || !ag.Classic() {
		t.Fatalf("NegotiateInitiatorStatic = %+v %x %v", ag, key, err)
	}
	if _, _, err := NegotiateInitiatorStatic(FlashInitiatorPolicy(), skrc, Group2, nil); !errors.Is(err, ErrNoPublicKey) {
		t.Fatalf("no key anywhere: %v", err)
	}
	if _, _, err := NegotiateInitiatorStatic(FlashInitiatorPolicy(), skrc, Group2, []byte{1, 2, 3}); err == nil {
		t.Fatal("an invalid certificate key was accepted")
	}
}
