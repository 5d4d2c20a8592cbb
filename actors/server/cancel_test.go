package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/internal/netsim"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
)

// TestAbandonedConnectLeavesNoSession: a connect whose context ends while the handshake
// is still on its way (a slow path) returns the context's error; the session that the
// handshake opens afterwards on the shared client endpoint is closed, not left open and
// kept alive.
func TestAbandonedConnectLeavesNoSession(t *testing.T) {
	t.Parallel()
	f := startServer(t, server.Options{}, nil)
	srvAddr := f.srv.Endpoints()[0].Addr()
	slow := netsim.Link{Delay: 150 * time.Millisecond}
	relay, err := netsim.New(srvAddr, slow, slow, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	ep, err := client.NewEndpoint(f.sys, client.EndpointConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond) // a handshake takes 2 round trips: 600 ms
	defer cancel()
	if _, err := ep.Connect(ctx, fmt.Sprintf("rtmfp://%s/live", relay.Addr()), client.Options{}); err == nil {
		t.Fatal("the connect succeeded within 200 ms over a 300 ms round trip")
	}
	// The handshake completes about 400 ms later; then the session must close.
	opened := false
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		n := f.srv.Sessions()
		opened = opened || n > 0
		if opened && n == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("server sessions after the abandoned connect: %d (ever opened: %v)", f.srv.Sessions(), opened)
}
