package actors

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

type answer struct{}

func (answer) Receive(ctx actor.Context) {
	if s, ok := ctx.Message().(string); ok {
		ctx.Respond(s)
	}
}

// TestNewActorSystemWithoutALogger: a nil logger is allowed, as the docs say.
func TestNewActorSystemWithoutALogger(t *testing.T) {
	sys := NewActorSystem(nil)
	defer sys.Shutdown()
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return answer{} }))
	if r, err := sys.Root.RequestFuture(pid, "ping", 10*time.Second).Result(); err != nil || r != "ping" {
		t.Fatalf("answer %v, %v", r, err)
	}
}
