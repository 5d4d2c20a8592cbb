// Package group encodes and parses the messages NetGroup members exchange peer to peer:
// the group handshake that proves knowledge of the group specifier, group media (stream
// announcement, fragments, fragment maps, push and pull requests) and posting. The layout
// follows what librtmfp reads from and writes to Flash Player peers (facts from its
// GroupStream, RTMFPWriter and GroupMedia; ../shared/protocol/netgroup.md §7).
//
// The package is pure: no I/O, no goroutines, no mutable package state. Parsers read one
// reassembled flow message; encoders append a whole message to a caller's slice. There is
// no TC header: the first byte is the message type.
//
// Flows (user metadata, without RTMFP's leading option byte):
//
//	"GR\x1C"  the report flow: Init, Begin, AskClose (one per session, not associated)
//	"GR\x11"  a media report flow per stream: MediaInfo, FragmentsMap, PushMode, Pull, MediaEnd
//	"GR\x12"  a media flow per stream, associated with the far side's "GR\x11" flow: fragments
//	"GR\x1D"  the posting flow: Post (an AMF0 value)
package group

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
)

// Flow metadata of the peer-to-peer group flows.
const (
	MetaReport      = "GR\x1C"
	MetaPost        = "GR\x1D"
	MetaMediaReport = "GR\x11"
	MetaMedia       = "GR\x12"
)

// Message types (the first byte).
const (
	TypeMediaEnd     = 0x00 // last fragment of a split message
	TypeInit         = 0x01 // group handshake
	TypeReport       = 0x0A // the sender's addresses and the members it heard of
	TypeAskClose     = 0x0C // asks the far side to close (it is not among our best peers)
	TypeBegin        = 0x0E
	TypeBeginNearest = 0x0F
	TypeMediaNext    = 0x10 // middle fragment of a split message
	TypeMediaData    = 0x20 // a whole message in one fragment
	TypeMediaInfo    = 0x21 // stream announcement (or, short, the stream's end)
	TypeFragmentsMap = 0x22
	TypePushMode     = 0x23
	TypePull         = 0x2B
	TypeMediaStart   = 0x30 // first fragment of a split message
)

// MaxFragment is the most media bytes one fragment carries (librtmfp's
// NETGROUP_MAX_PACKET_SIZE): a message is cut in fragments of this size.
const MaxFragment = 959

// MaxSplit is the most fragments one message is cut in (the split count is one byte).
const MaxSplit = 256

// MaxMessage is the largest media message a stream carries.
const MaxMessage = MaxSplit * MaxFragment

// MaxMapBytes bounds a fragments map (librtmfp's MAX_FRAGMENT_MAP_SIZE): 8 fragments a byte.
const MaxMapBytes = 1024

// MaxName bounds a stream name.
const MaxName = 1024

// StreamKeyLen is the length of a stream key (the publisher's random identity of one
// publishing, "21 01" and 32 bytes).
const StreamKeyLen = 34

// Errors.
var (
	ErrShort    = errors.New("group: message truncated")
	ErrType     = errors.New("group: unknown message type")
	ErrFormat   = errors.New("group: malformed message")
	ErrTooLarge = errors.New("group: message too large")
)

// Message is any message of the package.
type Message interface {
	Append(b []byte) []byte
}

// Parse parses one message of a report, media report or media flow.
func Parse(b []byte) (Message, error) {
	if len(b) == 0 {
		return nil, ErrShort
	}
	switch b[0] {
	case TypeInit:
		return ParseInit(b)
	case TypeBegin, TypeBeginNearest:
		if len(b) != 1 {
			return nil, ErrFormat
		}
		return Begin{Nearest: b[0] == TypeBeginNearest}, nil
	case TypeReport:
		if len(b) > MaxReport {
			return nil, ErrTooLarge
		}
		return Report{Body: b[1:]}, nil
	case TypeAskClose:
		if len(b) != 1 {
			return nil, ErrFormat
		}
		return AskClose{}, nil
	case TypeMediaInfo:
		return parseMediaInfo(b)
	case TypeFragmentsMap:
		return parseFragmentsMap(b)
	case TypePushMode:
		if len(b) != 2 {
			return nil, ErrFormat
		}
		return PushMode{Mask: b[1]}, nil
	case TypePull:
		v, n, err := rtmfp.ReadVLU(b[1:])
		if err != nil || 1+n != len(b) {
			return nil, ErrFormat
		}
		return Pull{ID: v}, nil
	case TypeMediaData, TypeMediaStart, TypeMediaNext, TypeMediaEnd:
		return ParseFragment(b)
	}
	return nil, fmt.Errorf("%w 0x%02x", ErrType, b[0])
}

