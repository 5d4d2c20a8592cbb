// Package flash implements the Flash "TC" message layer that Flash Player and RFC 7425
// peers carry over RTMFP flows: flow metadata, the RTMP-style message header, commands and
// data messages (AMF0 with optional AMF3 switches, via package amf), status objects, user
// control events, media tag inspection and the NetGroup messages of the "GC" flow.
//
// The package is pure: no I/O, no goroutines, no mutable package state. Parsers read from a
// reassembled flow message; encoders append a whole message to a caller's slice.
//
// A TC message (RFC 7425 TC profile; shared protocol notes, flows §8):
//
//	+------+----------------+-------------------+------------------------------+
//	| type | timestamp u32  | 0x00 (types 0x0F  | body                         |
//	|  u8  | big-endian, ms |  and 0x11 only)   |                              |
//	+------+----------------+-------------------+------------------------------+
//
// NetGroup messages on a "GC" flow have no such header (see group.go).
package flash
