package rtmfp

import (
	"bytes"
	"errors"
	"testing"
)

func TestPacketReaderNextUserData(t *testing.T) {
	// 0x11 first (orphan), 0x10 flow 5 seq 9 offset 2, an ack in between, 0x11, 0x11,
	// a malformed 0x10 (offset > seq), 0x11 (orphan again), padding.
	p := mustHex(t, "01"+
		"110002 0001"+
		"100005 00050902 aa"+
		"510004 01 7f 01 01"+
		"110002 10bb"+
		"110002 20cc"+
		"100004 00050103"+
		"110002 00dd"+
		"ffff")
	r, err := NewPacketReader(p)
	if err != nil {
		t.Fatal(err)
	}
	type res struct {
		typ      byte
		seq, fsn uint64
		err      error
	}
	var got []res
	for r.Next() {
		u, err := r.UserData()
		got = append(got, res{r.Chunk().Type, u.SequenceNumber, u.FSN(), err})
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	want := []res{
		{0x11, 0, 0, ErrOrphanNextUserData},
		{0x10, 9, 7, nil},
		{0x51, 0, 0, nil},
		{0x11, 10, 7, nil},
		{0x11, 11, 7, nil},
		{0x10, 0, 0, ErrFSNOffset},
		{0x11, 0, 0, ErrOrphanNextUserData},
	}
	if len(got) != len(want) {
		t.Fatalf("%+v", got)
	}
	for i := range want {
		if got[i].typ != want[i].typ || got[i].seq != want[i].seq || got[i].fsn != want[i].fsn || !errors.Is(got[i].err, want[i].err) {
			t.Errorf("chunk %d: %+v, want %+v", i, got[i], want[i])
		}
	}

	// Header errors and overruns.
	if _, err := NewPacketReader(nil); !errors.Is(err, ErrShort) {
		t.Fatal(err)
	}
	r, _ = NewPacketReader(mustHex(t, "0d 0000 0000 4c0000 10ffff"))
	n := 0
	for r.Next() {
		n++
	}
	if n != 1 || !errors.Is(r.Err(), ErrChunkOverrun) {
		t.Fatalf("%d %v", n, r.Err())
	}
	if n := testing.AllocsPerRun(100, func() {
		r, _ := NewPacketReader(p)
		for r.Next() {
			_, _ = r.UserData()
		}
	}); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

func TestPacketWriterReproducesCaptures(t *testing.T) {
	// Flash packet 7: 0d 1e76 6455 | 51 0004 01 ff7f 01.
	w := NewPacketWriter(nil, Header{Flags: ModeInitiator}.WithTimestamp(0x1E76).WithEcho(0x6455), 0)
	if _, ok := w.WriteAckRanges(AckRanges{FlowID: 1, BufferBlocks: 16383, CumulativeAck: 1}); !ok {
		t.Fatal("no room")
	}
	if !bytes.Equal(w.Packet(), mustHex(t, "0d1e766455 510004 01ff7f01")) {
		t.Fatalf("%x", w.Packet())
	}
	// rtmfp-cpp g14-06: 0e 03ea 0000 | ec 0001 00 | 51 0003 02 40 01.
	w = NewPacketWriter(nil, Header{Flags: ModeResponder}.WithTimestamp(1002).WithEcho(0), 0)
	if !w.WriteChunk(ECNReport{}) || !w.WriteChunk(AckRanges{FlowID: 2, BufferBlocks: 64, CumulativeAck: 1}) {
		t.Fatal("no room")
	}
	if !bytes.Equal(w.Packet(), mustHex(t, "0e03ea0000ec000100510003024001")) || w.Chunks() != 2 {
		t.Fatalf("%x", w.Packet())
	}
}

func TestPacketWriterBudget(t *testing.T) {
	prefix := []byte{1, 2, 3, 4, 5, 6} // e.g. room for SSID and checksum
	w := NewPacketWriter(prefix, Header{Flags: 0x89, Timestamp: 5}, 100)
	if w.Len() != 3 || w.Remaining() != 97 || !bytes.Equal(w.Bytes()[:6], prefix) {
		t.Fatalf("len %d remaining %d", w.Len(), w.Remaining())
	}
	u := UserData{Flags: FragmentFirst, FlowID: 3, SequenceNumber: 1, FSNOffset: 1}
	room := w.UserDataRoom(u)
	if room != 97-3-4 {
		t.Fatalf("room %d", room)
	}
	u.Data = make([]byte, room+1)
	if w.WriteUserData(u) || w.Len() != 3 {
		t.Fatal("overlong chunk written")
	}
	u.Data = u.Data[:room-10]
	if !w.WriteUserData(u) {
		t.Fatal("chunk that fits refused")
	}
	// The next fragment continues the flow: 0x11, overhead 4 bytes only.
	next := UserData{Flags: FragmentLast, FlowID: 3, SequenceNumber: 2, FSNOffset: 2}
	if r := w.UserDataRoom(next); r != 10-4 {
		t.Fatalf("room for 0x11: %d", r)
	}
	next.Data = make([]byte, 6)
	if !w.WriteUserData(next) || w.Remaining() != 0 || w.Len() != 100 {
		t.Fatalf("remaining %d len %d", w.Remaining(), w.Len())
	}
	if w.UserDataRoom(next) != -1 || w.WriteRaw(ChunkPing, nil) || w.WriteChunk(Close{}) {
		t.Fatal("write into a full packet")
	}
	if _, ok := w.WriteAckRanges(AckRanges{}); ok {
		t.Fatal("ack into a full packet")
	}
	r, err := NewPacketReader(w.Packet())
	if err != nil {
		t.Fatal(err)
	}
	var types []byte
	for r.Next() {
		u, err := r.UserData()
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, r.Chunk().Type)
		if u.FlowID != 3 {
			t.Fatalf("%+v", u)
		}
	}
	if !bytes.Equal(types, []byte{0x10, 0x11}) {
		t.Fatalf("types %x", types)
	}
}

func TestPacketWriterCompaction(t *testing.T) {
	w := NewPacketWriter(nil, Header{Flags: 0x01}, 0)
	a := UserData{FlowID: 2, SequenceNumber: 5, FSNOffset: 1, Data: []byte{1}}
	b := UserData{FlowID: 2, SequenceNumber: 6, FSNOffset: 2, Data: []byte{2}}         // continues a
	c := UserData{FlowID: 2, SequenceNumber: 7, FSNOffset: 1, Data: []byte{3}}         // FSN moved: 0x10
	d := UserData{FlowID: 3, SequenceNumber: 8, FSNOffset: 1, Data: []byte{4}}         // other flow: 0x10
	e := UserData{FlowID: 3, SequenceNumber: 9, FSNOffset: 2, Data: []byte{5}}         // after a ping: 0x10
	f := UserData{FlowID: 3, SequenceNumber: 10, FSNOffset: 3, Flags: UserDataOptions} // options are fine in 0x11
	for _, x := range []ChunkEncoder{a, &b, c, d, Ping{}, e, f} {
		if !w.WriteChunk(x) {
			t.Fatal("no room")
		}
	}
	r, _ := NewPacketReader(w.Packet())
	var types []byte
	var seqs []uint64
	for r.Next() {
		types = append(types, r.Chunk().Type)
		if u, err := r.UserData(); err == nil && u.FlowID != 0 {
			seqs = append(seqs, u.SequenceNumber)
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(types, []byte{0x10, 0x11, 0x10, 0x10, 0x01, 0x10, 0x11}) || len(seqs) != 6 || seqs[5] != 10 {
		t.Fatalf("types %x seqs %v", types, seqs)
	}
	if !w.WriteRaw(0x99, []byte{1, 2}) || w.Chunks() != 8 {
		t.Fatal("raw")
	}
}
