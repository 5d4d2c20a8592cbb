package rtmfp

// NextUserData is the Next User Data chunk (type 0x11, RFC 7016 §2.3.12): a User Data chunk
// without its flow ID, sequence number and FSN offset, which continues the previous User Data
// or Next User Data chunk of the same packet (same flow, sequence number + 1, same FSN):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     0x11      |        chunk length           |O|r|FRA|r r|A|F|
//	|               |                               |P| |   |   |B|I|
//	|               |                               |T| |   |   |N|N|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| options ... 0x00 marker, only if OPT                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| user data (the rest of the chunk)                             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The flags are those of UserData. Options and Data refer into the parsed payload.
type NextUserData struct {
	Flags   byte
	Options []byte
	Data    []byte
}

// ParseNextUserData decodes a Next User Data chunk payload.
func ParseNextUserData(payload []byte) (NextUserData, error) {
	if len(payload) < 1 {
		return NextUserData{}, ErrShort
	}
	options, data, err := splitUserDataOptions(payload[0], payload[1:])
	if err != nil {
		return NextUserData{}, err
	}
	return NextUserData{Flags: payload[0], Options: options, Data: data}, nil
}

// Follow resolves c against the User Data (or resolved Next User Data) chunk before it in
// the same packet: same flow, the next sequence number, the same FSN.
func (c NextUserData) Follow(prev UserData) (UserData, error) {
	if prev.SequenceNumber == ^uint64(0) {
		return UserData{}, ErrSequenceOverflow
	}
	return UserData{
		Flags:          c.Flags,
		FlowID:         prev.FlowID,
		SequenceNumber: prev.SequenceNumber + 1,
		FSNOffset:      prev.FSNOffset + 1,
		Options:        c.Options,
		Data:           c.Data,
	}, nil
}

// PayloadLen returns the size of the chunk payload.
func (c NextUserData) PayloadLen() int { return 1 + optionsLen(c.Flags, c.Options) + len(c.Data) }

// Len returns the encoded size of the chunk, header included.
func (c NextUserData) Len() int { return ChunkHeaderLen + c.PayloadLen() }

// Append appends the whole chunk to b.
func (c NextUserData) Append(b []byte) []byte {
	b = AppendChunkHeader(b, ChunkNextUserData, c.PayloadLen())
	b = append(b, c.Flags)
	b = appendOptions(b, c.Flags, c.Options)
	return append(b, c.Data...)
}
