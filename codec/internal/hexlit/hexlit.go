// Package hexlit decodes the hex literals of the codec packages' tests: hex digits that
// may be spread over lines and grouped with spaces, tabs and '|', with "quoted ASCII"
// spelled out as its bytes.
package hexlit

import (
	"encoding/hex"
	"strings"
	"testing"
)

// Decode decodes s, failing tb on a malformed literal.
func Decode(tb testing.TB, s string) []byte {
	tb.Helper()
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' {
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				tb.Fatalf("unterminated quote in %q", s)
			}
			sb.WriteString(hex.EncodeToString([]byte(s[i+1 : i+1+j])))
			i += j + 1
			continue
		}
		if c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '|' {
			continue
		}
		sb.WriteByte(c)
	}
	b, err := hex.DecodeString(sb.String())
	if err != nil {
		tb.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}
