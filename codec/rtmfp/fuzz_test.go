package rtmfp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// capturePackets returns the plaintext packets of both captures.
func capturePackets(tb testing.TB) [][]byte {
	var out [][]byte
	for _, dir := range []string{"flash-session", "rfc7425-session"} {
		ents, err := os.ReadDir(filepath.Join(testdataDir, dir))
		if err != nil {
			tb.Fatal(err)
		}
		for _, e := range ents {
			switch name := e.Name(); {
			case strings.HasSuffix(name, ".dat"):
				out = append(out, flashPlain(tb, name))
			case strings.HasSuffix(name, ".bin"):
				out = append(out, rfcPlain(tb, name))
			}
		}
	}
	return out
}

// captureChunks returns the payloads of every chunk of the captures, by type.
func captureChunks(tb testing.TB) map[byte][][]byte {
	m := map[byte][][]byte{}
	for _, p := range capturePackets(tb) {
		r, err := NewPacketReader(p)
		if err != nil {
			tb.Fatal(err)
		}
		for r.Next() {
			c := r.Chunk()
			m[c.Type] = append(m[c.Type], c.Payload)
		}
	}
	return m
}

// encodedPayload strips the chunk header from an encoding, checking Len on the way.
func encodedPayload(t *testing.T, what string, enc []byte, n int) []byte {
	t.Helper()
	if len(enc) != n {
		t.Fatalf("%s: Len %d, Append wrote %d", what, n, len(enc))
	}
	return enc[ChunkHeaderLen:]
}

func FuzzPacket(f *testing.F) {
	for _, p := range capturePackets(f) {
		f.Add(p)
	}
	f.Add(mustHex(f, "01 110002 0001 100005 00050902 aa 510004 01 7f 01 01 110002 10bb ffff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewPacketReader(data)
		if err != nil {
			return
		}
		var addrs [MaxRedirectAddresses]Address
		var ranges [64]AckRange
		for r.Next() {
			c := r.Chunk()
			ud, uerr := r.UserData()
			switch c.Type {
			case ChunkIHello:
				if v, err := ParseIHello(c.Payload); err == nil {
					_, _ = ParseEPD(v.EPD)
				}
			case ChunkRHello:
				_, _ = ParseRHello(c.Payload)
			case ChunkIIKeying:
				_, _ = ParseIIKeying(c.Payload)
			case ChunkRIKeying:
				_, _ = ParseRIKeying(c.Payload)
			case ChunkRedirect:
				_, _ = ParseRedirect(c.Payload, addrs[:0])
			case ChunkFIHello:
				if v, err := ParseFIHello(c.Payload); err == nil {
					_, _ = ParseEPD(v.EPD)
				}
			case ChunkCookieChange:
				_, _ = ParseCookieChange(c.Payload)
			case ChunkPing:
				_, _ = ParsePing(c.Payload)
			case ChunkPingReply:
				_, _ = ParsePingReply(c.Payload)
			case ChunkUserData, ChunkNextUserData:
				if uerr == nil {
					if ud.FSNOffset > ud.SequenceNumber {
						t.Fatalf("FSN offset %d > seq %d", ud.FSNOffset, ud.SequenceNumber)
					}
					if ud.HasOptions() {
						_, _ = ParseFlowOptions(ud.Options)
					}
				}
			case ChunkAckRanges:
				if a, err := ParseAckRanges(c.Payload, ranges[:0]); err == nil {
					_, _ = AckRangesToSeqRanges(a.CumulativeAck, a.Ranges, nil)
				}
			case ChunkAckBitmap:
				if a, err := ParseAckBitmap(c.Payload); err == nil {
					_ = a.AsRanges(ranges[:0])
				}
			case ChunkBufferProbe:
				_, _ = ParseBufferProbe(c.Payload)
			case ChunkFlowException:
				_, _ = ParseFlowException(c.Payload)
			case ChunkClose:
				_, _ = ParseClose(c.Payload)
			case ChunkCloseAck:
				_, _ = ParseCloseAck(c.Payload)
			case ChunkECNReport:
				_, _ = ParseECNReport(c.Payload)
			}
			if c.Type != ChunkUserData && c.Type != ChunkNextUserData && (uerr != nil || ud.FlowID != 0) {
				t.Fatalf("user data reported for chunk %02x", c.Type)
			}
			// Any decoded chunk must re-encode into something that decodes again.
			if enc, known, err := reencodeChunk(c); known && err == nil {
				it := NewChunkIterator(enc)
				if !it.Next() || it.Chunk().Type != c.Type {
					t.Fatalf("re-encoded chunk %x unreadable", enc)
				}
				if _, _, err := reencodeChunk(it.Chunk()); err != nil {
					t.Fatalf("re-encoded chunk %02x fails: %v", c.Type, err)
				}
			}
		}
	})
}

