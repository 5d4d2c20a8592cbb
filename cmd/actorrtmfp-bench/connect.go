package main

import (
	"context"
	"fmt"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
)

// runConnect opens -n sessions at -rate (handshake + NetConnection connect each), holds
// them for -hold, and closes them. The server's CPU is measured over the opening phase,
// its RSS before the first connect, once every session is open and at the end of the hold.
func runConnect(ctx context.Context, b *bench) (*Result, error) {
	cfg := b.cfg
	res := newResult()
	res.Params["hold"] = cfg.Hold.String()
	res.LatencyOf = "connect"
	if _, err := b.endpoints(); err != nil {
		return nil, err
	}
	var lat histogram
	b.setPhase("open", nil)
	before := b.sample()
	conns, took, err := b.connectAll(ctx, cfg.N, cfg.Rate, &lat)
	if err != nil {
		return nil, err
	}
	open := b.sample()
	ok := lat.count()
	res.Counts["attempted"] = uint64(cfg.N)
	res.Counts["connected"] = ok
	res.Rates["connects_per_s"] = perSecond(ok, took)
	f := b.measured(res, took, &lat, before, open, "handshake", ok)

	end := open
	if cfg.Hold > 0 && ok > 0 {
		pings0 := b.keepalivePings()
		b.setPhase("hold", func() string {
			return fmt.Sprintf("alive %d, keepalive pings %d", alive(conns), b.keepalivePings()-pings0)
		})
		b.prog.ok.Store(ok)
		t := time.NewTimer(cfg.Hold)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			res.Notes = append(res.Notes, "interrupted during the hold")
		}
		end = b.sample()
		still := uint64(alive(conns))
		res.Counts["alive_after_hold"] = still
		res.Counts["client_keepalive_pings"] = b.keepalivePings() - pings0
		if still < ok {
			b.fails.addN("hold_session_ended", ok-still, endedReason(conns))
		}
	}
	if f != nil {
		if cfg.Hold > 0 && ok > 0 {
			f.RSSOpenKiB = open.RSSKiB
			f.RSSEndKiB, f.HWMEndKiB = end.RSSKiB, end.HWMKiB
			f.RSSPerSessionBytes = round3((float64(open.RSSKiB) - float64(before.RSSKiB)) * 1024 / float64(ok))
			f.RSSPerSessionEndBytes = round3((float64(end.RSSKiB) - float64(before.RSSKiB)) * 1024 / float64(ok))
			f.HoldCPUSeconds = round3(end.CPU - open.CPU)
		}
		res.Notes = append(res.Notes, "server CPU is over the opening phase: handshake, connect, setPeerInfo and session start of each connection")
	}

	b.setPhase("close", nil)
	closeConns(conns, 10*time.Second)
	return res, nil
}

// endedReason describes why the first ended session ended.
func endedReason(conns []*client.Conn) error {
	for _, c := range conns {
		if c == nil {
			continue
		}
		select {
		case <-c.Done():
			return fmt.Errorf("session ended: %v", c.CloseReason())
		default:
		}
	}
	return nil
}
