package flash

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// TC message types (RTMP message type IDs as used over RTMFP).
const (
	TypeSetChunkSize  byte = 0x01 // unused on TC flows; starts a group join on a GC flow
	TypeUserControl   byte = 0x04
	TypeAudio         byte = 0x08
	TypeVideo         byte = 0x09
	TypeDataAMF3      byte = 0x0F // 0x00 format byte, then AMF0 values (AMF3 via switch)
	TypeSharedObjAMF3 byte = 0x10 // not supported by RTMFP servers
	TypeCommandAMF3   byte = 0x11 // 0x00 format byte, then an AMF0 command
	TypeDataAMF0      byte = 0x12
	TypeSharedObjAMF0 byte = 0x13 // not supported by RTMFP servers
	TypeCommandAMF0   byte = 0x14
	TypeAggregate     byte = 0x16 // should not be used with RTMFP
)

// HeaderLen is the size of a TC message header (type and timestamp); types 0x0F and 0x11
// add one format byte.
const HeaderLen = 5

// Errors of the message parsers.
var (
	// ErrShort means a message shorter than its header or its fixed fields.
	ErrShort = errors.New("flash: message too short")
	// ErrFormat means a type 0x0F or 0x11 message whose format byte is not 0x00.
	ErrFormat = errors.New("flash: unknown AMF3 message format byte")
	// ErrType means a parser was handed a message of another type.
	ErrType = errors.New("flash: wrong message type")
)

// Message is one TC message. Body is a slice of the parsed buffer: for types 0x0F and 0x11
// it starts after the 0x00 format byte.
type Message struct {
	Type      byte
	Timestamp uint32
	Body      []byte
}

// hasFormatByte reports whether messages of type t carry the AMF3 format byte.
func hasFormatByte(t byte) bool { return t == TypeDataAMF3 || t == TypeCommandAMF3 }

// ParseMessage splits a reassembled TC flow message into type, timestamp and body.
func ParseMessage(b []byte) (Message, error) {
	if len(b) < HeaderLen {
		return Message{}, ErrShort
	}
	m := Message{Type: b[0], Timestamp: binary.BigEndian.Uint32(b[1:5]), Body: b[HeaderLen:]}
	if hasFormatByte(m.Type) {
		if len(m.Body) == 0 {
			return Message{}, ErrShort
		}
		if m.Body[0] != 0 {
			return Message{}, fmt.Errorf("%w 0x%02x", ErrFormat, m.Body[0])
		}
		m.Body = m.Body[1:]
	}
	return m, nil
}

// AppendMessageHeader appends type, timestamp and, for types 0x0F and 0x11, the 0x00
// format byte. The body follows.
func AppendMessageHeader(b []byte, typ byte, ts uint32) []byte {
	b = append(b, typ)
	b = binary.BigEndian.AppendUint32(b, ts)
	if hasFormatByte(typ) {
		b = append(b, 0)
	}
	return b
}

// Append appends the whole message (header and body) to b.
func (m Message) Append(b []byte) []byte {
	return append(AppendMessageHeader(b, m.Type, m.Timestamp), m.Body...)
}
