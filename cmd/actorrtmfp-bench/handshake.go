package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/endpoint"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
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
	addr, err := serverAddr(ctx, cfg.URL)
	if err != nil {
		return nil, err
	}
	groups := []cryptoutil.DHGroup{cryptoutil.Group2}
	policy := cryptoutil.FlashInitiatorPolicy()
	if cfg.Dialect == client.RFC7425 {
		groups = []cryptoutil.DHGroup{cryptoutil.Group14, cryptoutil.Group2}
		policy = cryptoutil.StrictPolicy()
	}
	var lat histogram
	pids := make([]*actor.PID, cfg.N)
	b.setPhase("handshake", nil)
	before := b.sample()
	start := time.Now()
	pace(ctx, cfg.N, cfg.Rate, cfg.Concurrency, func(i int) {
		// A fresh certificate per session, as distinct clients have.
		keys := make([]*cryptoutil.DHKey, len(groups))
		for k, g := range groups {
			key, err := cryptoutil.GenerateDHKey(g, rand.Reader)
			if err != nil {
				b.fail("keys", err)
				return
			}
			keys[k] = key
		}
		done := make(chan endpoint.DialResult, 1)
		t := time.Now()
		eps[i%len(eps)].Endpoint().Dial(endpoint.DialOptions{
			URL: cfg.URL, Addrs: []netip.AddrPort{addr}, Keys: keys, Policy: policy, Timeout: cfg.Timeout,
			Upper: func(endpoint.SessionInfo) *actor.Props { return nil },
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
	res.ElapsedS = round3(took.Seconds())
	res.Counts["attempted"] = uint64(cfg.N)
	res.Counts["completed"] = ok
	res.Rates["handshakes_per_s"] = perSecond(ok, took)
	res.Latency = lat.summary()
	b.fails.into(res)
	res.Tool = toolFigures(before, after)
	res.Net = netFigures(before, after)
	if f := b.probe.figures(before, after, "handshake", ok); f != nil {
		if ok > 0 {
			f.CPUPer1000Handshakes = round4(f.CPUSeconds / float64(ok) * 1000)
		}
		res.Server = f
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

// serverAddr resolves the host and port of an rtmfp:// URL (port 1935 by default).
func serverAddr(ctx context.Context, raw string) (netip.AddrPort, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "rtmfp" || u.Hostname() == "" {
		return netip.AddrPort{}, fmt.Errorf("bad URL %q", raw)
	}
	port := u.Port()
	if port == "" {
		port = "1935"
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname())
	if err != nil || len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("resolve %s: %v", u.Hostname(), err)
	}
	ap, err := netip.ParseAddrPort(net.JoinHostPort(ips[0].Unmap().String(), port))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port in %q", raw)
	}
	return ap, nil
}
