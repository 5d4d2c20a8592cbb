package amf

import "errors"

// Errors returned by the decoders and encoders. Decoding errors may be wrapped with detail;
// test them with errors.Is.
var (
	// ErrShort means the input ended inside a value, or a declared length or count is larger
	// than the input left.
	ErrShort = errors.New("amf: unexpected end of input")
	// ErrMarker means a type marker is unknown, reserved (AMF0 movieclip, recordset), or out
	// of place (AMF0 object-end outside an object).
	ErrMarker = errors.New("amf: unknown or unsupported type marker")
	// ErrTooDeep means containers are nested deeper than the limit.
	ErrTooDeep = errors.New("amf: nesting too deep")
	// ErrTooLarge means the message exceeded the decoder's value or byte budget.
	ErrTooLarge = errors.New("amf: decode budget exceeded")
	// ErrReference means a reference index points outside its table.
	ErrReference = errors.New("amf: reference out of range")
	// ErrRefLoop means a reference points at an object that is still being decoded (or
	// encoded), i.e. the value graph has a cycle.
	ErrRefLoop = errors.New("amf: reference loop")
	// ErrExternalizable means an AMF3 externalizable object of a class whose payload format
	// this package does not know.
	ErrExternalizable = errors.New("amf: unsupported externalizable class")
	// ErrType means a typed read found a value of another type.
	ErrType = errors.New("amf: unexpected value type")
	// ErrUnsupported means the encoder was given a Go type it cannot represent.
	ErrUnsupported = errors.New("amf: unsupported Go type")
	// ErrTooLong means a string, key or collection is too long for its length field.
	ErrTooLong = errors.New("amf: value too long for its encoding")
	// ErrInvalid means a value that cannot be encoded as given, e.g. an *Object with Sealed
	// larger than its property count or an empty dynamic property name.
	ErrInvalid = errors.New("amf: invalid value")
)
