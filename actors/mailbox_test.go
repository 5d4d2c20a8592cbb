package actors

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
)

// TestCompactMailboxDeliversInOrderUnderConcurrency: many senders per actor, on the
// worker pool and on protoactor's default dispatcher: every message arrives once, each
// sender's in the order sent, and a drained mailbox keeps at most a small array.
func TestCompactMailboxDeliversInOrderUnderConcurrency(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    actor.Dispatcher
	}{{"pool", NewPoolDispatcher(3, 7)}, {"default", nil}} {
		if pd, ok := tc.d.(PoolDispatcher); ok {
			defer pd.Close()
		}
		t.Run(tc.name, func(t *testing.T) {
			sys := NewActorSystem(zap.NewNop())
			const actors, senders, msgs = 20, 4, 500
			type rec struct {
				mu   sync.Mutex
				last [senders]int
				n    int
				bad  int
			}
			recs := make([]*rec, actors)
			boxes := make([]*compactMailbox, actors)
			pids := make([]*actor.PID, actors)
			for i := range pids {
				r := &rec{}
				for s := range r.last {
					r.last[s] = -1
				}
				recs[i] = r
				opts := []actor.PropsOption{actor.WithMailbox(func() actor.Mailbox {
					m := CompactMailbox()().(*compactMailbox)
					boxes[i] = m
					return m
				})}
				if tc.d != nil {
					opts = append(opts, actor.WithDispatcher(tc.d))
				}
				pids[i] = sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
					if m, ok := ctx.Message().([2]int); ok {
						r.mu.Lock()
						if m[1] != r.last[m[0]]+1 {
							r.bad++
						}
						r.last[m[0]] = m[1]
						r.n++
						r.mu.Unlock()
					}
				}, opts...))
			}
			var wg sync.WaitGroup
			for _, pid := range pids {
				for s := range senders {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for n := range msgs {
							sys.Root.Send(pid, [2]int{s, n})
						}
					}()
				}
			}
			wg.Wait()
			deadline := time.Now().Add(10 * time.Second)
			for i, r := range recs {
				for {
					r.mu.Lock()
					n, bad := r.n, r.bad
					r.mu.Unlock()
					if n == senders*msgs {
						if bad != 0 {
							t.Fatalf("actor %d: %d messages out of their sender's order", i, bad)
						}
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("actor %d got %d of %d messages", i, n, senders*msgs)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			// Drained: at most keepQueue slots kept.
			for i, m := range boxes {
				waitIdle(t, m)
				m.mu.Lock()
				c, n := cap(m.user.buf), m.user.len()
				m.mu.Unlock()
				if n != 0 || c > keepQueue {
					t.Fatalf("actor %d: drained mailbox holds %d messages in an array of %d", i, n, c)
				}
			}
		})
	}
}

func waitIdle(t *testing.T, m *compactMailbox) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for m.status.Load() != mailboxIdle {
		if time.Now().After(deadline) {
			t.Fatal("mailbox never went idle")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCompactMailboxSupervision: a panic is escalated with the message that caused it, the
// supervisor restarts the actor (protoactor suspends the mailbox meanwhile) and the
// messages posted behind the failing one are then delivered, in order.
func TestCompactMailboxSupervision(t *testing.T) {
	sys := NewActorSystem(zap.NewNop())
	var mu sync.Mutex
	var got []int
	var restarts atomic.Int32
	var failedWith atomic.Value
	d := NewPoolDispatcher(2, 300)
	defer d.Close()
	strategy := actor.NewOneForOneStrategy(10, time.Second, func(reason any) actor.Directive {
		return actor.RestartDirective
	})
	parent := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.Started); ok {
			ctx.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
				switch m := ctx.Message().(type) {
				case *actor.Restarting:
					restarts.Add(1)
				case int:
					if m == 3 {
						failedWith.Store(m)
						panic("three")
					}
					mu.Lock()
					got = append(got, m)
					mu.Unlock()
				}
			}, actor.WithMailbox(CompactMailbox()), actor.WithDispatcher(d)))
		}
		if cmd, ok := ctx.Message().(string); ok && cmd == "go" {
			for _, c := range ctx.Children() {
				for n := range 10 {
					ctx.Send(c, n)
				}
			}
		}
	}, actor.WithSupervisor(strategy)))
	sys.Root.Send(parent, "go")
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 9 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %v after the panic, want every other message", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []int{0, 1, 2, 4, 5, 6, 7, 8, 9}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if restarts.Load() != 1 || failedWith.Load() != 3 {
		t.Fatalf("%d restarts, failed with %v; want 1 restart at message 3", restarts.Load(), failedWith.Load())
	}
}

// BenchmarkMailbox posts to one actor from one goroutine and waits for it to process
// everything, with this mailbox and protoactor's lock-free one, on the worker pool.
func BenchmarkMailbox(b *testing.B) {
	for _, tc := range []struct {
		name string
		mb   actor.MailboxProducer
	}{{"compact", CompactMailbox()}, {"lockfree", actor.UnboundedLockfree()}} {
		b.Run(tc.name, func(b *testing.B) {
			sys := NewActorSystem(zap.NewNop())
			d := NewPoolDispatcher(2, 300)
			defer d.Close()
			var n atomic.Int64
			done := make(chan struct{})
			total := int64(b.N)
			pid := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
				if _, ok := ctx.Message().(int); ok && n.Add(1) == total {
					close(done)
				}
			}, actor.WithMailbox(tc.mb), actor.WithDispatcher(d)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				sys.Root.Send(pid, i)
			}
			<-done
		})
	}
}
