package main

import (
	"encoding/binary"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// The synthetic A/V stream: AAC audio frames every 20 ms (50/s) and AVC video frames
// every 40 ms (25 fps) with a key frame every 50 frames (2 s); 10 % of the bitrate is
// audio (at most 128 kbit/s), a key frame is five inter frames. Every frame carries its
// sequence number (per kind) and the time it was sent, on the process's clock:
//
//	audio: AF 01 | seq u32 | sent ns u64 | filler
//	video: 17/27 01 00 00 00 | seq u32 | sent ns u64 | filler
const (
	audioPeriod  = 20 * time.Millisecond
	videoPeriod  = 40 * time.Millisecond
	gopFrames    = 50
	keyFactor    = 5
	audioHdr     = 2
	videoHdr     = 5
	stampBytes   = 12 // seq + send time
	minAudioSize = audioHdr + stampBytes
	minVideoSize = videoHdr + stampBytes
)

// avStream generates the frames of one publisher in place (one buffer per kind, reused:
// the client copies a message when it is written).
type avStream struct {
	audio, inter, key []byte
}

// newAVStream sizes the frames for bitrate bits/s.
func newAVStream(bitrate int64) *avStream {
	audioBits := min(bitrate/10, 128000)
	audioSize := max(int(audioBits/8/50), minAudioSize)
	videoBytesPerGOP := float64(bitrate-audioBits) / 8 * 2 // 2 s of video
	inter := max(int(videoBytesPerGOP/float64(gopFrames-1+keyFactor)), minVideoSize)
	s := &avStream{audio: make([]byte, audioSize), inter: make([]byte, inter), key: make([]byte, inter*keyFactor)}
	s.audio[0], s.audio[1] = 0xAF, 0x01
	s.inter[0], s.inter[1] = 0x27, 0x01
	s.key[0], s.key[1] = 0x17, 0x01
	for _, b := range [][]byte{s.audio, s.inter, s.key} {
		for i := minVideoSize; i < len(b); i++ {
			b[i] = byte(i * 31)
		}
	}
	return s
}

// headers are what a publisher sends first: onMetaData and the codec configurations.
func (s *avStream) headers() []client.Media {
	meta, _ := flash.AppendData(nil, flash.Data{Values: []any{"@setDataFrame", "onMetaData",
		amf.NewObject(amf.Property{Key: "width", Value: 640.0}, amf.Property{Key: "height", Value: 360.0},
			amf.Property{Key: "framerate", Value: 25.0}, amf.Property{Key: "audiosamplerate", Value: 48000.0})}})
	msg, _ := flash.ParseMessage(meta)
	return []client.Media{
		{Type: flash.TypeDataAMF0, Data: append([]byte(nil), msg.Body...)},
		{Type: flash.TypeAudio, Data: []byte{0xAF, 0x00, 0x11, 0x90}},                                           // AAC sequence header
		{Type: flash.TypeVideo, Data: []byte{0x17, 0x00, 0, 0, 0, 1, 0x64, 0, 0x1F, 0xFF, 0xE1, 0, 0, 1, 0, 0}}, // AVC sequence header
	}
}

// audioFrame stamps audio frame seq, sent at sent, and returns it.
func (s *avStream) audioFrame(seq uint32, sent time.Duration) client.Media {
	binary.BigEndian.PutUint32(s.audio[audioHdr:], seq)
	binary.BigEndian.PutUint64(s.audio[audioHdr+4:], uint64(sent))
	return client.Media{Type: flash.TypeAudio, Timestamp: uint32(time.Duration(seq) * audioPeriod / time.Millisecond), Data: s.audio}
}

// videoFrame stamps video frame seq (a key frame every gopFrames) and returns it.
func (s *avStream) videoFrame(seq uint32, sent time.Duration) client.Media {
	b := s.inter
	if seq%gopFrames == 0 {
		b = s.key
	}
	binary.BigEndian.PutUint32(b[videoHdr:], seq)
	binary.BigEndian.PutUint64(b[videoHdr+4:], uint64(sent))
	return client.Media{Type: flash.TypeVideo, Timestamp: uint32(time.Duration(seq) * videoPeriod / time.Millisecond), Data: b}
}

// parseFrame reads the sequence number and send time of a received frame; ok is false
// for configurations, metadata and foreign frames.
func parseFrame(m client.Media) (video bool, seq uint32, sent time.Duration, ok bool) {
	switch m.Type {
	case flash.TypeAudio:
		if len(m.Data) < minAudioSize || m.Data[1] != 0x01 {
			return false, 0, 0, false
		}
		d := m.Data[audioHdr:]
		return false, binary.BigEndian.Uint32(d), time.Duration(binary.BigEndian.Uint64(d[4:])), true
	case flash.TypeVideo:
		if len(m.Data) < minVideoSize || m.Data[1] != 0x01 {
			return false, 0, 0, false
		}
		d := m.Data[videoHdr:]
		return true, binary.BigEndian.Uint32(d), time.Duration(binary.BigEndian.Uint64(d[4:])), true
	}
	return false, 0, 0, false
}
