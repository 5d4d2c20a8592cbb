package flash

// FLV audio SoundFormat values (high nibble of the first audio byte).
const (
	AudioCodecPCM        = 0
	AudioCodecADPCM      = 1
	AudioCodecMP3        = 2
	AudioCodecPCMLE      = 3
	AudioCodecNelly16k   = 4
	AudioCodecNelly8k    = 5
	AudioCodecNelly      = 6
	AudioCodecG711A      = 7
	AudioCodecG711U      = 8
	AudioCodecExHeader   = 9 // enhanced RTMP: packet type in the low nibble, FourCC follows
	AudioCodecAAC        = 10
	AudioCodecSpeex      = 11
	AudioCodecMP3At8k    = 14
	AudioCodecDeviceSpec = 15
)

// FLV video CodecID values (low nibble of the first video byte, legacy header).
const (
	VideoCodecH263       = 2
	VideoCodecScreen     = 3
	VideoCodecVP6        = 4
	VideoCodecVP6Alpha   = 5
	VideoCodecScreen2    = 6
	VideoCodecAVC        = 7
	VideoCodecHEVCLegacy = 12 // non-standard, widely used before enhanced RTMP
)

const (
	videoFrameTypeKey     = 1
	videoExHeaderBit      = 0x80
	videoPacketTypeSeqHdr = 0 // AVC/HEVC packet type, and enhanced PacketTypeSequenceStart
)

// Enhanced RTMP FourCC codes (big-endian, bytes 1–4 of an ex-header tag).
const (
	FourCCAVC  uint32 = 'a'<<24 | 'v'<<16 | 'c'<<8 | '1'
	FourCCHEVC uint32 = 'h'<<24 | 'v'<<16 | 'c'<<8 | '1'
	FourCCAV1  uint32 = 'a'<<24 | 'v'<<16 | '0'<<8 | '1'
	FourCCVP9  uint32 = 'v'<<24 | 'p'<<16 | '0'<<8 | '9'
	FourCCAAC  uint32 = 'm'<<24 | 'p'<<16 | '4'<<8 | 'a'
	FourCCOpus uint32 = 'O'<<24 | 'p'<<16 | 'u'<<8 | 's'
)

// Enhanced RTMP packet types (low nibble of the first byte of an ex-header tag).
const (
	PacketTypeSequenceStart = 0
	PacketTypeCodedFrames   = 1
	PacketTypeSequenceEnd   = 2
	PacketTypeCodedFramesX  = 3
	PacketTypeMetadata      = 4
	PacketTypeMPEG2TSSeqHdr = 5
	PacketTypeMultitrack    = 6
)

// Media tag bodies (message types 0x08 and 0x09) are FLV tag bodies:
//
//	audio legacy:   SoundFormat<<4 | rate<<2 | size<<1 | type  [| AACPacketType (AAC)]
//	audio enhanced: 9<<4 | AudioPacketType                     | FourCC u32 | …
//	video legacy:   FrameType<<4 | CodecID                     [| AVCPacketType (7, 12)]
//	video enhanced: 1 | FrameType(3 bits)<<4 | VideoPacketType | FourCC u32 | …

// AudioCodec returns the SoundFormat of an audio body, or -1 for an empty body.
func AudioCodec(audio []byte) int {
	if len(audio) == 0 {
		return -1
	}
	return int(audio[0] >> 4)
}

// IsAACSequenceHeader reports whether audio is an AAC sequence header
// (AudioSpecificConfig): SoundFormat 10, AACPacketType 0.
func IsAACSequenceHeader(audio []byte) bool {
	return len(audio) >= 2 && audio[0]>>4 == AudioCodecAAC && audio[1] == 0
}

// IsAudioSequenceHeader reports whether audio is a codec configuration record: an AAC
// sequence header, or an enhanced-RTMP audio tag with PacketTypeSequenceStart.
func IsAudioSequenceHeader(audio []byte) bool {
	if IsAACSequenceHeader(audio) {
		return true
	}
	return len(audio) >= 5 && audio[0]>>4 == AudioCodecExHeader && audio[0]&0x0F == PacketTypeSequenceStart
}

