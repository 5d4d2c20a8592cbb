package rtmfp

import "errors"

var (
	// ErrFSNOffset means a User Data chunk's FSN offset is larger than its sequence number.
	ErrFSNOffset = errors.New("rtmfp: user data FSN offset exceeds sequence number")
	// ErrSequenceOverflow means a sequence number would pass 2^64-1.
	ErrSequenceOverflow = errors.New("rtmfp: sequence number overflows 64 bits")
)

// User Data flags (RFC 7016 §2.3.11).
const (
	UserDataOptions = 0x80 // OPT: a terminated option list precedes the data
	FragmentMask    = 0x30 // FRA: fragment control
	FragmentNone    = 0x00 // a whole message
	FragmentFirst   = 0x10 // the first fragment of a message
	FragmentLast    = 0x20 // the last fragment of a message
	FragmentMiddle  = 0x30 // neither first nor last
	UserDataAbandon = 0x02 // ABN: this sequence number carries no valid data
	UserDataFinal   = 0x01 // FIN: the last sequence number of the flow
)

// UserData is the User Data chunk (type 0x10, RFC 7016 §2.3.11), one fragment of a message on
// a flow:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     0x10      |        chunk length           |O|r|FRA|r r|A|F|
//	|               |                               |P| |   |   |B|I|
//	|               |                               |T| |   |   |N|N|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| flowID VLU | sequenceNumber VLU | fsnOffset VLU |             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| options ... 0x00 marker, only if OPT                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| user data (the rest of the chunk)                             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The forward sequence number FSN = SequenceNumber - FSNOffset: the sender has delivered or
// abandoned every sequence number up to it. Options holds the raw terminated option list,
// marker included, and is present only when Flags has UserDataOptions (see FlowOptions to
// decode or build it; when the flag is set and Options is empty, Append writes a lone
// marker). Options and Data refer into the parsed payload.
//
// A NextUserData chunk (0x11) that follows in the same packet continues this one; see
// NextUserData.Follow and PacketReader.
type UserData struct {
	Flags          byte
	FlowID         uint64
	SequenceNumber uint64
	FSNOffset      uint64
	Options        []byte
	Data           []byte
}

// FSN returns the forward sequence number, SequenceNumber - FSNOffset.
func (c UserData) FSN() uint64 { return c.SequenceNumber - c.FSNOffset }

// Fragment returns the fragment control bits: FragmentNone, FragmentFirst, FragmentMiddle or
// FragmentLast.
func (c UserData) Fragment() byte { return c.Flags & FragmentMask }

// HasOptions reports whether the chunk carries an option list.
func (c UserData) HasOptions() bool { return c.Flags&UserDataOptions != 0 }

// Abandoned reports whether the ABN flag is set.
func (c UserData) Abandoned() bool { return c.Flags&UserDataAbandon != 0 }

// Final reports whether the FIN flag is set.
func (c UserData) Final() bool { return c.Flags&UserDataFinal != 0 }

// ParseUserData decodes a User Data chunk payload. It fails if the FSN offset exceeds the
// sequence number or if the option list is malformed or has no marker.
func ParseUserData(payload []byte) (UserData, error) {
	if len(payload) < 1 {
		return UserData{}, ErrShort
	}
	c := UserData{Flags: payload[0]}
	off := 1
	var n int
	var err error
	if c.FlowID, n, err = ReadVLU(payload[off:]); err != nil {
		return UserData{}, err
	}
	off += n
	if c.SequenceNumber, n, err = ReadVLU(payload[off:]); err != nil {
		return UserData{}, err
	}
	off += n
	if c.FSNOffset, n, err = ReadVLU(payload[off:]); err != nil {
		return UserData{}, err
	}
	off += n
	if c.FSNOffset > c.SequenceNumber {
		return UserData{}, ErrFSNOffset
	}
	if c.Options, c.Data, err = splitUserDataOptions(c.Flags, payload[off:]); err != nil {
		return UserData{}, err
	}
	return c, nil
}

// splitUserDataOptions splits the tail of a (Next) User Data chunk into its option list
// (marker included; nil without OPT) and its data.
func splitUserDataOptions(flags byte, b []byte) (options, data []byte, err error) {
	if flags&UserDataOptions == 0 {
		return nil, b, nil
	}
	it := NewOptionIterator(b)
	for it.Next() {
	}
	if it.Err() != nil {
		return nil, nil, it.Err()
	}
	if !it.Terminated() {
		return nil, nil, ErrShort
	}
	rest := it.Rest()
	n := len(b) - len(rest)
	return b[:n:n], rest, nil
}

// optionsLen is the number of bytes the option list takes on the wire.
func optionsLen(flags byte, options []byte) int {
	switch {
	case flags&UserDataOptions == 0:
		return 0
	case len(options) == 0:
		return 1
	default:
		return len(options)
	}
}

// appendOptions writes the option list (or a lone marker) when flags has OPT.
func appendOptions(b []byte, flags byte, options []byte) []byte {
	switch {
	case flags&UserDataOptions == 0:
		return b
	case len(options) == 0:
		return append(b, 0)
	default:
		return append(b, options...)
	}
}

// PayloadLen returns the size of the payload of the 0x10 chunk.
func (c UserData) PayloadLen() int {
	return 1 + VLULen(c.FlowID) + VLULen(c.SequenceNumber) + VLULen(c.FSNOffset) +
		optionsLen(c.Flags, c.Options) + len(c.Data)
}

// Len returns the encoded size of the 0x10 chunk, header included.
func (c UserData) Len() int { return ChunkHeaderLen + c.PayloadLen() }

// Append appends c as a User Data (0x10) chunk to b.
func (c UserData) Append(b []byte) []byte {
	b = AppendChunkHeader(b, ChunkUserData, c.PayloadLen())
	b = append(b, c.Flags)
	b = AppendVLU(b, c.FlowID)
	b = AppendVLU(b, c.SequenceNumber)
	b = AppendVLU(b, c.FSNOffset)
	b = appendOptions(b, c.Flags, c.Options)
	return append(b, c.Data...)
}

// Next returns the Next User Data form of c, which drops the flow ID, sequence number and FSN
// offset. It is only valid right after a chunk for which c.Follows reports true.
func (c UserData) Next() NextUserData {
	return NextUserData{Flags: c.Flags, Options: c.Options, Data: c.Data}
}

// Follows reports whether c may be sent as a Next User Data chunk after prev: same flow, the
// next sequence number and the same FSN.
func (c UserData) Follows(prev UserData) bool {
	return c.FlowID == prev.FlowID && prev.SequenceNumber != ^uint64(0) &&
		c.SequenceNumber == prev.SequenceNumber+1 && c.FSN() == prev.FSN() &&
		c.FSNOffset <= c.SequenceNumber
}
