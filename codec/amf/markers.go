package amf

// AMF0 type markers.
const (
	AMF0Number      byte = 0x00 // 8-byte big-endian IEEE 754 double
	AMF0Boolean     byte = 0x01 // 1 byte, non-zero = true
	AMF0String      byte = 0x02 // u16 length + UTF-8
	AMF0Object      byte = 0x03 // (u16 key, value)* then 00 00 09
	AMF0MovieClip   byte = 0x04 // reserved, not supported
	AMF0Null        byte = 0x05
	AMF0Undefined   byte = 0x06
	AMF0Reference   byte = 0x07 // u16 index into the message's complex-object table
	AMF0ECMAArray   byte = 0x08 // u32 associative count, then like an object
	AMF0ObjectEnd   byte = 0x09 // only after an empty key
	AMF0StrictArray byte = 0x0A // u32 count + values
	AMF0Date        byte = 0x0B // double ms since epoch (UTC) + s16 time zone (minutes)
	AMF0LongString  byte = 0x0C // u32 length + UTF-8
	AMF0Unsupported byte = 0x0D
	AMF0RecordSet   byte = 0x0E // reserved, not supported
	AMF0XMLDocument byte = 0x0F // u32 length + UTF-8
	AMF0TypedObject byte = 0x10 // u16 class name, then like an object
	AMF0AVMPlus     byte = 0x11 // switch: one AMF3 value follows
)

// AMF3 type markers.
const (
	AMF3Undefined    byte = 0x00
	AMF3Null         byte = 0x01
	AMF3False        byte = 0x02
	AMF3True         byte = 0x03
	AMF3Integer      byte = 0x04 // U29, 29-bit two's complement
	AMF3Double       byte = 0x05
	AMF3String       byte = 0x06 // U29S: ref or length
	AMF3XMLDocument  byte = 0x07 // U29X: ref or length
	AMF3Date         byte = 0x08 // U29D: ref or 1, then double
	AMF3Array        byte = 0x09 // U29A: ref or dense count; assoc part; dense part
	AMF3Object       byte = 0x0A // U29O: ref, trait ref or inline traits
	AMF3XML          byte = 0x0B // U29X
	AMF3ByteArray    byte = 0x0C // U29B
	AMF3VectorInt    byte = 0x0D // U29V, fixed flag, s32 items
	AMF3VectorUint   byte = 0x0E // U29V, fixed flag, u32 items
	AMF3VectorDouble byte = 0x0F // U29V, fixed flag, double items
	AMF3VectorObject byte = 0x10 // U29V, fixed flag, type name, values
	AMF3Dictionary   byte = 0x11 // U29Dict, weak-keys flag, key/value pairs
)
