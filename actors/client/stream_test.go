package client

import (
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// TestMediaWriteLifetimes: live audio and video are given up once stale, a key frame
// gives up the stale rest of the group before it, video frames are placed in their group
// (a frame given up takes the rest of its group), and Reliable media never are given up.
func TestMediaWriteLifetimes(t *testing.T) {
	key := []byte{0x17, 0x01, 0, 0, 0}
	for _, tc := range []struct {
		name           string
		m              Media
		lifetime, drop time.Duration
		frame          session.Frame
	}{
		{"audio", Media{Type: flash.TypeAudio, Data: []byte{0xAF, 0x01}}, audioLifetime, 0, session.FrameNone},
		{"video", Media{Type: flash.TypeVideo, Data: []byte{0x27, 0x01, 0, 0, 0}}, videoLifetime, 0, session.FrameInter},
		{"key frame", Media{Type: flash.TypeVideo, Data: key}, videoLifetime, time.Second, session.FrameKey},
		{"sequence header", Media{Type: flash.TypeVideo, Data: []byte{0x17, 0x00, 0, 0, 0}}, videoLifetime, 0, session.FrameNone},
		{"reliable audio", Media{Type: flash.TypeAudio, Data: []byte{0xAF, 0x01}, Reliable: true}, 0, 0, session.FrameNone},
		{"reliable key frame", Media{Type: flash.TypeVideo, Data: key, Reliable: true}, 0, 0, session.FrameNone},
	} {
		w := mediaWrite(session.FlowKey{}, tc.m)
		if w.Lifetime != tc.lifetime || w.AbandonWaiting != tc.drop || w.Frame != tc.frame {
			t.Errorf("%s: lifetime %v, abandons waiting after %v, frame %d; want %v, %v, %d", tc.name, w.Lifetime, w.AbandonWaiting, w.Frame, tc.lifetime, tc.drop, tc.frame)
		}
	}
}
