package session

import "sync/atomic"

// Stats counts what the sessions of an endpoint did and refused. One Stats is shared by
// all sessions of an endpoint; every field is updated atomically.
type Stats struct {
	Opened, Closed     atomic.Uint64
	PacketsOut         atomic.Uint64
	WriteErrors        atomic.Uint64
	Retransmissions    atomic.Uint64 // fragments declared lost (by NAKs or timeout)
	FragmentsResent    atomic.Uint64
	KeepalivePings     atomic.Uint64
	IdleTimeouts       atomic.Uint64
	RetransmitTimeouts atomic.Uint64
	AddressChanges     atomic.Uint64
	RejectedFlows      atomic.Uint64
	WritesRefused      atomic.Uint64 // writes to a full or closed send flow
	DropBadMode        atomic.Uint64 // packets with a mode a session must not receive
	DropMalformedChunk atomic.Uint64
	DropFragment       atomic.Uint64 // fragments refused by a receive flow (window, limits)
	FlowActorFailures  atomic.Uint64 // receive flows rejected because their actor stopped
	MediaDropped       atomic.Uint64 // channel media dropped by the subscriber policy (behind, waiting for a key frame, a stale group given up)
	BadBindings        atomic.Uint64 // live.Bind messages whose lanes were not a *Lanes
	KeyReleases        atomic.Uint64 // encrypter key schedules released by idle sessions
	// Receive flows rejected, and fragments refused, for the limits of docs/security.md.
	RejectedTooLarge atomic.Uint64 // flows rejected for a message beyond Config.MaxMessage
	RejectedStalled  atomic.Uint64 // flows rejected for holding fragments without progress
	BudgetSession    atomic.Uint64 // flows rejected for the session's receive budget
	BudgetAddress    atomic.Uint64 // flows rejected for their address's receive budget
	BudgetServer     atomic.Uint64 // fragments refused while the server's receive budget was used up
}
