package client

import (
	"testing"

	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// TestPlayerWithFuncHasNoQueue: a PlayFunc player hands each frame to its function, in
// order, has no C, and ends without one; a Play player queues to C, which ends closed.
func TestPlayerWithFuncHasNoQueue(t *testing.T) {
	var got []byte
	p := newPlayer("s", func(m Media) { got = append(got, m.Data[0]) })
	for i := range 3 {
		p.deliver(Media{Type: flash.TypeAudio, Data: []byte{byte(i)}})
	}
	if string(got) != "\x00\x01\x02" || p.C != nil || p.Dropped() != 0 {
		t.Fatalf("handed %v, C %v, dropped %d", got, p.C, p.Dropped())
	}
	p.end() // no queue to close

	q := newPlayer("s", nil)
	q.deliver(Media{Type: flash.TypeAudio, Data: []byte{7}})
	q.end()
	if m, ok := <-q.C; !ok || m.Data[0] != 7 {
		t.Fatalf("queued frame: %v, %v", m, ok)
	}
	if _, ok := <-q.C; ok {
		t.Fatal("C not closed at the end")
	}
}
