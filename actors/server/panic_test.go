package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
)

// crash makes a session actor panic (see crashOnDemand).
type crash struct{}

// crashOnDemand is a session receiver middleware that panics on *crash: a fault inside
// the session actor itself, not in its Flash layer or an application.
func crashOnDemand(next actor.ReceiverFunc) actor.ReceiverFunc {
	return func(ctx actor.ReceiverContext, env *actor.MessageEnvelope) {
		if _, ok := env.Message.(*crash); ok {
			panic("injected session crash")
		}
		next(ctx, env)
	}
}

// TestPanicInOneSessionEndsOnlyThatSession crashes the server-side session actor of one
// of three clients: that client is told its session closed, the failure is counted, and
// the two others keep being served.
func TestPanicInOneSessionEndsOnlyThatSession(t *testing.T) {
	t.Parallel()
	f := startServer(t, server.Options{SessionMiddleware: []actor.ReceiverMiddleware{crashOnDemand}}, nil)
	ep0 := f.srv.Endpoints()[0]
	ep := newClientEndpoint(t, f, client.EndpointConfig{})
	conns := make([]*client.Conn, 3)
	for i := range conns {
		d := client.Flash
		if i == 1 {
			d = client.RFC7425
		}
		c, err := ep.Connect(ctxT(t, 10*time.Second), f.url, client.Options{Dialect: d})
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		conns[i] = c
		if err := echoOnce(ctxT(t, 5*time.Second), c, "hello"); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
	}
	before := f.srv.Sessions()
	if before != 3 {
		t.Fatalf("server has %d sessions, want 3", before)
	}

	victim := conns[1]
	lr := lookupPeer(t, f, victim.PeerID())
	if !lr.Found || lr.Peer.Session == nil {
		t.Fatalf("directory does not know the victim's session: %v", lr)
	}
	f.sys.Root.Send(lr.Peer.Session, &crash{})

	select {
	case <-victim.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the client of the crashed session was never told its session closed")
	}
	if r := victim.CloseReason(); r != session.ReasonRemote {
		t.Fatalf("victim's close reason %v, want %v (the server's Session Close Request)", r, session.ReasonRemote)
	}
	waitUntil(t, "the crashed session to leave the table", 5*time.Second, func() bool { return f.srv.Sessions() == before-1 })
	if n := ep0.Stats.SessionFailures.Load(); n != 1 {
		t.Fatalf("session failures counted: %d, want 1", n)
	}
	waitUntil(t, "the directory and the application to forget the victim", 5*time.Second, func() bool {
		n, err := f.srv.Peers()
		c, d := f.app.counts()
		return err == nil && n == 2 && c == 2 && d == 1
	})
	if lr := lookupPeer(t, f, victim.PeerID()); lr.Found {
		t.Fatalf("directory still holds the crashed session's peer: %v", lr.Peer)
	}
	for _, i := range []int{0, 2} {
		for j := range 3 {
			if err := echoOnce(ctxT(t, 5*time.Second), conns[i], fmt.Sprintf("after the crash %d", j)); err != nil {
				t.Fatalf("client %d after the crash: %v", i, err)
			}
		}
		select {
		case <-conns[i].Done():
			t.Fatalf("client %d was closed too (%v)", i, conns[i].CloseReason())
		default:
		}
	}
	if n := f.srv.Sessions(); n != before-1 {
		t.Fatalf("server has %d sessions after the crash, want %d", n, before-1)
	}
	if n := ep0.Stats.SessionFailures.Load(); n != 1 {
		t.Fatalf("session failures counted: %d, want 1", n)
	}
}
