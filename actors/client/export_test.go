package client

import "github.com/asynkron/protoactor-go/actor"

// SetConnDispatcher makes d run the actors of the connections e makes from now on (a test
// holds them with it).
func SetConnDispatcher(e *Endpoint, d actor.Dispatcher) { e.uppers = upperOptions(d) }
