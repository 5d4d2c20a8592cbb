package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
)

// runRPC opens -n sessions, then calls -method at -rate calls/s for -duration, spread
// over the sessions in turn (open loop: a call starts on time whatever the previous ones
// do, up to -concurrency outstanding). With -rate 0 every session keeps one call
// outstanding (closed loop: the server's throughput). An _error answer (a server without
// the method says NetConnection.Call.Failed / "Method not found") is a completed round
// trip, counted apart from results.
func runRPC(ctx context.Context, b *bench) (*Result, error) {
	cfg := b.cfg
	res := newResult()
	res.Params["method"] = cfg.Method
	res.Params["arg"] = cfg.Arg
	res.Params["duration"] = cfg.Duration.String()
	res.LatencyOf = "call"

	var connLat histogram
	b.setPhase("connect", nil)
	all, _, err := b.connectAll(ctx, cfg.N, 0, &connLat)
	if err != nil {
		return nil, err
	}
	conns := nonNil(all)
	res.Counts["sessions"] = uint64(len(conns))
	res.Latencies["connect"] = connLat.summary()
	if len(conns) == 0 {
		return res, errors.New("no session could connect")
	}

	var lat histogram
	var results, errReplies atomic.Uint64
	var firstErr atomic.Pointer[client.CallError]
	args := []any{cfg.Arg}
	call := func(c *client.Conn) {
		cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		t := time.Now()
		_, err := c.Call(cctx, cfg.Method, args...)
		var ce *client.CallError
		switch {
		case err == nil:
			results.Add(1)
		case errors.As(err, &ce):
			if errReplies.Add(1) == 1 {
				firstErr.Store(ce)
			}
		default:
			b.fail("call", err)
			return
		}
		lat.record(time.Since(t))
		b.prog.ok.Add(1)
	}
	b.setPhase("call", func() string { return fmt.Sprintf("results %d, error replies %d", results.Load(), errReplies.Load()) })
	before := b.sample()
	start := time.Now()
	var attempted uint64
	if cfg.Rate > 0 {
		total := max(1, int(cfg.Rate*cfg.Duration.Seconds()))
		attempted = uint64(total)
		pace(ctx, total, cfg.Rate, cfg.Concurrency, func(i int) { call(conns[i%len(conns)]) })
	} else {
		dctx, cancel := context.WithTimeout(ctx, cfg.Duration)
		var started atomic.Uint64
		done := make(chan struct{}, len(conns))
		for _, c := range conns {
			go func() {
				defer func() { done <- struct{}{} }()
				for dctx.Err() == nil {
					select {
					case <-c.Done(): // a closed session would fail at once, in a loop
						return
					default:
					}
					started.Add(1)
					call(c)
				}
			}()
		}
		for range conns {
			<-done
		}
		cancel()
		attempted = started.Load()
	}
	took := time.Since(start)
	after := b.sample()

	done := results.Load() + errReplies.Load()
	b.measured(res, took, &lat, before, after, "call", done)
	res.Counts["calls_attempted"] = attempted
	res.Counts["results"] = results.Load()
	res.Counts["error_replies"] = errReplies.Load()
	res.Rates["round_trips_per_s"] = perSecond(done, took)
	res.Rates["results_per_s"] = perSecond(results.Load(), took)
	if ce := firstErr.Load(); ce != nil {
		res.Notes = append(res.Notes, "the server answered _error (counted as error_replies, not failures): "+ce.Error())
	}

	b.setPhase("close", nil)
	closeConns(conns, 10*time.Second)
	return res, nil
}
