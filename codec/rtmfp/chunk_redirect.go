package rtmfp

// MaxRedirectAddresses is the most addresses ParseRedirect stores. A 1200-byte packet has
// room for about 170 IPv4 addresses, but real redirects carry a handful; the cap keeps a
// hostile 64 KiB chunk from costing a large allocation. Use RedirectAddresses to walk any
// number of them without storing.
const MaxRedirectAddresses = 64

// Redirect is the Responder Redirect chunk (type 0x71, RFC 7016 §2.3.5): "for this tag, try
// these addresses", used for P2P introduction and to send a client to another server:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     0x71      |        chunk length           | tagLength VLU |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  tag echo (tagLength bytes)                                   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  address 1 (see Address) | address 2 | ... to the chunk's end |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Example (a server introducing B, public 198.51.100.7:50000 and private
// 192.168.1.10:50000): 71 001F | 10 <tag> | 02 C6336407 C350 | 01 C0A8010A C350.
type Redirect struct {
	Tag       []byte
	Addresses []Address
}

// ParseRedirect decodes a Redirect chunk payload. The addresses are appended to dst[:0], so
// a caller that passes a slice with enough capacity (MaxRedirectAddresses covers every
// accepted chunk) decodes without allocating. Tag refers into payload.
func ParseRedirect(payload []byte, dst []Address) (Redirect, error) {
	tag, it, err := RedirectAddresses(payload)
	if err != nil {
		return Redirect{}, err
	}
	addrs := dst[:0]
	for it.Next() {
		if len(addrs) == MaxRedirectAddresses {
			return Redirect{}, ErrTooManyAddresses
		}
		addrs = append(addrs, it.Address())
	}
	if it.Err() != nil {
		return Redirect{}, it.Err()
	}
	return Redirect{Tag: tag, Addresses: addrs}, nil
}

// RedirectAddresses splits a Redirect chunk payload into its tag and an iterator over its
// addresses, for callers that want neither a slice nor a limit.
func RedirectAddresses(payload []byte) (tag []byte, addresses AddressIterator, err error) {
	tag, n, err := readVLUField(payload)
	if err != nil {
		return nil, AddressIterator{}, err
	}
	return tag, NewAddressIterator(payload[n:]), nil
}

// PayloadLen returns the size of the chunk payload.
func (c Redirect) PayloadLen() int {
	n := vluFieldLen(len(c.Tag))
	for _, a := range c.Addresses {
		n += a.Len()
	}
	return n
}

// Len returns the encoded size of the chunk, header included.
func (c Redirect) Len() int { return ChunkHeaderLen + c.PayloadLen() }

// Append appends the whole chunk to b.
func (c Redirect) Append(b []byte) []byte {
	b = AppendChunkHeader(b, ChunkRedirect, c.PayloadLen())
	b = appendVLUField(b, c.Tag)
	for _, a := range c.Addresses {
		b = a.Append(b)
	}
	return b
}
