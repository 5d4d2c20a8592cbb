package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
)

// p2pStream is the name every publisher publishes directly.
const p2pStream = "s"

// runP2P measures introductions: -n publishers that accept peers (each on its own socket,
// publishing "s" directly) and -n players on the shared sockets; then, at -rate per
// second, player i plays "s" from publisher i through the server (rendezvous: the server
// forwards the player's hello to the publisher, which answers it directly), timed from the
// start of PlayPeer to NetStream.Play.Start. Each player closes its peer session once
// it started.
func runP2P(ctx context.Context, b *bench) (*Result, error) {
	cfg := b.cfg
	res := newResult()
	res.LatencyOf = "introduction (PlayPeer → Play.Start)"

	// Publishers, each with its own endpoint.
	b.setPhase("publishers", nil)
	pubs := make([]*client.Conn, cfg.N)
	var pubLat histogram
	pace(ctx, cfg.N, 0, min(cfg.Concurrency, 100), func(i int) {
		cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		opts := b.options()
		opts.AcceptPeers = true
		t := time.Now()
		c, err := client.Dial(cctx, b.sys, cfg.PeerURL, opts)
		if err != nil {
			b.fail("publisher_connect", err)
			return
		}
		pubLat.record(time.Since(t))
		c.PublishDirect(p2pStream)
		pubs[i] = c
		b.prog.ok.Add(1)
	})
	defer closeConns(pubs, 10*time.Second)
	res.Latencies["publisher connect"] = pubLat.summary()

	b.setPhase("players", nil)
	var playLat histogram
	players, _, err := b.connectAll(ctx, cfg.N, 0, &playLat)
	if err != nil {
		return nil, err
	}
	defer closeConns(players, 10*time.Second)
	res.Latencies["player connect"] = playLat.summary()

	pairs := 0
	for i := range cfg.N {
		if pubs[i] != nil && players[i] != nil {
			pairs++
		}
	}
	res.Counts["pairs"] = uint64(pairs)
	if pairs == 0 {
		return res, errors.New("no publisher-player pair could connect")
	}

	b.setPhase("introduce", nil)
	var lat histogram
	before := b.sample()
	start := time.Now()
	pace(ctx, cfg.N, cfg.Rate, cfg.Concurrency, func(i int) {
		if pubs[i] == nil || players[i] == nil {
			return
		}
		cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		t := time.Now()
		p, err := players[i].PlayPeer(cctx, pubs[i].PeerID(), p2pStream)
		if err != nil {
			b.fail("introduction", err)
			return
		}
		lat.record(time.Since(t))
		p.Close()
		b.prog.ok.Add(1)
	})
	took := time.Since(start)
	after := b.sample()
	ok := lat.count()
	res.Counts["introductions"] = ok
	res.Rates["introductions_per_s"] = perSecond(ok, took)
	b.measured(res, took, &lat, before, after, "introduction", ok)
	if ok < uint64(pairs) {
		res.Notes = append(res.Notes, fmt.Sprintf("%d of %d introductions did not reach Play.Start", uint64(pairs)-ok, pairs))
	}
	b.setPhase("close", nil)
	return res, nil
}
