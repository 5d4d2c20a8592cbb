package amf

import (
	"encoding/binary"
	"math"
)

// Default decoding limits; see the package documentation.
const (
	DefaultMaxDepth  = 64
	DefaultMaxValues = 1 << 20
	DefaultMaxBytes  = 16 << 20
)

// Limits of the per-Decoder cache of short strings.
const (
	internMaxLen     = 32
	internMaxEntries = 256
)

// A Decoder reads the AMF values of one message. It holds the message's reference tables
// (the AMF0 complex-object table and the AMF3 string, trait and object tables, the latter
// shared by every 0x11 switch of the message) and its decoding budget. Reset starts a new
// message; the tables' storage is kept for reuse, their contents are dropped.
//
// A Decoder that is reused also keeps a small cache of short strings (at most 256 strings of
// at most 32 bytes, filled from the first messages it sees) so that the property names and
// values repeated from message to message are not allocated again.
//
// The zero Decoder is ready to use after Reset. A Decoder must not be used concurrently.
// After an error its position is unspecified; call Reset before reusing it.
type Decoder struct {
	// MaxDepth limits container nesting; 0 means DefaultMaxDepth.
	MaxDepth int
	// MaxValues limits the number of values one message may materialise, references
	// counted at the size of what they point to; 0 means DefaultMaxValues.
	MaxValues int
	// MaxBytes limits the string, key and byte-array bytes one message may materialise,
	// references counted at the size of what they point to; 0 means DefaultMaxBytes.
	MaxBytes int

	b     []byte
	off   int
	depth int // containers open now
	peak  int // deepest nesting reached inside the table value being decoded

	values, bytes       int // budget used
	maxValues, maxBytes int
	maxDepth            int

	obj0   []entry  // AMF0 complex objects
	strTab []string // AMF3 strings
	trait3 []*traits
	obj3   []entry // AMF3 objects

	props  []Property // scratch stack for object properties
	intern map[string]string
	reused bool
}

// entry is a reference-table slot: the value, the budget its decoding used and the nesting
// depth it spans, so that a reference to it can be charged in full and cannot let the
// expanded value tree grow deeper than MaxDepth. done is false while the value is being
// decoded.
type entry struct {
	v             any
	values, bytes int
	height        int
	done          bool
}

// span records where the decoding of a table value started, for finish.
type span struct {
	values, bytes int
	depth, peak   int
}

// traits is an AMF3 trait descriptor.
type traits struct {
	class     string
	names     []string
	dynamic   bool
	ext       bool
	nameBytes int
}

// NewDecoder returns a Decoder positioned at the start of b.
func NewDecoder(b []byte) *Decoder {
	d := new(Decoder)
	d.Reset(b)
	return d
}

// Reset starts decoding a new message held in b, emptying the reference tables and the
// budget, and applies the current limit fields.
func (d *Decoder) Reset(b []byte) {
	if d.reused && d.intern == nil {
		d.intern = make(map[string]string)
	}
	d.reused = true
	d.reset(b)
}

func (d *Decoder) reset(b []byte) {
	d.b, d.off, d.depth, d.peak = b, 0, 0, 0
	d.values, d.bytes = 0, 0
	d.maxDepth, d.maxValues, d.maxBytes = d.MaxDepth, d.MaxValues, d.MaxBytes
	if d.maxDepth <= 0 {
		d.maxDepth = DefaultMaxDepth
	}
	if d.maxValues <= 0 {
		d.maxValues = DefaultMaxValues
	}
	if d.maxBytes <= 0 {
		d.maxBytes = DefaultMaxBytes
	}
	clear(d.obj0)
	d.obj0 = d.obj0[:0]
	clear(d.strTab)
	d.strTab = d.strTab[:0]
	clear(d.trait3)
	d.trait3 = d.trait3[:0]
	clear(d.obj3)
	d.obj3 = d.obj3[:0]
	clear(d.props)
	d.props = d.props[:0]
}

// Len returns the number of unread bytes.
func (d *Decoder) Len() int { return len(d.b) - d.off }

// Remaining returns the unread bytes (a slice of the buffer given to Reset).
func (d *Decoder) Remaining() []byte { return d.b[d.off:] }

// Offset returns the number of bytes read since Reset.
func (d *Decoder) Offset() int { return d.off }

// DecodeAMF0 decodes one AMF0 value from the start of b with a fresh Decoder and default
// limits, returning the value and the number of bytes it occupied.
func DecodeAMF0(b []byte) (v any, n int, err error) {
	var d Decoder
	d.reset(b)
	v, err = d.ReadAMF0()
	return v, d.off, err
}

