package cluster

import (
	"sync/atomic"

	"go.uber.org/zap"
)

// Stats counts what the cluster layer of a node did.
type Stats struct {
	// The gRPC guard.
	Foreign   atomic.Uint64 // streams refused: no cluster name, or another one
	Malformed atomic.Uint64 // envelopes dropped (bad indices, types, bytes, targets) and unary calls refused
	TLSFailed atomic.Uint64 // TLS handshakes that failed (a certificate not of our CA)
	Passed    atomic.Uint64 // envelopes let through
	BytesIn   atomic.Uint64 // encoded size of what other nodes sent (remote messages)
	BytesOut  atomic.Uint64 // and of what this node sent them

	// Messages that passed the guard but were not for this node as it is now.
	NotMember atomic.Uint64 // from a node that is not (or no longer) a member
	Misrouted atomic.Uint64 // for another incarnation of this node (to_node), or naming a peer or session that is not here
	Invalid   atomic.Uint64 // malformed content (peer IDs, group IDs, addresses, media)
	Panics    atomic.Uint64 // messages whose handling panicked (recovered, dropped)

	Joined atomic.Uint64 // members that joined
	Left   atomic.Uint64 // members that left (or said goodbye)

	// Directory.
	PeersDropped atomic.Uint64 // replicas forgotten because their node left
	Resyncs      atomic.Uint64 // snapshots asked for after a gap

	// Streams.
	EdgeSubscriptions atomic.Uint64 // subscriptions this node made to origins
	Links             atomic.Uint64 // subscriptions origins here served to other nodes
	MediaOut          atomic.Uint64 // stream messages sent to other nodes
	MediaBytesOut     atomic.Uint64 // and the bytes of their Flash messages
	MediaIn           atomic.Uint64 // stream messages received from other nodes
	MediaBytesIn      atomic.Uint64
	MediaDropped      atomic.Uint64 // not sent to a node too far behind (video to the next key frame)
	StreamsEnded      atomic.Uint64 // streams ended for this node's players because their origin left

	// Groups.
	HomeJoins  atomic.Uint64 // joins answered as a group's home
	GroupSyncs atomic.Uint64 // groups whose members were sent to a new home

	// Load.
	Redirects atomic.Uint64 // new clients sent to less-loaded nodes
}

// Fields returns the counters as log fields.
func (s *Stats) Fields() []zap.Field {
	return []zap.Field{
		zap.Uint64("foreign", s.Foreign.Load()), zap.Uint64("malformed", s.Malformed.Load()),
		zap.Uint64("tls_failed", s.TLSFailed.Load()), zap.Uint64("passed", s.Passed.Load()),
		zap.Uint64("bytes_in", s.BytesIn.Load()), zap.Uint64("bytes_out", s.BytesOut.Load()),
		zap.Uint64("not_member", s.NotMember.Load()), zap.Uint64("misrouted", s.Misrouted.Load()),
		zap.Uint64("invalid", s.Invalid.Load()), zap.Uint64("panics", s.Panics.Load()),
		zap.Uint64("joined", s.Joined.Load()), zap.Uint64("left", s.Left.Load()),
		zap.Uint64("peers_dropped", s.PeersDropped.Load()), zap.Uint64("resyncs", s.Resyncs.Load()),
		zap.Uint64("edge_subscriptions", s.EdgeSubscriptions.Load()), zap.Uint64("links", s.Links.Load()),
		zap.Uint64("media_out", s.MediaOut.Load()), zap.Uint64("media_bytes_out", s.MediaBytesOut.Load()),
		zap.Uint64("media_in", s.MediaIn.Load()), zap.Uint64("media_bytes_in", s.MediaBytesIn.Load()),
		zap.Uint64("media_dropped", s.MediaDropped.Load()), zap.Uint64("streams_ended", s.StreamsEnded.Load()),
		zap.Uint64("home_joins", s.HomeJoins.Load()), zap.Uint64("group_syncs", s.GroupSyncs.Load()),
		zap.Uint64("redirects", s.Redirects.Load()),
	}
}
