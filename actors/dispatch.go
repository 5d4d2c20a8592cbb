package actors

import (
	"runtime"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// poolDispatcher runs actor mailboxes on a fixed set of worker goroutines. protoactor's
// default dispatcher starts a new goroutine every time an idle mailbox gets a message,
// which costs a goroutine creation (and its stack) per wake-up on paths like a
// publication waking a thousand subscriber sessions per media message. Scheduling never
// blocks the sender: when every worker is busy and the queue is full, the mailbox runs on
// a goroutine of its own, as with the default dispatcher.
type poolDispatcher struct {
	work       chan func()
	done       chan struct{}
	closed     atomic.Bool
	throughput int
}

// PoolDispatcher is a dispatcher whose workers can be stopped.
type PoolDispatcher interface {
	actor.Dispatcher
	// Close stops the workers; later wake-ups run on goroutines of their own.
	Close()
}

// scheduleQueue is how many mailbox wake-ups may wait for a worker before further ones get
// goroutines of their own: a publication wakes every subscriber session at once (a
// thousand and more), and an overflow costs a goroutine start and stack growth each.
const scheduleQueue = 1 << 15

// NewPoolDispatcher returns a dispatcher with workers goroutines (0: 4 per CPU) that
// process at most throughput messages of a mailbox before yielding.
func NewPoolDispatcher(workers, throughput int) PoolDispatcher {
	if workers <= 0 {
		workers = 4 * runtime.GOMAXPROCS(0)
	}
	d := &poolDispatcher{work: make(chan func(), scheduleQueue), done: make(chan struct{}), throughput: throughput}
	for i := 0; i < workers; i++ {
		go d.worker()
	}
	return d
}

func (d *poolDispatcher) worker() {
	for {
		select {
		case fn := <-d.work:
			fn()
		case <-d.done:
			d.drain()
			return
		}
	}
}

// drain runs what is still queued on goroutines of its own, so that no mailbox stays
// scheduled forever once the workers are gone.
func (d *poolDispatcher) drain() {
	for {
		select {
		case fn := <-d.work:
			go fn()
		default:
			return
		}
	}
}

func (d *poolDispatcher) Schedule(fn func()) {
	if d.closed.Load() {
		go fn()
		return
	}
	select {
	case d.work <- fn:
		// Queued after the workers drained on Close? Then nobody else will run it.
		if d.closed.Load() {
			d.drain()
		}
	default:
		go fn()
	}
}

func (d *poolDispatcher) Close() {
	if d.closed.CompareAndSwap(false, true) {
		close(d.done)
	}
}

func (d *poolDispatcher) Throughput() int { return d.throughput }
