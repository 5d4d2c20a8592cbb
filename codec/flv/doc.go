// Package flv is the FLV file format (Adobe's Video File Format v10.1, Annex E; Enhanced
// RTMP keeps it unchanged): the file header, tags with their PreviousTagSize trailers, and
// the onMetaData script tag a recorder writes first. A tag's body is exactly the body of an
// RTMP (or RTMFP TC) audio, video or data message, so recording and replaying pass the
// media through untouched, Enhanced RTMP codecs included.
//
// The package is pure: no I/O. Parsers read from a caller's bytes; encoders append to a
// caller's slice.
//
//	file:  header (9 bytes) | PreviousTagSize0 = 0 (u32) | tag | PreviousTagSize | tag | …
//
//	header:  'F' 'L' 'V' | version 1 | flags (0x04 audio, 0x01 video) | u32 DataOffset = 9
//
//	tag:     u8 reserved(2) filter(1) type(5) | u24 DataSize | u24 Timestamp |
//	         u8 TimestampExtended (bits 31–24) | u24 StreamID = 0 | body (DataSize bytes)
//	         followed by u32 PreviousTagSize = 11 + DataSize
package flv
