package flv

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// Tag types.
const (
	TagAudio  byte = 8
	TagVideo  byte = 9
	TagScript byte = 18 // AMF0 data: onMetaData, onCuePoint…
)

// TagHeaderLen is the size of a tag header and PrevSizeLen that of the PreviousTagSize
// after each tag.
const (
	TagHeaderLen = 11
	PrevSizeLen  = 4
)

// MaxDataSize is the largest body a tag can carry (its size field has 24 bits).
const MaxDataSize = 1<<24 - 1

// Errors of the tag parsers.
var (
	// ErrTagType means a tag whose type is not audio, video or script data.
	ErrTagType = errors.New("flv: unknown tag type")
	// ErrEncrypted means a tag with the Filter bit: its body is encrypted (Adobe Access).
	ErrEncrypted = errors.New("flv: encrypted tag")
	// ErrPrevSize means a PreviousTagSize that does not match the tag before it: the file
	// is damaged (or not where a tag starts).
	ErrPrevSize = errors.New("flv: PreviousTagSize does not match the tag")
	// ErrTooLarge means a body beyond MaxDataSize.
	ErrTooLarge = errors.New("flv: tag body too large")
)

// TagHeader is the 11-byte header of a tag.
//
//	u8 reserved(2) filter(1) type(5) | u24 DataSize | u24 Timestamp | u8 TimestampExtended |
//	u24 StreamID (always 0)
type TagHeader struct {
	Type      byte
	DataSize  uint32
	Timestamp uint32 // milliseconds, the extended byte included
}

// ParseTagHeader reads a tag header from the start of b. It refuses reserved bits, the
// Filter bit (ErrEncrypted) and types other than audio, video and script data.
func ParseTagHeader(b []byte) (TagHeader, error) {
	if len(b) < TagHeaderLen {
		return TagHeader{}, ErrShort
	}
	switch {
	case b[0]&0x20 != 0:
		return TagHeader{}, ErrEncrypted
	case b[0]&0xC0 != 0:
		return TagHeader{}, fmt.Errorf("%w 0x%02x", ErrTagType, b[0])
	}
	h := TagHeader{
		Type:      b[0] & 0x1F,
		DataSize:  uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]),
		Timestamp: uint32(b[7])<<24 | uint32(b[4])<<16 | uint32(b[5])<<8 | uint32(b[6]),
	}
	if h.Type != TagAudio && h.Type != TagVideo && h.Type != TagScript {
		return TagHeader{}, fmt.Errorf("%w %d", ErrTagType, h.Type)
	}
	return h, nil
}

// Append appends the header (StreamID 0).
func (h TagHeader) Append(b []byte) []byte {
	ts := h.Timestamp
	return append(b, h.Type,
		byte(h.DataSize>>16), byte(h.DataSize>>8), byte(h.DataSize),
		byte(ts>>16), byte(ts>>8), byte(ts), byte(ts>>24),
		0, 0, 0)
}

// Size is the bytes the tag takes in a file: header, body and PreviousTagSize.
func (h TagHeader) Size() int64 { return TagHeaderLen + int64(h.DataSize) + PrevSizeLen }

// Tag is one tag: its type, timestamp and body.
type Tag struct {
	Type      byte
	Timestamp uint32
	Body      []byte
}

// ParseTag reads a whole tag and its PreviousTagSize from the start of b and returns it
// with the bytes it took. Body is a slice of b.
func ParseTag(b []byte) (Tag, int, error) {
	h, err := ParseTagHeader(b)
	if err != nil {
		return Tag{}, 0, err
	}
	n := int(h.Size())
	if len(b) < n {
		return Tag{}, 0, ErrShort
	}
	end := TagHeaderLen + int(h.DataSize)
	if err := CheckPrevSize(h, b[end:n]); err != nil {
		return Tag{}, 0, err
	}
	return Tag{Type: h.Type, Timestamp: h.Timestamp, Body: b[TagHeaderLen:end]}, n, nil
}

// CheckPrevSize checks the PreviousTagSize p (4 bytes) that follows the tag of header h.
func CheckPrevSize(h TagHeader, p []byte) error {
	if len(p) < PrevSizeLen {
		return ErrShort
	}
	if got := binary.BigEndian.Uint32(p); got != TagHeaderLen+h.DataSize {
		return fmt.Errorf("%w: %d after a tag of %d bytes", ErrPrevSize, got, TagHeaderLen+h.DataSize)
	}
	return nil
}

// AppendTag appends t with its header and PreviousTagSize. A body beyond MaxDataSize
// cannot be written.
func AppendTag(b []byte, t Tag) ([]byte, error) {
	if len(t.Body) > MaxDataSize {
		return b, ErrTooLarge
	}
	h := TagHeader{Type: t.Type, DataSize: uint32(len(t.Body)), Timestamp: t.Timestamp}
	b = append(h.Append(b), t.Body...)
	return binary.BigEndian.AppendUint32(b, TagHeaderLen+h.DataSize), nil
}

// FromMessage returns the tag of a Flash message: audio and video as they are, data
// messages (0x12, and 0x0F whose format byte ParseMessage already dropped) as script data.
// Other messages have no tag.
func FromMessage(m flash.Message) (Tag, bool) {
	switch m.Type {
	case flash.TypeAudio:
		return Tag{Type: TagAudio, Timestamp: m.Timestamp, Body: m.Body}, true
	case flash.TypeVideo:
		return Tag{Type: TagVideo, Timestamp: m.Timestamp, Body: m.Body}, true
	case flash.TypeDataAMF0, flash.TypeDataAMF3:
		return Tag{Type: TagScript, Timestamp: m.Timestamp, Body: m.Body}, true
	}
	return Tag{}, false
}

// Message returns the Flash message of a tag (script data as type 0x12).
func (t Tag) Message() flash.Message {
	typ := flash.TypeDataAMF0
	switch t.Type {
	case TagAudio:
		typ = flash.TypeAudio
	case TagVideo:
		typ = flash.TypeVideo
	}
	return flash.Message{Type: typ, Timestamp: t.Timestamp, Body: t.Body}
}
