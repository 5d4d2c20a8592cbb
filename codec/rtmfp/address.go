package rtmfp

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// ErrTooManyAddresses means an address list holds more entries than a decoder will store.
var ErrTooManyAddresses = errors.New("rtmfp: too many addresses")

// Address origins: the low two bits of an address's flags byte (RFC 7016 §2.1.5).
const (
	OriginUnknown = 0 // unspecified
	OriginLocal   = 1 // reported by the peer itself (e.g. a private LAN address from setPeerInfo)
	OriginPublic  = 2 // observed: the source address a packet arrived from
	OriginRelay   = 3 // a relay or redirect target
)

const (
	// AddressIPv6 is the flags bit that marks a 16-byte IPv6 address.
	AddressIPv6 = 0x80
	// AddressOriginMask selects the origin bits of the flags byte.
	AddressOriginMask = 0x03
)

// Address is an RTMFP socket address:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|I|  reserved |O|  IPv4 address (4 bytes), or IPv6 address      |
//	|P|           |R|  (16 bytes) when IP6 is set                   |
//	|6|           |G|                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|      ...      |          port (u16)           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// ORG is the two-bit origin (OriginUnknown ... OriginRelay). IPv4-mapped IPv6 addresses
// (::ffff:a.b.c.d) are written and read as plain IPv4; zones are dropped. The zero Address
// (invalid AddrPort) encodes as 0.0.0.0 port 0.
type Address struct {
	AddrPort netip.AddrPort
	Origin   byte
}

// is6 reports whether a is written in the 16-byte form.
func (a Address) is6() bool {
	ip := a.AddrPort.Addr()
	return ip.Is6() && !ip.Is4In6()
}

// Len returns the encoded size of the address: 7 for IPv4, 19 for IPv6.
func (a Address) Len() int {
	if a.is6() {
		return 19
	}
	return 7
}

// Append appends the encoded address to b.
func (a Address) Append(b []byte) []byte {
	ip := a.AddrPort.Addr()
	flags := a.Origin & AddressOriginMask
	if a.is6() {
		b = append(b, flags|AddressIPv6)
		a16 := ip.As16()
		b = append(b, a16[:]...)
	} else {
		b = append(b, flags)
		var a4 [4]byte
		if ip.IsValid() {
			a4 = ip.Unmap().As4()
		}
		b = append(b, a4[:]...)
	}
	return binary.BigEndian.AppendUint16(b, a.AddrPort.Port())
}

// ParseAddress decodes the address at the start of b and returns it with the number of bytes
// it occupied. Reserved flag bits are ignored; an IPv4-mapped IPv6 address is unmapped.
func ParseAddress(b []byte) (Address, int, error) {
	if len(b) < 7 {
		return Address{}, 0, ErrShort
	}
	flags := b[0]
	var ip netip.Addr
	n := 5
	if flags&AddressIPv6 != 0 {
		if len(b) < 19 {
			return Address{}, 0, ErrShort
		}
		ip = netip.AddrFrom16([16]byte(b[1:17])).Unmap()
		n = 17
	} else {
		ip = netip.AddrFrom4([4]byte(b[1:5]))
	}
	port := binary.BigEndian.Uint16(b[n:])
	return Address{AddrPort: netip.AddrPortFrom(ip, port), Origin: flags & AddressOriginMask}, n + 2, nil
}

// AddressIterator walks a list of addresses that runs to the end of its buffer (the tail of
// a Responder Redirect) without allocating.
type AddressIterator struct {
	b   []byte
	cur Address
	err error
}

// NewAddressIterator returns an iterator over the addresses in b.
func NewAddressIterator(b []byte) AddressIterator { return AddressIterator{b: b} }

// Next advances to the next address; it returns false at the end of the buffer or on a
// truncated address (see Err).
func (it *AddressIterator) Next() bool {
	if it.err != nil || len(it.b) == 0 {
		return false
	}
	a, n, err := ParseAddress(it.b)
	if err != nil {
		it.err = err
		return false
	}
	it.cur = a
	it.b = it.b[n:]
	return true
}

// Address returns the address Next stopped at.
func (it *AddressIterator) Address() Address { return it.cur }

// Err returns the error that stopped the iteration, if any.
func (it *AddressIterator) Err() error { return it.err }
