package access

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
)

// IPList is the server's IP access list: datagrams and connections from an address in
// Deny, or outside Allow when Allow is not empty, are refused before any work is done on
// them. Its checks read one atomic pointer; Load swaps in new lists.
type IPList struct {
	cur atomic.Pointer[ipSets] // nil while both lists are empty
}

// ipSets is one loaded pair of lists.
type ipSets struct {
	deny, allow []netip.Prefix
}

// Denied reports whether ip may not use the server: it is in the deny list, or the allow
// list is not empty and does not hold it. A nil IPList denies nobody. An IPv4-mapped IPv6
// address is checked as IPv4.
func (l *IPList) Denied(ip netip.Addr) bool {
	if l == nil {
		return false
	}
	s := l.cur.Load()
	if s == nil {
		return false
	}
	ip = ip.Unmap()
	if contains(s.deny, ip) {
		return true
	}
	return len(s.allow) > 0 && !contains(s.allow, ip)
}

// contains is a linear scan: operators list a handful of networks, and a scan of a few
// prefixes costs less than any index would.
func contains(ps []netip.Prefix, ip netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ListError is a list that could not be loaded: Allow says which.
type ListError struct {
	Allow bool
	Err   error
}

func (e *ListError) Error() string {
	if e.Allow {
		return "allow list: " + e.Err.Error()
	}
	return "deny list: " + e.Err.Error()
}

func (e *ListError) Unwrap() error { return e.Err }

// Load replaces the lists with deny and allow, each a list of entries as the settings
// give them (ParseEntries). On error (a *ListError) the lists in force stay.
func (l *IPList) Load(deny, allow []string) error {
	d, err := ParseEntries(deny)
	if err != nil {
		return &ListError{Err: err}
	}
	a, err := ParseEntries(allow)
	if err != nil {
		return &ListError{Allow: true, Err: err}
	}
	if len(d) == 0 && len(a) == 0 {
		l.cur.Store(nil)
		return nil
	}
	l.cur.Store(&ipSets{deny: d, allow: a})
	return nil
}

// Sizes returns how many networks the deny and allow lists hold.
func (l *IPList) Sizes() (deny, allow int) {
	if s := l.cur.Load(); s != nil {
		return len(s.deny), len(s.allow)
	}
	return 0, 0
}

// ParseEntries parses the entries of a list: a CIDR (10.0.0.0/8, 2001:db8::/32), a single
// address (a /32 or /128), or the path of a file of such entries, one per line, with
// blank lines and text after # ignored. A file is read anew at each Load, so that a
// reload (SIGHUP) picks up its changes.
func ParseEntries(entries []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if p, ok := parsePrefix(e); ok {
			out = append(out, p)
			continue
		}
		if !strings.ContainsAny(e, `/\`) && !strings.HasPrefix(e, ".") {
			return nil, fmt.Errorf("%q is neither a CIDR, an IP address nor a file path", e)
		}
		ps, err := readPrefixFile(e)
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	return out, nil
}

// parsePrefix parses a CIDR or an address, masked to its network.
func parsePrefix(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

func readPrefixFile(path string) ([]netip.Prefix, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []netip.Prefix
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		p, ok := parsePrefix(line)
		if !ok {
			return nil, fmt.Errorf("%s:%d: %q is neither a CIDR nor an IP address", path, n, line)
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}
