package session

import "github.com/actorrtmfp/actorrtmfp/codec/rtmfp"

// FlowKey names a send flow of a session from the point of view of the layer above the
// transport: the flow's user metadata, the receive flow it answers (return association),
// and a lane that tells apart several flows with the same metadata and association (for
// example the audio and the video flow of one NetStream). The first message written under
// a key opens the flow; the session picks its flow ID.
type FlowKey struct {
	Metadata string
	Assoc    uint64
	HasAssoc bool
	Lane     uint8
}

// MaxFlowMetadata is the longest user metadata a send flow may carry. Startup options ride
// on every fragment until the far end acknowledges the flow, so they must leave room for
// data in a packet; Flash's metadata is a dozen bytes. A write under a longer key is refused.
const MaxFlowMetadata = 512

// appendOptions appends the flow's startup options: metadata, return association, marker.
func (k FlowKey) appendOptions(b []byte) []byte {
	b = rtmfp.AppendOption(b, 0x00, []byte(k.Metadata))
	if k.HasAssoc {
		b = rtmfp.AppendOptionVLU(b, 0x0A, k.Assoc)
	}
	return append(b, 0x00)
}