func FuzzHandshakeChunks(f *testing.F) {
	chunks := captureChunks(f)
	for _, typ := range []byte{ChunkIHello, ChunkRHello, ChunkIIKeying, ChunkRIKeying} {
		for _, p := range chunks[typ] {
			f.Add(p)
		}
	}
	f.Add(Redirect{Tag: tagT, Addresses: []Address{addr("198.51.100.7:50000", 2), addr("[2001:db8::1]:1", 1)}}.Append(nil)[3:])
	f.Add(FIHello{EPD: AppendEPDFingerprint(nil, peerB), ReplyAddress: addr("203.0.113.5:40000", 2), Tag: tagT}.Append(nil)[3:])
	f.Add(CookieChange{OldCookie: []byte("old"), NewCookie: []byte("new")}.Append(nil)[3:])
	f.Add(AppendEPDURL(AppendEPDFingerprint(nil, peerB), "rtmfp://h/a"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > MaxChunkPayload {
			return
		}
		if v, err := ParseIHello(data); err == nil {
			w, err := ParseIHello(encodedPayload(t, "IHello", v.Append(nil), v.Len()))
			if err != nil || !sameValue(v, w) {
				t.Fatalf("IHello %+v -> %+v %v", v, w, err)
			}
		}
		if v, err := ParseRHello(data); err == nil {
			w, err := ParseRHello(encodedPayload(t, "RHello", v.Append(nil), v.Len()))
			if err != nil || !sameValue(v, w) {
				t.Fatalf("RHello %+v -> %+v %v", v, w, err)
			}
		}
		if v, err := ParseIIKeying(data); err == nil {
			w, err := ParseIIKeying(encodedPayload(t, "IIKeying", v.Append(nil), v.Len()))
			if err != nil || !sameValue(v, w) {
				t.Fatalf("IIKeying %+v -> %+v %v", v, w, err)
			}
		}
		if v, err := ParseRIKeying(data); err == nil {
			w, err := ParseRIKeying(encodedPayload(t, "RIKeying", v.Append(nil), v.Len()))
			if err != nil || !sameValue(v, w) {
				t.Fatalf("RIKeying %+v -> %+v %v", v, w, err)
			}
		}
		if v, err := ParseRedirect(data, nil); err == nil {
			w, err := ParseRedirect(encodedPayload(t, "Redirect", v.Append(nil), v.Len()), nil)
			if err != nil || !sameValue(v, w) {
				t.Fatalf("Redirect %+v -> %+v %v", v, w, err)
			}
		}
		if v, err := ParseFIHello(data); err == nil {
			w, err := ParseFIHello(encodedPayload(t, "FIHello", v.Append(nil), v.Len()))
			if err != nil || !sameValue(v, w) {
				t.Fatalf("FIHello %+v -> %+v %v", v, w, err)
			}
		}
		if v, err := ParseCookieChange(data); err == nil {
			w, err := ParseCookieChange(encodedPayload(t, "CookieChange", v.Append(nil), v.Len()))
			if err != nil || !sameValue(v, w) {
				t.Fatalf("CookieChange %+v -> %+v %v", v, w, err)
			}
		}
		if v, err := ParseEPD(data); err == nil {
			enc := v.Append(nil)
			w, err := ParseEPD(enc)
			if err != nil || !sameValue(v, w) || len(enc) != v.Len() {
				t.Fatalf("EPD %+v -> %+v %v", v, w, err)
			}
		}
		if v, n, err := ParseAddress(data); err == nil {
			enc := v.Append(nil)
			w, m, err := ParseAddress(enc)
			if err != nil || v != w || m != len(enc) || m > n || len(enc) != v.Len() {
				t.Fatalf("Address %v -> %v %v", v, w, err)
			}
		}
	})
}

