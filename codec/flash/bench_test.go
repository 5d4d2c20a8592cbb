package flash

import (
	"testing"

	"github.com/actorrtmfp/actorrtmfp/codec/amf"
)

// BenchmarkDecodeConnect parses Flash's connect message with a reused Decoder.
func BenchmarkDecodeConnect(b *testing.B) {
	in := unhex(b, msgFlashConnect)
	var dec amf.Decoder
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		m, err := ParseMessage(in)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ParseCommand(m, &dec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeResult writes connect's _result with a Connect.Success status object into
// a reused buffer (Status fast path).
func BenchmarkEncodeResult(b *testing.B) {
	st := ConnectSuccess(3)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendStatusResult(buf[:0], 1, st); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkEncodeResultObject writes the same reply from an *amf.Object through the
// generic AMF0 encoder.
func BenchmarkEncodeResultObject(b *testing.B) {
	obj := ConnectSuccess(3).Object()
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendResult(buf[:0], 1, obj); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}
