package live

import (
	"sync/atomic"

	"github.com/actorrtmfp/actorrtmfp/actors/registry"
)

// Stats counts what the publications of a server did.
type Stats struct {
	Media    atomic.Uint64 // media messages received from publishers
	Fanout   atomic.Uint64 // messages sent to subscriber sinks
	Registry registry.Stats
}

// Publications returns the number of live publications.
func (s *Stats) Publications() int { return int(s.Registry.Live.Load()) }
