package rtmfp

import "errors"

// ErrOrphanNextUserData means a Next User Data chunk has no User Data or Next User Data chunk
// before it in its packet (or only a malformed one), so its flow and sequence number are
// unknown.
var ErrOrphanNextUserData = errors.New("rtmfp: Next User Data chunk without a preceding User Data chunk")

// Packet size limits, in plaintext bytes from the flags byte to the end of the last chunk
// (before checksum or sequence number, padding and encryption).
const (
	// MaxPacketSize keeps session packets, once framed and encrypted, well below the 1280-byte
	// IPv6 minimum MTU (rtmfp-cpp uses the same figure).
	MaxPacketSize = 1200
	// MaxStartupPacketSize is rtmfp-cpp's limit for handshake packets, which may carry large
	// certificates (a group-16 DH key alone is 512 bytes).
	MaxStartupPacketSize = 4256
)

// PacketReader walks a decrypted packet: its header, then its chunks, resolving each Next User
// Data chunk (0x11) against the User Data or Next User Data chunk before it in the packet. It
// does not allocate.
//
//	r, err := rtmfp.NewPacketReader(plain)
//	if err != nil { drop the packet }
//	for r.Next() {
//		c := r.Chunk()
//		switch c.Type {
//		case rtmfp.ChunkUserData, rtmfp.ChunkNextUserData:
//			ud, err := r.UserData() // full flow ID, sequence number and FSN for both types
//			if err != nil { count and skip this chunk }
//		case rtmfp.ChunkAckRanges:
//			ack, err := rtmfp.ParseAckRanges(c.Payload, buf)
//		...
//		}
//	}
//	if r.Err() != nil { the tail of the packet was cut off }
//
// A malformed User Data or Next User Data chunk fails on its own and also ends the chain: a
// Next User Data chunk after it fails with ErrOrphanNextUserData, since its sequence number
// cannot be known. Other chunk types between them do not break the chain.
type PacketReader struct {
	hdr      Header
	it       ChunkIterator
	cur      Chunk
	ud       UserData
	udErr    error
	prev     UserData
	havePrev bool
}

// NewPacketReader parses the header of a decrypted packet (from the flags byte on; padding
// may follow the chunks) and returns a reader positioned before its first chunk.
func NewPacketReader(packet []byte) (PacketReader, error) {
	h, rest, err := ParseHeader(packet)
	if err != nil {
		return PacketReader{}, err
	}
	return PacketReader{hdr: h, it: NewChunkIterator(rest)}, nil
}

// Header returns the packet header.
func (r *PacketReader) Header() Header { return r.hdr }

// Next advances to the next chunk and reports whether there is one.
func (r *PacketReader) Next() bool {
	if !r.it.Next() {
		return false
	}
	r.cur = r.it.Chunk()
	r.ud, r.udErr = UserData{}, nil
	switch r.cur.Type {
	case ChunkUserData:
		r.ud, r.udErr = ParseUserData(r.cur.Payload)
	case ChunkNextUserData:
		var n NextUserData
		if n, r.udErr = ParseNextUserData(r.cur.Payload); r.udErr == nil {
			if r.havePrev {
				r.ud, r.udErr = n.Follow(r.prev)
			} else {
				r.udErr = ErrOrphanNextUserData
			}
		}
	default:
		return true
	}
	r.prev, r.havePrev = r.ud, r.udErr == nil
	return true
}

// Chunk returns the chunk Next stopped at.
func (r *PacketReader) Chunk() Chunk { return r.cur }

// UserData returns the decoded User Data of the current chunk when it is a User Data or Next
// User Data chunk, with FlowID, SequenceNumber and FSNOffset filled in for both. For other
// chunk types it returns the zero UserData and no error.
func (r *PacketReader) UserData() (UserData, error) { return r.ud, r.udErr }

// Err returns ErrChunkOverrun if the iteration ended at a chunk that overran the packet.
func (r *PacketReader) Err() error { return r.it.Err() }

// ChunkEncoder is implemented by every chunk type of this package (and by Chunk): Len is
// the encoded size, header included, and Append writes the whole chunk.
type ChunkEncoder interface {
	Len() int
	Append(b []byte) []byte
}

// PacketWriter assembles a packet (header, then chunks) within a size budget. Each Write
// method either writes its chunk whole or, when it does not fit, writes nothing and reports
// false, so a caller can fill a packet until a write fails and then start the next one.
//
// WriteUserData writes a Next User Data chunk (0x11) instead of a User Data chunk (0x10)
// whenever the chunk written just before was user data of the same flow with the previous
// sequence number and the same FSN, which saves the three VLUs.
//
// The writer does not pad: checksum, padding and encryption belong to package cryptoutil.
type PacketWriter struct {
	buf    []byte
	start  int
	limit  int
	chunks int

	lastFlow, lastSeq, lastFSN uint64
	lastUD                     bool
}

