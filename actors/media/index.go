package media

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/codec/flv"
)

// ErrMalformed means a file that is not a valid FLV file: a bad signature, an unknown or
// encrypted tag, a PreviousTagSize that does not match its tag. A file that merely ends in
// the middle of a tag (a recording cut short) is not malformed: it is read up to its last
// whole tag.
var ErrMalformed = errors.New("not a valid FLV file")

// index is what a scan of a file learns: where its tags are, where to start a play or a
// seek, and what a player sends first. It holds one entry per key frame, not per tag.
type index struct {
	first int64  // offset of the first tag
	start uint32 // its timestamp
	end   int64  // end of the last whole tag (after its PreviousTagSize)
	last  uint32
	tags  int
	// seeks are where a play may start: video key frames, or, in a file without video,
	// the first audio tag of each second; in file order.
	seeks   []seekPoint
	configs []tagRef // audio and video sequence headers, in file order
	meta    tagRef   // the first script tag (off < 0: none)
	// lastEnd is the last tag when it is an end of sequence (off < 0: it is not); an
	// append drops it, so that the file has none in its middle.
	lastEnd tagRef
	torn    bool // the file ends inside a tag
}

type seekPoint struct {
	ts  uint32
	off int64
}

type tagRef struct {
	off int64
	typ byte
	ts  uint32
}

// peekLen is how much of a tag's body a scan looks at to classify it.
const peekLen = 8

// scanFile reads the tag headers of an FLV file of size bytes (and the first bytes of
// each tag's body), skipping over bodies.
func scanFile(f io.ReaderAt, size int64) (*index, error) {
	var start [flv.StartLen]byte
	if _, err := f.ReadAt(start[:], 0); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, flv.ErrShort)
	}
	h, err := flv.ParseHeader(start[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	ix := &index{first: int64(h.DataOffset) + flv.PrevSizeLen, meta: tagRef{off: -1}, lastEnd: tagRef{off: -1}}
	ix.end = ix.first
	if ix.first > size {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, flv.ErrShort)
	}
	r := bufio.NewReaderSize(io.NewSectionReader(f, ix.first, size-ix.first), 64<<10)
	var hdr [flv.TagHeaderLen]byte
	var prev [flv.PrevSizeLen]byte
	var audioSeeks []seekPoint
	nextAudioSecond := uint32(0)
	for off := ix.first; ; {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			ix.torn = err == io.ErrUnexpectedEOF
			break
		}
		th, err := flv.ParseTagHeader(hdr[:])
		if err != nil {
			return nil, fmt.Errorf("%w: tag at byte %d: %w", ErrMalformed, off, err)
		}
		var peeked [peekLen]byte
		p, _ := r.Peek(min(int(th.DataSize), peekLen))
		body := peeked[:copy(peeked[:], p)]
		if n, err := r.Discard(int(th.DataSize)); n < int(th.DataSize) || err != nil {
			ix.torn = true
			break
		}
		if _, err := io.ReadFull(r, prev[:]); err != nil {
			ix.torn = true
			break
		}
		if err := flv.CheckPrevSize(th, prev[:]); err != nil {
			return nil, fmt.Errorf("%w: tag at byte %d: %w", ErrMalformed, off, err)
		}
		if ix.tags == 0 {
			ix.start = th.Timestamp
		}
		ref := tagRef{off: off, typ: th.Type, ts: th.Timestamp}
		ix.lastEnd = tagRef{off: -1}
		switch th.Type {
		case flv.TagVideo:
			switch {
			case flash.IsVideoSequenceHeader(body):
				ix.configs = append(ix.configs, ref)
			case flash.IsVideoSequenceEnd(body):
				ix.lastEnd = ref
			case flash.IsKeyFrame(body):
				ix.seeks = append(ix.seeks, seekPoint{ts: th.Timestamp, off: off})
			}
		case flv.TagAudio:
			switch {
			case flash.IsAudioSequenceHeader(body):
				ix.configs = append(ix.configs, ref)
			case flash.IsAudioSequenceEnd(body):
				ix.lastEnd = ref
			case th.Timestamp >= nextAudioSecond:
				audioSeeks = append(audioSeeks, seekPoint{ts: th.Timestamp, off: off})
				nextAudioSecond = th.Timestamp/1000*1000 + 1000
			}
		case flv.TagScript:
			if ix.meta.off < 0 {
				ix.meta = ref
			}
		}
		ix.last = max(ix.last, th.Timestamp)
		ix.tags++
		off += th.Size()
		ix.end = off
	}
	if len(ix.seeks) == 0 {
		ix.seeks = audioSeeks
	}
	return ix, nil
}

// seek returns the last seek point at or before ms (the first one if ms is before it),
// and false if the file has none.
func (ix *index) seek(ms uint32) (seekPoint, bool) {
	if len(ix.seeks) == 0 {
		return seekPoint{}, false
	}
	i := sort.Search(len(ix.seeks), func(i int) bool { return ix.seeks[i].ts > ms })
	return ix.seeks[max(i-1, 0)], true
}

// configsBefore returns the last audio and last video sequence header before off (off < 0
// for none), the configuration in force where a play starts.
func (ix *index) configsBefore(off int64) (audio, video tagRef) {
	audio, video = tagRef{off: -1}, tagRef{off: -1}
	for _, c := range ix.configs {
		if c.off >= off {
			break
		}
		if c.typ == flv.TagAudio {
			audio = c
		} else {
			video = c
		}
	}
	return audio, video
}

// readTag reads the whole tag at off (its body in a new slice).
func readTag(f io.ReaderAt, off int64) (flv.Tag, error) {
	var hdr [flv.TagHeaderLen]byte
	if _, err := f.ReadAt(hdr[:], off); err != nil {
		return flv.Tag{}, err
	}
	th, err := flv.ParseTagHeader(hdr[:])
	if err != nil {
		return flv.Tag{}, err
	}
	body := make([]byte, th.DataSize)
	if _, err := f.ReadAt(body, off+flv.TagHeaderLen); err != nil {
		return flv.Tag{}, err
	}
	return flv.Tag{Type: th.Type, Timestamp: th.Timestamp, Body: body}, nil
}
