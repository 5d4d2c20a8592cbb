package flv

import (
	"encoding/binary"
	"math"

	"github.com/actorrtmfp/actorrtmfp/codec/amf"
)

// A recorder writes one onMetaData script tag first: the string "onMetaData" and an ECMA
// array whose first two properties are duration and filesize. Their numbers then sit at
// fixed offsets of the tag body, where the recorder writes the final values when it closes
// the file — players read both to show a recording's length and to seek.
//
//	02 000a "onMetaData" | 08 u32 count | 0008 "duration" 00 f64 | 0008 "filesize" 00 f64 | …
const (
	DurationOffset = 29 // of the duration's f64 in the body
	FileSizeOffset = 48 // of the filesize's f64
	metadataPrefix = 56 // the bytes up to the end of filesize's value
)

// MetadataName is the handler name of a file's metadata.
const MetadataName = "onMetaData"

// AppendMetadata appends the body of an onMetaData script tag with duration and filesize
// (in seconds and bytes) first, then props in order, leaving out any duration or filesize
// among them.
func AppendMetadata(b []byte, duration, filesize float64, props []amf.Property) ([]byte, error) {
	n := 2
	for _, p := range props {
		if p.Key != "duration" && p.Key != "filesize" {
			n++
		}
	}
	b = amf.AppendAMF0String(b, MetadataName)
	b = append(b, amf.AMF0ECMAArray)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = amf.AppendAMF0Key(b, "duration")
	b = amf.AppendAMF0Number(b, duration)
	b = amf.AppendAMF0Key(b, "filesize")
	b = amf.AppendAMF0Number(b, filesize)
	var err error
	for _, p := range props {
		if p.Key == "duration" || p.Key == "filesize" {
			continue
		}
		if b, err = amf.AppendAMF0Property(b, p.Key, p.Value); err != nil {
			return b, err
		}
	}
	return amf.AppendAMF0ObjectEnd(b), nil
}

// Patchable reports whether a script tag body has the layout of AppendMetadata, whose
// duration and filesize PutDuration and PutFileSize may overwrite.
func Patchable(body []byte) bool {
	if len(body) < metadataPrefix {
		return false
	}
	var want []byte
	want = amf.AppendAMF0String(want, MetadataName)
	want = append(want, amf.AMF0ECMAArray, 0, 0, 0, 0)
	want = amf.AppendAMF0Key(want, "duration")
	for i := range want {
		if i >= 14 && i < 18 { // the count
			continue
		}
		if body[i] != want[i] {
			return false
		}
	}
	return body[DurationOffset-1] == amf.AMF0Number && string(body[DurationOffset+8:FileSizeOffset-1]) == "\x00\x08filesize" &&
		body[FileSizeOffset-1] == amf.AMF0Number
}

// Duration returns the duration, in seconds, of a Patchable body.
func Duration(body []byte) float64 {
	return math.Float64frombits(binary.BigEndian.Uint64(body[DurationOffset:]))
}

// PutDuration writes seconds as the duration of a Patchable body.
func PutDuration(body []byte, seconds float64) {
	binary.BigEndian.PutUint64(body[DurationOffset:], math.Float64bits(seconds))
}

// PutFileSize writes bytes as the filesize of a Patchable body.
func PutFileSize(body []byte, bytes float64) {
	binary.BigEndian.PutUint64(body[FileSizeOffset:], math.Float64bits(bytes))
}
