package actors

import (
	"runtime"

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
	throughput int
}

// NewPoolDispatcher returns a dispatcher with workers goroutines (0: 4 per CPU) that
// process at most throughput messages of a mailbox before yielding.
func NewPoolDispatcher(workers, throughput int) actor.Dispatcher {
	if workers <= 0 {
		workers = 4 * runtime.GOMAXPROCS(0)
	}
	d := &poolDispatcher{work: make(chan func(), 64*workers), throughput: throughput}
	for i := 0; i < workers; i++ {
		go d.worker()
	}
	return d
}

func (d *poolDispatcher) worker() {
	for fn := range d.work {
		fn()
	}
}

func (d *poolDispatcher) Schedule(fn func()) {
	select {
	case d.work <- fn:
	default:
		go fn()
	}
}

func (d *poolDispatcher) Throughput() int { return d.throughput }
