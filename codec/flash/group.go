package flash

import (
	"crypto/sha256"
	"errors"

	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
)

// NetGroup message types on a GC flow. These messages have no TC header.
const (
	GroupMsgJoin   byte = 0x01 // client → server: join a group
	GroupMsgMember byte = 0x0B // server → client: a member's peer ID
)

// Group join ID forms (the byte after the join length).
const (
	GroupIDHashed byte = 0x15 // 32-byte group ID (SHA-256 of the specifier), as Flash sends
	GroupIDLegacy byte = 0x10 // the group ID is SHA-256 of the bytes that follow
)

// ErrGroup means a malformed NetGroup message.
var ErrGroup = errors.New("flash: malformed group message")

// GroupJoin is the first message of a client's GC flow:
//
//	01 | VLU n | form (1) | n−1 bytes
//	01 | 21    | 15       | 32-byte group ID        (what Flash sends)
//
// With form 0x10 the group ID is SHA-256 of the n−1 bytes; with any other form it is the
// first 32 of them (Cumulus and MonaServer read it so).
type GroupJoin struct {
	GroupID [32]byte
}

// ParseGroupJoin decodes a group join message. Bytes after the n announced ones are
// ignored.
func ParseGroupJoin(b []byte) (GroupJoin, error) {
	if len(b) < 1 || b[0] != GroupMsgJoin {
		return GroupJoin{}, ErrGroup
	}
	n, l, err := rtmfp.ReadVLU(b[1:])
	if err != nil || n < 1 || n > uint64(len(b)-1-l) {
		return GroupJoin{}, ErrGroup
	}
	body := b[1+l : 1+l+int(n)]
	var g GroupJoin
	switch {
	case body[0] == GroupIDLegacy:
		g.GroupID = sha256.Sum256(body[1:])
	case len(body)-1 >= len(g.GroupID):
		copy(g.GroupID[:], body[1:])
	default:
		return GroupJoin{}, ErrGroup
	}
	return g, nil
}

// Append appends the join message in the form Flash sends: 01 21 15 <group ID>.
func (g GroupJoin) Append(b []byte) []byte {
	b = append(b, GroupMsgJoin, 1+byte(len(g.GroupID)), GroupIDHashed)
	return append(b, g.GroupID[:]...)
}

// AppendGroupMember appends a member message: 0B <32-byte peer ID>.
func AppendGroupMember(b []byte, peerID [32]byte) []byte {
	return append(append(b, GroupMsgMember), peerID[:]...)
}

// ParseGroupMember decodes a member message (exactly 33 bytes).
func ParseGroupMember(b []byte) ([32]byte, error) {
	var id [32]byte
	if len(b) != 1+len(id) || b[0] != GroupMsgMember {
		return id, ErrGroup
	}
	copy(id[:], b[1:])
	return id, nil
}
