package rtmfp

import "errors"

// ErrOptionLength means an option's type VLU runs past the option's declared length.
var ErrOptionLength = errors.New("rtmfp: option type overruns option length")

// Option is one element of an RTMFP option list (RFC 7016 §2.1.3):
//
//	+-------------+-------------+---------------------------+
//	| length (VLU)| type (VLU)  | value (length - |type|)   |
//	+-------------+-------------+---------------------------+
//
// A length of zero is the marker that ends a terminated list. Value refers into the buffer
// the option was parsed from.
type Option struct {
	Type  uint64
	Value []byte
}

// Len returns the encoded size of the option.
func (o Option) Len() int {
	inner := VLULen(o.Type) + len(o.Value)
	return VLULen(uint64(inner)) + inner
}

// Append appends the encoded option to b.
func (o Option) Append(b []byte) []byte {
	b = AppendVLU(b, uint64(VLULen(o.Type)+len(o.Value)))
	b = AppendVLU(b, o.Type)
	return append(b, o.Value...)
}

// AppendOption appends an option of the given type and value to b.
func AppendOption(b []byte, typ uint64, value []byte) []byte {
	return Option{Type: typ, Value: value}.Append(b)
}

// AppendOptionVLU appends an option whose value is a single VLU (e.g. a return flow
// association or a DH group number).
func AppendOptionVLU(b []byte, typ, v uint64) []byte {
	b = AppendVLU(b, uint64(VLULen(typ)+VLULen(v)))
	b = AppendVLU(b, typ)
	return AppendVLU(b, v)
}

// OptionIterator walks an option list without allocating. For an unterminated list (an
// EPD, a certificate, a session key component) it runs to the end of its buffer; for a
// terminated list (user data options) it stops at the 0x00 marker and Rest reports what
// follows the marker.
//
//	it := rtmfp.NewOptionIterator(list)
//	for it.Next() {
//		o := it.Option()
//		...
//	}
//	if err := it.Err(); err != nil { ... }
type OptionIterator struct {
	b        []byte
	off      int
	markerAt int // offset of the marker once marker is true
	cur      Option
	err      error
	marker   bool
}

// NewOptionIterator returns an iterator over the option list in b.
func NewOptionIterator(b []byte) OptionIterator { return OptionIterator{b: b} }

// Next advances to the next option. It returns false at the end of the buffer, at a
// marker, or on a malformed option (see Err).
func (it *OptionIterator) Next() bool {
	if it.err != nil || it.marker || it.off >= len(it.b) {
		return false
	}
	start := it.off
	body, n, err := readVLUField(it.b[it.off:])
	if err != nil {
		it.err = err
		return false
	}
	it.off += n
	if len(body) == 0 {
		// A zero length ends a terminated list. It is normally the single byte 0x00, but a
		// redundant VLU encoding of zero (80 00) is a marker too, so remember where it began.
		it.marker = true
		it.markerAt = start
		return false
	}
	typ, tn, err := ReadVLU(body)
	if err != nil {
		it.err = ErrOptionLength
		return false
	}
	it.cur = Option{Type: typ, Value: body[tn:]}
	return true
}

// Option returns the option Next stopped at.
func (it *OptionIterator) Option() Option { return it.cur }

// Err returns the decoding error that stopped the iteration, if any.
func (it *OptionIterator) Err() error { return it.err }

// Terminated reports whether the iteration stopped at a 0x00 marker.
func (it *OptionIterator) Terminated() bool { return it.marker }

// Rest returns the bytes after the options consumed so far (after the marker once
// Terminated is true).
func (it *OptionIterator) Rest() []byte { return it.b[it.off:] }

// FindOption returns the first option of type typ in the unterminated list b.
func FindOption(b []byte, typ uint64) (Option, bool, error) {
	it := NewOptionIterator(b)
	for it.Next() {
		if o := it.Option(); o.Type == typ {
			return o, true, nil
		}
	}
	return Option{}, false, it.Err()
}

// SplitTerminatedOptions splits b into a terminated option list (without its marker) and
// the bytes that follow the marker. It fails if the list is malformed or has no marker.
func SplitTerminatedOptions(b []byte) (list, rest []byte, err error) {
	it := NewOptionIterator(b)
	for it.Next() {
	}
	if it.Err() != nil {
		return nil, nil, it.Err()
	}
	if !it.Terminated() {
		return nil, nil, ErrShort
	}
	return b[:it.markerAt:it.markerAt], it.Rest(), nil
}
