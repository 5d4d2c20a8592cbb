package cryptoutil

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
)

const (
	flashDir   = "../testdata/flash-session"
	rfc7425Dir = "../testdata/rfc7425-session"
)

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	s = strings.NewReplacer(" ", "", "\n", "", "\t", "", "|", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func readFile(tb testing.TB, dir, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// openStartup decrypts a startup datagram with the default key.
func openStartup(tb testing.TB, datagram []byte) []byte {
	tb.Helper()
	p, _, err := NewStartupDecrypter().Open(nil, datagram)
	if err != nil {
		tb.Fatalf("startup Open: %v", err)
	}
	return p
}

// firstChunk returns the type and payload of the first chunk of a packet (flags byte
// first).
func firstChunk(tb testing.TB, packet []byte) (byte, []byte) {
	tb.Helper()
	off := 1
	if packet[0]&0x08 != 0 {
		off += 2
	}
	if packet[0]&0x04 != 0 {
		off += 2
	}
	typ := packet[off]
	l := int(binary.BigEndian.Uint16(packet[off+1:]))
	return typ, packet[off+3 : off+3+l]
}

// vluField reads a VLU-length-prefixed field.
func vluField(tb testing.TB, b []byte) (field, rest []byte) {
	tb.Helper()
	l, n, err := rtmfp.ReadVLU(b)
	if err != nil || int(l) > len(b)-n {
		tb.Fatalf("bad VLU field")
	}
	return b[n : n+int(l)], b[n+int(l):]
}

// iikeying splits an IIKeying chunk payload.
func iikeying(tb testing.TB, payload []byte) (sid, cookie, cert, skic []byte) {
	tb.Helper()
	sid, rest := payload[:4], payload[4:]
	cookie, rest = vluField(tb, rest)
	cert, rest = vluField(tb, rest)
	skic, _ = vluField(tb, rest)
	return
}

// rikeying splits a RIKeying chunk payload.
func rikeying(tb testing.TB, payload []byte) (sid, skrc []byte) {
	tb.Helper()
	skrc, _ = vluField(tb, payload[4:])
	return payload[:4], skrc
}

// rhello splits an RHello chunk payload.
func rhello(tb testing.TB, payload []byte) (tag, cookie, cert []byte) {
	tb.Helper()
	tag, rest := vluField(tb, payload)
	cookie, cert = vluField(tb, rest)
	return
}

// stripPadding removes trailing 0xFF bytes.
func stripPadding(p []byte) []byte {
	for len(p) > 0 && p[len(p)-1] == 0xFF {
		p = p[:len(p)-1]
	}
	return p
}

// readmeFile is one datagram's entry in the rfc7425-session README.
type readmeFile struct {
	Name     string
	Checksum int    // -1 if the README gives none
	Seq      int    // -1 if none
	HMAC     []byte // nil if none
	Padding  int    // number of 0xFF bytes the README states
	Packet   []byte // expected plaintext from the flags byte, padding included
}

// readmeSession is one session's key material in the README.
type readmeSession struct {
	Name   string
	Blocks map[string][]byte // paragraph label -> fenced hex block
	Table  map[string][]byte // table label -> hex
}

var (
	reFileHead = regexp.MustCompile("^\\*\\*`([^`]+\\.bin)`\\*\\*$")
	reChecksum = regexp.MustCompile("checksum `([0-9a-f]{4})`")
	reSeq      = regexp.MustCompile(`sequence number (\d+)`)
	reHMAC     = regexp.MustCompile("^HMAC \\(last 16 bytes of the datagram\\) `([0-9a-f]+)`")
	rePad      = regexp.MustCompile("(\\d+) × `ff`")
	reTableRow = regexp.MustCompile("^\\| (.+?) \\| `([0-9a-f]+)` \\|$")
	reSection  = regexp.MustCompile(`^## Session (\S+) `)
)

// parseReadme reads testdata/rfc7425-session/README.md.
func parseReadme(tb testing.TB) (map[string]*readmeSession, map[string]*readmeFile) {
	tb.Helper()
	sessions := map[string]*readmeSession{}
	files := map[string]*readmeFile{}
	sc := bufio.NewScanner(bytes.NewReader(readFile(tb, rfc7425Dir, "README.md")))
	var sess *readmeSession
	var pendingBlock string // paragraph label waiting for its fenced block
	var pendingFile *readmeFile
	var inFence bool
	var fence strings.Builder
	for sc.Scan() {
		line := sc.Text()
		if line == "```" {
			if !inFence {
				inFence = true
				fence.Reset()
				continue
			}
			inFence = false
			switch {
			case pendingFile != nil:
				pendingFile.Packet = mustHex(tb, fence.String())
				files[pendingFile.Name] = pendingFile
				pendingFile = nil
			case pendingBlock != "" && sess != nil:
				sess.Blocks[pendingBlock] = mustHex(tb, fence.String())
			}
			pendingBlock = ""
			continue
		}
		if inFence {
			fence.WriteString(line)
			continue
		}
		if m := reSection.FindStringSubmatch(line); m != nil {
			sess = &readmeSession{Name: m[1], Blocks: map[string][]byte{}, Table: map[string][]byte{}}
			sessions[m[1]] = sess
			continue
		}
		if m := reFileHead.FindStringSubmatch(line); m != nil {
			pendingFile = &readmeFile{Name: m[1], Checksum: -1, Seq: -1}
			continue
		}
		if pendingFile != nil && pendingFile.Packet == nil && line != "" {
			if m := reChecksum.FindStringSubmatch(line); m != nil {
				v, _ := strconv.ParseUint(m[1], 16, 16)
				pendingFile.Checksum = int(v)
			}
			if m := reSeq.FindStringSubmatch(line); m != nil {
				pendingFile.Seq, _ = strconv.Atoi(m[1])
			}
			if m := reHMAC.FindStringSubmatch(line); m != nil {
				pendingFile.HMAC = mustHex(tb, m[1])
			}
			if m := rePad.FindStringSubmatch(line); m != nil {
				pendingFile.Padding, _ = strconv.Atoi(m[1])
			}
			continue
		}
		if sess == nil {
			continue
		}
		if m := reTableRow.FindStringSubmatch(line); m != nil {
			label := m[1]
			if i := strings.Index(label, " = "); i >= 0 {
				label = label[:i]
			}
			sess.Table[label] = mustHex(tb, m[2])
			continue
		}
		for _, p := range []string{"Server (responder) DH private exponent", "Server ephemeral public key",
			"Client static public key", "Shared secret", "SKIC", "SKRC"} {
			if strings.HasPrefix(line, p) {
				pendingBlock = p
			}
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return sessions, files
}
