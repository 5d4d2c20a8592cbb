package amf

import (
	"encoding/binary"
	"math"
)

// Typed AMF0 writers for hot paths. They cannot fail and do not allocate beyond growing b.

// AppendAMF0Number appends an AMF0 number: 00 | double.
func AppendAMF0Number(b []byte, f float64) []byte {
	b = append(b, AMF0Number)
	return binary.BigEndian.AppendUint64(b, math.Float64bits(f))
}

// AppendAMF0Bool appends an AMF0 boolean: 01 | 00 or 01.
func AppendAMF0Bool(b []byte, v bool) []byte {
	if v {
		return append(b, AMF0Boolean, 1)
	}
	return append(b, AMF0Boolean, 0)
}

// AppendAMF0String appends s as an AMF0 string (02 | u16 length | bytes) when it is at most
// 65535 bytes long, else as a long string (0C | u32 length | bytes). s must be shorter than
// 4 GiB.
func AppendAMF0String(b []byte, s string) []byte {
	if len(s) <= math.MaxUint16 {
		b = append(b, AMF0String, byte(len(s)>>8), byte(len(s)))
		return append(b, s...)
	}
	return appendAMF0LongString(b, s)
}

func appendAMF0LongString(b []byte, s string) []byte {
	b = append(b, AMF0LongString)
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// AppendAMF0Null appends AMF0 null (05).
func AppendAMF0Null(b []byte) []byte { return append(b, AMF0Null) }

// AppendAMF0Undefined appends AMF0 undefined (06).
func AppendAMF0Undefined(b []byte) []byte { return append(b, AMF0Undefined) }

// AppendAMF0ObjectStart appends the anonymous-object marker (03). Follow it with
// properties (AppendAMF0Key + a value, or AppendAMF0Property) and AppendAMF0ObjectEnd.
func AppendAMF0ObjectStart(b []byte) []byte { return append(b, AMF0Object) }

// AppendAMF0Key appends a property name: u16 length | bytes. key must be at most 65535
// bytes long; a longer key is cut to its first 65535 bytes.
func AppendAMF0Key(b []byte, key string) []byte {
	if len(key) > math.MaxUint16 {
		key = key[:math.MaxUint16]
	}
	b = append(b, byte(len(key)>>8), byte(len(key)))
	return append(b, key...)
}

// AppendAMF0Property appends a property name and its AMF0 value.
func AppendAMF0Property(b []byte, key string, v any) ([]byte, error) {
	if len(key) > math.MaxUint16 {
		return b, ErrTooLong
	}
	var e encoder
	return e.amf0(AppendAMF0Key(b, key), v)
}

// AppendAMF0ObjectEnd appends the end of an object or ECMA array: 00 00 09.
func AppendAMF0ObjectEnd(b []byte) []byte { return append(b, 0, 0, AMF0ObjectEnd) }
