package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/rtmp/rtmpclient"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// rtmpURL is the fixture's RTMP URL of application "live".
func rtmpURL(f *fixture) string { return fmt.Sprintf("rtmp://%s/live", f.srv.RTMPAddrs()[0]) }

// rtmpDial connects an RTMP client to the fixture, closed with the test.
func rtmpDial(t *testing.T, f *fixture, opts rtmpclient.Options) *rtmpclient.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := rtmpclient.Dial(ctx, rtmpURL(f), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// writeRTMP publishes client media on an RTMP stream.
func writeRTMP(t *testing.T, s *rtmpclient.Stream, ms []client.Media) {
	t.Helper()
	for _, m := range ms {
		if err := s.Write(m.Type, m.Timestamp, m.Data); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRTMPPublishToRTMPAndRTMFPPlayers(t *testing.T) {
	t.Parallel()
	f := startServer(t, server.Options{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pubc := rtmpDial(t, f, rtmpclient.Options{})
	pub, err := pubc.Publish(ctx, "s", "live")
	if err != nil {
		t.Fatal(err)
	}
	src := &avSource{keyEvery: 10, videoBytes: 200}
	writeRTMP(t, pub, src.headers())
	got := make(chan rtmpclient.Message, 1000)
	playc := rtmpDial(t, f, rtmpclient.Options{Digest: true})
	if _, err := playc.Play(ctx, "s", -2000, func(m rtmpclient.Message) { got <- m }); err != nil {
		t.Fatal(err)
	}
	ep := newClientEndpoint(t, f, client.EndpointConfig{})
	rc, err := ep.Connect(ctx, f.url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rp, err := rc.Play(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	for range 30 {
		writeRTMP(t, pub, src.next())
	}
	for n := 0; n < 20; n++ {
		select {
		case m := <-got:
			t.Logf("rtmp %x %d %d", m.Type, m.Timestamp, len(m.Body))
		case <-ctx.Done():
			t.Fatal("rtmp player got nothing")
		}
	}
	for n := 0; n < 20; n++ {
		select {
		case m := <-rp.C:
			t.Logf("rtmfp %x %d %d", m.Type, m.Timestamp, len(m.Data))
		case <-ctx.Done():
			t.Fatal("rtmfp player got nothing")
		}
	}
	_ = flash.TypeAudio
}