// NewPacketWriter appends h to b and returns a writer that appends chunks after it while the
// packet (header included, not counting the bytes b already held) stays within maxSize bytes.
// A maxSize of 0 or less means MaxPacketSize. Bytes already in b, e.g. room reserved for the
// session ID and checksum, are kept in front.
func NewPacketWriter(b []byte, h Header, maxSize int) PacketWriter {
	if maxSize <= 0 {
		maxSize = MaxPacketSize
	}
	start := len(b)
	return PacketWriter{buf: h.Append(b), start: start, limit: start + maxSize}
}

// Bytes returns the buffer passed to NewPacketWriter with the packet appended.
func (w *PacketWriter) Bytes() []byte { return w.buf }

// Packet returns only the packet: header and chunks.
func (w *PacketWriter) Packet() []byte { return w.buf[w.start:] }

// Len returns the size of the packet so far, header included.
func (w *PacketWriter) Len() int { return len(w.buf) - w.start }

// Remaining returns how many more bytes the packet may take.
func (w *PacketWriter) Remaining() int {
	if r := w.limit - len(w.buf); r > 0 {
		return r
	}
	return 0
}

// Chunks returns the number of chunks written.
func (w *PacketWriter) Chunks() int { return w.chunks }

// compactable reports whether c can be written as a Next User Data chunk right now.
func (w *PacketWriter) compactable(c UserData) bool {
	return w.lastUD && c.FlowID == w.lastFlow && w.lastSeq != ^uint64(0) &&
		c.SequenceNumber == w.lastSeq+1 && c.FSNOffset <= c.SequenceNumber && c.FSN() == w.lastFSN
}

// WriteUserData writes c as a User Data chunk, or as a Next User Data chunk when it continues
// the user data chunk written just before. It reports false and writes nothing if the chunk
// does not fit.
func (w *PacketWriter) WriteUserData(c UserData) bool {
	if w.compactable(c) {
		n := c.Next()
		if n.PayloadLen() > MaxChunkPayload || n.Len() > w.Remaining() {
			return false
		}
		w.buf = n.Append(w.buf)
	} else {
		if c.PayloadLen() > MaxChunkPayload || c.Len() > w.Remaining() {
			return false
		}
		w.buf = c.Append(w.buf)
	}
	w.chunks++
	w.lastFlow, w.lastSeq, w.lastFSN, w.lastUD = c.FlowID, c.SequenceNumber, c.FSN(), true
	return true
}

// UserDataRoom returns the largest len(c.Data) for which WriteUserData(c) would succeed now,
// or -1 if c does not fit even without data. A sender uses it to size the next fragment.
func (w *PacketWriter) UserDataRoom(c UserData) int {
	c.Data = nil
	var overhead int
	if w.compactable(c) {
		overhead = c.Next().Len()
	} else {
		overhead = c.Len()
	}
	room := w.Remaining() - overhead
	if max := MaxChunkPayload - (overhead - ChunkHeaderLen); room > max {
		room = max
	}
	if room < 0 {
		return -1
	}
	return room
}

// WriteAckRanges writes an Ack Ranges chunk with as many of c's ranges as fit (trailing ranges
// are left out). It returns the number of ranges written, or ok false if not even the chunk
// without ranges fits.
func (w *PacketWriter) WriteAckRanges(c AckRanges) (ranges int, ok bool) {
	w.buf, ranges, ok = AppendAckRanges(w.buf, c, w.Remaining())
	if ok {
		w.chunks++
		w.lastUD = false
	}
	return ranges, ok
}

// WriteChunk writes any chunk. A UserData goes through WriteUserData and an AckRanges through
// WriteAckRanges (so an ack that does not fit whole is truncated, not refused). Passing a
// value boxes it in the interface; the typed methods avoid that on hot paths.
func (w *PacketWriter) WriteChunk(c ChunkEncoder) bool {
	switch c := c.(type) {
	case UserData:
		return w.WriteUserData(c)
	case *UserData:
		return w.WriteUserData(*c)
	case AckRanges:
		_, ok := w.WriteAckRanges(c)
		return ok
	case *AckRanges:
		_, ok := w.WriteAckRanges(*c)
		return ok
	}
	if c.Len() > w.Remaining() || c.Len()-ChunkHeaderLen > MaxChunkPayload {
		return false
	}
	w.buf = c.Append(w.buf)
	w.chunks++
	w.lastUD = false
	return true
}

// WriteRaw writes a chunk of any type from its payload.
func (w *PacketWriter) WriteRaw(typ byte, payload []byte) bool {
	if len(payload) > MaxChunkPayload || ChunkHeaderLen+len(payload) > w.Remaining() {
		return false
	}
	w.buf = AppendChunkHeader(w.buf, typ, len(payload))
	w.buf = append(w.buf, payload...)
	w.chunks++
	w.lastUD = false
	return true
}