// IsExHeader reports whether a video body uses the enhanced-RTMP extended header.
func IsExHeader(video []byte) bool { return len(video) > 0 && video[0]&videoExHeaderBit != 0 }

// VideoCodec returns the legacy CodecID of a video body, or -1 for an empty or
// enhanced-RTMP body.
func VideoCodec(video []byte) int {
	if len(video) == 0 || IsExHeader(video) {
		return -1
	}
	return int(video[0] & 0x0F)
}

// VideoFourCC returns the FourCC of an enhanced-RTMP video body.
func VideoFourCC(video []byte) (uint32, bool) {
	if len(video) < 5 || !IsExHeader(video) {
		return 0, false
	}
	return uint32(video[1])<<24 | uint32(video[2])<<16 | uint32(video[3])<<8 | uint32(video[4]), true
}

// IsAVCSequenceHeader reports whether video is an H.264 sequence header
// (AVCDecoderConfigurationRecord): legacy CodecID 7, AVCPacketType 0.
func IsAVCSequenceHeader(video []byte) bool {
	return len(video) >= 2 && !IsExHeader(video) && video[0]&0x0F == VideoCodecAVC && video[1] == videoPacketTypeSeqHdr
}

// IsHEVCSequenceHeader reports whether video is an HEVC sequence header, legacy (CodecID
// 12, packet type 0) or enhanced (FourCC hvc1, PacketTypeSequenceStart).
func IsHEVCSequenceHeader(video []byte) bool {
	if IsExHeader(video) {
		fc, ok := VideoFourCC(video)
		return ok && fc == FourCCHEVC && video[0]&0x0F == PacketTypeSequenceStart
	}
	return len(video) >= 2 && video[0]&0x0F == VideoCodecHEVCLegacy && video[1] == videoPacketTypeSeqHdr
}

// IsVideoSequenceHeader reports whether video is a decoder configuration record that a
// server should cache for new subscribers: a legacy AVC or HEVC sequence header, or any
// enhanced-RTMP tag (hvc1, av01, vp09, avc1…) with PacketTypeSequenceStart.
func IsVideoSequenceHeader(video []byte) bool {
	if IsExHeader(video) {
		return len(video) >= 5 && video[0]&0x0F == PacketTypeSequenceStart
	}
	return IsAVCSequenceHeader(video) || IsHEVCSequenceHeader(video)
}

// IsKeyFrame reports whether video is a key frame: FrameType 1 in bits 4–7 (legacy) or in
// bits 4–6 (enhanced RTMP). Sequence headers carry key-frame type too.
func IsKeyFrame(video []byte) bool {
	if len(video) == 0 {
		return false
	}
	if IsExHeader(video) {
		return (video[0]>>4)&0x07 == videoFrameTypeKey
	}
	return video[0]>>4 == videoFrameTypeKey
}

// IsVideoSequenceEnd reports whether video is an end-of-sequence marker: AVCPacketType 2
// of a legacy AVC or HEVC tag, or an enhanced-RTMP tag with PacketTypeSequenceEnd. It
// carries no picture; a recording leaves it out (an appended file would have it inside).
func IsVideoSequenceEnd(video []byte) bool {
	if IsExHeader(video) {
		return len(video) >= 5 && video[0]&0x0F == PacketTypeSequenceEnd
	}
	return len(video) >= 2 && (video[0]&0x0F == VideoCodecAVC || video[0]&0x0F == VideoCodecHEVCLegacy) && video[1] == 2
}

// IsAudioSequenceEnd reports whether audio is an enhanced-RTMP audio tag with
// PacketTypeSequenceEnd.
func IsAudioSequenceEnd(audio []byte) bool {
	return len(audio) >= 5 && audio[0]>>4 == AudioCodecExHeader && audio[0]&0x0F == PacketTypeSequenceEnd
}
