package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// testApp accepts everyone except clients whose first connect argument is "reject", and
// offers a few methods.
type testApp struct {
	mu           sync.Mutex
	disconnected int
	connected    map[string]app.Client
}

func (a *testApp) OnConnect(c app.Client, args []any) ([]amf.Property, error) {
	if len(args) > 0 && args[0] == "reject" {
		return nil, errors.New("go away")
	}
	a.mu.Lock()
	if a.connected == nil {
		a.connected = map[string]app.Client{}
	}
	a.connected[c.PeerID().String()] = c
	a.mu.Unlock()
	return []amf.Property{{Key: "greeting", Value: "hello " + c.Path()}}, nil
}

func (a *testApp) OnCall(c app.Client, method string, args []any) ([]any, error) {
	switch method {
	case "echo":
		return args, nil
	case "fail":
		return nil, errors.New("as asked")
	case "panic":
		panic("handler bug")
	case "callMe":
		return nil, c.Call("ping", args...)
	case "digest":
		// The length and SHA-256 of a string: a large message checked without sending
		// it back.
		if len(args) != 1 {
			return nil, errors.New("one string argument")
		}
		s, _ := args[0].(string)
		sum := sha256.Sum256([]byte(s))
		return []any{float64(len(s)), hex.EncodeToString(sum[:])}, nil
	}
	return nil, app.ErrMethodNotFound
}

func (a *testApp) OnDisconnect(c app.Client) {
	a.mu.Lock()
	a.disconnected++
	delete(a.connected, c.PeerID().String())
	a.mu.Unlock()
}

func (a *testApp) counts() (connected, disconnected int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.connected), a.disconnected
}

func logger(t testing.TB) *zap.Logger { return zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)) }

type fixture struct {
	sys   *actor.ActorSystem
	srv   *server.Server
	app   *testApp
	clock *clock.Warp // the server's clock, unless the test gave another
	url   string
}

