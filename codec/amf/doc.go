// Package amf encodes and decodes Action Message Format values: AMF0 (Adobe "Action Message
// Format -- AMF 0") and AMF3 (Adobe "AMF 3 Specification"), including the AMF0 "avmplus"
// switch (marker 0x11) that embeds one AMF3 value in an AMF0 stream, as Flash Player does in
// NetConnection commands when objectEncoding is 3.
//
// The package is pure: no I/O, no goroutines, no mutable package state. Encoders append to a
// caller's slice; decoding goes through a [Decoder], which owns the reference tables of one
// message and can be reused for the next one with [Decoder.Reset].
//
// # Value model
//
//	AMF0                         AMF3                      Go
//	0x00 number                  0x05 double               float64
//	                             0x04 integer (U29)        Integer
//	0x01 boolean                 0x02 false / 0x03 true    bool
//	0x02 string / 0x0C long str  0x06 string               string (LongString forces 0x0C)
//	0x05 null                    0x01 null                 nil
//	0x06 undefined               0x00 undefined            Undefined
//	0x03 object / 0x10 typed     0x0A object               *Object
//	0x08 ECMA array                                        *ECMAArray
//	0x0A strict array            0x09 array (dense only)   []any
//	                             0x09 array (with assoc)   *Array
//	0x0B date                    0x08 date                 Date
//	0x0F XML document            0x07 XML document         XMLDocument
//	                             0x0B XML (E4X)            XML
//	                             0x0C ByteArray            ByteArray
//	                             0x0D/0x0E/0x0F vectors    *VectorInt, *VectorUint, *VectorDouble
//	                             0x10 object vector        *VectorObject
//	                             0x11 dictionary           *Dictionary
//	0x0D unsupported                                       Unsupported
//	0x07 reference               references (U29 bit 0)    the referenced value itself
//	0x11 avmplus switch                                    the embedded AMF3 value
//
// Objects keep their properties in wire order, so decoding and re-encoding what Flash sent
// reproduces its bytes, undefined and null included. The encoders also accept Go natives: any
// integer or float type, []byte, []string, map[string]any (keys written sorted) and time.Time.
//
// # AMF3 inside AMF0
//
// Types that exist only in AMF3 (Integer, ByteArray, XML, *Array, vectors, *Dictionary,
// externalizable objects, and anything wrapped in [AMF3Value]) are written by the AMF0
// encoder as marker 0x11 followed by one AMF3 value. Each switched value is written with
// empty reference tables and contains no string, trait or object references, so it reads
// the same whether the receiver keeps one set of AMF3 tables per message or per switch.
//
// When decoding, a Decoder keeps ONE set of AMF3 reference tables for the whole message: a
// reference inside a later 0x11 value may point at a string, trait or object of an earlier
// one (the behaviour of Cumulus, MonaServer and PyAMF). A switched value decodes to the bare
// AMF3 value, not to an AMF3Value wrapper.
//
// The AMF0 encoder never emits AMF0 references (0x07). AppendAMF3 emits string references
// (equal strings), trait references (equal class name, flags and sealed names) and object
// references (the same *Object, *Array, *ECMAArray, *VectorX or *Dictionary pointer met
// again); Dates, byte arrays, XML and []any values are always written inline. A decoded
// AMF3 value whose sender followed the same policy re-encodes byte for byte.
//
// AMF0 has no sealed/dynamic distinction: the AMF0 decoder returns every object as dynamic
// with no sealed members, and the AMF0 encoder writes an *Object's properties in order
// whatever its Sealed and Dynamic fields say.
//
// # Limits on hostile input
//
// Decoding never panics and never allocates more than the remaining input can justify:
//
//   - Containers (objects, arrays, vectors, dictionaries, externalizable payloads) may nest at
//     most Decoder.MaxDepth deep (default 64); deeper input fails with ErrTooDeep.
//   - Every declared length or element count is checked against the bytes left before
//     anything is allocated (ErrShort).
//   - References are range checked (ErrReference); a reference to an object that is still
//     being decoded fails with ErrRefLoop, so decoded values never contain cycles.
//   - Each message has a budget of Decoder.MaxValues decoded values (default 1<<20) and
//     Decoder.MaxBytes materialised string/byte bytes (default 16 MiB). Following a reference
//     charges the full size of what it points to, so reference fan-out cannot amplify a small
//     message into a huge value tree (ErrTooLarge).
//
// The encoders refuse nesting deeper than DefaultMaxDepth (ErrTooDeep; this is also how a
// cycle ends in AMF0 and inside a switch), a cycle through pointers in AppendAMF3
// (ErrRefLoop), Go types they do not know (ErrUnsupported), and strings or counts that do
// not fit their length fields (ErrTooLong). Any value decoded with the default limits
// re-encodes; one decoded with a larger MaxDepth may be too deep to encode.
package amf
