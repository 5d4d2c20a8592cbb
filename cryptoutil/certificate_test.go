package cryptoutil

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestServerCertificate(t *testing.T) {
	r := bytes.Repeat([]byte{0x5A}, 64)
	cert, err := NewServerCertificate(bytes.NewReader(r))
	if err != nil {
		t.Fatal(err)
	}
	want := "010a410e" + strings.Repeat("5a", 64) + "02150202151002150e"
	if got := fmt.Sprintf("%x", cert); got != want || len(cert) != ServerCertificateLen {
		t.Fatalf("certificate %s (%d bytes)", got, len(cert))
	}
	c, err := ParseCertificate(cert)
	if err != nil {
		t.Fatal(err)
	}
	if !c.AcceptsAncillaryData || !bytes.Equal(c.ExtraRandomness, r) || !c.IsEphemeral() || c.IsStatic() ||
		len(c.EphemeralGroups) != 3 || c.EphemeralGroups[2] != Group14 || !bytes.Equal(c.Canonical, cert) {
		t.Errorf("parsed %+v", c)
	}
	if c.ID != sha256.Sum256(cert) {
		t.Error("peer ID is not SHA-256 of the certificate")
	}
	// rtmfp-cpp prefers 16, 14, 2 and picks 16 from this certificate; a peer with only
	// group 16 (RFC 7425) finds it, Flash Player (group 2 only) finds 2, our own RFC 7425
	// client (14, 2) finds 14; nobody picks 5, which the certificate gave up for 16.
	for _, tc := range []struct {
		prefs []DHGroup
		want  DHGroup
	}{{[]DHGroup{Group16, Group14, Group2}, Group16}, {[]DHGroup{Group16}, Group16}, {[]DHGroup{Group2}, Group2}, {[]DHGroup{Group14, Group2}, Group14}} {
		if g, ok := c.ChooseGroup(tc.prefs...); !ok || g != tc.want {
			t.Errorf("ChooseGroup(%v) = %v %v, want %v", tc.prefs, g, ok, tc.want)
		}
	}
	if _, ok := c.ChooseGroup(Group5); ok {
		t.Error("group 5 chosen from a certificate without it")
	}
	if _, err := NewServerCertificate(io.LimitReader(bytes.NewReader(r), 10)); err == nil {
		t.Error("short random source accepted")
	}
	other, _ := NewServerCertificate(bytes.NewReader(bytes.Repeat([]byte{1}, 64)))
	if PeerIDFromCertificate(other) == c.ID {
		t.Error("different randomness, same peer ID")
	}
}

func TestStaticCertificate(t *testing.T) {
	k2, _ := NewDHKey(Group2, []byte{7, 7, 7, 7, 7})
	k14, _ := NewDHKey(Group14, []byte{8, 8, 8, 8, 8})
	k16, _ := NewDHKey(Group16, []byte{9, 9, 9, 9, 9})
	cert := AppendStaticCertificate(nil, k16, k14, k2)
	prefixes := [][]byte{{0x84, 0x02, 0x1D, 0x10}, {0x82, 0x02, 0x1D, 0x0E}, {0x81, 0x02, 0x1D, 0x02}}
	off := 0
	for i, k := range []*DHKey{k16, k14, k2} {
		if len(k.PublicKey()) != k.Group().Size() {
			t.Skip("test key with a leading zero; pick other exponents")
		}
		if !bytes.Equal(cert[off:off+4], prefixes[i]) || !bytes.Equal(cert[off+4:off+4+k.Group().Size()], k.PublicKey()) {
			t.Fatalf("option %d: %x", i, cert[off:off+4])
		}
		off += 4 + k.Group().Size()
	}
	if len(cert) != 908 {
		t.Errorf("tcconn-shaped certificate is %d bytes, want 908", len(cert))
	}
	c, err := ParseCertificate(cert)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*DHKey{k2, k14, k16} {
		if got, ok := c.StaticKey(k.Group()); !ok || !bytes.Equal(got, k.PublicKey()) {
			t.Errorf("StaticKey(%v)", k.Group())
		}
	}
	if _, ok := c.StaticKey(Group5); ok {
		t.Error("StaticKey(5) found")
	}
	if !c.IsStatic() || c.IsEphemeral() {
		t.Error("kind")
	}
	if g, ok := c.ChooseGroup(Group5, Group14); !ok || g != Group14 {
		t.Errorf("ChooseGroup = %v", g)
	}
}

