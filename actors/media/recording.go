package media

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/live"
	"github.com/actorrtmfp/actorrtmfp/supervision"
)

// RecordParams describe a recording.
type RecordParams struct {
	Key    live.Key
	Append bool // append to the file (if it exists) instead of replacing it
}

// Recording is a publishing stream's side of its recorder: the stream hands it every
// message it publishes. Messages go to the recorder's queue, not through its mailbox, so
// that the recorder still writes them when it is stopped with its stream (a stop
// overtakes a mailbox's messages); the queue is bounded: a recorder whose disk falls that
// far behind fails, and the publishing goes on.
type Recording struct {
	pid *actor.PID
	q   *recordQueue
}

// maxBacklog is how many bytes the disk may fall behind before the recording is given up.
const maxBacklog = 16 << 20

// recordQueue is the messages a stream handed its recorder and the recorder has not
// written yet.
type recordQueue struct {
	mu      sync.Mutex
	msgs    []*live.Ingest
	bytes   int
	over    bool // fell behind: nothing more is queued
	waiting bool // a drain is on its way to the recorder
}

// drain asks the recorder to write what is queued.
type drain struct{}

// fellBehind tells the recorder that its queue overflowed.
type fellBehind struct{}

// Record spawns the recorder of a publication as a child of ctx (the publishing stream
// actor), which is sent RecordStarted or RecordFailed. The recorder does file I/O: it runs
// on protoactor's default dispatcher.
func (m *Media) Record(ctx actor.Context, p RecordParams) *Recording {
	q := &recordQueue{}
	props := actor.PropsFromProducer(func() actor.Actor { return &recorder{m: m, p: p, q: q} },
		actor.WithReceiverMiddleware(supervision.Middleware))
	return &Recording{pid: ctx.Spawn(props), q: q}
}

// Write queues one message of the publisher.
func (r *Recording) Write(ctx actor.Context, in *live.Ingest) {
	q := r.q
	q.mu.Lock()
	if q.over {
		q.mu.Unlock()
		return
	}
	if q.bytes+len(in.Data) > maxBacklog {
		q.over = true
		clear(q.msgs)
		q.msgs, q.bytes = q.msgs[:0], 0
		q.mu.Unlock()
		ctx.Send(r.pid, &fellBehind{})
		return
	}
	q.msgs = append(q.msgs, in)
	q.bytes += len(in.Data)
	wake := !q.waiting
	q.waiting = true
	q.mu.Unlock()
	if wake {
		ctx.Send(r.pid, &drain{})
	}
}

// Stop ends the recording: the recorder writes what it was handed and closes its file.
func (r *Recording) Stop(ctx actor.Context) { ctx.Stop(r.pid) }

// PID is the recorder's actor.
func (r *Recording) PID() *actor.PID { return r.pid }

// take returns the queued messages.
func (q *recordQueue) take(buf []*live.Ingest) []*live.Ingest {
	q.mu.Lock()
	defer q.mu.Unlock()
	buf = append(buf[:0], q.msgs...)
	clear(q.msgs)
	q.msgs, q.bytes, q.waiting = q.msgs[:0], 0, false
	return buf
}
