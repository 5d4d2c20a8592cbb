package session

import (
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/live"
)

// BenchmarkChannelMedia is the subscriber's side of a fan-out in one session: an
// operation is one instant of a live stream bound to the session — a live.Batch of an
// audio frame (200 B) and a video frame (4 kB; a 20 kB key frame every 50) — through the
// binding's policy, the send flows and the packets sent, then 20 ms of virtual time in
// which the simulated subscriber receives and acknowledges them. Both ends' work is
// counted (the subscriber's receiving and the encryption on both sides included).
func BenchmarkChannelMedia(b *testing.B) {
	link := simLink{Delay: 10 * time.Millisecond}
	m, client, server := newSim(b, 1, link, link, Config{})
	client.onMessage = func(uint64, []byte) {} // nothing kept
	k := func(kind string) FlowKey { return FlowKey{Metadata: kind} }
	server.deliver(&live.Bind{Channel: 7, Binding: 1, Lanes: &Lanes{Flows: [3]FlowKey{k("c"), k("a"), k("v")}}})
	audio := &live.Media{Channel: 7, Kind: live.KindAudio, Data: make([]byte, 200)}
	inter := &live.Media{Channel: 7, Kind: live.KindVideo, Data: make([]byte, 4000)}
	key := &live.Media{Channel: 7, Kind: live.KindVideo, KeyFrame: true, Data: make([]byte, 20000)}
	batch := &live.Batch{Msgs: make([]*live.Media, 2)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch.Msgs[0], batch.Msgs[1] = audio, inter
		if i%50 == 0 {
			batch.Msgs[1] = key
		}
		server.deliver(batch)
		m.run(m.clock.now+20*time.Millisecond, nil)
		if i%64 == 0 {
			for id := range client.msgs {
				client.msgs[id] = client.msgs[id][:0]
			}
		}
	}
	b.StopTimer()
	if d := m.stats.MediaDropped.Load(); d != 0 {
		b.Fatalf("%d media dropped on an unloaded link", d)
	}
}