// DecodeAMF3 decodes one AMF3 value from the start of b with a fresh Decoder and default
// limits, returning the value and the number of bytes it occupied.
func DecodeAMF3(b []byte) (v any, n int, err error) {
	var d Decoder
	d.reset(b)
	v, err = d.ReadAMF3()
	return v, d.off, err
}

// charge spends budget and fails once either budget is exhausted.
func (d *Decoder) charge(values, bytes int) error {
	d.values += values
	d.bytes += bytes
	if d.values > d.maxValues || d.bytes > d.maxBytes {
		return ErrTooLarge
	}
	return nil
}

// enter and leave bracket the decoding of a container.
func (d *Decoder) enter() error {
	d.depth++
	if d.depth > d.maxDepth {
		return ErrTooDeep
	}
	d.peak = max(d.peak, d.depth)
	return nil
}

func (d *Decoder) leave() { d.depth-- }

// follow resolves a reference to table slot e, charging its full size and depth.
func (d *Decoder) follow(e *entry) (any, error) {
	if !e.done {
		return nil, ErrRefLoop
	}
	if d.depth+e.height > d.maxDepth {
		return nil, ErrTooDeep
	}
	d.peak = max(d.peak, d.depth+e.height)
	if err := d.charge(e.values, e.bytes); err != nil {
		return nil, err
	}
	return e.v, nil
}

// mark is called before a table value's container is entered; finish records in e what
// its decoding cost.
func (d *Decoder) mark() span {
	s := span{values: d.values, bytes: d.bytes, depth: d.depth, peak: d.peak}
	d.peak = d.depth
	return s
}

func (d *Decoder) finish(e *entry, v any, s span) {
	e.v, e.done = v, true
	e.values, e.bytes = d.values-s.values, d.bytes-s.bytes
	e.height = d.peak - s.depth
	d.peak = max(d.peak, s.peak)
}

// bytesN returns the next n bytes (a slice of the input) and advances.
func (d *Decoder) bytesN(n int) ([]byte, error) {
	if n < 0 || n > len(d.b)-d.off {
		return nil, ErrShort
	}
	p := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return p, nil
}

func (d *Decoder) u8() (byte, error) {
	if d.off >= len(d.b) {
		return 0, ErrShort
	}
	c := d.b[d.off]
	d.off++
	return c, nil
}

func (d *Decoder) u16() (uint16, error) {
	p, err := d.bytesN(2)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(p), nil
}

func (d *Decoder) u32() (uint32, error) {
	p, err := d.bytesN(4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(p), nil
}

func (d *Decoder) f64() (float64, error) {
	p, err := d.bytesN(8)
	if err != nil {
		return 0, err
	}
	return math.Float64frombits(binary.BigEndian.Uint64(p)), nil
}

func (d *Decoder) u29() (uint32, error) {
	v, n, err := readU29(d.b[d.off:])
	d.off += n
	return v, err
}

// str materialises n bytes as a string, charging them to the budget. Short strings come
// from the intern cache when the Decoder is being reused.
func (d *Decoder) str(n int) (string, error) {
	p, err := d.bytesN(n)
	if err != nil {
		return "", err
	}
	if err := d.charge(0, n); err != nil {
		return "", err
	}
	return d.makeString(p), nil
}

func (d *Decoder) makeString(p []byte) string {
	if len(p) == 0 {
		return ""
	}
	if d.intern == nil || len(p) > internMaxLen {
		return string(p)
	}
	if s, ok := d.intern[string(p)]; ok {
		return s
	}
	s := string(p)
	if len(d.intern) < internMaxEntries {
		d.intern[s] = s
	}
	return s
}

// blob copies n bytes of input, charging them to the budget.
func (d *Decoder) blob(n int) ([]byte, error) {
	p, err := d.bytesN(n)
	if err != nil {
		return nil, err
	}
	if err := d.charge(0, n); err != nil {
		return nil, err
	}
	return append([]byte(nil), p...), nil
}

// checkCount fails when count elements of at least minSize bytes each cannot fit in the
// input left, or would blow the value budget.
func (d *Decoder) checkCount(count uint64, minSize int) error {
	if count > uint64(len(d.b)-d.off)/uint64(minSize) {
		return ErrShort
	}
	if count > uint64(d.maxValues-d.values) {
		return ErrTooLarge
	}
	return nil
}

// popProps copies the scratch properties from start on into an exact-size slice.
func (d *Decoder) popProps(start int) []Property {
	n := len(d.props) - start
	if n == 0 {
		return nil
	}
	out := make([]Property, n)
	copy(out, d.props[start:])
	clear(d.props[start:])
	d.props = d.props[:start]
	return out
}
