package server_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A denied address costs the server no key exchange: a valid IIKeying, with a cookie the
// server minted, is dropped by the reader and counted, and never reaches the handshake.
// Reloading the lists (what SIGHUP does) keeps the clients that stay allowed.
func TestDeniedAddressCostsNoHandshakeAndReloadKeepsClients(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	deny := filepath.Join(dir, "deny")
	writeFile(t, deny, "192.0.2.0/24\n")
	f := startServer(t, server.Options{}, func(c *server.Config) { c.Deny = []string{deny, "198.51.100.7"} })
	ep := f.srv.Endpoints()[0]

	conn, err := client.Dial(ctxT(t, 10*time.Second), f.sys, f.url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	p := newRawPeer(t)
	_, _, iikeying, err := p.helloAndKeying(ep.Addr(), f.url)
	if err != nil {
		t.Fatal(err)
	}

	// A reload that changes the lists but still allows loopback keeps the client.
	writeFile(t, deny, "192.0.2.0/24\n203.0.113.0/24 # more\n")
	if err := f.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := echoOnce(ctxT(t, 10*time.Second), conn, "after reload"); err != nil {
		t.Fatal(err)
	}
	if n := f.srv.Sessions(); n != 1 {
		t.Fatalf("%d sessions after the reload, want the client's", n)
	}

	// A bad file keeps the lists in force and names the setting.
	writeFile(t, deny, "not an address\n")
	var ce *server.ConfigError
	if err := f.srv.Reload(); !errors.As(err, &ce) || ce.Var != "DENY" {
		t.Fatalf("reload of a bad deny file = %v", err)
	}
	if err := echoOnce(ctxT(t, 10*time.Second), conn, "after a bad reload"); err != nil {
		t.Fatal(err)
	}

	// Deny loopback: the IIKeying is dropped before the handshake actor sees it.
	writeFile(t, deny, "127.0.0.0/8\n")
	if err := f.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	handshakes, denied := ep.Stats.Handshakes.Load(), ep.Stats.DropDenied.Load()
	if err := p.send(ep.Addr(), iikeying); err != nil {
		t.Fatal(err)
	}
	waitCounter(t, "datagrams dropped as denied", &ep.Stats.DropDenied, denied+1, 10*time.Second)
	if got := ep.Stats.Handshakes.Load(); got != handshakes {
		t.Fatalf("a denied IIKeying reached the handshake (%d handshake chunks, were %d)", got, handshakes)
	}
	if ep.Stats.BadKeying.Load() != 0 || ep.Stats.CookieReused.Load() != 0 {
		t.Fatal("a denied IIKeying was looked at")
	}
	// RTMP turns the address away at accept too.
	refused := f.srv.RTMPStats().Refused.Load()
	if c, err := net.Dial("tcp", f.srv.RTMPAddrs()[0].String()); err == nil {
		c.Close()
	}
	waitCounter(t, "RTMP connections refused", &f.srv.RTMPStats().Refused, refused+1, 10*time.Second)
}

// Cumulus' auth file at connect, in whitelist mode: only the pages and SWFs it names
// connect; the others are told Connect.Rejected, and a reload reads the file anew.
func TestAuthFileAtConnect(t *testing.T) {
	t.Parallel()
	auth := filepath.Join(t.TempDir(), "auth")
	writeFile(t, auth, "# allowed pages\nwww.example.com,/player.swf\n")
	f := startServer(t, server.Options{}, func(c *server.Config) { c.AuthFile, c.AuthWhitelist = auth, true })
	from := func(page, swf string) client.Options {
		return client.Options{ConnectObject: []amf.Property{{Key: "pageUrl", Value: page}, {Key: "swfUrl", Value: swf}}}
	}
	ok, err := client.Dial(ctxT(t, 10*time.Second), f.sys, f.url, from("http://www.example.com/index.html", "http://www.example.com/player.swf"))
	if err != nil {
		t.Fatalf("a page the whitelist names: %v", err)
	}
	defer ok.Close()
	for _, o := range []client.Options{from("http://www.example.com/index.html", "http://www.example.com/other.swf"), {}} {
		_, err := client.Dial(ctxT(t, 10*time.Second), f.sys, f.url, o)
		var ce *client.ConnectError
		if !errors.As(err, &ce) || ce.Status.Code != flash.CodeConnectRejected {
			t.Fatalf("a page the whitelist does not name: %v", err)
		}
	}
	if n := f.srv.Stats().NetConn.AuthRefused.Load(); n != 2 {
		t.Fatalf("AuthRefused = %d, want 2", n)
	}
	f.app.mu.Lock()
	seen := len(f.app.connected)
	f.app.mu.Unlock()
	if seen != 1 {
		t.Fatalf("the application saw %d connects, want only the allowed one", seen)
	}
	writeFile(t, auth, "www.example.com\n")
	if err := f.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	other, err := client.Dial(ctxT(t, 10*time.Second), f.sys, f.url, from("http://www.example.com/index.html", "http://www.example.com/other.swf"))
	if err != nil {
		t.Fatalf("after the reload: %v", err)
	}
	other.Close()
	if err := echoOnce(ctxT(t, 10*time.Second), ok, "still here"); err != nil {
		t.Fatal(err)
	}
}
