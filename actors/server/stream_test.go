package server_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// avSource generates a synthetic A/V stream: metadata, AAC and AVC sequence headers, then
// audio frames (every 20 ms) and video frames (every 40 ms, a key frame every keyEvery
// frames). Every frame carries a sequence number so receivers can check order and bytes.
// Frames are marked client.Media.Reliable: the tests' subject is what the server does with
// a stream, and an RTMFP publisher's own media policy is wall-clock (lifetimes, the
// catch-up at a key frame), so a busy machine that left the publisher's session a second
// behind would make it give frames up before they reached the server (issue 26).
type avSource struct {
	keyEvery   int
	videoBytes int // size of an inter frame; key frames are 5x
	audioSeq   int
	videoSeq   int
	clock      uint32
}

func (s *avSource) headers() []client.Media {
	meta, _ := flash.AppendData(nil, flash.Data{Values: []any{"@setDataFrame", "onMetaData",
		amf.NewObject(amf.Property{Key: "width", Value: 320.0}, amf.Property{Key: "height", Value: 240.0}, amf.Property{Key: "framerate", Value: 25.0})}})
	msg, _ := flash.ParseMessage(meta)
	return []client.Media{
		{Type: flash.TypeDataAMF0, Data: append([]byte(nil), msg.Body...)},
		{Type: flash.TypeAudio, Data: []byte{0xAF, 0x00, 0x12, 0x10}},                      // AAC sequence header
		{Type: flash.TypeVideo, Data: []byte{0x17, 0x00, 0, 0, 0, 1, 0x64, 0, 0x1F, 0xFF}}, // AVC sequence header
	}
}

// next returns the next frames up to 40 ms of media: two audio frames and one video frame.
func (s *avSource) next() []client.Media {
	var out []client.Media
	for i := 0; i < 2; i++ {
		b := make([]byte, 2+4+120)
		b[0], b[1] = 0xAF, 0x01
		binary.BigEndian.PutUint32(b[2:], uint32(s.audioSeq))
		fill(b[6:], s.audioSeq)
		out = append(out, client.Media{Type: flash.TypeAudio, Timestamp: s.clock + uint32(i*20), Data: b, Reliable: true})
		s.audioSeq++
	}
	key := s.videoSeq%s.keyEvery == 0
	size := s.videoBytes
	head := byte(0x27)
	if key {
		size *= 5
		head = 0x17
	}
	b := make([]byte, 5+4+size)
	b[0], b[1] = head, 0x01
	binary.BigEndian.PutUint32(b[5:], uint32(s.videoSeq))
	fill(b[9:], s.videoSeq)
	out = append(out, client.Media{Type: flash.TypeVideo, Timestamp: s.clock, Data: b, Reliable: true})
	s.videoSeq++
	s.clock += 40
	return out
}

func fill(b []byte, seed int) {
	for i := range b {
		b[i] = byte(seed*31 + i)
	}
}

// expect rebuilds what a source sent, to compare with what a player got.
type received struct {
	audio, video [][]byte
	metadata     bool
	configsFirst bool
	firstVideoKF bool
	unpublished  bool
}

func collect(t *testing.T, p *client.Player, until func(r *received) bool, d time.Duration) *received {
	t.Helper()
	r := &received{configsFirst: true}
	var sawAudioCfg, sawVideoCfg bool
	deadline := time.After(d)
	for !until(r) {
		select {
		case m, ok := <-p.C:
			if !ok {
				return r
			}
			switch m.Type {
			case flash.TypeDataAMF0, flash.TypeDataAMF3:
				r.metadata = true
			case flash.TypeAudio:
				if flash.IsAACSequenceHeader(m.Data) {
					sawAudioCfg = true
					continue
				}
				if !sawAudioCfg {
					r.configsFirst = false
				}
				r.audio = append(r.audio, m.Data)
			case flash.TypeVideo:
				if flash.IsVideoSequenceHeader(m.Data) {
					sawVideoCfg = true
					continue
				}
				if !sawVideoCfg {
					r.configsFirst = false
				}
				if len(r.video) == 0 {
					r.firstVideoKF = flash.IsKeyFrame(m.Data)
				}
				r.video = append(r.video, m.Data)
			}
		case s := <-p.Status:
			if s.Code == flash.CodePlayUnpublishNotify {
				r.unpublished = true
			}
		case <-deadline:
			t.Fatalf("%s: timed out with %d audio, %d video frames", p.Name, len(r.audio), len(r.video))
		}
	}
	return r
}

// seqOf reads the sequence number a frame carries.
func seqOf(m []byte, video bool) int {
	if video {
		return int(binary.BigEndian.Uint32(m[5:]))
	}
	return int(binary.BigEndian.Uint32(m[2:]))
}

// checkContiguous verifies frames are consecutive from their first sequence number and
// byte-identical to what the source generates.
func checkContiguous(t *testing.T, who string, frames [][]byte, video bool) {
	t.Helper()
	if len(frames) == 0 {
		t.Fatalf("%s: no %s", who, map[bool]string{true: "video", false: "audio"}[video])
	}
	first := seqOf(frames[0], video)
	for i, f := range frames {
		if got := seqOf(f, video); got != first+i {
			t.Fatalf("%s: frame %d has sequence %d, want %d (gap or reorder)", who, i, got, first+i)
		}
		var want []byte
		if video {
			want = f[:9] // header+seq as received; the fill must match
			body := make([]byte, len(f)-9)
			fill(body, first+i)
			want = append(append([]byte(nil), want...), body...)
		} else {
			body := make([]byte, len(f)-6)
			fill(body, first+i)
			want = append(append([]byte(nil), f[:6]...), body...)
		}
		if !bytes.Equal(f, want) {
			t.Fatalf("%s: frame %d differs from what was published", who, i)
		}
	}
}

