package flash

import (
	"errors"

	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
)

// FlowKind is what a flow carries, as told by its user metadata.
type FlowKind uint8

// Flow kinds.
const (
	KindUnknown       FlowKind = iota
	KindNetConnection          // TC metadata, stream ID 0
	KindNetStream              // TC metadata, stream ID > 0
	KindNetGroup               // GC metadata
)

// String returns the kind's name.
func (k FlowKind) String() string {
	switch k {
	case KindNetConnection:
		return "NetConnection"
	case KindNetStream:
		return "NetStream"
	case KindNetGroup:
		return "NetGroup"
	}
	return "Unknown"
}

// Metadata flag bits of a TC signature.
const (
	// MetadataStreamIDPresent (0x04) says a stream ID follows; Flash always sets it.
	MetadataStreamIDPresent = 0x04
	// MetadataNetworkOrder (0x01) is the receive intent: deliver in network arrival order
	// rather than in sequence order.
	MetadataNetworkOrder = 0x01
)

// ErrMetadata means flow metadata that is neither a TC nor a GC signature.
var ErrMetadata = errors.New("flash: unknown flow metadata")

// Metadata is the decoded user metadata (option 0x00 of the first user-data chunk) of a
// flow:
//
//	TC:  54 43 | flags (0x04 stream ID present, 0x01 network order) | VLU stream ID
//	GC:  47 43
//
// NetConnection is TC stream 0 (54 43 04 00), a NetStream TC stream n > 0, NetGroup GC.
type Metadata struct {
	Kind         FlowKind
	StreamID     uint64
	NetworkOrder bool // receive intent bit 0x01
}

// ParseMetadata decodes flow metadata. A TC signature needs flag 0x04; other flag bits
// except 0x01 are ignored, as are bytes after the stream ID (Cumulus matches signatures by
// prefix). Anything else fails with ErrMetadata and KindUnknown.
func ParseMetadata(b []byte) (Metadata, error) {
	switch {
	case len(b) >= 2 && b[0] == 'G' && b[1] == 'C':
		return Metadata{Kind: KindNetGroup}, nil
	case len(b) >= 4 && b[0] == 'T' && b[1] == 'C' && b[2]&MetadataStreamIDPresent != 0:
		id, _, err := rtmfp.ReadVLU(b[3:])
		if err != nil {
			return Metadata{}, ErrMetadata
		}
		m := Metadata{Kind: KindNetStream, StreamID: id, NetworkOrder: b[2]&MetadataNetworkOrder != 0}
		if id == 0 {
			m.Kind = KindNetConnection
		}
		return m, nil
	}
	return Metadata{}, ErrMetadata
}

// Append appends the metadata bytes (without the option header) to b: "GC" for a NetGroup,
// otherwise "TC", flags 0x04 (|0x01 when NetworkOrder) and VLU StreamID. KindUnknown
// appends nothing.
func (m Metadata) Append(b []byte) []byte {
	switch m.Kind {
	case KindNetGroup:
		return append(b, 'G', 'C')
	case KindNetConnection, KindNetStream:
		flags := byte(MetadataStreamIDPresent)
		if m.NetworkOrder {
			flags |= MetadataNetworkOrder
		}
		b = append(b, 'T', 'C', flags)
		return rtmfp.AppendVLU(b, m.StreamID)
	}
	return b
}