// The g16 session's RHello carries tcserver's own certificate; rtmfp-cpp picks 16 from it.
func TestTcserverCertificate(t *testing.T) {
	typ, payload := firstChunk(t, openStartup(t, readFile(t, rfc7425Dir, "g16-02-s2c-rhello.bin")))
	if typ != 0x70 {
		t.Fatal(typ)
	}
	_, _, cert := rhello(t, payload)
	c, err := ParseCertificate(cert)
	if err != nil {
		t.Fatal(err)
	}
	if len(cert) != 77 || !c.AcceptsAncillaryData || len(c.EphemeralGroups) != 3 || len(c.ExtraRandomness) != 64 {
		t.Errorf("parsed %+v", c)
	}
	if g, _ := c.ChooseGroup(Group16, Group14, Group2); g != Group16 {
		t.Errorf("ChooseGroup = %v", g)
	}
}

func TestCertificateCanonicalPart(t *testing.T) {
	// 0x0A, hostname "name" (type 0x00 with a value), ephemeral group 2; then the
	// marker and a non-canonical option.
	canon := mustHex(t, "010a 05006e616d65 021502")
	full := append(append(append([]byte(nil), canon...), 0x00), mustHex(t, "021d02")...)
	c, err := ParseCertificate(full)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.Canonical, canon) || string(c.Hostname) != "name" {
		t.Errorf("canonical %x hostname %q", c.Canonical, c.Hostname)
	}
	if c.ID != sha256.Sum256(canon) || PeerIDFromCertificate(full) != c.ID {
		t.Error("peer ID does not cover exactly the canonical part")
	}
	if len(c.StaticKeys) != 0 || len(c.EphemeralGroups) != 1 {
		t.Error("options after the marker were parsed")
	}
	// A 0x00 byte inside an option value is not a marker.
	k := mustHex(t, "061d02000000ff")
	if PeerIDFromCertificate(k) != sha256.Sum256(k) {
		t.Error("zero byte inside a key taken as a marker")
	}
}

func TestParseCertificateErrors(t *testing.T) {
	for _, bad := range []string{"05 0a", "02 15 80", "02 1d 80", "81"} {
		if _, err := ParseCertificate(mustHex(t, bad)); !errors.Is(err, ErrMalformedCertificate) {
			t.Errorf("%s: %v", bad, err)
		}
		// PeerIDFromCertificate hashes a malformed certificate whole.
		if PeerIDFromCertificate(mustHex(t, bad)) != sha256.Sum256(mustHex(t, bad)) {
			t.Errorf("%s: peer ID", bad)
		}
	}
	c, err := ParseCertificate(mustHex(t, "03 1d 8202"))
	if err != nil || len(c.StaticKeys) != 1 || c.StaticKeys[0].Group != 0 {
		t.Errorf("group above 255: %+v %v", c, err)
	}
	if _, ok := c.StaticKey(0); ok {
		t.Error("StaticKey(0) matched")
	}
}

func TestPeerID(t *testing.T) {
	id, err := ParsePeerID(flashClientPeerID)
	if err != nil {
		t.Fatal(err)
	}
	if id.String() != flashClientPeerID || id.IsZero() {
		t.Errorf("round trip %s", id)
	}
	up, err := ParsePeerID(strings.ToUpper(flashClientPeerID))
	if err != nil || up != id {
		t.Errorf("upper case: %v", err)
	}
	for _, bad := range []string{"", flashClientPeerID[:62], flashClientPeerID + "00", "zz" + flashClientPeerID[2:]} {
		if _, err := ParsePeerID(bad); !errors.Is(err, ErrBadPeerID) {
			t.Errorf("ParsePeerID(%q): %v", bad, err)
		}
	}
	if got, ok := PeerIDFromBytes(id[:]); !ok || got != id {
		t.Error("PeerIDFromBytes")
	}
	if _, ok := PeerIDFromBytes(id[:31]); ok {
		t.Error("PeerIDFromBytes accepted 31 bytes")
	}
	if !(PeerID{}).IsZero() {
		t.Error("IsZero")
	}
	if got := PeerIDFromCertificate(mustHex(t, flashClientCert)); got != id {
		t.Errorf("Flash certificate peer ID %s", got)
	}
}
