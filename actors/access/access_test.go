package access

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

func TestIPListDenyAndAllow(t *testing.T) {
	var l IPList
	if l.Denied(netip.MustParseAddr("10.1.2.3")) {
		t.Fatal("an empty list denies")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "deny")
	if err := os.WriteFile(file, []byte("# abusers\n192.0.2.7 # one host\n\n2001:db8:bad::/48\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.Load([]string{"10.0.0.0/8", file}, nil); err != nil {
		t.Fatal(err)
	}
	for addr, denied := range map[string]bool{
		"10.1.2.3": true, "::ffff:10.1.2.3": true, "11.0.0.1": false, "192.0.2.7": true, "192.0.2.8": false,
		"2001:db8:bad::1": true, "2001:db8:bad1::1": false,
	} {
		if got := l.Denied(netip.MustParseAddr(addr)); got != denied {
			t.Errorf("deny list: Denied(%s) = %v, want %v", addr, got, denied)
		}
	}
	// An allow list refuses every other address; the deny list still wins inside it.
	if err := l.Load([]string{"10.9.0.0/16"}, []string{"10.0.0.0/8", "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	for addr, denied := range map[string]bool{"10.1.2.3": false, "10.9.1.1": true, "127.0.0.1": false, "127.0.0.2": true, "192.0.2.1": true} {
		if got := l.Denied(netip.MustParseAddr(addr)); got != denied {
			t.Errorf("allow list: Denied(%s) = %v, want %v", addr, got, denied)
		}
	}
	// A bad entry keeps the lists in force, and says which.
	if err := l.Load([]string{"10.0.0.300/8"}, nil); err == nil {
		t.Fatal("a bad CIDR loaded")
	}
	if err := l.Load([]string{filepath.Join(dir, "missing")}, nil); err == nil {
		t.Fatal("a missing file loaded")
	}
	if !l.Denied(netip.MustParseAddr("192.0.2.1")) {
		t.Fatal("a failed load changed the lists")
	}
	if err := os.WriteFile(file, []byte("not-an-address\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.Load([]string{file}, nil); err == nil {
		t.Fatal("a file with a bad line loaded")
	}
	if err := l.Load(nil, nil); err != nil || l.Denied(netip.MustParseAddr("192.0.2.1")) {
		t.Fatalf("emptied lists still deny (%v)", err)
	}
}

// The examples of Cumulus' auth file: a rule is host[,path]; a .swf path is the SWF's,
// any other the page's; the host is always the page's.
const seedAuth = `# who may connect
www.example.com,/player.swf
example.org
Media.Example.NET , live/index.html   # fields are trimmed, case does not matter
`

func TestAuthRulesBothModes(t *testing.T) {
	file := filepath.Join(t.TempDir(), "auth")
	if err := os.WriteFile(file, []byte(seedAuth), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		page, swf string
		matched   bool
	}{
		{"http://www.example.com/index.html", "http://www.example.com/player.swf", true},
		{"http://www.example.com/index.html", "http://cdn.example.com/PLAYER.SWF", true}, // the SWF's path, not its host
		{"http://www.example.com/index.html", "http://www.example.com/other.swf", false},
		{"http://cdn.example.com/index.html", "http://www.example.com/player.swf", false}, // the page's host decides
		{"https://example.org/anything?x=1", "", true},
		{"https://sub.example.org/", "", false},
		{"http://media.example.net/live/index.html", "http://media.example.net/a.swf", true},
		{"http://media.example.net/live/other.html", "", false},
		{"", "", false}, // no pageUrl: an RTMP encoder, a bare client
		{"::not a url", "", false},
	}
	for _, whitelist := range []bool{true, false} {
		var a AuthRules
		if err := a.Load(file, whitelist); err != nil {
			t.Fatal(err)
		}
		if n, w := a.Len(); n != 3 || w != whitelist {
			t.Fatalf("Len = %d, %v", n, w)
		}
		for _, c := range cases {
			err := a.Check(c.page, c.swf)
			if accepted := err == nil; accepted != (c.matched == whitelist) {
				t.Errorf("whitelist=%v page=%q swf=%q: accepted %v", whitelist, c.page, c.swf, accepted)
			}
			if err != nil && !errors.Is(err, ErrRefused) {
				t.Errorf("refusal %v is not ErrRefused", err)
			}
		}
	}
	var none AuthRules
	if none.Check("", "") != nil {
		t.Fatal("no file refused a client")
	}
	var a AuthRules
	if err := a.Load(filepath.Join(t.TempDir(), "missing"), true); err == nil {
		t.Fatal("a missing file loaded")
	}
	if err := os.WriteFile(file, []byte(",/x.swf\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.Load(file, true); err == nil {
		t.Fatal("a rule without a host loaded")
	}
}
