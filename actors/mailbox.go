package actors

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// CompactMailbox returns the mailbox producer of actors held by the ten thousand
// (sessions, connections, streams): an unbounded mailbox whose queues hold no memory of
// their own while idle. protoactor's lock-free mailbox keeps two linked queues with a
// node each even when empty (≈ 200 bytes per actor); this one is a mutex and two slices
// that are dropped once drained, unless they are small enough to keep (≈ 100 bytes idle).
// It never blocks the sender. Mailbox middlewares are not supported (nothing here uses
// them).
//
// Semantics are protoactor's default mailbox's: system messages are processed before
// user messages; SuspendMailbox holds user messages (not system ones) until
// ResumeMailbox; at most the dispatcher's throughput of messages run before the
// goroutine yields; a panic in an actor is escalated with the message that caused it.
func CompactMailbox() actor.MailboxProducer {
	return func() actor.Mailbox { return &compactMailbox{} }
}

type compactMailbox struct {
	mu         sync.Mutex
	user, sys  msgQueue
	status     atomic.Int32 // mailboxIdle or mailboxRunning
	suspended  atomic.Bool
	invoker    actor.MessageInvoker
	dispatcher actor.Dispatcher
}

const (
	mailboxIdle int32 = iota
	mailboxRunning
)

// msgQueue is a FIFO in a slice. Drained, it keeps its array only if that is small.
type msgQueue struct {
	buf  []any
	head int
}

// keepQueue is the largest array a drained queue keeps (in messages): an idle actor
// costs at most this many pointers, a busy one does not allocate at every wake-up.
const keepQueue = 4

func (q *msgQueue) push(m any) { q.buf = append(q.buf, m) }

func (q *msgQueue) pop() any {
	if q.head == len(q.buf) {
		return nil
	}
	m := q.buf[q.head]
	q.buf[q.head] = nil
	q.head++
	if q.head == len(q.buf) {
		q.head = 0
		if cap(q.buf) > keepQueue {
			q.buf = nil
		} else {
			q.buf = q.buf[:0]
		}
	}
	return m
}

func (q *msgQueue) len() int { return len(q.buf) - q.head }

func (m *compactMailbox) PostUserMessage(message any) {
	// As protoactor's mailbox: a batch is unpacked, then posted itself too.
	if batch, ok := message.(actor.MessageBatch); ok {
		for _, msg := range batch.GetMessages() {
			m.PostUserMessage(msg)
		}
	}
	if env, ok := message.(*actor.MessageEnvelope); ok {
		if batch, ok := env.Message.(actor.MessageBatch); ok {
			for _, msg := range batch.GetMessages() {
				m.PostUserMessage(msg)
			}
		}
	}
	m.mu.Lock()
	m.user.push(message)
	m.mu.Unlock()
	m.schedule()
}

func (m *compactMailbox) PostSystemMessage(message any) {
	m.mu.Lock()
	m.sys.push(message)
	m.mu.Unlock()
	m.schedule()
}

func (m *compactMailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.invoker, m.dispatcher = invoker, dispatcher
}

func (m *compactMailbox) Start() {}

func (m *compactMailbox) UserMessageCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.user.len()
}

func (m *compactMailbox) schedule() {
	if m.status.CompareAndSwap(mailboxIdle, mailboxRunning) {
		m.dispatcher.Schedule(m.process)
	}
}

func (m *compactMailbox) process() {
	for {
		m.run()
		m.status.Store(mailboxIdle)
		// Messages posted after run saw the queues empty found the mailbox running and
		// did not schedule it: look again.
		m.mu.Lock()
		more := m.sys.len() > 0 || (!m.suspended.Load() && m.user.len() > 0)
		m.mu.Unlock()
		if !more || !m.status.CompareAndSwap(mailboxIdle, mailboxRunning) {
			return
		}
	}
}

func (m *compactMailbox) run() {
	var msg any
	defer func() {
		if r := recover(); r != nil {
			m.invoker.EscalateFailure(r, msg)
		}
	}()
	i, t := 0, m.dispatcher.Throughput()
	for {
		if i > t {
			i = 0
			runtime.Gosched()
		}
		i++
		m.mu.Lock()
		if msg = m.sys.pop(); msg != nil {
			m.mu.Unlock()
			switch msg.(type) {
			case *actor.SuspendMailbox:
				m.suspended.Store(true)
			case *actor.ResumeMailbox:
				m.suspended.Store(false)
			default:
				m.invoker.InvokeSystemMessage(msg)
			}
			continue
		}
		if m.suspended.Load() {
			m.mu.Unlock()
			return
		}
		msg = m.user.pop()
		m.mu.Unlock()
		if msg == nil {
			return
		}
		m.invoker.InvokeUserMessage(msg)
	}
}
