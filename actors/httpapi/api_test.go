package httpapi_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/httpapi"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
)

const token = "test-token-0123456789abcdef"

func decode[T any](t *testing.T, resp *http.Response) T {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s", resp.Request.Method, resp.Request.URL.Path, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: Content-Type %q", resp.Request.URL.Path, ct)
	}
	var v T
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Every route of the API, with its token.
func TestEveryRoute(t *testing.T) {
	t.Parallel()
	s := newScene(t, token)

	// The token: required everywhere but the health checks and the page.
	for _, path := range []string{"/v1/status", "/v1/clients", "/v1/publications", "/v1/groups", "/metrics"} {
		for _, bad := range []string{"", "wrong-token-0123456789abcdef"} {
			resp := s.do(t, "GET", path, bad)
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("GET %s with token %q: %s", path, bad, resp.Status)
			}
		}
	}
	if resp := s.do(t, "DELETE", "/v1/clients/1", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("DELETE without the token: %s", resp.Status)
	}
	for _, path := range []string{"/healthz", "/readyz", "/"} {
		if resp := s.do(t, "GET", path, ""); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", path, resp.Status)
		}
	}
	if resp := s.do(t, "GET", "/metrics", token); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /metrics with the token: %s", resp.Status)
	}

	st := decode[httpapi.Status](t, s.do(t, "GET", "/v1/status", token))
	if st.Version != server.Version() || st.Listen.RTMFP[0] != s.srv.Addrs()[0].String() || st.Listen.RTMP[0] != s.srv.RTMPAddrs()[0].String() ||
		st.Node.PeerID != s.srv.Endpoints()[0].PeerID().String() || st.Uptime <= 0 {
		t.Errorf("status: %+v", st)
	}
	want := httpapi.Counts{Sessions: 3, Clients: 4, RTMP: 1, Publications: 1, Players: 1, Groups: 1, Members: 2, NetStreams: 2}
	if st.Counts != want {
		t.Errorf("counts %+v, want %+v", st.Counts, want)
	}

	// The clients, in order of connection, with their sessions' bytes.
	list := decode[httpapi.ClientList](t, s.do(t, "GET", "/v1/clients", token))
	if list.Total != 4 || len(list.Clients) != 4 {
		t.Fatalf("clients: %+v", list)
	}
	for i, c := range list.Clients[:3] {
		conn := s.conns[i]
		wantApp, wantDialect := "/live", "flash"
		if i == 1 {
			wantDialect = "rfc7425"
		}
		if i == 2 {
			wantApp = "/other"
		}
		if c.PeerID != conn.PeerID().String() || c.Protocol != "rtmfp" || c.Dialect != wantDialect || c.App != wantApp ||
			c.FlashVersion != "WIN 32,0,0,465" || c.Address != fmt.Sprintf("127.0.0.1:%d", conn.Endpoint().Addr().Port()) || c.BytesIn == 0 || c.BytesOut == 0 ||
			time.Since(c.Since) > time.Minute {
			t.Errorf("client %d: %+v (endpoint %s)", i, c, conn.Endpoint().Addr())
		}
	}
	if r := list.Clients[3]; r.Protocol != "rtmp" || r.PeerID != "" || r.App != "/live" || r.Address != s.rtmp.NetConn().LocalAddr().String() || r.BytesIn == 0 {
		t.Errorf("the RTMP client: %+v", r)
	}
	if !slices.IsSortedFunc(list.Clients, func(a, b httpapi.Client) int { return int(a.ID) - int(b.ID) }) {
		t.Error("clients not in order of connection")
	}
	// Paged, and by application.
	page := decode[httpapi.ClientList](t, s.do(t, "GET", "/v1/clients?offset=1&limit=2", token))
	if page.Total != 4 || len(page.Clients) != 2 || page.Clients[0].ID != list.Clients[1].ID || page.Clients[1].ID != list.Clients[2].ID {
		t.Errorf("offset=1&limit=2: %+v", page)
	}
	other := decode[httpapi.ClientList](t, s.do(t, "GET", "/v1/clients?app=/other", token))
	if other.Total != 1 || other.Clients[0].PeerID != s.conns[2].PeerID().String() {
		t.Errorf("app=/other: %+v", other)
	}
	for _, q := range []string{"limit=0", "limit=1001", "offset=-1", "limit=x"} {
		if resp := s.do(t, "GET", "/v1/clients?"+q, token); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("?%s: %s", q, resp.Status)
		}
	}

	pubs := decode[[]httpapi.Publication](t, s.do(t, "GET", "/v1/publications", token))
	if len(pubs) != 1 {
		t.Fatalf("publications: %+v", pubs)
	}
	p := pubs[0]
	if p.App != "/live" || p.Name != "cam" || p.Publisher == nil || p.Publisher.PeerID != s.conns[0].PeerID().String() ||
		len(p.Players) != 1 || p.Players[0].PeerID != s.conns[1].PeerID().String() || p.Bytes < 2000 || p.BitRate < 8000 {
		t.Errorf("publication: %+v", p)
	}
	if none := decode[[]httpapi.Publication](t, s.do(t, "GET", "/v1/publications?app=other", token)); len(none) != 0 {
		t.Errorf("publications of /other: %+v", none)
	}

	groups := decode[[]httpapi.Group](t, s.do(t, "GET", "/v1/groups", token))
	if len(groups) != 1 || groups[0].ID != fmt.Sprintf("%x", s.gid) || len(groups[0].Members) != 2 {
		t.Fatalf("groups: %+v", groups)
	}
	var members []string
	for _, m := range groups[0].Members {
		members = append(members, m.PeerID)
	}
	for _, c := range s.conns[:2] {
		if !slices.Contains(members, c.PeerID().String()) {
			t.Errorf("group members %v lack %s", members, c.PeerID())
		}
	}

	// Closing clients: an RTMFP one (its session is closed) and the RTMP one.
	for _, id := range []uint64{list.Clients[2].ID, list.Clients[3].ID} {
		if resp := s.do(t, "DELETE", fmt.Sprintf("/v1/clients/%d", id), token); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("DELETE %d: %s", id, resp.Status)
		}
	}
	for _, done := range []<-chan struct{}{s.conns[2].Done(), s.rtmp.Done()} {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("a client closed through the API is still connected")
		}
	}
	waitFor(t, "the closed clients to leave the table", func() bool { return s.srv.Clients().Len() == 2 })
	if resp := s.do(t, "DELETE", fmt.Sprintf("/v1/clients/%d", list.Clients[2].ID), token); resp.StatusCode != http.StatusNotFound {
		t.Errorf("DELETE of a client gone: %s", resp.Status)
	}
	if resp := s.do(t, "DELETE", "/v1/clients/x", token); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("DELETE of a bad id: %s", resp.Status)
	}
	if err := s.conns[0].Close(); err != nil {
		t.Log(err)
	}

	// Stopped: not ready any more.
	_ = s.srv.Stop(ctxT(t, 10*time.Second))
	if resp := s.do(t, "GET", "/readyz", ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz of a stopped node: %s", resp.Status)
	}
}

// The API is refused beyond loopback without a token.
func TestListenRefusesAnOpenAPIWithoutAToken(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0", "example.com:0"} {
		if ln, err := httpapi.Listen(addr, ""); !errors.Is(err, httpapi.ErrNeedsToken) {
			if ln != nil {
				ln.Close()
			}
			t.Errorf("Listen(%q) without a token: %v", addr, err)
		}
	}
	for _, c := range []struct{ addr, token string }{{"127.0.0.1:0", ""}, {"localhost:0", ""}, {"0.0.0.0:0", token}} {
		ln, err := httpapi.Listen(c.addr, c.token)
		if err != nil {
			t.Errorf("Listen(%q, %q): %v", c.addr, c.token, err)
			continue
		}
		ln.Close()
	}
}
