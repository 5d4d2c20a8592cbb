package session

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
)

// scratch holds the buffers a session needs only while it processes a message: packet
// assembly, encryption, acknowledgement ranges, delivered messages. They are lent from a
// pool for each message instead of being kept by every session, which matters when tens
// of thousands of sessions sit idle.
type scratch struct {
	plain, plain2 []byte
	out           []byte
	acks          []rtmfp.AckRange
	msgs          [][]byte
	ctx           actor.Context // of the message being processed (Receive)
	// now is the endpoint clock's reading for the message being processed, once read
	// (Session.now).
	now    time.Duration
	hasNow bool
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{
		plain:  make([]byte, 0, rtmfp.MaxPacketSize+16),
		plain2: make([]byte, 0, rtmfp.MaxPacketSize+16),
		out:    make([]byte, 0, 1500),
		acks:   make([]rtmfp.AckRange, 0, 64),
		msgs:   make([][]byte, 0, 8),
	}
}}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

func putScratch(sc *scratch) {
	if sc == nil {
		return
	}
	sc.ctx = nil
	sc.hasNow = false
	clear(sc.msgs[:cap(sc.msgs)])
	sc.msgs = sc.msgs[:0]
	scratchPool.Put(sc)
}

// scr returns the buffers lent for the message being processed (taking some when called
// outside Receive, as unit tests do).
func (s *Session) scr() *scratch {
	if s.sc == nil {
		s.sc = getScratch()
	}
	return s.sc
}
