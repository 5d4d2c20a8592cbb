package live

import (
	"testing"

	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// TestLateSubscriberGetsTheAudioItsKeyFrameLaggedBehind: a publisher's audio and video go
// on separate flows, and on a loaded path its video may reach the server a second behind
// its audio. A subscriber that joins then is replayed the group from its key frame with all
// the audio from that key frame's time on — not only the last few messages, which left its
// audio starting hundreds of milliseconds after its video.
func TestLateSubscriberGetsTheAudioItsKeyFrameLaggedBehind(t *testing.T) {
	r := newRig(t)
	key := Key{App: "app", Name: "cam"}
	r.publish(key)
	r.ingest(message(flash.TypeVideo, 0, 0x17, 0x01, 0, 0, 0, 0)) // an earlier group
	// Audio of 0–1,500 ms (every 20 ms) arrives before the video of 1,000 ms onward.
	for ts := uint32(0); ts <= 1500; ts += 20 {
		r.ingest(message(flash.TypeAudio, ts, 0xAF, 0x01, byte(ts/20)))
	}
	r.ingest(message(flash.TypeVideo, 960, 0x27, 0x01, 0, 0, 0, 1))
	r.ingest(message(flash.TypeVideo, 1000, 0x17, 0x01, 0, 0, 0, 2)) // the new group's key frame
	r.sys.Root.Send(r.reg, &Play{Key: key, Stream: r.stream, Sink: r.sink, Binding: 1})
	next[*Bind](r, r.sinkCh)
	for range 3 { // Play.Reset, Play.Start, |RtmpSampleAccess
		if m := next[*Media](r, r.sinkCh); m.Kind != KindControl {
			t.Fatalf("%+v before the group, want the play statuses", m)
		}
	}
	if m := next[*Media](r, r.sinkCh); m.Kind != KindVideo || !m.KeyFrame {
		t.Fatalf("the group starts with %+v, want its key frame", m)
	}
	want := uint32(1000)
	for want <= 1500 {
		m := next[*Media](r, r.sinkCh)
		msg, err := flash.ParseMessage(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind != KindAudio || msg.Timestamp != want {
			t.Fatalf("after the key frame: kind %d at %d ms, want the audio of %d ms (all the audio from the key frame's time on)", m.Kind, msg.Timestamp, want)
		}
		want += 20
	}
	if p := next[*Playing](r, r.strCh); p.Publication == nil {
		t.Fatal("not playing")
	}
}

// The audio kept for a group's start is bounded in count and bytes, and what is older
// than the newest video goes.
func TestRecentAudioIsBounded(t *testing.T) {
	var r audioRing
	for i := range 3 * recentAudioCount {
		r.push(make([]byte, 10), uint32(i))
		if r.n > recentAudioCount || r.bytes > recentAudioBytes {
			t.Fatalf("after %d pushes: %d messages, %d bytes", i+1, r.n, r.bytes)
		}
	}
	first := -1
	r.each(func(_ []byte, ts uint32) {
		if first < 0 {
			first = int(ts)
		}
	})
	if r.n != recentAudioCount || first != 2*recentAudioCount {
		t.Fatalf("%d kept from %d, want the newest %d", r.n, first, recentAudioCount)
	}
	r.dropBefore(uint32(3*recentAudioCount - 5))
	if r.n != 5 {
		t.Fatalf("%d kept after dropping what is older than the video, want 5", r.n)
	}
	r.push(make([]byte, recentAudioBytes/2), 0)
	r.push(make([]byte, recentAudioBytes/2+1), 1)
	if r.bytes > recentAudioBytes || r.n != 1 {
		t.Fatalf("%d messages, %d bytes: want the byte bound to keep only the newest", r.n, r.bytes)
	}
	r.push(make([]byte, recentAudioBytes+1), 2)
	if r.bytes > recentAudioBytes {
		t.Fatalf("a message beyond the bound kept: %d bytes", r.bytes)
	}
}
