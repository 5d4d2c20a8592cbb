package server_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// The operator's event lines at info level, one per event, with what names it.
func TestEventLines(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.InfoLevel)
	f := startServer(t, server.Options{Log: zap.New(zapcore.NewTee(logger(t).Core(), core))}, nil)
	waitLine := func(msg string, fields map[string]string) {
		t.Helper()
		waitUntil(t, "the event line "+msg, 10*time.Second, func() bool {
		next:
			for _, e := range logs.FilterMessage(msg).All() {
				m := e.ContextMap()
				for k, v := range fields {
					if fmt.Sprint(m[k]) != v {
						continue next
					}
				}
				return e.Level == zapcore.InfoLevel
			}
			return false
		})
	}
	pub, err := client.Dial(ctxT(t, 10*time.Second), f.sys, f.url, client.Options{ConnectObject: []amf.Property{{Key: "flashVer", Value: "WIN 32,0,0,465"}}})
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", pub.Endpoint().Addr().Port())
	waitLine("client connected", map[string]string{"peer_id": pub.PeerID().String(), "addr": addr, "app": "live", "dialect": "flash",
		"flash_version": "WIN 32,0,0,465", "protocol": "rtmfp"})
	player, err := client.Dial(ctxT(t, 10*time.Second), f.sys, f.url, client.Options{Dialect: client.RFC7425})
	if err != nil {
		t.Fatal(err)
	}
	waitLine("client connected", map[string]string{"peer_id": player.PeerID().String(), "dialect": "rfc7425"})

	p, err := pub.Publish(ctxT(t, 10*time.Second), "cam")
	if err != nil {
		t.Fatal(err)
	}
	waitLine("published", map[string]string{"stream": "cam", "addr": addr})
	pl, err := player.Play(ctxT(t, 10*time.Second), "cam")
	if err != nil {
		t.Fatal(err)
	}
	waitLine("played", map[string]string{"stream": "cam", "source": "live"})
	pl.Close()
	waitLine("stopped", map[string]string{"stream": "cam"})
	p.Close()
	waitLine("unpublished", map[string]string{"stream": "cam"})
	if _, err := player.JoinGroup(ctxT(t, 10*time.Second), [32]byte{1}); err != nil {
		t.Fatal(err)
	}
	waitLine("joined a group", map[string]string{"peer_id": player.PeerID().String()})

	_, err = client.Dial(ctxT(t, 10*time.Second), f.sys, f.url, client.Options{Args: []any{"reject"}})
	var ce *client.ConnectError
	if !errors.As(err, &ce) || ce.Status.Code != flash.CodeConnectRejected {
		t.Fatalf("rejected connect: %v", err)
	}
	waitLine("client refused", map[string]string{"why": "application: go away"})

	pub.Close()
	waitLine("client left", map[string]string{"peer_id": pub.PeerID().String(), "reason": "remote"})
	for _, e := range logs.FilterMessage("client left").All() {
		m := e.ContextMap()
		if in, _ := m["bytes_in"].(uint64); in == 0 {
			t.Errorf("client left without its bytes: %v", m)
		}
		if _, ok := m["duration"]; !ok {
			t.Errorf("client left without its duration: %v", m)
		}
	}
}
