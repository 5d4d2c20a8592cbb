package rtmp

import (
	"testing"

	"github.com/actorrtmfp/actorrtmfp/actors/live"
)

// TestQueueKeepsOrderAndAccounts: the ring grows without losing order; a binding's bytes
// per kind follow pushes, pops and drops; dropped items are skipped; the oldest media of a
// binding is its first waiting one; a closed queue refuses pushes and says so when empty.
func TestQueueKeepsOrderAndAccounts(t *testing.T) {
	now := int64(100)
	q := newQueue(func() int64 { return now })
	b := &binding{q: q}
	for i := range 40 { // beyond the initial ring
		kind := live.KindAudio
		if i%2 == 1 {
			kind = live.KindVideo
		}
		q.push(item{data: make([]byte, 10+i), kind: kind, b: b, media: true, born: int64(i)})
	}
	if q.backlog(b, live.KindAudio)+q.backlog(b, live.KindVideo) != q.size() {
		t.Fatalf("backlog %d + %d, size %d", q.backlog(b, live.KindAudio), q.backlog(b, live.KindVideo), q.size())
	}
	if got := q.oldest(b, live.KindVideo); got != 1 {
		t.Fatalf("oldest video %d, want 1", got)
	}
	n := q.drop(func(it *item) bool { return it.kind == live.KindVideo && it.born < 20 })
	if n != 10 || q.oldest(b, live.KindVideo) != 21 {
		t.Fatalf("dropped %d, oldest video now %d", n, q.oldest(b, live.KindVideo))
	}
	var order []int
	for {
		it, ok, _ := q.pop()
		if !ok {
			break
		}
		order = append(order, len(it.data)-10)
	}
	if len(order) != 30 || order[0] != 0 || order[1] != 2 || order[len(order)-1] != 39 {
		t.Fatalf("popped %v", order)
	}
	for i := 1; i < len(order); i++ {
		if order[i] <= order[i-1] {
			t.Fatalf("out of order: %v", order)
		}
	}
	if q.size() != 0 || b.queued != [3]int{} {
		t.Fatalf("left %d bytes, binding %v", q.size(), b.queued)
	}
	if q.oldest(b, live.KindAudio) != 1<<63-1 || b.Waited(live.KindAudio) != 0 {
		t.Fatal("an empty lane has an oldest message")
	}
	q.push(item{data: []byte("x"), kind: live.KindVideo, b: b, media: true, born: 40})
	now = 1040
	if w := b.Waited(live.KindVideo); w != 1000 {
		t.Fatalf("waited %v, want 1000ns", w)
	}
	q.close()
	if q.push(item{data: []byte("y")}) {
		t.Fatal("a closed queue took an item")
	}
	if _, ok, closed := q.pop(); !ok || !closed {
		t.Fatal("a closed queue gives what it holds first")
	}
	if _, ok, closed := q.pop(); ok || !closed {
		t.Fatal("an empty closed queue says it is closed")
	}
}