// Init opens the group part of a session between two members: the group ID (written as 64
// hex characters), the key that proves the sender knows the group specifier (GroupKey)
// and the peer ID of the member it is sent to (librtmfp checks it against its own, and so
// do we: netgroup.md §7 says the sender's, which librtmfp's P2PSession contradicts).
type Init struct {
	Group [32]byte
	Key   [32]byte
	Peer  [32]byte
}

// Append implements Message: 01 41 00 <64 hex> 21 01 <key> 23 03 21 0F <peer ID>.
func (m Init) Append(b []byte) []byte {
	b = append(b, TypeInit, 0x41, 0x00)
	b = hex.AppendEncode(b, m.Group[:])
	b = append(b, 0x21, 0x01)
	b = append(b, m.Key[:]...)
	b = append(b, 0x23, 0x03, 0x21, 0x0F)
	return append(b, m.Peer[:]...)
}

// initLen is the length of an Init.
const initLen = 3 + 64 + 2 + 32 + 4 + 32

// ParseInit parses an Init.
func ParseInit(b []byte) (Init, error) {
	var m Init
	if len(b) < initLen {
		return m, ErrShort
	}
	if len(b) != initLen || b[0] != TypeInit || b[1] != 0x41 || b[2] != 0x00 ||
		b[67] != 0x21 || b[68] != 0x01 || b[101] != 0x23 || b[102] != 0x03 || b[103] != 0x21 || b[104] != 0x0F {
		return m, ErrFormat
	}
	if _, err := hex.Decode(m.Group[:], b[3:67]); err != nil {
		return m, ErrFormat
	}
	copy(m.Key[:], b[69:101])
	copy(m.Peer[:], b[105:])
	return m, nil
}

