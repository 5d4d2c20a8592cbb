package rtmfp

import (
	"encoding/binary"
	"errors"
)

// ErrBadMode means a packet's flags byte has mode 0, which RFC 7016 reserves as invalid.
var ErrBadMode = errors.New("rtmfp: packet mode 0 is invalid")

// Bits of the packet flags byte (RFC 7016 §2.2.4).
const (
	FlagTC   = 0x80 // time-critical forward notification
	FlagTCR  = 0x40 // time-critical reverse notification
	FlagTS   = 0x08 // a 16-bit timestamp follows the flags
	FlagTSE  = 0x04 // a 16-bit timestamp echo follows (the timestamp, if any)
	ModeMask = 0x03 // the two mode bits
)

// Packet modes: who sent the packet.
const (
	ModeInitiator = 1 // from the session's initiator (a client, towards a server)
	ModeResponder = 2 // from the session's responder (a server, towards a client)
	ModeStartup   = 3 // a handshake packet of the startup session
)

// MaxHeaderLen is the longest packet header: flags, timestamp and timestamp echo.
const MaxHeaderLen = 5

// Header is the start of every decrypted RTMFP packet:
//
//	bit  7     6     5     4     3     2     1     0
//	  +-----+-----+-----+-----+-----+-----+-----------+
//	  | TC  | TCR |  reserved | TS  | TSE |    MOD    |  flags (1 byte)
//	  +-----+-----+-----+-----+-----+-----+-----------+
//	  |        timestamp (u16), only if TS            |
//	  +-----------------------------------------------+
//	  |     timestamp echo (u16), only if TSE         |
//	  +-----------------------------------------------+
//	  |  chunks ...  |  0xFF padding                  |
//	  +-----------------------------------------------+
//
// Timestamp and TimestampEcho are 16-bit counts of 4-millisecond ticks. Each is on the wire
// only when its flag is set in Flags; RFC 7425 peers leave the timestamp out when their clock
// has not moved since the previous packet, so a receiver must not assume it is there. When a
// flag is clear the corresponding field is zero after ParseHeader and ignored by Append.
type Header struct {
	Flags         byte
	Timestamp     uint16
	TimestampEcho uint16
}

// Mode returns the packet's mode (ModeInitiator, ModeResponder or ModeStartup; 0 is invalid).
func (h Header) Mode() byte { return h.Flags & ModeMask }

// HasTimestamp reports whether the timestamp field is present.
func (h Header) HasTimestamp() bool { return h.Flags&FlagTS != 0 }

// HasEcho reports whether the timestamp echo field is present.
func (h Header) HasEcho() bool { return h.Flags&FlagTSE != 0 }

// WithTimestamp returns h with the timestamp set and its flag raised.
func (h Header) WithTimestamp(ts uint16) Header {
	h.Flags |= FlagTS
	h.Timestamp = ts
	return h
}

// WithEcho returns h with the timestamp echo set and its flag raised.
func (h Header) WithEcho(echo uint16) Header {
	h.Flags |= FlagTSE
	h.TimestampEcho = echo
	return h
}

// Len returns the encoded size of the header: 1, 3 or 5 bytes.
func (h Header) Len() int {
	n := 1
	if h.HasTimestamp() {
		n += 2
	}
	if h.HasEcho() {
		n += 2
	}
	return n
}

// Append appends the encoded header to b.
func (h Header) Append(b []byte) []byte {
	b = append(b, h.Flags)
	if h.HasTimestamp() {
		b = binary.BigEndian.AppendUint16(b, h.Timestamp)
	}
	if h.HasEcho() {
		b = binary.BigEndian.AppendUint16(b, h.TimestampEcho)
	}
	return b
}

// ParseHeader decodes the header at the start of a decrypted packet (the byte after the
// checksum or session sequence number) and returns it with the bytes that follow it, which
// hold the chunks and the padding. It fails with ErrShort if a flagged field is cut off and
// with ErrBadMode if the mode bits are 0. Reserved bits are kept in Flags.
func ParseHeader(packet []byte) (h Header, rest []byte, err error) {
	if len(packet) == 0 {
		return Header{}, nil, ErrShort
	}
	h = Header{Flags: packet[0]}
	rest = packet[1:]
	if h.Mode() == 0 {
		return Header{}, nil, ErrBadMode
	}
	if h.HasTimestamp() {
		if len(rest) < 2 {
			return Header{}, nil, ErrShort
		}
		h.Timestamp = binary.BigEndian.Uint16(rest)
		rest = rest[2:]
	}
	if h.HasEcho() {
		if len(rest) < 2 {
			return Header{}, nil, ErrShort
		}
		h.TimestampEcho = binary.BigEndian.Uint16(rest)
		rest = rest[2:]
	}
	return h, rest, nil
}
