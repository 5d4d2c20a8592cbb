package rtmfp

// User Data option types (RFC 7016 §2.3.11.1).
const (
	FlowOptionMetadata          = 0x00   // the user's per-flow metadata (Flash: "TC..." or "GC")
	FlowOptionReturnAssociation = 0x0A   // VLU ID of the opposite-direction flow this one answers
	FlowOptionMandatoryCutoff   = 0x2000 // unknown types below this must make the receiver reject the flow
)

// FlowOptions is the decoded option list a sender puts in the User Data chunks of a new flow
// until the flow's first ack (UserData.Options):
//
//	+------------+------+--------------------------+
//	| length VLU | 0x00 | metadata                 |   e.g. 05 00 54 43 04 00 ("TC", 4, 0)
//	+------------+------+--------------------------+
//	| length VLU | 0x0A | return flow ID VLU       |   e.g. 02 0A 02
//	+------------+------+--------------------------+
//	| 0x00 marker                                  |
//	+----------------------------------------------+
//
// Metadata refers into the parsed list and is nil when the option is absent. An unknown
// option type below FlowOptionMandatoryCutoff is mandatory: the receiver must reject the flow
// with a Flow Exception Report, so ParseFlowOptions reports the first one it meets instead of
// failing. Unknown types from the cutoff up are ignored. Append writes neither.
type FlowOptions struct {
	Metadata            []byte
	ReturnFlowID        uint64
	HasReturnFlow       bool
	UnknownMandatory    uint64
	HasUnknownMandatory bool
}

// ParseFlowOptions decodes a User Data option list (UserData.Options, marker included; a list
// without its marker is accepted too). When an option occurs twice the first one counts.
func ParseFlowOptions(options []byte) (FlowOptions, error) {
	var f FlowOptions
	it := NewOptionIterator(options)
	for it.Next() {
		o := it.Option()
		switch {
		case o.Type == FlowOptionMetadata:
			if f.Metadata == nil {
				f.Metadata = o.Value
				if f.Metadata == nil {
					f.Metadata = []byte{}
				}
			}
		case o.Type == FlowOptionReturnAssociation:
			id, _, err := ReadVLU(o.Value)
			if err != nil {
				return FlowOptions{}, err
			}
			if !f.HasReturnFlow {
				f.ReturnFlowID, f.HasReturnFlow = id, true
			}
		case o.Type < FlowOptionMandatoryCutoff:
			if !f.HasUnknownMandatory {
				f.UnknownMandatory, f.HasUnknownMandatory = o.Type, true
			}
		}
	}
	if it.Err() != nil {
		return FlowOptions{}, it.Err()
	}
	return f, nil
}

// Acceptable reports whether the list has no unknown mandatory option.
func (f FlowOptions) Acceptable() bool { return !f.HasUnknownMandatory }

// Len returns the size of the list Append writes, marker included.
func (f FlowOptions) Len() int {
	n := 1
	if f.Metadata != nil {
		n += Option{Type: FlowOptionMetadata, Value: f.Metadata}.Len()
	}
	if f.HasReturnFlow {
		inner := 1 + VLULen(f.ReturnFlowID)
		n += VLULen(uint64(inner)) + inner
	}
	return n
}

// Append appends the list to b: metadata (if not nil), return flow association (if
// HasReturnFlow), then the marker. The result is what UserData.Options holds.
func (f FlowOptions) Append(b []byte) []byte {
	if f.Metadata != nil {
		b = AppendOption(b, FlowOptionMetadata, f.Metadata)
	}
	if f.HasReturnFlow {
		b = AppendOptionVLU(b, FlowOptionReturnAssociation, f.ReturnFlowID)
	}
	return append(b, 0)
}
