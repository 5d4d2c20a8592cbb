package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/internal/netsim"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
)

// TestVanishedClientIsTimedOutAndFreed connects a client through a relay, cuts the relay
// (the client vanishes without a word), and checks that the server times the session
// out — after its idle timeout, not before, on the server's clock skipped forward — frees
// every trace of it — session table, directory, application — and that no goroutine
// outlives it.
func TestVanishedClientIsTimedOutAndFreed(t *testing.T) {
	// What the server sent last may be unacknowledged when the client vanishes: the
	// retransmission limit is set beyond the idle timeout, which this test is about.
	idleTimeout := server.Defaults().IdleTimeout
	f := startServer(t, server.Options{Session: session.Config{
		RetransmitLimit: 2 * idleTimeout, NearCloseTimeout: 500 * time.Millisecond, CloseLinger: 500 * time.Millisecond,
	}}, nil)
	ep0 := f.srv.Endpoints()[0]
	baseline := settledGoroutines()

	relay, err := netsim.New(f.srv.Addrs()[0], netsim.Link{}, netsim.Link{}, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	ep, err := client.NewEndpoint(f.sys, client.EndpointConfig{
		Listen: "127.0.0.1:0", Log: logger(t),
		Session: session.Config{NearCloseTimeout: 500 * time.Millisecond, CloseLinger: 500 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close(context.Background())

	conn, err := ep.Connect(ctxT(t, 10*time.Second), fmt.Sprintf("rtmfp://%s/live", relay.Addr()), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The answer to setPeerInfo (sent by the client on connect) is Set Keepalive.
	if _, _, err := conn.Keepalive(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("no Set Keepalive after setPeerInfo: %v", err)
	}
	if err := echoOnce(ctxT(t, 5*time.Second), conn, "before the cut"); err != nil {
		t.Fatal(err)
	}
	if lr := lookupPeer(t, f, conn.PeerID()); !lr.Found || !lr.Peer.HasPeerInfo {
		t.Fatalf("directory entry of the connected client: %v (want found, with peer info)", lr)
	}
	if n := f.srv.Sessions(); n != 1 {
		t.Fatalf("server has %d sessions, want 1", n)
	}

	relay.Cut(true)
	// Most of the idle timeout passes: the session wakes (it pings the silent client) and
	// stays open.
	pings := ep0.SessionStats.KeepalivePings.Load()
	f.clock.Skip(idleTimeout - 10*time.Second)
	waitUntil(t, "the silent session's keepalive ping", 5*time.Second, func() bool { return ep0.SessionStats.KeepalivePings.Load() > pings })
	if n := f.srv.Sessions(); n != 1 {
		t.Fatalf("the session closed %s after the client vanished, before its %s idle timeout", idleTimeout-10*time.Second, idleTimeout)
	}
	f.clock.Skip(10 * time.Second)
	waitUntil(t, "the session to be timed out", 10*time.Second, func() bool { return f.srv.Sessions() == 0 })
	// Its close goes unanswered: the session is forgotten after NearCloseTimeout, on the
	// server's clock, moved forward while waiting.
	waitUntil(t, "the session table to empty", 5*time.Second, func() bool {
		f.clock.Skip(100 * time.Millisecond)
		return ep0.TableSize() == 0
	})
	waitUntil(t, "the directory to forget the peer", 5*time.Second, func() bool {
		n, err := f.srv.Peers()
		return err == nil && n == 0
	})
	waitUntil(t, "the application to see the disconnection", 5*time.Second, func() bool {
		c, d := f.app.counts()
		return c == 0 && d == 1
	})
	if n := ep0.SessionStats.IdleTimeouts.Load(); n != 1 {
		t.Fatalf("idle timeouts counted: %d, want 1", n)
	}
	if n := f.srv.Stats().NetConn.Disconnections.Load(); n != 1 {
		t.Fatalf("server counted %d disconnections, want 1", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ep.Close(ctx); err != nil {
		t.Fatalf("closing the client endpoint: %v", err)
	}
	select {
	case <-conn.Done():
	default:
		t.Fatal("client connection not done after its endpoint closed")
	}
	relay.Close()
	waitGoroutines(t, baseline, 10*time.Second)
}
