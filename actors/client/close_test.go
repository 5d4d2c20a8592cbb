package client_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/internal/netsim"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/codec/flv"
)

// TestPublisherCloseAfterItsMedia: a publisher that writes a burst of frames and closes at
// once, on a path whose acknowledgements come late (so most of the burst still waits in
// the client's session when Close is called), has every frame recorded: closeStream, on
// the stream's command flow, does not overtake the media waiting on the stream's audio
// flow.
func TestPublisherCloseAfterItsMedia(t *testing.T) {
	t.Parallel()
	sys, srv, media := startRecordingServer(t)
	// Acknowledgements (server → client) take 20 ms: the client's congestion window holds
	// back most of a burst for several round trips. With closeStream sent at once (not
	// waiting for the media to settle) the recording got 16 of the 300 frames.
	relay := newRelay(t, srv, netsim.Link{Delay: 20 * time.Millisecond})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, sys, "rtmfp://"+relay.Addr().String()+"/live", client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	pub, err := c.PublishAs(ctx, "tail", "record")
	if err != nil {
		t.Fatal(err)
	}
	const frames = 300
	for i := range frames {
		body := make([]byte, 200)
		body[0], body[1] = 0xAF, 0x01 // AAC raw
		body[2], body[3] = byte(i>>8), byte(i)
		if err := pub.Write(client.Media{Type: flash.TypeAudio, Timestamp: uint32(i * 23), Data: body, Reliable: true}); err != nil {
			t.Fatal(err)
		}
	}
	pub.Close()

	waitRecordingClosed(ctx, t, srv)
	b, err := os.ReadFile(filepath.Join(media, "live", "tail.flv"))
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for b = b[flv.StartLen:]; len(b) > 0; {
		tag, n, err := flv.ParseTag(b)
		if err != nil {
			t.Fatalf("the recording after %d frames: %v", len(got), err)
		}
		b = b[n:]
		if tag.Type == flash.TypeAudio {
			got = append(got, int(tag.Body[2])<<8|int(tag.Body[3]))
		}
	}
	if len(got) != frames {
		t.Fatalf("the recording has %d of the %d frames written before Close", len(got), frames)
	}
	for i, n := range got {
		if n != i {
			t.Fatalf("frame %d of the recording is frame %d", i, n)
		}
	}
}

// startRecordingServer starts a server on loopback that records into a folder of the
// test's.
func startRecordingServer(t *testing.T) (*actor.ActorSystem, *server.Server, string) {
	t.Helper()
	sys := actors.NewActorSystem(zap.NewNop())
	t.Cleanup(sys.Shutdown)
	cfg := server.Defaults()
	cfg.Listen, cfg.RTMP, cfg.Media = []string{"127.0.0.1:0"}, server.Off, t.TempDir()
	srv, err := server.Start(sys.Root, cfg, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
	})
	return sys, srv, cfg.Media
}

// newRelay puts a simulated path in front of srv, with down as the server → client link.
func newRelay(t *testing.T, srv *server.Server, down netsim.Link) *netsim.Relay {
	t.Helper()
	relay, err := netsim.New(srv.Addrs()[0], netsim.Link{}, down, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = relay.Close() })
	return relay
}

// waitRecordingClosed waits until srv has closed a recording (its file written to its
// end).
func waitRecordingClosed(ctx context.Context, t *testing.T, srv *server.Server) {
	t.Helper()
	for srv.MediaStats().Closed.Load() < 1 {
		select {
		case <-ctx.Done():
			t.Fatal("the recording was not closed")
		case <-time.After(10 * time.Millisecond):
		}
	}
}
