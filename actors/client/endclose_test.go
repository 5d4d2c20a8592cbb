package client_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
)

// heldDispatcher runs mailboxes on goroutines of their own, except while held: then it
// keeps what it is given until release.
type heldDispatcher struct {
	mu    sync.Mutex
	held  bool
	queue []func()
}

func (d *heldDispatcher) Schedule(fn func()) {
	d.mu.Lock()
	if d.held {
		d.queue = append(d.queue, fn)
		d.mu.Unlock()
		return
	}
	d.mu.Unlock()
	go fn()
}

func (d *heldDispatcher) Throughput() int { return 300 }

func (d *heldDispatcher) hold() {
	d.mu.Lock()
	d.held = true
	d.mu.Unlock()
}

func (d *heldDispatcher) release() {
	d.mu.Lock()
	d.held = false
	q := d.queue
	d.queue = nil
	d.mu.Unlock()
	for _, fn := range q {
		go fn()
	}
}

// TestEndpointCloseReturnsWithItsConnectionsDone: a session its endpoint stops ends its
// connection's actor after itself, without waiting for it. Close must still not report
// success before every connection is done: here the connection actors are held (their
// dispatcher runs nothing) while the endpoint closes, so Close can only fail with its
// context's error. Before the fix it returned nil with the connection not done — what
// TestVanishedClientIsTimedOutAndFreed caught once in 50 runs under load.
func TestEndpointCloseReturnsWithItsConnectionsDone(t *testing.T) {
	sys, srv, _ := startRecordingServer(t)
	ep, err := client.NewEndpoint(sys, client.EndpointConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	d := &heldDispatcher{}
	client.SetConnDispatcher(ep, d)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := ep.Connect(ctx, "rtmfp://"+srv.Addrs()[0].String()+"/live", client.Options{})
	if err != nil {
		t.Fatal(err)
	}

	d.hold()
	closeCtx, stop := context.WithCancel(context.Background())
	closed := make(chan error, 1)
	go func() { closed <- ep.Close(closeCtx) }()
	// The endpoint is down (its sessions stopped, its socket closed); the connection's
	// actor cannot have ended.
	<-ep.Endpoint().Done()
	stop()
	err = <-closed
	select {
	case <-c.Done():
		t.Fatal("the connection ended while its actor was held")
	default:
	}
	if err == nil {
		t.Fatal("Close returned success with a connection not done")
	}
	d.release()
	<-c.Done()
}
