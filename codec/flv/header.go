package flv

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// HeaderLen is the size of the file header; StartLen adds PreviousTagSize0, after which
// the first tag begins (in files whose DataOffset is 9, as every writer makes them).
const (
	HeaderLen = 9
	StartLen  = HeaderLen + PrevSizeLen
)

// Header flags.
const (
	FlagVideo = 0x01
	FlagAudio = 0x04
)

// Errors of the header parser.
var (
	// ErrSignature means bytes that do not start with "FLV" and version 1.
	ErrSignature = errors.New("flv: not an FLV file")
	// ErrShort means input shorter than the structure being parsed.
	ErrShort = errors.New("flv: truncated")
)

// Header is the file header.
type Header struct {
	Audio, Video bool
	// DataOffset is where the first PreviousTagSize starts (9 in every known file).
	DataOffset uint32
}

// ParseHeader reads the file header from the start of b.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, ErrShort
	}
	if b[0] != 'F' || b[1] != 'L' || b[2] != 'V' || b[3] != 1 {
		return Header{}, ErrSignature
	}
	h := Header{Audio: b[4]&FlagAudio != 0, Video: b[4]&FlagVideo != 0, DataOffset: binary.BigEndian.Uint32(b[5:9])}
	if h.DataOffset < HeaderLen {
		return Header{}, fmt.Errorf("%w: data offset %d", ErrSignature, h.DataOffset)
	}
	return h, nil
}

// Append appends the header with a DataOffset of 9 and PreviousTagSize0: the StartLen
// bytes before a file's first tag.
func (h Header) Append(b []byte) []byte {
	var flags byte
	if h.Audio {
		flags |= FlagAudio
	}
	if h.Video {
		flags |= FlagVideo
	}
	b = append(b, 'F', 'L', 'V', 1, flags)
	b = binary.BigEndian.AppendUint32(b, HeaderLen)
	return binary.BigEndian.AppendUint32(b, 0)
}