// GroupKey is the key a member sends in Init: HMAC-SHA256(groupTxt, farNonce), where
// groupTxt is the group specifier up to its authorizations (GroupText) and farNonce the
// session's far nonce (HMAC-SHA256(shared secret, the far side's key component)). The
// receiver expects the same with its near nonce, so only members that know the specifier
// (not only its hash, the group ID) and share the session pass.
func GroupKey(groupTxt string, nonce [32]byte) [32]byte {
	h := hmac.New(sha256.New, []byte(groupTxt))
	h.Write(nonce[:])
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// Report is a group report: the addresses the sender sees us at and has, and the members
// it heard of with theirs (librtmfp's NetGroup::sendGroupReport). It is kept whole: a
// member that learns its neighbours from the server needs nothing of it.
type Report struct{ Body []byte }

// MaxReport bounds a report (librtmfp's NETGROUP_MAX_REPORT_SIZE).
const MaxReport = 20000

// Append implements Message.
func (m Report) Append(b []byte) []byte { return append(append(b, TypeReport), m.Body...) }

// Begin follows Init (0E; 0F when the sender receives in NetGroupReceiveMode.NEAREST).
type Begin struct{ Nearest bool }

// Append implements Message.
func (m Begin) Append(b []byte) []byte {
	if m.Nearest {
		return append(b, TypeBeginNearest)
	}
	return append(b, TypeBegin)
}

// AskClose asks the far side to close the session.
type AskClose struct{}

// Append implements Message.
func (AskClose) Append(b []byte) []byte { return append(b, TypeAskClose) }

// MediaInfo announces a stream on a media report flow: its name, its key (a publishing's
// identity: a new publishing of a name is another stream) and the parameters members use.
type MediaInfo struct {
	Name string
	Key  [StreamKeyLen]byte
	// WindowMs is how long members keep fragments (NetStream.multicastWindowDuration).
	WindowMs uint64
	// UpdatePeriodMs is how often members send fragments maps
	// (multicastAvailabilityUpdatePeriod); FetchPeriodMs how long a member waits for a
	// fragment before it pulls it (multicastFetchPeriod).
	UpdatePeriodMs, FetchPeriodMs uint64
	// SendToAll: fragments maps go to every neighbour (multicastAvailabilitySendToAll).
	SendToAll bool
}

// Parameter IDs of a MediaInfo (librtmfp's NetGroup parameters).
const (
	paramUnknown   = 0x02
	paramWindow    = 0x03
	paramObjectEnc = 0x04
	paramUpdate    = 0x05
	paramSendToAll = 0x06
	paramFetch     = 0x07
)

// Append implements Message: 21 <VLU len(name)+1> 00 <name> <key> then parameters as
// records size(1) | id(1) | VLU value.
func (m MediaInfo) Append(b []byte) []byte {
	b = append(b, TypeMediaInfo)
	b = rtmfp.AppendVLU(b, uint64(len(m.Name)+1))
	b = append(b, 0)
	b = append(b, m.Name...)
	b = append(b, m.Key[:]...)
	b = append(b, 0x01, paramUnknown)
	if m.SendToAll {
		b = append(b, 0x01, paramSendToAll)
	}
	b = appendParam(b, paramWindow, m.WindowMs)
	b = append(b, 0x04, paramObjectEnc, 0x92, 0xA7, 0x60) // 300000, as Flash writes it
	b = appendParam(b, paramUpdate, m.UpdatePeriodMs)
	return appendParam(b, paramFetch, m.FetchPeriodMs)
}

func appendParam(b []byte, id byte, v uint64) []byte {
	b = append(b, byte(1+rtmfp.VLULen(v)), id)
	return rtmfp.AppendVLU(b, v)
}

// MediaEnd says a stream ended: Last is its last fragment. It is a short MediaInfo.
type MediaEnd struct{ Last uint64 }

// Append implements Message.
func (m MediaEnd) Append(b []byte) []byte {
	return rtmfp.AppendVLU(append(b, TypeMediaInfo), m.Last)
}

func parseMediaInfo(b []byte) (Message, error) {
	body := b[1:]
	// The end of a stream is a VLU alone (librtmfp tells them apart by size: an
	// announcement holds at least a key).
	if len(body) < StreamKeyLen+2 {
		v, n, err := rtmfp.ReadVLU(body)
		if err != nil || n != len(body) {
			return nil, ErrFormat
		}
		return MediaEnd{Last: v}, nil
	}
	nl, n, err := rtmfp.ReadVLU(body)
	if err != nil || nl < 2 || nl > MaxName+1 {
		return nil, ErrFormat
	}
	body = body[n:]
	if uint64(len(body)) < nl+StreamKeyLen || body[0] != 0 {
		return nil, ErrFormat
	}
	m := MediaInfo{Name: string(body[1:nl])}
	body = body[nl:]
	copy(m.Key[:], body)
	body = body[StreamKeyLen:]
	for len(body) > 0 {
		size := int(body[0])
		body = body[1:]
		if size == 0 {
			continue
		}
		if size > len(body) {
			return nil, ErrFormat
		}
		id, val := body[0], body[1:size]
		body = body[size:]
		var v uint64
		if len(val) > 0 {
			var k int
			if v, k, err = rtmfp.ReadVLU(val); err != nil || k != len(val) {
				return nil, ErrFormat
			}
		}
		switch id {
		case paramWindow:
			m.WindowMs = v
		case paramUpdate:
			m.UpdatePeriodMs = v
		case paramFetch:
			m.FetchPeriodMs = v
		case paramSendToAll:
			m.SendToAll = true
		}
	}
	return m, nil
}

// FragmentsMap tells which fragments the sender holds: Last, and for each earlier one
// a bit — Bits[0] bit 0 is Last-1, bit 1 Last-2, …, Bits[1] bit 0 Last-9.
type FragmentsMap struct {
	Last uint64
	Bits []byte
}

// Append implements Message.
func (m FragmentsMap) Append(b []byte) []byte {
	b = rtmfp.AppendVLU(append(b, TypeFragmentsMap), m.Last)
	return append(b, m.Bits...)
}

func parseFragmentsMap(b []byte) (Message, error) {
	v, n, err := rtmfp.ReadVLU(b[1:])
	if err != nil {
		return nil, ErrFormat
	}
	bits := b[1+n:]
	if len(bits) > MaxMapBytes {
		return nil, ErrTooLarge
	}
	if v == 0 {
		return nil, ErrFormat
	}
	return FragmentsMap{Last: v, Bits: bits}, nil
}

// Has says whether the map holds fragment id.
func (m FragmentsMap) Has(id uint64) bool {
	if id == 0 || id > m.Last {
		return false
	}
	if id == m.Last {
		return true
	}
	d := m.Last - id - 1
	if d/8 >= uint64(len(m.Bits)) {
		return false
	}
	return m.Bits[d/8]&(1<<(d%8)) != 0
}

// PushMode asks the far side to push the fragments whose ID modulo 8 has its bit set in
// Mask, as it gets them (0: push nothing).
type PushMode struct{ Mask uint8 }

// Append implements Message.
func (m PushMode) Append(b []byte) []byte { return append(b, TypePushMode, m.Mask) }

// Pull asks the far side for one fragment.
type Pull struct{ ID uint64 }

// Append implements Message.
func (m Pull) Append(b []byte) []byte { return rtmfp.AppendVLU(append(b, TypePull), m.ID) }

// Fragment is one fragment of a stream's message. A message up to MaxFragment bytes is
// one TypeMediaData fragment; a larger one is a TypeMediaStart, TypeMediaNext… and a
// TypeMediaEnd, with consecutive IDs and Split counting down the fragments left after
// this one (the end has 0). MediaType and Time are on the first fragment only.
type Fragment struct {
	Marker    byte
	ID        uint64
	Split     uint8
	MediaType byte   // the Flash message type (8 audio, 9 video, 0x12 or 0x0F data…)
	Time      uint32 // the message's timestamp
	Data      []byte // aliases the parsed buffer
}

// Append implements Message.
func (m Fragment) Append(b []byte) []byte {
	b = rtmfp.AppendVLU(append(b, m.Marker), m.ID)
	if m.Marker == TypeMediaStart || m.Marker == TypeMediaNext {
		b = append(b, m.Split)
	}
	if m.Marker == TypeMediaData || m.Marker == TypeMediaStart {
		b = append(b, m.MediaType, byte(m.Time>>24), byte(m.Time>>16), byte(m.Time>>8), byte(m.Time))
	}
	return append(b, m.Data...)
}

// First says whether the fragment starts a message.
func (m Fragment) First() bool { return m.Marker == TypeMediaData || m.Marker == TypeMediaStart }

// Last says whether the fragment ends a message.
func (m Fragment) Last() bool { return m.Marker == TypeMediaData || m.Marker == TypeMediaEnd }

// ParseFragment parses a fragment.
func ParseFragment(b []byte) (Fragment, error) {
	var m Fragment
	if len(b) < 2 {
		return m, ErrShort
	}
	m.Marker = b[0]
	switch m.Marker {
	case TypeMediaData, TypeMediaStart, TypeMediaNext, TypeMediaEnd:
	default:
		return m, ErrType
	}
	id, n, err := rtmfp.ReadVLU(b[1:])
	if err != nil || id == 0 {
		return m, ErrFormat
	}
	m.ID, b = id, b[1+n:]
	if m.Marker == TypeMediaStart || m.Marker == TypeMediaNext {
		if len(b) < 1 {
			return m, ErrShort
		}
		if m.Split, b = b[0], b[1:]; m.Split == 0 {
			return m, ErrFormat
		}
	}
	if m.First() {
		if len(b) < 5 {
			return m, ErrShort
		}
		m.MediaType = b[0]
		m.Time = uint32(b[1])<<24 | uint32(b[2])<<16 | uint32(b[3])<<8 | uint32(b[4])
		b = b[5:]
	}
	if len(b) > MaxFragment {
		return m, ErrTooLarge
	}
	if len(b) == 0 && m.Marker != TypeMediaData {
		return m, ErrFormat
	}
	m.Data = b
	return m, nil
}

// Split cuts one message into fragments numbered from first, appending them to out.
// It fails for a message larger than MaxMessage.
func Split(out []Fragment, first uint64, mediaType byte, time uint32, data []byte) ([]Fragment, error) {
	if len(data) > MaxMessage {
		return out, ErrTooLarge
	}
	if len(data) <= MaxFragment {
		return append(out, Fragment{Marker: TypeMediaData, ID: first, MediaType: mediaType, Time: time, Data: data}), nil
	}
	count := (len(data) + MaxFragment - 1) / MaxFragment
	for i := 0; i < count; i++ {
		f := Fragment{ID: first + uint64(i), Split: uint8(count - 1 - i), Data: data[i*MaxFragment : min((i+1)*MaxFragment, len(data))]}
		switch i {
		case 0:
			f.Marker, f.MediaType, f.Time = TypeMediaStart, mediaType, time
		case count - 1:
			f.Marker = TypeMediaEnd
		default:
			f.Marker = TypeMediaNext
		}
		out = append(out, f)
	}
	return out, nil
}

// Post is a NetGroup.post message on the posting flow: one AMF0 value, as written. Its
// identity is the SHA-256 of those bytes (Flash's messageID), which members use to pass
// each post on once.
type Post struct{ Body []byte }

// MaxPost bounds a post.
const MaxPost = 64 << 10

// Append implements Message.
func (m Post) Append(b []byte) []byte { return append(b, m.Body...) }

// ID is the post's identity.
func (m Post) ID() [32]byte { return sha256.Sum256(m.Body) }

// ParsePost checks a post's size (its AMF is the application's to decode).
func ParsePost(b []byte) (Post, error) {
	if len(b) == 0 {
		return Post{}, ErrShort
	}
	if len(b) > MaxPost {
		return Post{}, ErrTooLarge
	}
	return Post{Body: b}, nil
}

// GroupText returns the part of a group specifier ("G:" and hex) that identifies the
// group — up to its "00" end-of-options marker, before the authorizations — and the group
// ID: SHA-256 of that text, twice for a version-2 specifier (record 7F 02).
func GroupText(spec string) (txt string, id [32]byte, err error) {
	if len(spec) < 4 || spec[:2] != "G:" {
		return "", id, fmt.Errorf("group specifier %q: want G: followed by hex", spec)
	}
	raw, err := hex.DecodeString(spec[2:])
	if err != nil {
		return "", id, fmt.Errorf("group specifier: %w", err)
	}
	v2, end := false, -1
	for i := 0; i < len(raw); {
		size := int(raw[i])
		if size == 0 {
			end = i
			break
		}
		if i+1+size > len(raw) {
			return "", id, fmt.Errorf("group specifier: record at byte %d overruns the specifier", i)
		}
		if raw[i+1] == 0x7F && size == 2 && raw[i+2] == 0x02 {
			v2 = true
		}
		i += 1 + size
	}
	if end < 0 {
		return "", id, errors.New("group specifier: no 00 end-of-options marker")
	}
	txt = spec[:2+2*end]
	id = sha256.Sum256([]byte(txt))
	if v2 {
		id = sha256.Sum256(id[:])
	}
	return txt, id, nil
}
