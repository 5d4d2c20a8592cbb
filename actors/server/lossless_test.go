package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/internal/netsim"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
)

// TestLosslessMediaGivesNothingUpForItsAge: with Options.LosslessMedia, a player cut off
// from the server while media is queued for it, the node's clock then moved 10 s forward
// (past every lifetime and wait of the live policy), receives every frame once the path
// is back, and nothing is counted dropped. The policy runs on the node's clock, which the
// test moves: no wall-clock wait decides. (With the live policy the same skip gives the
// queued frames 10-19 up: the test fails if the option does not reach the sessions.)
func TestLosslessMediaGivesNothingUpForItsAge(t *testing.T) {
	t.Parallel()
	const (
		keyEvery      = 25
		cutAt, skipAt = 10, 20
		restoreAt     = 30
		ticks         = 60
	)
	f := startServer(t, lossless(server.Options{}), nil)
	srvEP := f.srv.Endpoints()[0]
	relay, err := netsim.New(f.srv.Addrs()[0], netsim.Link{}, netsim.Link{}, 5)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	pubConn := dial(t, f, f.url, client.Options{})
	playConn := dial(t, f, fmt.Sprintf("rtmfp://%s/live", relay.Addr()), client.Options{})
	rec := playOn(t, "aged", playConn)[0]
	pub, err := pubConn.Publish(ctxT(t, 10*time.Second), "aged")
	if err != nil {
		t.Fatal(err)
	}
	feed := newFeed(f, pub, &avSource{keyEvery: keyEvery, videoBytes: rateVideoBytes})
	feed.writeHeaders()
	feed.run(ticks, fastTickPeriod, func(i int) {
		switch i {
		case cutAt:
			waitCaughtUp(t, feed, []*playRecord{rec}, 10*time.Second)
			relay.Cut(true)
		case skipAt:
			// Everything written since the cut is queued for the player, unacknowledged.
			_, _, written := feed.counts()
			waitProcessed(t, f.srv, uint64(written))
			f.clock.Skip(10 * time.Second)
		case restoreAt:
			relay.Cut(false)
		}
	})
	waitCaughtUp(t, feed, []*playRecord{rec}, 20*time.Second)
	if err := feed.check(t, rec, feedCheck{fromStart: true}); err != nil {
		t.Fatal(err)
	}
	if n := srvEP.SessionStats.MediaDropped.Load(); n != 0 {
		t.Fatalf("%d media messages dropped with LosslessMedia", n)
	}
}
