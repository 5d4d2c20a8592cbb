package httpapi_test

import (
	"context"

	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/httpapi"
	"github.com/actorrtmfp/actorrtmfp/actors/rtmp/rtmpclient"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

type echoApp struct{}

func (echoApp) OnConnect(app.Client, []any) ([]amf.Property, error) { return nil, nil }
func (echoApp) OnDisconnect(app.Client)                             {}
func (echoApp) OnCall(_ app.Client, _ string, args []any) ([]any, error) {
	return args, nil
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// scene is a node with something to show: on "live" two RTMFP clients (Flash and RFC
// 7425 dialects) — the first publishing "cam", the second playing it, both in a group —
// one on "other", and an RTMP client on "live"; its API served on loopback.
type scene struct {
	sys   *actor.ActorSystem
	srv   *server.Server
	clock *clock.Warp
	http  *httptest.Server
	conns []*client.Conn // live (Flash), live (RFC 7425), other
	rtmp  *rtmpclient.Conn
	media int // bytes of media published
	gid   [32]byte
}

func newScene(t *testing.T, token string) *scene {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	sys := actors.NewActorSystem(log)
	t.Cleanup(sys.Shutdown)
	warp := clock.NewWarp()
	cfg := server.Defaults()
	cfg.Listen, cfg.RTMP, cfg.Media, cfg.Shards = []string{"127.0.0.1:0"}, "127.0.0.1:0", server.Off, 2
	srv, err := server.Start(sys.Root, cfg, server.Options{Log: log, Clock: warp,
		Apps: app.Static{Apps: map[string]app.Application{"live": echoApp{}, "other": echoApp{}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	s := &scene{sys: sys, srv: srv, clock: warp}
	s.http = httptest.NewServer(httpapi.Handler(srv, httpapi.Options{Token: token, Log: log}))
	t.Cleanup(s.http.Close)

	base := "rtmfp://" + srv.Addrs()[0].String()
	for _, c := range []struct {
		path    string
		dialect client.Dialect
	}{{"/live", client.Flash}, {"/live", client.RFC7425}, {"/other", client.Flash}} {
		conn, err := client.Dial(ctxT(t, 10*time.Second), sys, base+c.path, client.Options{Dialect: c.dialect,
			ConnectObject: []amf.Property{{Key: "flashVer", Value: "WIN 32,0,0,465"}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		s.conns = append(s.conns, conn)
		if _, err := conn.Call(ctxT(t, 10*time.Second), "echo", "hello"); err != nil {
			t.Fatal(err)
		}
	}
	s.rtmp, err = rtmpclient.Dial(ctxT(t, 10*time.Second), "rtmp://"+srv.RTMPAddrs()[0].String()+"/live", rtmpclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.rtmp.Close() })

	pub, err := s.conns[0].Publish(ctxT(t, 10*time.Second), "cam")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.conns[1].Play(ctxT(t, 10*time.Second), "cam"); err != nil {
		t.Fatal(err)
	}
	// Two media messages a second apart on the node's clock: the publication measures its
	// bit rate over that second.
	for i := range 2 {
		data := make([]byte, 1000)
		data[0] = 0xaf
		data[1] = 1
		if err := pub.Write(client.Media{Type: flash.TypeAudio, Timestamp: uint32(i * 1000), Data: data}); err != nil {
			t.Fatal(err)
		}
		s.media += len(data) + 11 // the Flash message header the server keeps with it
		if i == 0 {
			waitFor(t, "the first media", func() bool { return srv.PublicationStats().Media.Load() == 1 })
			warp.Skip(time.Second)
		}
	}
	waitFor(t, "the second media", func() bool { return srv.PublicationStats().Media.Load() == 2 })
	s.gid[0] = 42
	for _, c := range s.conns[:2] {
		if _, err := c.JoinGroup(ctxT(t, 10*time.Second), s.gid); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the group members", func() bool { _, m := srv.GroupIndex().Counts(); return m == 2 })
	waitFor(t, "every client in the table", func() bool { return srv.Clients().Len() == 4 })
	return s
}

// get asks the API for path, with token if not empty, and returns the response.
func (s *scene) do(t *testing.T, method, path, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t, 10*time.Second), method, s.http.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
