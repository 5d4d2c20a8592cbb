package server_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/rtmp/rtmpclient"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
)

// embedder is an embedding program's actor that runs a server node as its child.
type embedder struct {
	t       *testing.T
	started chan<- *server.Server
	failed  chan<- error
}

func (e *embedder) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*actor.Started); ok {
		srv, err := server.Start(ctx, server.Config{Listen: []string{"127.0.0.1:0"}, RTMP: "127.0.0.1:0", Media: server.Off, Shards: 2},
			server.Options{Apps: app.Static{Apps: map[string]app.Application{"live": &testApp{}}}, Log: logger(e.t)})
		if err != nil {
			e.failed <- err
			return
		}
		e.started <- srv
	}
}

// TestServerAsAChildOfAnEmbeddersActor: an embedding program's actor starts the node from
// its Receive; the node serves a client; stopping the embedder's actor stops the node,
// closes the client's session and frees the port.
func TestServerAsAChildOfAnEmbeddersActor(t *testing.T) {
	t.Parallel()
	sys := actors.NewActorSystem(logger(t))
	t.Cleanup(sys.Shutdown)
	started, failed := make(chan *server.Server, 1), make(chan error, 1)
	parent := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &embedder{t: t, started: started, failed: failed} }))
	var srv *server.Server
	select {
	case srv = <-started:
	case err := <-failed:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("the embedded server did not start")
	}
	addr := srv.Addrs()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, sys, "rtmfp://"+addr.String()+"/live", client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := echoOnce(ctx, c, "embedded"); err != nil {
		t.Fatal(err)
	}
	rtmpAddr := srv.RTMPAddrs()[0]
	rc, err := rtmpclient.Dial(ctx, "rtmp://"+rtmpAddr.String()+"/live", rtmpclient.Options{})
	if err != nil {
		t.Fatal(err)
	}

	if err := sys.Root.StopFuture(parent).Wait(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.Done():
	case <-ctx.Done():
		t.Fatal("the node did not stop with its parent")
	}
	select {
	case <-c.Done():
		if c.CloseReason() != session.ReasonRemote {
			t.Fatalf("the client's session ended with %v, want the server's close", c.CloseReason())
		}
	case <-ctx.Done():
		t.Fatal("the client was not told the server stopped")
	}
	select {
	case <-rc.Done():
	case <-ctx.Done():
		t.Fatal("the RTMP client's connection stayed open")
	}
	// The ports are free again.
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatalf("the port of the stopped node is still taken: %v", err)
	}
	pc.Close()
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(rtmpAddr))
	if err != nil {
		t.Fatalf("the RTMP port of the stopped node is still taken: %v", err)
	}
	ln.Close()
}