func TestPublishPlaySmoke(t *testing.T) {
	t.Parallel()
	f, pub := publishing(t, "cam")
	src := &avSource{keyEvery: 25, videoBytes: 600}
	for _, m := range src.headers() {
		if err := pub.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	playConn := dial(t, f, f.url, client.Options{Dialect: client.RFC7425})
	player, err := playConn.Play(ctxT(t, 10*time.Second), "cam")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(fastTickPeriod) // lossless: the pace is not the subject
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				for _, m := range src.next() {
					_ = pub.Write(m)
				}
			}
		}
	}()
	r := collect(t, player, func(r *received) bool { return len(r.video) >= 60 }, 20*time.Second)
	close(stop)
	if !r.metadata || !r.configsFirst || !r.firstVideoKF {
		t.Fatalf("metadata %v, configs first %v, first video a key frame %v", r.metadata, r.configsFirst, r.firstVideoKF)
	}
	checkContiguous(t, "player", r.video, true)
	checkContiguous(t, "player", r.audio, false)
}

func sessionConfigZero() session.Config { return session.Config{} }

// publishing starts a server with lossless media (its tests want every frame) and
// publishes stream name on it.
func publishing(t *testing.T, name string) (*fixture, *client.Publisher) {
	t.Helper()
	f := startServer(t, lossless(server.Options{}), nil)
	pub, err := dial(t, f, f.url, client.Options{}).Publish(ctxT(t, 10*time.Second), name)
	if err != nil {
		t.Fatal(err)
	}
	return f, pub
}

// numberedAudio is audio frame i of a test stream, its number in its third byte.
func numberedAudio(i int) client.Media {
	return client.Media{Type: flash.TypeAudio, Timestamp: uint32(i * 20), Data: []byte{0xAF, 0x01, byte(i)}}
}

// numberOf returns the number of a numberedAudio frame, or -1 for another message.
func numberOf(m client.Media) int {
	if m.Type != flash.TypeAudio || len(m.Data) != 3 {
		return -1
	}
	return int(m.Data[2])
}

// TestPlayedMediaCarriesArrivalTime: a player on an endpoint with kernel timestamps gets
// every frame stamped with when it reached the endpoint: after the frame was published,
// before the player read it.
func TestPlayedMediaCarriesArrivalTime(t *testing.T) {
	t.Parallel()
	f, pub := publishing(t, "stamped")
	ep := newClientEndpoint(t, f, client.EndpointConfig{KernelTimestamps: true})
	player, err := connectMany(t, f, []*client.Endpoint{ep}, 1)[0].Play(ctxT(t, 10*time.Second), "stamped")
	if err != nil {
		t.Fatal(err)
	}
	const frames = 20
	written := make(chan time.Time, frames)
	go func() {
		for i := range frames {
			written <- time.Now()
			if err := pub.Write(numberedAudio(i)); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	deadline := time.After(10 * time.Second)
	for i := 0; i < frames; {
		select {
		case m := <-player.C:
			read := time.Now()
			n := numberOf(m)
			if n < 0 {
				continue
			}
			sent := <-written
			for n > i { // a frame the server did not relay: skip its write time
				sent, i = <-written, i+1
			}
			if m.Arrived.IsZero() || m.Arrived.Before(sent) || m.Arrived.After(read) {
				t.Fatalf("frame %d written at %v, arrived at %v, read at %v", n, sent, m.Arrived, read)
			}
			i++
		case <-deadline:
			t.Fatalf("%d of %d frames played", i, frames)
		}
	}
}

// TestPlayFuncPanicEndsOnlyItsConnection: a PlayFunc player whose function panics ends its
// own connection (the failure of its connection's actor); a second player of the same
// stream, on the same client endpoint, keeps playing.
func TestPlayFuncPanicEndsOnlyItsConnection(t *testing.T) {
	t.Parallel()
	f, pub := publishing(t, "crash")
	ep := newClientEndpoint(t, f, client.EndpointConfig{})
	conns := connectMany(t, f, []*client.Endpoint{ep}, 2)
	bad, good := conns[0], conns[1]
	if _, err := bad.PlayFunc(ctxT(t, 10*time.Second), "crash", func(client.Media) { panic("the application's bug") }); err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 64)
	if _, err := good.PlayFunc(ctxT(t, 10*time.Second), "crash", func(m client.Media) {
		if n := numberOf(m); n >= 0 {
			got <- n
		}
	}); err != nil {
		t.Fatal(err)
	}
	write := func(i int) {
		if err := pub.Write(numberedAudio(i)); err != nil {
			t.Fatal(err)
		}
	}
	write(0)
	select {
	case <-bad.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the connection whose play function panicked did not end")
	}
	for i := 1; i <= 5; i++ {
		write(i)
	}
	deadline := time.After(10 * time.Second)
	for want := 1; want <= 5; {
		select {
		case n := <-got:
			if n == want {
				want++
			}
		case <-deadline:
			t.Fatalf("the other player stopped at frame %d", want)
		}
	}
	if _, err := good.Call(ctxT(t, 5*time.Second), "echo", "still here"); err != nil {
		var ce *client.CallError
		if !errors.As(err, &ce) {
			t.Fatalf("the other connection: %v", err)
		}
	}
}
