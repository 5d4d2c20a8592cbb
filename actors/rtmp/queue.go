package rtmp

import (
	"sync"

	"github.com/actorrtmfp/actorrtmfp/actors/live"
)

// queue is what waits to be written on a connection, in order: the connection actor
// pushes (commands, statuses, media of its bindings), the writer goroutine pops, and the
// reader goroutine pushes its protocol answers (acknowledgements, pings). It is a ring of
// values, so that a message costs no allocation of its own.
//
// A binding's queued bytes per kind are its backlog for live.Policy. Media may be given
// up while queued — its lifetime passed (checked by the writer), a key frame made it stale
// (AbandonOlder), a seek — but never once the writer took it: TCP has no way to abandon
// a message half written.
type queue struct {
	mu     sync.Mutex
	ring   []item
	head   int
	n      int
	bytes  int  // of the items in the ring
	closed bool // no more pushes; the writer ends when the ring is empty
	wake   chan struct{}
	now    func() int64 // the node's clock, ns
}

// item is one message to write.
type item struct {
	data     []byte // the whole Flash message: type, timestamp, body (data[5:] is the RTMP body)
	msid     uint32
	csid     byte
	kind     live.Kind
	media    bool     // media of a binding that may be given up (not configuration)
	key      bool     // a key frame
	b        *binding // the binding of media, nil otherwise
	born     int64    // node clock (ns) when queued
	deadline int64    // node clock (ns) after which it is not written; 0: always written
	dropped  bool     // given up while queued
}

func newQueue(now func() int64) *queue {
	return &queue{ring: make([]item, 16), wake: make(chan struct{}, 1), now: now}
}

// push queues it; false if the queue is closed.
func (q *queue) push(it item) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	if q.n == len(q.ring) {
		ring := make([]item, 2*len(q.ring))
		for i := range q.n {
			ring[i] = q.ring[(q.head+i)%len(q.ring)]
		}
		q.ring, q.head = ring, 0
	}
	q.ring[(q.head+q.n)%len(q.ring)] = it
	q.n++
	q.bytes += len(it.data)
	if it.b != nil {
		it.b.queued[it.kind] += len(it.data)
	}
	q.mu.Unlock()
	q.signal()
	return true
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// pop takes the next item that was not given up; ok is false when the queue is empty.
// closed says the queue is closed (and empty, when !ok).
func (q *queue) pop() (it item, ok, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.n > 0 {
		slot := &q.ring[q.head]
		it = *slot
		*slot = item{}
		q.head = (q.head + 1) % len(q.ring)
		q.n--
		if it.dropped {
			continue // drop counted it off already
		}
		q.bytes -= len(it.data)
		if it.b != nil {
			it.b.queued[it.kind] -= len(it.data)
		}
		return it, true, q.closed
	}
	if q.n == 0 && len(q.ring) > 1024 {
		q.ring, q.head = make([]item, 16), 0 // give back what a burst grew
	}
	return item{}, false, q.closed
}

// close stops pushes; the writer writes what is queued, then ends.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

// size returns the bytes queued.
func (q *queue) size() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

// backlog returns the bytes of kind k queued for b.
func (q *queue) backlog(b *binding, k live.Kind) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return b.queued[k]
}

// drop gives up the queued media for which match is true, and returns how many.
func (q *queue) drop(match func(*item) bool) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for i := range q.n {
		it := &q.ring[(q.head+i)%len(q.ring)]
		if it.dropped || !it.media || !match(it) {
			continue
		}
		it.dropped = true
		q.bytes -= len(it.data)
		if it.b != nil {
			it.b.queued[it.kind] -= len(it.data)
		}
		n++
	}
	return n
}

// oldest returns when the oldest media of kind k queued for b was queued (the node
// clock's ns; the largest int64 when there is none).
func (q *queue) oldest(b *binding, k live.Kind) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	if b.queued[k] == 0 {
		return 1<<63 - 1
	}
	for i := range q.n {
		if it := &q.ring[(q.head+i)%len(q.ring)]; it.b == b && it.kind == k && it.media && !it.dropped {
			return it.born
		}
	}
	return 1<<63 - 1
}