func FuzzSessionChunks(f *testing.F) {
	chunks := captureChunks(f)
	for _, typ := range []byte{ChunkUserData, ChunkNextUserData, ChunkAckRanges, ChunkECNReport, ChunkCloseAck} {
		for _, p := range chunks[typ] {
			f.Add(p)
		}
	}
	f.Add(AckRanges{FlowID: 2, BufferBlocks: 64, CumulativeAck: 3, Ranges: []AckRange{{2, 2}, {2, 1}, {1, 3}}}.Append(nil)[3:])
	f.Add(AckBitmap{FlowID: 1, CumulativeAck: 10, Bitmap: []byte{0x81, 0x03}}.Append(nil)[3:])
	f.Add(FlowException{FlowID: 3, Code: 0}.Append(nil)[3:])
	f.Add(FlowOptions{Metadata: []byte("TC\x04\x01"), ReturnFlowID: 2, HasReturnFlow: true}.Append(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > MaxChunkPayload {
			return
		}
		if v, err := ParseUserData(data); err == nil {
			w, err := ParseUserData(encodedPayload(t, "UserData", v.Append(nil), v.Len()))
			if err != nil || !sameValue(v, w) {
				t.Fatalf("UserData %+v -> %+v %v", v, w, err)
			}
			if v.HasOptions() {
				if fo, err := ParseFlowOptions(v.Options); err == nil {
					enc := fo.Append(nil)
					fo2, err := ParseFlowOptions(enc)
					fo.UnknownMandatory, fo.HasUnknownMandatory = 0, false // not re-encoded
					if err != nil || !sameValue(fo, fo2) || len(enc) != fo.Len() {
						t.Fatalf("FlowOptions %+v -> %+v %v", fo, fo2, err)
					}
				}
			}
			n := v.Next()
			if nu, err := n.Follow(v); err == nil && (!nu.Follows(v) || nu.FSN() != v.FSN()) {
				t.Fatalf("Follow %+v -> %+v", v, nu)
			}
		}
		if v, err := ParseNextUserData(data); err == nil {
			w, err := ParseNextUserData(encodedPayload(t, "NextUserData", v.Append(nil), v.Len()))
			if err != nil || !sameValue(v, w) {
				t.Fatalf("NextUserData %+v -> %+v %v", v, w, err)
			}
		}
		if v, err := ParseAckRanges(data, nil); err == nil {
			w, err := ParseAckRanges(encodedPayload(t, "AckRanges", v.Append(nil), v.Len()), nil)
			if err != nil || !sameValue(v, w) {
				t.Fatalf("AckRanges %+v -> %+v %v", v, w, err)
			}
			budget := 0
			if len(data) > 0 {
				budget = int(data[0]) * 2
			}
			if out, k, ok := AppendAckRanges(nil, v, budget); ok {
				x, err := ParseAckRanges(out[ChunkHeaderLen:], nil)
				if err != nil || len(out) > budget || !sameValue(x.Ranges, v.Ranges[:k]) {
					t.Fatalf("AppendAckRanges budget %d: %+v %v", budget, x, err)
				}
			}
			if seqs, err := AckRangesToSeqRanges(v.CumulativeAck, v.Ranges, nil); err == nil {
				back, err := SeqRangesToAckRanges(v.CumulativeAck, seqs, nil)
				if err != nil || !sameValue(back, v.Ranges) {
					t.Fatalf("SeqRanges round trip %v -> %v %v", v.Ranges, back, err)
				}
			}
		}
		if v, err := ParseAckBitmap(data); err == nil {
			w, err := ParseAckBitmap(encodedPayload(t, "AckBitmap", v.Append(nil), v.Len()))
			if err != nil || !sameValue(v, w) {
				t.Fatalf("AckBitmap %+v -> %+v %v", v, w, err)
			}
			r := v.AsRanges(nil)
			seqs, err := AckRangesToSeqRanges(r.CumulativeAck, r.Ranges, nil)
			if err != nil {
				t.Fatalf("bitmap ranges %v: %v", r.Ranges, err)
			}
			for _, s := range seqs {
				if !v.Received(s.From) || !v.Received(s.To) || (s.From > 0 && v.Received(s.From-1) && s.From-1 > v.CumulativeAck) {
					t.Fatalf("bitmap %x cum %d: range %v", v.Bitmap, v.CumulativeAck, s)
				}
			}
		}
		if v, err := ParseBufferProbe(data); err == nil {
			if w, err := ParseBufferProbe(encodedPayload(t, "BufferProbe", v.Append(nil), v.Len())); err != nil || v != w {
				t.Fatalf("BufferProbe %+v -> %+v %v", v, w, err)
			}
		}
		if v, err := ParseFlowException(data); err == nil {
			if w, err := ParseFlowException(encodedPayload(t, "FlowException", v.Append(nil), v.Len())); err != nil || v != w {
				t.Fatalf("FlowException %+v -> %+v %v", v, w, err)
			}
		}
		if v, err := ParseECNReport(data); err == nil {
			if w, err := ParseECNReport(encodedPayload(t, "ECNReport", v.Append(nil), v.Len())); err != nil || v != w {
				t.Fatalf("ECNReport %+v -> %+v %v", v, w, err)
			}
		}
		if v, _ := ParsePing(data); true {
			if w, _ := ParsePing(encodedPayload(t, "Ping", v.Append(nil), v.Len())); !sameValue(v, w) {
				t.Fatal("Ping")
			}
		}
		if v, _ := ParsePingReply(data); true {
			if w, _ := ParsePingReply(encodedPayload(t, "PingReply", v.Append(nil), v.Len())); !sameValue(v, w) {
				t.Fatal("PingReply")
			}
		}
		if v, err := ParseClose(data); err != nil || len(encodedPayload(t, "Close", v.Append(nil), v.Len())) != 0 {
			t.Fatal("Close")
		}
		if v, err := ParseCloseAck(data); err != nil || len(encodedPayload(t, "CloseAck", v.Append(nil), v.Len())) != 0 {
			t.Fatal("CloseAck")
		}
	})
}
