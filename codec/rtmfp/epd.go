package rtmfp

import "errors"

// ErrFingerprintLength means a fingerprint EPD option is not 32 bytes long.
var ErrFingerprintLength = errors.New("rtmfp: EPD fingerprint is not 32 bytes")

// Option types of an endpoint discriminator in the Flash profile (RFC 7425 §4.4).
const (
	EPDHostname    = 0x00 // required hostname
	EPDAncillary   = 0x0A // ancillary data: the connect URI, or a bare application path
	EPDFingerprint = 0x0F // SHA-256 of the wanted endpoint's certificate (its peer ID)
)

// FingerprintLen is the size of a certificate fingerprint (a SHA-256 digest, the peer ID).
const FingerprintLen = 32

// EPD is a decoded endpoint discriminator: the unterminated option list an initiator puts in
// IHello (and a server forwards in FIHello) to say which endpoint it wants:
//
//	+------------+------+------------------------+
//	| length VLU | type | value                  |  one option, repeated
//	+------------+------+------------------------+
//
//	a connection to a server:  1A | 19 0A "rtmfp://192.168.137.183/"
//	a P2P introduction:        22 | 21 0F <32-byte peer ID>
//	tcconn -f <fingerprint>:   ... | 21 0F <fingerprint> | <len> 0A <URI>
//
// (the leading byte, the EPD length, belongs to IHello). The fields refer into the parsed
// list. When an option type occurs more than once the first one counts; options of other
// types are skipped.
type EPD struct {
	URL         []byte // value of the ancillary-data option (0x0A), when HasURL
	Fingerprint []byte // the 32-byte fingerprint option (0x0F); nil when absent
	Hostname    []byte // value of the required-hostname option (0x00), when HasHostname
	HasURL      bool
	HasHostname bool
}

// ParseEPD decodes an endpoint discriminator (IHello.EPD or FIHello.EPD).
func ParseEPD(epd []byte) (EPD, error) {
	var e EPD
	it := NewOptionIterator(epd)
	for {
		for it.Next() {
			o := it.Option()
			switch o.Type {
			case EPDAncillary:
				if !e.HasURL {
					e.URL, e.HasURL = o.Value, true
				}
			case EPDFingerprint:
				if len(o.Value) != FingerprintLen {
					return EPD{}, ErrFingerprintLength
				}
				if e.Fingerprint == nil {
					e.Fingerprint = o.Value
				}
			case EPDHostname:
				if !e.HasHostname {
					e.Hostname, e.HasHostname = o.Value, true
				}
			}
		}
		if it.Err() != nil {
			return EPD{}, it.Err()
		}
		if !it.Terminated() {
			break
		}
		// An EPD is unterminated, so a zero-length option means nothing: skip it.
		it = NewOptionIterator(it.Rest())
	}
	return e, nil
}

// Len returns the encoded size of the option list Append writes.
func (e EPD) Len() int {
	n := 0
	if e.Fingerprint != nil {
		n += Option{Type: EPDFingerprint, Value: e.Fingerprint}.Len()
	}
	if e.HasHostname {
		n += Option{Type: EPDHostname, Value: e.Hostname}.Len()
	}
	if e.HasURL {
		n += Option{Type: EPDAncillary, Value: e.URL}.Len()
	}
	return n
}

// Append appends the option list to b: the fingerprint first (as rtmfp-cpp orders it), then
// the hostname, then the ancillary data. The length VLU in front of it is IHello's job.
func (e EPD) Append(b []byte) []byte {
	if e.Fingerprint != nil {
		b = AppendOption(b, EPDFingerprint, e.Fingerprint)
	}
	if e.HasHostname {
		b = AppendOption(b, EPDHostname, e.Hostname)
	}
	if e.HasURL {
		b = AppendOption(b, EPDAncillary, e.URL)
	}
	return b
}

// AppendEPDURL appends an ancillary-data option holding url: the EPD of a connection to a
// server, e.g. 19 0A "rtmfp://192.168.137.183/".
func AppendEPDURL(b []byte, url string) []byte {
	b = AppendVLU(b, uint64(1+len(url)))
	b = append(b, EPDAncillary)
	return append(b, url...)
}

// AppendEPDFingerprint appends a fingerprint option: the EPD of a P2P introduction,
// 21 0F <peer ID>.
func AppendEPDFingerprint(b []byte, fingerprint []byte) []byte {
	return AppendOption(b, EPDFingerprint, fingerprint)
}
