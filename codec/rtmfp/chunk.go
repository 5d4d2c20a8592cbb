package rtmfp

import (
	"encoding/binary"
	"errors"
)

// ErrChunkOverrun means a chunk's length field runs past the end of the packet.
var ErrChunkOverrun = errors.New("rtmfp: chunk length overruns packet")

// Chunk types (RFC 7016 §2.3 and the 0xEC extension of rtmfp-cpp).
const (
	ChunkPacketFragment = 0x7F // Packet Fragment (nobody implements it)
	ChunkIHello         = 0x30 // Initiator Hello
	ChunkFIHello        = 0x0F // Forwarded Initiator Hello
	ChunkRHello         = 0x70 // Responder Hello
	ChunkRedirect       = 0x71 // Responder Redirect
	ChunkCookieChange   = 0x79 // RHello Cookie Change
	ChunkIIKeying       = 0x38 // Initiator Initial Keying
	ChunkRIKeying       = 0x78 // Responder Initial Keying
	ChunkPing           = 0x01 // Ping
	ChunkPingReply      = 0x41 // Ping Reply
	ChunkUserData       = 0x10 // User Data
	ChunkNextUserData   = 0x11 // Next User Data
	ChunkAckBitmap      = 0x50 // Data Acknowledgement Bitmap
	ChunkAckRanges      = 0x51 // Data Acknowledgement Ranges
	ChunkBufferProbe    = 0x18 // Buffer Probe
	ChunkFlowException  = 0x5E // Flow Exception Report
	ChunkClose          = 0x0C // Session Close Request
	ChunkCloseAck       = 0x4C // Session Close Acknowledgement
	ChunkECNReport      = 0xEC // ECN report (rtmfp-cpp extension)
	ChunkPadding        = 0xFF // not a chunk: the padding after the last chunk
)

const (
	// ChunkHeaderLen is the size of a chunk's type and length fields.
	ChunkHeaderLen = 3
	// MaxChunkPayload is the largest payload a chunk's 16-bit length can describe.
	MaxChunkPayload = 0xFFFF
)

// Chunk is one undecoded chunk of a packet:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  chunk type   |      payload length (u16)     |   payload ... |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Payload refers into the packet it was read from. Each chunk type has a decoder
// (ParseIHello, ParseUserData, ...) that takes the payload.
type Chunk struct {
	Type    byte
	Payload []byte
}

// Len returns the encoded size of the chunk, header included.
func (c Chunk) Len() int { return ChunkHeaderLen + len(c.Payload) }

// Append appends the chunk to b. The payload must be at most MaxChunkPayload bytes.
func (c Chunk) Append(b []byte) []byte {
	b = AppendChunkHeader(b, c.Type, len(c.Payload))
	return append(b, c.Payload...)
}

// AppendChunkHeader appends a chunk's type and payload length to b. payloadLen must be in
// [0, MaxChunkPayload]; a longer payload cannot be framed and is a programming error, so
// AppendChunkHeader panics rather than write a length that disagrees with the payload.
func AppendChunkHeader(b []byte, typ byte, payloadLen int) []byte {
	if payloadLen < 0 || payloadLen > MaxChunkPayload {
		panic("rtmfp: chunk payload length out of range")
	}
	return append(b, typ, byte(payloadLen>>8), byte(payloadLen))
}

// ChunkIterator walks the chunks of a packet without allocating:
//
//	it := rtmfp.NewChunkIterator(rest) // rest as returned by ParseHeader
//	for it.Next() {
//		c := it.Chunk()
//		switch c.Type { ... default: /* unknown type: skip */ }
//	}
//	if err := it.Err(); err != nil { ... }
//
// Iteration ends when fewer than ChunkHeaderLen bytes remain or at a chunk type of 0xFF,
// which marks the start of the padding. A chunk whose length runs past the end of the buffer
// ends the iteration with ErrChunkOverrun; the chunks before it remain valid. Unknown chunk
// types are returned like any other.
type ChunkIterator struct {
	b   []byte
	cur Chunk
	err error
}

// NewChunkIterator returns an iterator over the chunks in b, the part of a decrypted packet
// after its header.
func NewChunkIterator(afterHeader []byte) ChunkIterator { return ChunkIterator{b: afterHeader} }

// Next advances to the next chunk and reports whether there is one.
func (it *ChunkIterator) Next() bool {
	if it.err != nil || len(it.b) < ChunkHeaderLen || it.b[0] == ChunkPadding {
		return false
	}
	n := int(binary.BigEndian.Uint16(it.b[1:3]))
	if n > len(it.b)-ChunkHeaderLen {
		it.err = ErrChunkOverrun
		return false
	}
	end := ChunkHeaderLen + n
	it.cur = Chunk{Type: it.b[0], Payload: it.b[ChunkHeaderLen:end:end]}
	it.b = it.b[end:]
	return true
}

// Chunk returns the chunk Next stopped at.
func (it *ChunkIterator) Chunk() Chunk { return it.cur }

// Err returns ErrChunkOverrun if the iteration ended at a chunk that overran the buffer.
func (it *ChunkIterator) Err() error { return it.err }

// Rest returns the bytes not yet consumed: the padding once Next has returned false without
// an error.
func (it *ChunkIterator) Rest() []byte { return it.b }
