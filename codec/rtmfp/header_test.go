package rtmfp

import (
	"bytes"
	"errors"
	"testing"
)

func TestHeaderVariants(t *testing.T) {
	for _, tc := range []struct {
		hex      string
		want     Header
		restLen  int
		mode     byte
		ts, echo bool
	}{
		{"0b1e60", Header{Flags: 0x0B, Timestamp: 0x1E60}, 0, ModeStartup, true, false},
		{"0d1e766455aa", Header{Flags: 0x0D, Timestamp: 0x1E76, TimestampEcho: 0x6455}, 1, ModeInitiator, true, true},
		{"01ec", Header{Flags: 0x01}, 1, ModeInitiator, false, false},
		{"81", Header{Flags: 0x81}, 0, ModeInitiator, false, false},
		{"82", Header{Flags: 0x82}, 0, ModeResponder, false, false},
		{"0503ea", Header{Flags: 0x05, TimestampEcho: 1002}, 0, ModeInitiator, false, true},
		{"4e56f37807", Header{Flags: 0x4E, Timestamp: 0x56F3, TimestampEcho: 0x7807}, 0, ModeResponder, true, true},
		{"3b0001", Header{Flags: 0x3B, Timestamp: 1}, 0, ModeStartup, true, false}, // reserved bits kept
	} {
		b := mustHex(t, tc.hex)
		h, rest, err := ParseHeader(b)
		if err != nil {
			t.Fatalf("%s: %v", tc.hex, err)
		}
		if h != tc.want || len(rest) != tc.restLen || h.Mode() != tc.mode || h.HasTimestamp() != tc.ts || h.HasEcho() != tc.echo {
			t.Fatalf("%s: %+v rest %d", tc.hex, h, len(rest))
		}
		if enc := h.Append(nil); !bytes.Equal(enc, b[:len(b)-tc.restLen]) || h.Len() != len(enc) {
			t.Fatalf("%s: re-encoded %x (Len %d)", tc.hex, enc, h.Len())
		}
	}
}

func TestHeaderErrors(t *testing.T) {
	for _, tc := range []struct {
		hex string
		err error
	}{
		{"", ErrShort},
		{"00", ErrBadMode},
		{"0c1234", ErrBadMode},
		{"0b12", ErrShort},
		{"0d123456", ErrShort},
		{"05", ErrShort},
	} {
		if _, _, err := ParseHeader(mustHex(t, tc.hex)); !errors.Is(err, tc.err) {
			t.Errorf("%q: %v, want %v", tc.hex, err, tc.err)
		}
	}
}

func TestHeaderBuilders(t *testing.T) {
	h := Header{Flags: FlagTCR | ModeResponder}.WithTimestamp(0x1234).WithEcho(0xBEEF)
	if got := h.Append(nil); !bytes.Equal(got, mustHex(t, "4e1234beef")) {
		t.Fatalf("%x", got)
	}
	// A flag that is clear hides its field even if the value is set.
	h = Header{Flags: ModeInitiator, Timestamp: 7, TimestampEcho: 9}
	if got := h.Append(nil); !bytes.Equal(got, []byte{0x01}) || h.Len() != 1 {
		t.Fatalf("%x", got)
	}
}

func TestChunkIterator(t *testing.T) {
	// ECN report, ack, unknown type 0x99 with a 2-byte payload, an empty chunk, padding.
	b := mustHex(t, "ec000100 510004 01ff7f01 990002abcd 4c0000 ffffffff")
	it := NewChunkIterator(b)
	var got []Chunk
	for it.Next() {
		got = append(got, it.Chunk())
	}
	if it.Err() != nil || len(got) != 4 {
		t.Fatalf("%d chunks, err %v", len(got), it.Err())
	}
	if got[2].Type != 0x99 || !bytes.Equal(got[2].Payload, []byte{0xAB, 0xCD}) || got[3].Type != ChunkCloseAck || len(got[3].Payload) != 0 {
		t.Fatalf("%+v", got)
	}
	if len(it.Rest()) != 4 {
		t.Fatalf("rest %x", it.Rest())
	}
	var re []byte
	for _, c := range got {
		re = c.Append(re)
	}
	if !bytes.Equal(re, b[:len(b)-4]) {
		t.Fatalf("re-encoded %x", re)
	}

	// Fewer than 3 bytes left: stop without error.
	it = NewChunkIterator(mustHex(t, "4c0000 01 00"))
	n := 0
	for it.Next() {
		n++
	}
	if n != 1 || it.Err() != nil {
		t.Fatalf("%d %v", n, it.Err())
	}

	// A length that overruns the buffer is an error; earlier chunks stay valid.
	it = NewChunkIterator(mustHex(t, "4c0000 100010 0102"))
	n = 0
	for it.Next() {
		n++
	}
	if n != 1 || !errors.Is(it.Err(), ErrChunkOverrun) || it.Next() {
		t.Fatalf("%d %v", n, it.Err())
	}

	// Padding first: nothing.
	it = NewChunkIterator(mustHex(t, "ff0000"))
	if it.Next() || it.Err() != nil {
		t.Fatal("padding read as a chunk")
	}
}

func TestAppendChunkHeaderPanicsOnOverlong(t *testing.T) {
	if got := AppendChunkHeader(nil, 0x10, MaxChunkPayload); !bytes.Equal(got, []byte{0x10, 0xFF, 0xFF}) {
		t.Fatalf("%x", got)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	AppendChunkHeader(nil, 0x10, MaxChunkPayload+1)
}
