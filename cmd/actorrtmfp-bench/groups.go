package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
)

// runGroups connects -n clients, then has them join one NetGroup at -rate per second and
// times each join to the first neighbour the server hands out. The first member joins
// alone (it has no one to be told about) and is left out of the measured phase; the
// others start once its join has had a moment (100 ms) to land.
func runGroups(ctx context.Context, b *bench) (*Result, error) {
	cfg := b.cfg
	res := newResult()
	res.LatencyOf = "join → first neighbour"
	spec := cfg.Group
	if spec == "" {
		var r [8]byte
		_, _ = rand.Read(r[:])
		spec = "bench-" + hex.EncodeToString(r[:])
	}
	id := sha256.Sum256([]byte(spec))
	res.Params["group"] = spec

	b.setPhase("connect", nil)
	var connLat histogram
	all, _, err := b.connectAll(ctx, cfg.N, 0, &connLat)
	if err != nil {
		return nil, err
	}
	defer closeConns(all, 10*time.Second)
	res.Latencies["connect"] = connLat.summary()
	conns := nonNil(all)
	res.Counts["members"] = uint64(len(conns))
	if len(conns) < 2 {
		return res, errors.New("fewer than two clients could connect")
	}

	b.setPhase("join", nil)
	if _, err := conns[0].JoinGroup(ctx, id); err != nil {
		return res, fmt.Errorf("first member: %w", err)
	}
	time.Sleep(100 * time.Millisecond) // the first member's join reaches the group first
	var lat histogram
	before := b.sample()
	start := time.Now()
	rest := conns[1:]
	pace(ctx, len(rest), cfg.Rate, cfg.Concurrency, func(i int) {
		cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		t := time.Now()
		g, err := rest[i].JoinGroup(cctx, id)
		if err != nil {
			b.fail("join", err)
			return
		}
		select {
		case <-g.Neighbors:
			lat.record(time.Since(t))
			b.prog.ok.Add(1)
		case <-g.Rejected():
			b.failAs("join_rejected", errors.New("the server refused the membership"))
		case <-rest[i].Done():
			b.fail("join", client.ErrClosed)
		case <-cctx.Done():
			b.failAs("join_no_neighbour", errors.New("no neighbour within -timeout"))
		}
	})
	took := time.Since(start)
	after := b.sample()
	ok := lat.count()
	res.Counts["joins_with_neighbour"] = ok
	res.Rates["joins_per_s"] = perSecond(ok, took)
	b.measured(res, took, &lat, before, after, "join", ok)
	b.setPhase("close", nil)
	return res, nil
}
