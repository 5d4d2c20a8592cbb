package httpapi_test

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/actorrtmfp/actorrtmfp/actors/httpapi"
)

// chromium finds Debian's headless browser, which scripts/test-deps installs.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: run scripts/test-deps (it installs Debian's chromium package)")
	return ""
}

// The status page in a real headless Chromium: what it shows once its script ran is what
// the API says.
func TestStatusPageInChromium(t *testing.T) {
	t.Parallel()
	bin := chromium(t)
	s := newScene(t, token)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The virtual time budget lets the page's script run (fetches complete, timers fire)
	// before the DOM is dumped; the token is given as the page says, once, in the hash.
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--user-data-dir="+t.TempDir(), "--virtual-time-budget=5000", "--dump-dom", s.http.URL+"/#token="+token)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	doc, err := html.Parse(strings.NewReader(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(attr(find(doc, func(n *html.Node) bool { return n.Data == "body" }), "data-loaded")); n < 1 {
		t.Fatalf("the page's script did not render (error: %q); DOM:\n%s", text(byID(doc, "error")), out)
	}

	st := decode[httpapi.Status](t, s.do(t, "GET", "/v1/status", token))
	for id, want := range map[string]int{"sessions": st.Counts.Sessions, "clients-count": st.Counts.Clients, "publications-count": st.Counts.Publications,
		"players-count": st.Counts.Players, "groups-count": st.Counts.Groups, "members-count": st.Counts.Members} {
		if got := text(byID(doc, id)); got != strconv.Itoa(want) {
			t.Errorf("#%s shows %q, the API says %d", id, got, want)
		}
	}
	if got := text(byID(doc, "version")); got != st.Version {
		t.Errorf("version %q, want %q", got, st.Version)
	}

	list := decode[httpapi.ClientList](t, s.do(t, "GET", "/v1/clients", token))
	rows := children(byID(doc, "clients"), "tr")
	if len(rows) != len(list.Clients) {
		t.Fatalf("%d client rows, the API lists %d", len(rows), len(list.Clients))
	}
	for i, c := range list.Clients {
		row := rows[i]
		wantPeer := c.PeerID
		if wantPeer == "" {
			wantPeer = "—"
		}
		if attr(row, "data-id") != fmt.Sprint(c.ID) || field(row, "peer_id") != wantPeer || field(row, "address") != c.Address || field(row, "app") != c.App {
			t.Errorf("client row %d: id %s peer %s address %s app %s; the API: %+v", i, attr(row, "data-id"), field(row, "peer_id"),
				field(row, "address"), field(row, "app"), c)
		}
	}

	pubs := decode[[]httpapi.Publication](t, s.do(t, "GET", "/v1/publications", token))
	prow := children(byID(doc, "publications"), "tr")
	if len(prow) != 1 || field(prow[0], "name") != pubs[0].Name || attr(fieldNode(prow[0], "players"), "data-count") != strconv.Itoa(len(pubs[0].Players)) ||
		!strings.Contains(field(prow[0], "publisher"), pubs[0].Publisher.Address) || !strings.Contains(field(prow[0], "players"), pubs[0].Players[0].Address) {
		t.Errorf("streams table %q, the API: %+v", text(byID(doc, "publications")), pubs)
	}
	groups := decode[[]httpapi.Group](t, s.do(t, "GET", "/v1/groups", token))
	grow := children(byID(doc, "groups"), "tr")
	if len(grow) != 1 || attr(grow[0], "data-id") != groups[0].ID || field(grow[0], "members") != strconv.Itoa(len(groups[0].Members)) {
		t.Errorf("groups table %q, the API: %+v", text(byID(doc, "groups")), groups)
	}
}

func find(n *html.Node, match func(*html.Node) bool) *html.Node {
	if n.Type == html.ElementNode && match(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := find(c, match); f != nil {
			return f
		}
	}
	return nil
}

func attr(n *html.Node, key string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func byID(doc *html.Node, id string) *html.Node {
	return find(doc, func(n *html.Node) bool { return attr(n, "id") == id })
}

func text(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.TrimSpace(b.String())
}

func children(n *html.Node, tag string) []*html.Node {
	var out []*html.Node
	if n == nil {
		return nil
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.Data == tag {
			out = append(out, c)
		}
	}
	return out
}

func fieldNode(row *html.Node, name string) *html.Node {
	return find(row, func(n *html.Node) bool { return attr(n, "data-field") == name })
}

func field(row *html.Node, name string) string { return text(fieldNode(row, name)) }
