package server_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// TestFiveHundredClientsConnectAtOnce connects 500 clients at the same moment, half of
// them Flash-style and half RFC 7425-style, over four shared client endpoints: each must
// be accepted and answer an echo, and once they all close the server holds no session
// and no peer.
func TestFiveHundredClientsConnectAtOnce(t *testing.T) {
	// Not parallel: 500 handshakes at once take the machine's cores for a second or two,
	// which the package's other tests (streams, deadlines on their outcome) must not share;
	// Go runs the serial tests of a package before its parallel ones, each alone.
	const (
		clients   = 500
		endpoints = 4
	)
	start := time.Now()
	f := startServer(t, server.Options{}, nil)
	eps := make([]*client.Endpoint, endpoints)
	for i := range eps {
		eps[i] = newClientEndpoint(t, f, client.EndpointConfig{})
	}
	ctx := ctxT(t, 45*time.Second)

	conns := make([]*client.Conn, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			d := client.Flash
			if i%2 == 1 {
				d = client.RFC7425
			}
			c, err := eps[i%endpoints].Connect(ctx, f.url, client.Options{Dialect: d, HandshakeTimeout: 30 * time.Second})
			if err != nil {
				errs[i] = fmt.Errorf("client %d (%s): connect: %w", i, d, err)
				return
			}
			conns[i] = c
			if st := c.Result(); st.Code != flash.CodeConnectSuccess {
				errs[i] = fmt.Errorf("client %d (%s): connect answered %q", i, d, st.Code)
				return
			}
			if err := echoOnce(ctx, c, fmt.Sprintf("client-%d", i)); err != nil {
				errs[i] = fmt.Errorf("client %d (%s): %w", i, d, err)
			}
		}()
	}
	close(gate)
	wg.Wait()
	connected := time.Since(start)
	failed := 0
	for _, err := range errs {
		if err != nil {
			if failed < 10 {
				t.Error(err)
			}
			failed++
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d clients failed; server: %d sessions, stats %s; first client endpoint: stats %s",
			failed, clients, f.srv.Sessions(), statsString(&f.srv.Endpoints()[0].Stats), statsString(&eps[0].Endpoint().Stats))
	}
	if n := f.srv.Sessions(); n != clients {
		t.Fatalf("server has %d sessions with %d clients connected", n, clients)
	}
	if n, err := f.srv.Peers(); err != nil || n != clients {
		t.Fatalf("directory holds %d peers (%v), want %d", n, err, clients)
	}
	if got := f.srv.Stats().NetConn.ConnectsAccepted.Load(); got != clients {
		t.Fatalf("server accepted %d connects, want %d", got, clients)
	}

	for _, c := range conns {
		c.Close()
	}
	for i, c := range conns {
		select {
		case <-c.Done():
		case <-ctx.Done():
			t.Fatalf("client %d never finished closing", i)
		}
	}
	waitUntil(t, "every server session to close", 20*time.Second, func() bool { return f.srv.Sessions() == 0 })
	waitUntil(t, "the directory to empty", 10*time.Second, func() bool {
		n, err := f.srv.Peers()
		return err == nil && n == 0
	})
	waitUntil(t, "the application to see every disconnection", 10*time.Second, func() bool {
		c, d := f.app.counts()
		return c == 0 && d == clients
	})
	t.Logf("%d clients connected and echoed in %s, all closed after %s (server handshake chunks %d for %d handshakes)",
		clients, connected.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), f.srv.Endpoints()[0].Stats.Handshakes.Load(), clients)
}