func newFixture(t *testing.T, sc session.Config) *fixture {
	t.Helper()
	return startServer(t, server.Options{Session: sc}, nil)
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConnectCallAndCloseInBothDialects(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Config{})
	for _, d := range []client.Dialect{client.Flash, client.RFC7425} {
		t.Run(d.String(), func(t *testing.T) {
			calls := make(chan []any, 1)
			conn, err := client.Dial(ctxT(t, 15*time.Second), f.sys, f.url, client.Options{
				Dialect: d,
				Handler: func(method string, args []any) {
					if method == "ping" {
						calls <- args
					}
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			res := conn.Result()
			if res.Code != flash.CodeConnectSuccess {
				t.Fatalf("connect result %+v", res)
			}
			wantEnc := 3.0
			if d == client.RFC7425 {
				wantEnc = 0
			}
			extra := amf.NewObject(res.Extra...)
			if enc, _ := extra.GetNumber("objectEncoding"); enc != wantEnc {
				t.Errorf("objectEncoding %v, want %v (answer in kind)", enc, wantEnc)
			}
			if g, _ := extra.GetString("greeting"); g != "hello live" {
				t.Errorf("application property greeting = %q", g)
			}
			srvKA, peerKA, err := conn.Keepalive(ctxT(t, 5*time.Second))
			if err != nil || srvKA != 15000 || peerKA != 10000 {
				t.Errorf("keepalive %d/%d %v, want 15000/10000", srvKA, peerKA, err)
			}

			got, err := conn.Call(ctxT(t, 5*time.Second), "echo", "abc", 42.0, true)
			if err != nil || len(got) != 3 || got[0] != "abc" || got[1] != 42.0 || got[2] != true {
				t.Fatalf("echo = %v, %v", got, err)
			}
			var ce *client.CallError
			if _, err := conn.Call(ctxT(t, 5*time.Second), "fail"); !errors.As(err, &ce) || ce.Status.Code != flash.CodeCallFailed || ce.Status.Description != "as asked" {
				t.Fatalf("fail = %v", err)
			}
			if _, err := conn.Call(ctxT(t, 5*time.Second), "nope"); !errors.As(err, &ce) || ce.Status.Description != "Method 'nope' not found" {
				t.Fatalf("unknown method = %v", err)
			}
			if _, err := conn.Call(ctxT(t, 5*time.Second), "callMe", "x", 7.0); err != nil {
				t.Fatal(err)
			}
			select {
			case args := <-calls:
				if len(args) != 2 || args[0] != "x" || args[1] != 7.0 {
					t.Fatalf("server call args %v", args)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("server → client call never arrived")
			}

			before, _ := f.app.counts()
			conn.Close()
			select {
			case <-conn.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("close never completed")
			}
			waitUntil(t, "the application to see the disconnection", 5*time.Second, func() bool {
				c, _ := f.app.counts()
				return c == before-1
			})
		})
	}
	waitUntil(t, "sessions to drain", 10*time.Second, func() bool { return f.srv.Sessions() == 0 })
	if n, err := f.srv.Peers(); err != nil || n != 0 {
		t.Fatalf("directory holds %d peers (%v) after every client left", n, err)
	}
}

func TestRejectedAndInvalidApp(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Config{})
	_, err := client.Dial(ctxT(t, 10*time.Second), f.sys, f.url, client.Options{Args: []any{"reject"}})
	var ce *client.ConnectError
	if !errors.As(err, &ce) || ce.Status.Code != flash.CodeConnectRejected || ce.Status.Description != "go away" {
		t.Fatalf("rejected connect = %v", err)
	}
	_, err = client.Dial(ctxT(t, 10*time.Second), f.sys, fmt.Sprintf("rtmfp://%s/elsewhere", f.srv.Addrs()[0]), client.Options{})
	if !errors.As(err, &ce) || ce.Status.Code != "NetConnection.Connect.InvalidApp" {
		t.Fatalf("unknown app = %v", err)
	}
	waitUntil(t, "refused sessions to end", 10*time.Second, func() bool { return f.srv.Sessions() == 0 })
}

func TestApplicationPanicAnswersOnlyThatClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Config{})
	a, err := client.Dial(ctxT(t, 10*time.Second), f.sys, f.url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := client.Dial(ctxT(t, 10*time.Second), f.sys, f.url, client.Options{Dialect: client.RFC7425})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var ce *client.CallError
	if _, err := a.Call(ctxT(t, 5*time.Second), "panic"); !errors.As(err, &ce) || ce.Status.Code != flash.CodeCallFailed {
		t.Fatalf("panicking handler answered %v", err)
	}
	if f.srv.ApplicationPanics() != 1 {
		t.Fatalf("panics counted: %d", f.srv.ApplicationPanics())
	}
	for _, c := range []*client.Conn{a, b} {
		if got, err := c.Call(ctxT(t, 5*time.Second), "echo", "still here"); err != nil || got[0] != "still here" {
			t.Fatalf("after the panic: %v %v", got, err)
		}
	}
}

// TestDualStackListen: the default listen address (every interface) serves IPv4 and IPv6
// clients on one socket — replies to an IPv4 client leave the IPv6 socket as IPv4.
func TestDualStackListen(t *testing.T) {
	t.Parallel()
	probe, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	probe.Close()
	f := startServer(t, server.Options{}, func(c *server.Config) { c.Listen = []string{":0"} })
	port := f.srv.Addrs()[0].Port()
	for _, host := range []string{"127.0.0.1", "[::1]"} {
		ep := newClientEndpoint(t, f, client.EndpointConfig{Listen: host + ":0"})
		c, err := ep.Connect(ctxT(t, 10*time.Second), fmt.Sprintf("rtmfp://%s:%d/live", host, port), client.Options{})
		if err != nil {
			t.Fatalf("client on %s: %v", host, err)
		}
		if err := echoOnce(ctxT(t, 5*time.Second), c, "hello "+host); err != nil {
			t.Fatalf("client on %s: %v", host, err)
		}
	}
	if n := f.srv.Endpoints()[0].Stats.WriteErrors.Load(); n != 0 {
		t.Fatalf("%d datagrams refused by the kernel", n)
	}
}

// TestConnectObject: the application reads the client's connect command object — each
// call a copy of its own — with what the client sent in it.
func TestConnectObject(t *testing.T) {
	t.Parallel()
	f := startServer(t, server.Options{}, nil)
	ep := newClientEndpoint(t, f, client.EndpointConfig{})
	// connect connects a client of the page to url and returns what the application sees.
	connect := func(url string) app.Client {
		t.Helper()
		c, err := ep.Connect(ctxT(t, 10*time.Second), url, client.Options{
			ConnectObject: []amf.Property{{Key: "pageUrl", Value: "https://example.org/p"}, {Key: "extra", Value: []any{1.0, "two"}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		f.app.mu.Lock()
		ac := f.app.connected[c.PeerID().String()]
		f.app.mu.Unlock()
		if ac == nil {
			t.Fatal("the application does not know the client")
		}
		return ac
	}
	ac := connect(f.url + "?room=7")
	o := ac.ConnectObject()
	page, _ := o.GetString("pageUrl")
	ver, _ := o.GetString("flashVer")
	tc, _ := o.GetString("tcUrl")
	extra, _ := o.Get("extra")
	if page != "https://example.org/p" || ver == "" || tc != f.url+"?room=7" || fmt.Sprint(extra) != "[1 two]" {
		t.Fatalf("connect object: pageUrl %q flashVer %q tcUrl %q extra %v", page, ver, tc, extra)
	}
	o.Set("pageUrl", "changed")
	if p, _ := ac.ConnectObject().GetString("pageUrl"); p != "https://example.org/p" {
		t.Fatalf("a change to one copy shows in the next: %q", p)
	}
	if q := ac.Query()["room"]; len(q) != 1 || q[0] != "7" {
		t.Fatalf("query %v", ac.Query())
	}

	// A second client of the same page: the same object (the server keeps one copy of
	// it), and a URL without a query gives an empty, usable map.
	ac2 := connect(f.url)
	if p, _ := ac2.ConnectObject().GetString("pageUrl"); p != "https://example.org/p" || ac2.Path() != "live" {
		t.Fatalf("second client: pageUrl %q, path %q", p, ac2.Path())
	}
	if q := ac2.Query(); q == nil || len(q) != 0 {
		t.Fatalf("query without one in the URL: %#v", q)
	}
}
