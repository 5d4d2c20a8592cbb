package client

import (
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// TestMediaWriteLifetimes: live audio and video are given up once stale, a key frame
// gives up the stale rest of the group before it, and Reliable media never are.
func TestMediaWriteLifetimes(t *testing.T) {
	key := []byte{0x17, 0x01, 0, 0, 0}
	for _, tc := range []struct {
		name           string
		m              Media
		lifetime, drop time.Duration
	}{
		{"audio", Media{Type: flash.TypeAudio, Data: []byte{0xAF, 0x01}}, audioLifetime, 0},
		{"video", Media{Type: flash.TypeVideo, Data: []byte{0x27, 0x01, 0, 0, 0}}, videoLifetime, 0},
		{"key frame", Media{Type: flash.TypeVideo, Data: key}, videoLifetime, time.Second},
		{"reliable audio", Media{Type: flash.TypeAudio, Data: []byte{0xAF, 0x01}, Reliable: true}, 0, 0},
		{"reliable key frame", Media{Type: flash.TypeVideo, Data: key, Reliable: true}, 0, 0},
	} {
		w := mediaWrite(session.FlowKey{}, tc.m)
		if w.Lifetime != tc.lifetime || w.AbandonWaiting != tc.drop {
			t.Errorf("%s: lifetime %v, abandons waiting after %v; want %v, %v", tc.name, w.Lifetime, w.AbandonWaiting, tc.lifetime, tc.drop)
		}
	}
}
