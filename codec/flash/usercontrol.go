package flash

import (
	"encoding/binary"
	"fmt"
)

// User control event types (message type 0x04).
const (
	EventStreamBegin     uint16 = 0x0000 // u32 stream ID
	EventStreamEOF       uint16 = 0x0001 // u32 stream ID
	EventStreamDry       uint16 = 0x0002 // u32 stream ID
	EventSetBufferLength uint16 = 0x0003 // u32 stream ID, u32 buffer length in ms
	EventStreamIsRecord  uint16 = 0x0004 // u32 stream ID
	EventPingRequest     uint16 = 0x0006 // u32 time
	EventPingResponse    uint16 = 0x0007 // u32 time
	EventFlowSync        uint16 = 0x0022 // u32 sync ID, u32 flow count (RFC 7425)
	EventSetKeepalive    uint16 = 0x0029 // u32 server keepalive ms, u32 peer keepalive ms
)

// UserControl is a user control event:
//
//	04 | timestamp u32 | event type u16 | event data
type UserControl struct {
	Event uint16
	Data  []byte
}

// ParseUserControl decodes a type 0x04 message. Data is a slice of the message body.
func ParseUserControl(m Message) (UserControl, error) {
	if m.Type != TypeUserControl {
		return UserControl{}, fmt.Errorf("%w 0x%02x for a user control event", ErrType, m.Type)
	}
	if len(m.Body) < 2 {
		return UserControl{}, ErrShort
	}
	return UserControl{Event: binary.BigEndian.Uint16(m.Body), Data: m.Body[2:]}, nil
}

// Append appends the event as a whole message with timestamp 0.
func (u UserControl) Append(b []byte) []byte {
	b = AppendMessageHeader(b, TypeUserControl, 0)
	b = binary.BigEndian.AppendUint16(b, u.Event)
	return append(b, u.Data...)
}

func userControl1(event uint16, a uint32) UserControl {
	return UserControl{Event: event, Data: binary.BigEndian.AppendUint32(make([]byte, 0, 4), a)}
}

func userControl2(event uint16, a, b uint32) UserControl {
	d := binary.BigEndian.AppendUint32(make([]byte, 0, 8), a)
	return UserControl{Event: event, Data: binary.BigEndian.AppendUint32(d, b)}
}

// StreamBegin says playback of a stream starts or resumes.
func StreamBegin(streamID uint32) UserControl { return userControl1(EventStreamBegin, streamID) }

// StreamEOF says playback of a stream ended.
func StreamEOF(streamID uint32) UserControl { return userControl1(EventStreamEOF, streamID) }

// StreamDry says a stream has no more data for now.
func StreamDry(streamID uint32) UserControl { return userControl1(EventStreamDry, streamID) }

// StreamIsRecorded says a stream is a recording.
func StreamIsRecorded(streamID uint32) UserControl {
	return userControl1(EventStreamIsRecord, streamID)
}

// SetBufferLength is the client's buffer time for a stream.
func SetBufferLength(streamID, ms uint32) UserControl {
	return userControl2(EventSetBufferLength, streamID, ms)
}

// PingRequest asks the peer to echo t.
func PingRequest(t uint32) UserControl { return userControl1(EventPingRequest, t) }

// PingResponse echoes a PingRequest's t.
func PingResponse(t uint32) UserControl { return userControl1(EventPingResponse, t) }

// FlowSync is the barrier across the flows of a NetStream: hold this flow until syncID has
// arrived on count flows.
func FlowSync(syncID, count uint32) UserControl { return userControl2(EventFlowSync, syncID, count) }

// SetKeepalive tells the client its keepalive periods towards the server and towards peers,
// in milliseconds (the answer to setPeerInfo).
func SetKeepalive(serverMs, peerMs uint32) UserControl {
	return userControl2(EventSetKeepalive, serverMs, peerMs)
}

// u32s returns the first one or two u32 of the event data.
func (u UserControl) u32s(n int) (a, b uint32, ok bool) {
	if len(u.Data) < 4*n {
		return 0, 0, false
	}
	a = binary.BigEndian.Uint32(u.Data)
	if n == 2 {
		b = binary.BigEndian.Uint32(u.Data[4:])
	}
	return a, b, true
}

// StreamID returns the stream ID of StreamBegin, StreamEOF, StreamDry, StreamIsRecorded and
// SetBufferLength events.
func (u UserControl) StreamID() (uint32, bool) {
	switch u.Event {
	case EventStreamBegin, EventStreamEOF, EventStreamDry, EventStreamIsRecord, EventSetBufferLength:
		id, _, ok := u.u32s(1)
		return id, ok
	}
	return 0, false
}

// BufferLength returns the fields of a SetBufferLength event.
func (u UserControl) BufferLength() (streamID, ms uint32, ok bool) {
	if u.Event != EventSetBufferLength {
		return 0, 0, false
	}
	return u.u32s(2)
}

// PingTime returns the time of a PingRequest or PingResponse event.
func (u UserControl) PingTime() (uint32, bool) {
	if u.Event != EventPingRequest && u.Event != EventPingResponse {
		return 0, false
	}
	t, _, ok := u.u32s(1)
	return t, ok
}

// FlowSyncFields returns the fields of a FlowSync event.
func (u UserControl) FlowSyncFields() (syncID, count uint32, ok bool) {
	if u.Event != EventFlowSync {
		return 0, 0, false
	}
	return u.u32s(2)
}

// Keepalive returns the fields of a SetKeepalive event.
func (u UserControl) Keepalive() (serverMs, peerMs uint32, ok bool) {
	if u.Event != EventSetKeepalive {
		return 0, 0, false
	}
	return u.u32s(2)
}
