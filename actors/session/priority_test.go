package session

import (
	"slices"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// dataFlowOrder writes one packet's data with the real writeData and returns the flow of
// each user data fragment in it, in order.
func dataFlowOrder(t *testing.T, s *Session) []uint64 {
	t.Helper()
	var flows []uint64
	var last uint64
	write := func(pw *rtmfp.PacketWriter, now time.Duration) { s.writeData(pw, now) }
	for _, c := range packetChunks(t, s, write) {
		switch c.Type {
		case rtmfp.ChunkUserData:
			d, err := rtmfp.ParseUserData(c.Payload)
			if err != nil {
				t.Fatal(err)
			}
			last = d.FlowID
		case rtmfp.ChunkNextUserData:
			// A continuation: the flow of the fragment before it.
		default:
			continue
		}
		flows = append(flows, last)
	}
	return flows
}

// TestWriteDataServesPrioritiesInOrder: data leaves by priority (control, audio, video,
// bulk data), flows of one priority in creation order and then in turn, whatever order the
// flows were opened in and after one of them is forgotten.
func TestWriteDataServesPrioritiesInOrder(t *testing.T) {
	s := bareSession(cryptoutil.Responder, &simClock{now: time.Second})
	s.cc.cwnd = 1 << 20 // the window is not under test
	open := []Priority{PriorityData, PriorityAudio, PriorityVideo, PriorityAudio, PriorityControl, PriorityData}
	for i, p := range open {
		key := FlowKey{Metadata: string(rune('a' + i))}
		if !s.queue(nil, &Write{Key: key, Data: make([]byte, 50), Priority: p}) {
			t.Fatalf("write %d refused", i)
		}
	}
	// Flow IDs are given in opening order, from 1: data 1, audio 2, video 3, audio 4,
	// control 5, data 6.
	if got, want := dataFlowOrder(t, s), []uint64{5, 2, 4, 3, 1, 6}; !slices.Equal(got, want) {
		t.Fatalf("fragments by flow %v, want %v", got, want)
	}

	// Two audio flows with more than a packet each: the next packet starts with the flow
	// after the last one served, so neither starves.
	s2 := bareSession(cryptoutil.Responder, &simClock{now: time.Second})
	s2.cc.cwnd = 1 << 20
	s2.pace = pacer{}
	for i := range 3 {
		key := FlowKey{Metadata: string(rune('a' + i))}
		p := PriorityAudio
		if i == 1 {
			p = PriorityData
		}
		if !s2.queue(nil, &Write{Key: key, Data: make([]byte, 3*maxFragment), Priority: p}) {
			t.Fatalf("write %d refused", i)
		}
	}
	// Flows: audio 1, data 2, audio 3. Each packet holds one fragment.
	var firsts []uint64
	for range 4 {
		firsts = append(firsts, dataFlowOrder(t, s2)[0])
	}
	if want := []uint64{1, 3, 1, 3}; !slices.Equal(firsts, want) {
		t.Fatalf("packets start with flows %v, want %v (audio in turn, data after)", firsts, want)
	}

	// Forgetting a flow keeps the others' order.
	s.removeSendFlow(s.send.get(2))
	if got := flowIDs(s.byPrio); !slices.Equal(got, []uint64{5, 4, 3, 1, 6}) {
		t.Fatalf("after removing flow 2: %v", got)
	}
}

func flowIDs(fs []*sendFlow) []uint64 {
	var ids []uint64
	for _, f := range fs {
		ids = append(ids, f.id)
	}
	return ids
}
