package main

import (
	"context"
	"net/netip"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/endpoint"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
)

// runHandshake completes -n RTMFP handshakes at -rate — IHello, RHello with its cookie,
// IIKeying, RIKeying: the session is open — and nothing else (no NetConnection connect),
// so that the server's CPU per completed handshake is measured on its own. The sessions
// stay open until the figures are taken, then are closed.
func runHandshake(ctx context.Context, b *bench) (*Result, error) {
	cfg := b.cfg
	res := newResult()
	res.LatencyOf = "handshake"
	eps, err := b.endpoints()
	if err != nil {
		return nil, err
	}
	addr, err := client.ServerAddr(ctx, cfg.URL)
	if err != nil {
		return nil, err
	}
	policy := cfg.Dialect.Policy()
	var lat histogram
	pids := make([]*actor.PID, cfg.N)
	b.setPhase("handshake", nil)
	before := b.sample()
	start := time.Now()
	pace(ctx, cfg.N, cfg.Rate, cfg.Concurrency, func(i int) {
		// A fresh certificate per session, as distinct clients have.
		keys, err := cfg.Dialect.NewKeys()
		if err != nil {
			b.fail("keys", err)
			return
		}
		done := make(chan endpoint.DialResult, 1)
		t := time.Now()
		eps[i%len(eps)].Endpoint().Dial(endpoint.DialOptions{
			URL: cfg.URL, Addrs: []netip.AddrPort{addr}, Keys: keys, Policy: policy, Timeout: cfg.Timeout,
			Upper: func(endpoint.SessionInfo) actor.Actor { return nil },
		}, func(r endpoint.DialResult) { done <- r })
		var r endpoint.DialResult
		select {
		case r = <-done:
		case <-ctx.Done():
			return
		}
		if r.Err != nil {
			b.fail("handshake", r.Err)
			return
		}
		lat.record(time.Since(t))
		pids[i] = r.PID
		b.prog.ok.Add(1)
	})
	took := time.Since(start)
	after := b.sample()
	ok := lat.count()
	res.Counts["attempted"] = uint64(cfg.N)
	res.Counts["completed"] = ok
	res.Rates["handshakes_per_s"] = perSecond(ok, took)
	if b.measured(res, took, &lat, before, after, "handshake", ok) != nil {
		res.Notes = append(res.Notes, "server CPU is over the handshake phase: the handshakes and the start of each session (no NetConnection connect)")
	}
	b.setPhase("close", nil)
	for _, pid := range pids {
		if pid != nil {
			b.sys.Root.Send(pid, &session.Close{Reason: session.ReasonLocal})
		}
	}
	return res, nil
}
