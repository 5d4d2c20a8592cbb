package access

import (
	"bufio"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
)

// AuthRules are the rules of Cumulus' auth file, checked at a client's connect against
// the pageUrl and swfUrl of its connect object (docs: ACTORRTMFP_AUTH_FILE). A rule is a
// line `host[,path]`: it matches a client whose pageUrl's host is host (case-insensitive)
// and, if a path is given, whose swfUrl's path is it when it ends in .swf, else whose
// pageUrl's path is it (case-insensitive; a leading / is optional on either side). The
// host is always the pageUrl's, even for a .swf rule, as in Cumulus. In whitelist mode
// only clients a rule matches connect; otherwise the clients a rule matches are refused.
//
// The zero value has no file and refuses nobody. Load reads the file anew (SIGHUP).
type AuthRules struct {
	cur atomic.Pointer[authSet] // nil: no file
}

type authSet struct {
	path      string
	whitelist bool
	rules     []authRule
}

type authRule struct {
	host, path string // lower case; path without its leading /
	swf        bool   // path ends in .swf: compared with the swfUrl's path
}

// ErrRefused is why a connect the rules refuse is refused (the client's
// NetConnection.Connect.Rejected description).
var ErrRefused = errors.New("refused by the server's access rules")

// Load reads the rules of the file at path, in whitelist mode or not; an empty path
// removes the rules. On error the rules in force stay.
func (a *AuthRules) Load(path string, whitelist bool) error {
	if path == "" {
		a.cur.Store(nil)
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	set := &authSet{path: path, whitelist: whitelist}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		host, p, _ := strings.Cut(line, ",")
		r := authRule{host: strings.ToLower(strings.TrimSpace(host)), path: normPath(p)}
		if r.host == "" {
			return fmt.Errorf("%s: %q has no host (want host[,path])", path, line)
		}
		r.swf = strings.HasSuffix(r.path, ".swf")
		set.rules = append(set.rules, r)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	a.cur.Store(set)
	return nil
}

func normPath(p string) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimSpace(p), "/"))
}

// Len returns how many rules are in force, and whether in whitelist mode.
func (a *AuthRules) Len() (rules int, whitelist bool) {
	if s := a.cur.Load(); s != nil {
		return len(s.rules), s.whitelist
	}
	return 0, false
}

// Check returns nil if a client whose connect names pageURL and swfURL may connect, else
// ErrRefused. A nil AuthRules refuses nobody.
func (a *AuthRules) Check(pageURL, swfURL string) error {
	if a == nil {
		return nil
	}
	s := a.cur.Load()
	if s == nil {
		return nil
	}
	if s.matches(pageURL, swfURL) == s.whitelist {
		return nil
	}
	return ErrRefused
}

// matches reports whether a rule matches the client (the first that does decides, and
// they all decide the same way).
func (s *authSet) matches(pageURL, swfURL string) bool {
	page, _ := url.Parse(pageURL)
	swf, _ := url.Parse(swfURL)
	var host, pagePath, swfPath string
	if page != nil {
		host, pagePath = strings.ToLower(page.Hostname()), normPath(page.Path)
	}
	if swf != nil {
		swfPath = normPath(swf.Path)
	}
	for _, r := range s.rules {
		if r.host != host {
			continue
		}
		switch {
		case r.path == "":
			return true
		case r.swf && r.path == swfPath:
			return true
		case !r.swf && r.path == pagePath:
			return true
		}
	}
	return false
}
