package amf

import (
	"math"
	"time"
)

// Undefined is the AMF undefined value (AMF0 0x06, AMF3 0x00). A nil interface is null.
type Undefined struct{}

// Unsupported is the AMF0 "unsupported" marker (0x0D), which a sender writes for a value it
// cannot serialise. It has no AMF3 form.
type Unsupported struct{}

// Integer is an AMF3 integer (marker 0x04). Integers decode to this type so that
// re-encoding writes 0x04 again; AMF3 doubles decode to float64.
//
// AMF3 integers hold 29 bits: values from MinInteger to MaxInteger are written as 0x04,
// others as a double. Integer is an AMF3-only type: the AMF0 encoder writes it through the
// 0x11 switch (use float64 for a plain AMF0 number).
type Integer int32

// Range of the AMF3 integer type.
const (
	MinInteger = -1 << 28
	MaxInteger = 1<<28 - 1
)

// LongString forces the AMF0 long-string marker (0x0C). The AMF0 encoder writes a plain
// string as 0x02 when it is at most 65535 bytes long and as 0x0C otherwise; the decoder
// returns both markers as string. In AMF3 a LongString is an ordinary string.
type LongString string

// XMLDocument is a legacy flash.xml.XMLDocument (AMF0 0x0F, AMF3 0x07), kept as text.
type XMLDocument string

// XML is an E4X XML value (AMF3 0x0B), kept as text. It has no AMF0 form; the AMF0 encoder
// switches to AMF3 for it.
type XML string

// ByteArray is a flash.utils.ByteArray (AMF3 0x0C). []byte encodes the same way. The
// decoder returns a copy of the bytes, never a slice of its input.
type ByteArray []byte

// Date is an AMF date: milliseconds since the Unix epoch in UTC. TZ is the AMF0 time-zone
// field (minutes, "should be 0" per the specification) kept for byte-exact re-encoding; AMF3
// has no such field and decodes it as 0.
//
//	AMF0: 0B | double millis | s16 tz          AMF3: 08 | U29D=0x01 | double millis
type Date struct {
	Millis float64
	TZ     int16
}

// NewDate returns the Date of t, truncated to the millisecond.
func NewDate(t time.Time) Date { return Date{Millis: float64(t.UnixMilli())} }

// Time returns d as a time.Time in UTC. Out-of-range or NaN dates give the zero Time.
func (d Date) Time() time.Time {
	if math.IsNaN(d.Millis) || math.Abs(d.Millis) > 8.64e15 {
		return time.Time{}
	}
	return time.UnixMilli(int64(d.Millis)).UTC()
}

// Property is one named value of an object or array, in wire order.
type Property struct {
	Key   string
	Value any
}

// Object is an AMF object: AMF0 anonymous (0x03) or typed (0x10) object, or AMF3 object
// (0x0A). Props are in wire order and may repeat a key.
//
// AMF3 traits are kept: Class is the class alias ("" for anonymous objects), the first
// Sealed properties are the sealed members named by the traits, the rest are dynamic
// members (the encoder marks the traits dynamic when Dynamic is set or there are properties
// beyond the sealed ones). Externalizable objects carry their payload in External; only the
// Flex classes flex.messaging.io.ArrayCollection, ArrayList and ObjectProxy, whose payload
// is a single AMF3 value, are supported.
//
//	AMF0:  03 | (u16 key, value)* | 00 00 09
//	       10 | u16 class | (u16 key, value)* | 00 00 09
//	AMF3:  0A | U29O traits | [class | sealed names] | sealed values | (key, value)* 01
type Object struct {
	Class          string
	Sealed         int
	Dynamic        bool
	Externalizable bool
	External       any
	Props          []Property
}

// NewObject returns an anonymous dynamic object with the given properties.
func NewObject(props ...Property) *Object {
	return &Object{Dynamic: true, Props: props}
}

// ECMAArray is an AMF0 ECMA (associative) array. Count is the associative count as written
// on the wire: readers ignore it and read up to the end marker, and the encoder writes it
// verbatim so that re-encoding is byte-exact. NewECMAArray sets it to len(props).
//
//	08 | u32 count | (u16 key, value)* | 00 00 09
type ECMAArray struct {
	Count uint32
	Props []Property
}

// NewECMAArray returns an ECMA array with the given properties and Count = len(props).
func NewECMAArray(props ...Property) *ECMAArray {
	return &ECMAArray{Count: uint32(len(props)), Props: props}
}

// Array is an AMF3 array with an associative part. AMF3 arrays without one decode to []any.
//
//	09 | U29A = dense count<<1|1 | (key, value)* 01 | dense values
type Array struct {
	Dense []any
	Assoc []Property
}

// VectorInt is an AMF3 Vector.<int> (0x0D). Fixed is the fixed-length flag.
type VectorInt struct {
	Fixed bool
	Items []int32
}

// VectorUint is an AMF3 Vector.<uint> (0x0E).
type VectorUint struct {
	Fixed bool
	Items []uint32
}

// VectorDouble is an AMF3 Vector.<Number> (0x0F).
type VectorDouble struct {
	Fixed bool
	Items []float64
}

// VectorObject is an AMF3 Vector of objects (0x10). Type is the element class name as
// written, e.g. "*" for Vector.<*> or a class alias.
type VectorObject struct {
	Type  string
	Fixed bool
	Items []any
}

// DictEntry is one key/value pair of a Dictionary; keys may be any value.
type DictEntry struct {
	Key   any
	Value any
}

// Dictionary is an AMF3 flash.utils.Dictionary (0x11), entries in wire order.
type Dictionary struct {
	WeakKeys bool
	Entries  []DictEntry
}

// AMF3Value makes the AMF0 encoder write V through the 0x11 switch as an AMF3 value. The
// AMF3 encoder writes V itself.
type AMF3Value struct {
	V any
}
