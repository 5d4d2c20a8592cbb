package flash_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
	"github.com/actorrtmfp/actorrtmfp/codec/internal/hexlit"
	"github.com/actorrtmfp/actorrtmfp/codec/rtmfp"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// End-to-end known-answer tests: every datagram of the two captures in ../../testdata goes
// through the production receive path in order (session ID, decryption with keys derived
// the real way, packet reader, chunk decoders, flow metadata, TC messages, commands), and
// the datagrams the clients sent are rebuilt from the decoded values with the production
// encoders and sealed again to the identical bytes.

const (
	flashDir = "../../testdata/flash-session"
	rfcDir   = "../../testdata/rfc7425-session"

	// framing-and-crypto.md §10.2 (go-rtmfp's hard-coded server exponent).
	e2eFlashServerPrivate = "00FFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF"
	e2eFlashKeyIR         = "ca3e6206c4fe662bbd950e8d03574e35"
	e2eFlashKeyRI         = "bc4b145aafb0f8287b3cf87bd036acf0"
	e2eFlashClientPeerID  = "9210df7cb656cad82a607efd810e6c3f922a062ec7dae6df0f39e8a7248dcbf8"
	e2eFlashServerPeerID  = "86241000ea4d58784f613f40f28bc022b475d8682d2091c5ed8a1af5bf0aa0c4"
	e2eFlashTag           = "2175b73f525fa0dd1f75ae339a706cc3"
	e2eFlashURL           = "rtmfp://192.168.137.183/"
	e2eFlashClientSID     = 0x02000000 // Flash's initiator session ID: S→C packets and RIKeying
	e2eFlashServerSID     = 1          // go-rtmfp's responder session ID: C→S session packets

	// testdata/rfc7425-session/README.md, session g14.
	e2eG14ServerPrivate = "ec703d010ce22d55c7c7543df0a936ea4df7aebc4fca3772ab969edde00aaf18a368de74dd7b222c"
	e2eG14URL           = "rtmfp://127.0.0.1:19650/live"
	e2eG14ClientSID     = 0x02000000
	e2eG14ServerSID     = 0x03000000
)

// decodedChunk is one chunk of a captured packet, decoded by the production decoders.
type decodedChunk struct {
	typ   byte
	value any            // what the chunk type's rtmfp.Parse… function returned
	ud    rtmfp.UserData // 0x10 and 0x11: resolved by PacketReader.UserData
	opts  rtmfp.FlowOptions
	meta  *flash.Metadata // the flow metadata option, when present
	msg   *flash.Message  // the TC message in the user data
	cmd   *flash.Command  // when msg is a command (0x14 / 0x11)
}

type decodedPacket struct {
	h      rtmfp.Header
	chunks []decodedChunk
}

func readCapture(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openDatagram checks the session ID a datagram decodes to and opens it: the checksum (or
// HMAC) must verify and the session sequence number must be wantSeq. The datagram itself
// is left intact for the re-encoding comparison.
func openDatagram(t *testing.T, d *cryptoutil.Decrypter, datagram []byte, wantSID uint32, wantSeq uint64) []byte {
	t.Helper()
	sid, ok := cryptoutil.SessionID(datagram)
	if !ok {
		t.Fatalf("SessionID: datagram of %d bytes too short", len(datagram))
	}
	if sid != wantSID {
		t.Fatalf("SessionID = %#08x, want %#08x", sid, wantSID)
	}
	plain, seq, err := d.Open(nil, datagram)
	if err != nil {
		t.Fatalf("Open (%d-byte datagram, mode %+v): %v", len(datagram), d.Mode(), err)
	}
	if seq != wantSeq {
		t.Fatalf("session sequence number = %d, want %d", seq, wantSeq)
	}
	return plain
}

// decodePacket runs a decrypted packet through PacketReader and every chunk through its
// decoder; user data goes on to the flow options, flow metadata, TC message and command.
func decodePacket(t *testing.T, plain []byte, dec *amf.Decoder) decodedPacket {
	t.Helper()
	r, err := rtmfp.NewPacketReader(plain)
	if err != nil {
		t.Fatalf("NewPacketReader: %v", err)
	}
	p := decodedPacket{h: r.Header()}
	for i := 0; r.Next(); i++ {
		c := r.Chunk()
		dc := decodedChunk{typ: c.Type}
		where := fmt.Sprintf("chunk %d (type %#02x, %d bytes)", i, c.Type, len(c.Payload))
		var err error
		switch c.Type {
		case rtmfp.ChunkIHello:
			dc.value, err = rtmfp.ParseIHello(c.Payload)
		case rtmfp.ChunkRHello:
			dc.value, err = rtmfp.ParseRHello(c.Payload)
		case rtmfp.ChunkIIKeying:
			dc.value, err = rtmfp.ParseIIKeying(c.Payload)
		case rtmfp.ChunkRIKeying:
			dc.value, err = rtmfp.ParseRIKeying(c.Payload)
		case rtmfp.ChunkAckRanges:
			dc.value, err = rtmfp.ParseAckRanges(c.Payload, nil)
		case rtmfp.ChunkECNReport:
			dc.value, err = rtmfp.ParseECNReport(c.Payload)
		case rtmfp.ChunkCloseAck:
			dc.value, err = rtmfp.ParseCloseAck(c.Payload)
		case rtmfp.ChunkUserData:
			var u rtmfp.UserData
			if u, err = rtmfp.ParseUserData(c.Payload); err == nil {
				dc.value = u
				if dc.ud, err = r.UserData(); err == nil && !reflect.DeepEqual(dc.ud, u) {
					t.Fatalf("%s: PacketReader.UserData %+v differs from ParseUserData %+v", where, dc.ud, u)
				}
			}
		case rtmfp.ChunkNextUserData:
			var n rtmfp.NextUserData
			if n, err = rtmfp.ParseNextUserData(c.Payload); err == nil {
				dc.value = n
				if dc.ud, err = r.UserData(); err == nil &&
					(dc.ud.Flags != n.Flags || !bytes.Equal(dc.ud.Options, n.Options) || !bytes.Equal(dc.ud.Data, n.Data)) {
					t.Fatalf("%s: PacketReader.UserData %+v differs from ParseNextUserData %+v", where, dc.ud, n)
				}
			}
		default:
			t.Fatalf("%s: chunk type not expected in these captures", where)
		}
		if err != nil {
			t.Fatalf("%s: decode: %v", where, err)
		}
		if c.Type == rtmfp.ChunkUserData || c.Type == rtmfp.ChunkNextUserData {
			decodeUserData(t, where, &dc, dec)
		}
		p.chunks = append(p.chunks, dc)
	}
	if err := r.Err(); err != nil {
		t.Fatalf("PacketReader: %v", err)
	}
	return p
}

func decodeUserData(t *testing.T, where string, dc *decodedChunk, dec *amf.Decoder) {
	t.Helper()
	if dc.ud.HasOptions() {
		var err error
		if dc.opts, err = rtmfp.ParseFlowOptions(dc.ud.Options); err != nil {
			t.Fatalf("%s: ParseFlowOptions: %v", where, err)
		}
		if !dc.opts.Acceptable() {
			t.Fatalf("%s: unknown mandatory flow option %#x", where, dc.opts.UnknownMandatory)
		}
		if dc.opts.Metadata != nil {
			md, err := flash.ParseMetadata(dc.opts.Metadata)
			if err != nil {
				t.Fatalf("%s: ParseMetadata(%x): %v", where, dc.opts.Metadata, err)
			}
			dc.meta = &md
		}
	}
	m, err := flash.ParseMessage(dc.ud.Data)
	if err != nil {
		t.Fatalf("%s: ParseMessage: %v", where, err)
	}
	dc.msg = &m
	if m.Type == flash.TypeCommandAMF0 || m.Type == flash.TypeCommandAMF3 {
		cmd, err := flash.ParseCommand(m, dec)
		if err != nil {
			t.Fatalf("%s: ParseCommand: %v", where, err)
		}
		dc.cmd = &cmd
	}
}

// wantShape checks the header and the chunk types of a packet.
func wantShape(t *testing.T, p decodedPacket, flags byte, ts, echo uint16, types ...byte) {
	t.Helper()
	if p.h.Flags != flags || p.h.Timestamp != ts || p.h.TimestampEcho != echo {
		t.Errorf("header: flags %#02x ts %#04x echo %#04x, want flags %#02x ts %#04x echo %#04x",
			p.h.Flags, p.h.Timestamp, p.h.TimestampEcho, flags, ts, echo)
	}
	got := make([]byte, len(p.chunks))
	for i, c := range p.chunks {
		got[i] = c.typ
	}
	if !bytes.Equal(got, types) {
		t.Fatalf("chunk types % x, want % x", got, types)
	}
}

func wantAck(t *testing.T, c decodedChunk, flow, buffer, cumulative uint64) {
	t.Helper()
	a, ok := c.value.(rtmfp.AckRanges)
	if !ok {
		t.Fatalf("chunk %#02x is not an ack (%T)", c.typ, c.value)
	}
	if a.FlowID != flow || a.BufferBlocks != buffer || a.CumulativeAck != cumulative || len(a.Ranges) != 0 {
		t.Errorf("ack: flow %d, buffer %d blocks, cumulative %d, ranges %v; want flow %d, buffer %d, cumulative %d, no ranges",
			a.FlowID, a.BufferBlocks, a.CumulativeAck, a.Ranges, flow, buffer, cumulative)
	}
}

func wantUserData(t *testing.T, c decodedChunk, flags byte, flow, seq, fsnOffset uint64) {
	t.Helper()
	u := c.ud
	if u.Flags != flags || u.FlowID != flow || u.SequenceNumber != seq || u.FSNOffset != fsnOffset {
		t.Errorf("user data: flags %#02x flow %d seq %d fsnOffset %d; want flags %#02x flow %d seq %d fsnOffset %d",
			u.Flags, u.FlowID, u.SequenceNumber, u.FSNOffset, flags, flow, seq, fsnOffset)
	}
}

// wantNetConnectionFlow checks the options of a flow's first chunk: TC metadata for stream 0
// and, when returnFlow is not 0, the return flow association.
func wantNetConnectionFlow(t *testing.T, c decodedChunk, returnFlow uint64) {
	t.Helper()
	if c.meta == nil {
		t.Fatalf("flow options %x: no metadata", c.ud.Options)
	}
	if c.meta.Kind != flash.KindNetConnection || c.meta.StreamID != 0 || c.meta.NetworkOrder {
		t.Errorf("metadata %x = %+v, want a NetConnection (TC, stream 0, sequence order)", c.opts.Metadata, *c.meta)
	}
	if c.opts.HasReturnFlow != (returnFlow != 0) || c.opts.ReturnFlowID != returnFlow {
		t.Errorf("return flow: present %v, ID %d; want %d (0 = absent)", c.opts.HasReturnFlow, c.opts.ReturnFlowID, returnFlow)
	}
}

func wantCommand(t *testing.T, c decodedChunk, typ byte, ts uint32, name string, txn float64, nargs int) flash.Command {
	t.Helper()
	if c.msg == nil || c.cmd == nil {
		t.Fatalf("user data %x is not a command", c.ud.Data)
	}
	cmd := *c.cmd
	if c.msg.Type != typ || cmd.Timestamp != ts || cmd.Name != name || cmd.TransactionID != txn ||
		len(cmd.Args) != nargs || cmd.AMF3 != (typ == flash.TypeCommandAMF3) {
		t.Fatalf("command: type %#02x ts %d %q txn %v, %d args, AMF3 %v; want type %#02x ts %d %q txn %v, %d args",
			c.msg.Type, cmd.Timestamp, cmd.Name, cmd.TransactionID, len(cmd.Args), cmd.AMF3, typ, ts, name, txn, nargs)
	}
	return cmd
}

// wantProps checks an AMF object's properties, in wire order, against want.
func wantProps(t *testing.T, what string, v any, want []amf.Property) {
	t.Helper()
	o, ok := v.(*amf.Object)
	if !ok {
		t.Fatalf("%s is %T, want *amf.Object", what, v)
	}
	if len(o.Props) != len(want) {
		t.Errorf("%s has %d properties, want %d: %+v", what, len(o.Props), len(want), o.Props)
	}
	for i := range min(len(o.Props), len(want)) {
		if got := o.Props[i]; got.Key != want[i].Key || !reflect.DeepEqual(got.Value, want[i].Value) {
			t.Errorf("%s property %d: %q = %#v (%T), want %q = %#v (%T)",
				what, i, got.Key, got.Value, got.Value, want[i].Key, want[i].Value, want[i].Value)
		}
	}
}

func wantStatus(t *testing.T, v any, code string) flash.Status {
	t.Helper()
	s, err := flash.ParseStatus(v)
	if err != nil {
		t.Fatalf("ParseStatus(%#v): %v", v, err)
	}
	if s.Code != code || s.Level != flash.LevelStatus {
		t.Errorf("status: code %q level %q, want %q %q", s.Code, s.Level, code, flash.LevelStatus)
	}
	return s
}

func extra(s flash.Status, key string) (any, bool) {
	for _, p := range s.Extra {
		if p.Key == key {
			return p.Value, true
		}
	}
	return nil, false
}

// rebuildPacket encodes a decoded packet again with the production encoders: the header,
// then every chunk from its decoded value. Handshake chunks are rebuilt from their parsed
// parts (EPD, certificate, session key component); user data from the parsed flow options,
// metadata and command. PacketWriter picks 0x10 or 0x11 for user data by itself.
func rebuildPacket(t *testing.T, p decodedPacket, maxSize int) []byte {
	t.Helper()
	w := rtmfp.NewPacketWriter(nil, p.h, maxSize)
	for i, c := range p.chunks {
		ok := false
		switch v := c.value.(type) {
		case rtmfp.IHello:
			epd, err := rtmfp.ParseEPD(v.EPD)
			if err != nil {
				t.Fatalf("chunk %d: ParseEPD: %v", i, err)
			}
			ok = w.WriteChunk(rtmfp.IHello{EPD: epd.Append(nil), Tag: v.Tag})
		case rtmfp.IIKeying:
			v.Certificate = rebuildStaticCertificate(t, v.Certificate)
			v.SKIC = rebuildInitiatorComponent(t, v.SKIC)
			ok = w.WriteChunk(v)
		case rtmfp.AckRanges:
			var n int
			n, ok = w.WriteAckRanges(v)
			if ok && n != len(v.Ranges) {
				t.Fatalf("chunk %d: WriteAckRanges wrote %d of %d ranges", i, n, len(v.Ranges))
			}
		case rtmfp.ECNReport:
			ok = w.WriteChunk(v)
		case rtmfp.CloseAck:
			ok = w.WriteChunk(v)
		case rtmfp.UserData, rtmfp.NextUserData:
			u := c.ud
			if u.HasOptions() {
				var md []byte
				if c.meta != nil {
					md = c.meta.Append(nil)
				}
				u.Options = rtmfp.FlowOptions{Metadata: md, ReturnFlowID: c.opts.ReturnFlowID, HasReturnFlow: c.opts.HasReturnFlow}.Append(nil)
			}
			if c.cmd == nil {
				t.Fatalf("chunk %d: no decoded command to rebuild the user data from", i)
			}
			var err error
			if u.Data, err = flash.AppendCommand(nil, *c.cmd); err != nil {
				t.Fatalf("chunk %d: AppendCommand: %v", i, err)
			}
			ok = w.WriteUserData(u)
		default:
			t.Fatalf("chunk %d: no encoder for %T", i, c.value)
		}
		if !ok {
			t.Fatalf("chunk %d (%#02x) does not fit the rebuilt packet (%d bytes used)", i, c.typ, w.Len())
		}
	}
	return w.Packet()
}

// rebuildStaticCertificate re-encodes an initiator certificate from its parsed static keys.
func rebuildStaticCertificate(t *testing.T, cert []byte) []byte {
	t.Helper()
	c, err := cryptoutil.ParseCertificate(cert)
	if err != nil {
		t.Fatalf("ParseCertificate: %v", err)
	}
	var out []byte
	for _, k := range c.StaticKeys {
		value := append(rtmfp.AppendVLU(nil, uint64(k.Group)), k.Key...)
		out = rtmfp.AppendOption(out, cryptoutil.CertOptionStaticDHKey, value)
	}
	return out
}

// rebuildInitiatorComponent re-encodes an SKIC from its parsed group, randomness and
// negotiation flags.
func rebuildInitiatorComponent(t *testing.T, skic []byte) []byte {
	t.Helper()
	ic, err := cryptoutil.ParseInitiatorComponent(skic)
	if err != nil {
		t.Fatalf("ParseInitiatorComponent: %v", err)
	}
	p := cryptoutil.Policy{
		HMACSendAlways:       ic.HMACFlags&cryptoutil.FlagSendAlways != 0,
		HMACRecvRequired:     ic.HMACFlags&cryptoutil.FlagRequest != 0,
		SequenceSendAlways:   ic.SequenceFlags&cryptoutil.FlagSendAlways != 0,
		SequenceRecvRequired: ic.SequenceFlags&cryptoutil.FlagRequest != 0,
		HMACLength:           ic.HMACLength,
	}
	return cryptoutil.AppendInitiatorComponent(nil, ic.Group, ic.Randomness, p)
}

// wantResealed rebuilds a decoded packet and seals it with enc: the result must be the
// captured datagram, byte for byte.
func wantResealed(t *testing.T, enc *cryptoutil.Encrypter, sid uint32, p decodedPacket, maxSize int, datagram []byte) {
	t.Helper()
	packet := rebuildPacket(t, p, maxSize)
	if got := enc.Seal(nil, sid, packet); !bytes.Equal(got, datagram) {
		t.Errorf("rebuilt and re-sealed datagram differs\nrebuilt packet %x\n got %x\nwant %x", packet, got, datagram)
	}
}

// TestFlashCaptureEndToEnd: the real Flash Player 11.7 session (testdata/flash-session).
func TestFlashCaptureEndToEnd(t *testing.T) {
	var (
		dec     amf.Decoder
		startup = cryptoutil.NewStartupDecrypter()
		sealer  = cryptoutil.NewStartupEncrypter()

		ihello rtmfp.IHello
		rhello rtmfp.RHello
		iik    rtmfp.IIKeying
		rik    rtmfp.RIKeying
	)
	handshake := func(name string, sid uint32, check func(t *testing.T, p decodedPacket, datagram []byte)) {
		if !t.Run(name, func(t *testing.T) {
			datagram := readCapture(t, flashDir, name)
			p := decodePacket(t, openDatagram(t, startup, datagram, sid, 0), &dec)
			if p.h.Mode() != rtmfp.ModeStartup || !p.h.HasTimestamp() || p.h.HasEcho() {
				t.Errorf("header %+v: want startup mode, timestamp, no echo", p.h)
			}
			if len(p.chunks) != 1 {
				t.Fatalf("%d chunks, want 1", len(p.chunks))
			}
			check(t, p, datagram)
		}) {
			t.FailNow()
		}
	}

	handshake("IHello.dat", 0, func(t *testing.T, p decodedPacket, datagram []byte) {
		wantShape(t, p, 0x0B, 0x1E60, 0, rtmfp.ChunkIHello)
		ihello = p.chunks[0].value.(rtmfp.IHello)
		epd, err := rtmfp.ParseEPD(ihello.EPD)
		if err != nil {
			t.Fatalf("ParseEPD: %v", err)
		}
		if !epd.HasURL || string(epd.URL) != e2eFlashURL || epd.Fingerprint != nil || epd.HasHostname {
			t.Errorf("EPD %+v, want only the URL %q", epd, e2eFlashURL)
		}
		if hex.EncodeToString(ihello.Tag) != e2eFlashTag {
			t.Errorf("tag %x, want %s", ihello.Tag, e2eFlashTag)
		}
		wantResealed(t, sealer, 0, p, rtmfp.MaxStartupPacketSize, datagram)
	})
	handshake("RHello.dat", 0, func(t *testing.T, p decodedPacket, _ []byte) {
		wantShape(t, p, 0x0B, 0x6449, 0, rtmfp.ChunkRHello)
		rhello = p.chunks[0].value.(rtmfp.RHello)
		if !bytes.Equal(rhello.Tag, ihello.Tag) {
			t.Errorf("tag echo %x, want IHello's %x", rhello.Tag, ihello.Tag)
		}
		if len(rhello.Cookie) != cryptoutil.CookieLen {
			t.Errorf("cookie is %d bytes, want %d", len(rhello.Cookie), cryptoutil.CookieLen)
		}
		c, err := cryptoutil.ParseCertificate(rhello.Certificate)
		if err != nil {
			t.Fatalf("server ParseCertificate: %v", err)
		}
		groups := []cryptoutil.DHGroup{cryptoutil.Group2, cryptoutil.Group5, cryptoutil.Group14}
		if len(rhello.Certificate) != cryptoutil.ServerCertificateLen || !c.AcceptsAncillaryData ||
			!reflect.DeepEqual(c.EphemeralGroups, groups) || len(c.ExtraRandomness) != 64 || !c.IsEphemeral() {
			t.Errorf("server certificate (%d bytes) = %+v", len(rhello.Certificate), c)
		}
		if got := cryptoutil.PeerIDFromCertificate(rhello.Certificate).String(); got != e2eFlashServerPeerID {
			t.Errorf("server peer ID %s, want %s", got, e2eFlashServerPeerID)
		}
	})
	handshake("IIKeying.dat", 0, func(t *testing.T, p decodedPacket, datagram []byte) {
		wantShape(t, p, 0x0B, 0x1E69, 0, rtmfp.ChunkIIKeying)
		iik = p.chunks[0].value.(rtmfp.IIKeying)
		if iik.InitiatorSessionID != e2eFlashClientSID {
			t.Errorf("initiator session ID %#08x, want %#08x", iik.InitiatorSessionID, e2eFlashClientSID)
		}
		if !bytes.Equal(iik.Cookie, rhello.Cookie) {
			t.Errorf("cookie echo %x differs from RHello's cookie %x", iik.Cookie, rhello.Cookie)
		}
		if !bytes.Equal(iik.Signature, []byte{0x58}) {
			t.Errorf("signature %x, want 58", iik.Signature)
		}
		if got := cryptoutil.PeerIDFromCertificate(iik.Certificate).String(); got != e2eFlashClientPeerID || len(iik.Certificate) != 132 {
			t.Errorf("client certificate of %d bytes: peer ID %s, want 132 bytes and %s", len(iik.Certificate), got, e2eFlashClientPeerID)
		}
		ic, err := cryptoutil.ParseInitiatorComponent(iik.SKIC)
		if err != nil {
			t.Fatalf("ParseInitiatorComponent: %v", err)
		}
		if ic.Group != cryptoutil.Group2 || ic.HMACFlags != cryptoutil.FlagSendOnRequest || ic.HMACLength != 10 ||
			ic.SequenceFlags != cryptoutil.FlagSendOnRequest || len(ic.Randomness) != 64 || ic.EphemeralKey != nil {
			t.Errorf("SKIC: group %d, negotiation %+v, %d random bytes, ephemeral key %x; want group 2, 1A 02 0A, 1E 02, 64, none",
				ic.Group, ic.ComponentNegotiation, len(ic.Randomness), ic.EphemeralKey)
		}
		wantResealed(t, sealer, 0, p, rtmfp.MaxStartupPacketSize, datagram)
	})
	handshake("RIKeying.dat", e2eFlashClientSID, func(t *testing.T, p decodedPacket, _ []byte) {
		wantShape(t, p, 0x0B, 0x6451, 0, rtmfp.ChunkRIKeying)
		rik = p.chunks[0].value.(rtmfp.RIKeying)
		if rik.ResponderSessionID != e2eFlashServerSID {
			t.Errorf("responder session ID %#08x, want %#08x", rik.ResponderSessionID, e2eFlashServerSID)
		}
		if !bytes.Equal(rik.Signature, []byte{0x58}) {
			t.Errorf("signature %x, want 58", rik.Signature)
		}
	})

	// Key agreement, the server's way: its known exponent, the client's static key from
	// the certificate, the two components as carried.
	serverKey, err := cryptoutil.NewDHKey(cryptoutil.Group2, hexlit.Decode(t, e2eFlashServerPrivate))
	if err != nil {
		t.Fatalf("NewDHKey: %v", err)
	}
	neg, skrcKey, err := cryptoutil.ParseResponderComponent(rik.SKRC, cryptoutil.Group2)
	if err != nil {
		t.Fatalf("ParseResponderComponent: %v", err)
	}
	if !bytes.Equal(skrcKey, serverKey.PublicKey()) || neg != (cryptoutil.ComponentNegotiation{}) {
		t.Fatalf("SKRC: key %x, negotiation %+v; want 2^x mod p = %x and the classic 1A 00 00 / 1E 00", skrcKey, neg, serverKey.PublicKey())
	}
	cert, err := cryptoutil.ParseCertificate(iik.Certificate)
	if err != nil {
		t.Fatalf("client ParseCertificate: %v", err)
	}
	ic, err := cryptoutil.ParseInitiatorComponent(iik.SKIC)
	if err != nil {
		t.Fatalf("ParseInitiatorComponent: %v", err)
	}
	clientKey, err := ic.PeerPublicKey(&cert)
	if err != nil {
		t.Fatalf("PeerPublicKey: %v", err)
	}
	secret, err := serverKey.SharedSecret(clientKey)
	if err != nil {
		t.Fatalf("SharedSecret: %v", err)
	}
	keyIR, keyRI := cryptoutil.DeriveKeys(secret, iik.SKIC, rik.SKRC)
	if got := hex.EncodeToString(keyIR[:16]); got != e2eFlashKeyIR {
		t.Errorf("keyIR = %s, want %s", got, e2eFlashKeyIR)
	}
	if got := hex.EncodeToString(keyRI[:16]); got != e2eFlashKeyRI {
		t.Errorf("keyRI = %s, want %s", got, e2eFlashKeyRI)
	}
	ra, err := cryptoutil.NegotiateResponder(ic, cryptoutil.Policy{})
	if err != nil || !ra.Classic() {
		t.Fatalf("NegotiateResponder: %+v, %v; want the classic agreement", ra, err)
	}
	ia, peer, err := cryptoutil.NegotiateInitiator(cryptoutil.FlashInitiatorPolicy(), rik.SKRC, cryptoutil.Group2)
	if err != nil || !ia.Classic() || !bytes.Equal(peer, serverKey.PublicKey()) {
		t.Fatalf("NegotiateInitiator: %+v, %v", ia, err)
	}
	_, serverDec, err := cryptoutil.NewSessionCrypto(cryptoutil.Responder, secret, iik.SKIC, rik.SKRC, ra)
	if err != nil {
		t.Fatalf("NewSessionCrypto(Responder): %v", err)
	}
	clientEnc, clientDec, err := cryptoutil.NewSessionCrypto(cryptoutil.Initiator, secret, iik.SKIC, rik.SKRC, ia)
	if err != nil {
		t.Fatalf("NewSessionCrypto(Initiator): %v", err)
	}

	// The session packets. C→S: SSID = the server's session ID from RIKeying, the server
	// decrypts; S→C: SSID = Flash's session ID from IIKeying, Flash decrypts.
	serverSID, clientSID := rik.ResponderSessionID, iik.InitiatorSessionID
	session := func(name string, c2s bool, check func(t *testing.T, p decodedPacket)) {
		t.Run(name, func(t *testing.T) {
			datagram := readCapture(t, flashDir, name)
			d, sid, mode := serverDec, serverSID, byte(rtmfp.ModeInitiator)
			if !c2s {
				d, sid, mode = clientDec, clientSID, rtmfp.ModeResponder
			}
			p := decodePacket(t, openDatagram(t, d, datagram, sid, 0), &dec)
			if p.h.Mode() != mode {
				t.Errorf("mode %d, want %d", p.h.Mode(), mode)
			}
			check(t, p)
			if c2s {
				wantResealed(t, clientEnc, sid, p, rtmfp.MaxPacketSize, datagram)
			}
		})
	}
	// Headers and chunks as in framing §10.2 and flows §12, except that packet 8's command
	// timestamp is 130 (00000082), where flows §12 prints 00000000.
	session("5.dat", true, func(t *testing.T, p decodedPacket) {
		wantShape(t, p, 0x8D, 0x1E70, 0x6451, rtmfp.ChunkUserData)
		c := p.chunks[0]
		wantUserData(t, c, rtmfp.UserDataOptions, 2, 1, 1)
		wantNetConnectionFlow(t, c, 0)
		cmd := wantCommand(t, c, flash.TypeCommandAMF0, 0, flash.CommandConnect, 1, 0)
		wantProps(t, "connect command object", cmd.Object, []amf.Property{
			{Key: "app", Value: ""},
			{Key: "flashVer", Value: "WIN 11,7,700,202"},
			{Key: "swfUrl", Value: amf.Undefined{}},
			{Key: "tcUrl", Value: e2eFlashURL},
			{Key: "fpad", Value: false},
			{Key: "capabilities", Value: 235.0},
			{Key: "audioCodecs", Value: 3575.0},
			{Key: "videoCodecs", Value: 252.0},
			{Key: "videoFunction", Value: 1.0},
			{Key: "pageUrl", Value: amf.Undefined{}},
			{Key: "objectEncoding", Value: 3.0},
		})
	})
	session("6.dat", false, func(t *testing.T, p decodedPacket) {
		wantShape(t, p, 0x4E, 0x6455, 0x1E70, rtmfp.ChunkAckRanges, rtmfp.ChunkUserData)
		wantAck(t, p.chunks[0], 2, 127, 1)
		c := p.chunks[1]
		wantUserData(t, c, rtmfp.UserDataOptions, 1, 1, 1)
		wantNetConnectionFlow(t, c, 2)
		cmd := wantCommand(t, c, flash.TypeCommandAMF0, 0, flash.CommandResult, 1, 1)
		if cmd.Object != nil {
			t.Errorf("_result command object %#v, want null", cmd.Object)
		}
		s := wantStatus(t, cmd.Args[0], flash.CodeConnectSuccess)
		if s.Description != "Connection succeeded" {
			t.Errorf("description %q", s.Description)
		}
		if v, ok := extra(s, "objectEncoding"); !ok || v != 3.0 {
			t.Errorf("objectEncoding %#v (present %v), want 3", v, ok)
		}
	})
	session("7.dat", true, func(t *testing.T, p decodedPacket) {
		wantShape(t, p, 0x0D, 0x1E76, 0x6455, rtmfp.ChunkAckRanges)
		wantAck(t, p.chunks[0], 1, 0x3FFF, 1)
	})
	session("8.dat", true, func(t *testing.T, p decodedPacket) {
		wantShape(t, p, 0x8D, 0x1E80, 0x645F, rtmfp.ChunkUserData)
		c := p.chunks[0]
		wantUserData(t, c, 0, 2, 2, 1)
		if c.meta != nil {
			t.Errorf("metadata %+v on a flow already acknowledged", *c.meta)
		}
		// Type 0x11 (format byte 00), stamped 130 ms by Flash.
		cmd := wantCommand(t, c, flash.TypeCommandAMF3, 130, flash.CommandSetPeerInfo, 0, 2)
		if cmd.Object != nil {
			t.Errorf("command object %#v, want null", cmd.Object)
		}
		if want := []any{"192.168.137.1:55655", "192.168.202.99:55655"}; !reflect.DeepEqual(cmd.Args, want) {
			t.Errorf("setPeerInfo addresses %#v, want %#v", cmd.Args, want)
		}
	})
	session("9.dat", false, func(t *testing.T, p decodedPacket) {
		wantShape(t, p, 0x4E, 0x6465, 0x1E84, rtmfp.ChunkAckRanges, rtmfp.ChunkUserData)
		wantAck(t, p.chunks[0], 2, 127, 2)
		c := p.chunks[1]
		wantUserData(t, c, 0, 1, 2, 2)
		// go-rtmfp quirk (flows §12): the option list is repeated without the OPT flag, so
		// a compliant reader sees a message of type 0x05 ...
		if c.msg.Type != 0x05 {
			t.Fatalf("message type %#02x: the go-rtmfp quirk (options without OPT) is gone?", c.msg.Type)
		}
		if _, err := flash.ParseUserControl(*c.msg); err == nil {
			t.Error("ParseUserControl accepted the quirky message as it stands")
		}
		// ... and only after skipping the stray option list comes the user control event.
		list, rest, err := rtmfp.SplitTerminatedOptions(c.ud.Data)
		if err != nil {
			t.Fatalf("SplitTerminatedOptions: %v", err)
		}
		c.opts, err = rtmfp.ParseFlowOptions(list)
		if err != nil {
			t.Fatalf("ParseFlowOptions on the stray list: %v", err)
		}
		md, err := flash.ParseMetadata(c.opts.Metadata)
		if err != nil || md.Kind != flash.KindNetConnection || !c.opts.HasReturnFlow || c.opts.ReturnFlowID != 2 {
			t.Errorf("stray options: metadata %+v (%v), return flow %d", md, err, c.opts.ReturnFlowID)
		}
		m, err := flash.ParseMessage(rest)
		if err != nil {
			t.Fatalf("ParseMessage: %v", err)
		}
		uc, err := flash.ParseUserControl(m)
		if err != nil {
			t.Fatalf("ParseUserControl: %v", err)
		}
		server, peer, ok := uc.Keepalive()
		if m.Type != flash.TypeUserControl || m.Timestamp != 0 || uc.Event != flash.EventSetKeepalive || !ok || server != 15 || peer != 10 {
			t.Errorf("user control: type %#02x ts %d event %#04x keepalive %d/%d (%v); want 04, 0, Set Keepalive 15/10",
				m.Type, m.Timestamp, uc.Event, server, peer, ok)
		}
	})
	session("10.dat", true, func(t *testing.T, p decodedPacket) {
		wantShape(t, p, 0x0D, 0x1EB7, 0x6497, rtmfp.ChunkAckRanges)
		wantAck(t, p.chunks[0], 1, 0x3FFF, 2)
	})
	session("11.dat", true, func(t *testing.T, p decodedPacket) {
		wantShape(t, p, 0x0D, 0x208D, 0x666D, rtmfp.ChunkCloseAck)
	})

	// Every file of the capture was covered.
	entries, err := os.ReadDir(flashDir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".dat" {
			n++
		}
	}
	if n != 11 {
		t.Errorf("%s holds %d .dat files; this test checks 11", flashDir, n)
	}
}

// TestRFC7425CaptureEndToEnd: rtmfp-cpp's tcconn ↔ tcserver, session g14 (group 14, 16-byte
// HMACs and session sequence numbers both ways; testdata/rfc7425-session).
func TestRFC7425CaptureEndToEnd(t *testing.T) {
	var (
		dec     amf.Decoder
		startup = cryptoutil.NewStartupDecrypter()
		iik     rtmfp.IIKeying
		rik     rtmfp.RIKeying
	)
	for _, f := range []struct {
		name  string
		sid   uint32
		ts    uint16
		typ   byte
		check func(t *testing.T, c decodedChunk)
	}{
		{"g14-01-c2s-ihello.bin", 0, 0, rtmfp.ChunkIHello, func(t *testing.T, c decodedChunk) {
			epd, err := rtmfp.ParseEPD(c.value.(rtmfp.IHello).EPD)
			if err != nil || string(epd.URL) != e2eG14URL {
				t.Errorf("EPD URL %q (%v), want %q", epd.URL, err, e2eG14URL)
			}
		}},
		{"g14-02-s2c-rhello.bin", 0, 1002, rtmfp.ChunkRHello, func(t *testing.T, c decodedChunk) {
			cert, err := cryptoutil.ParseCertificate(c.value.(rtmfp.RHello).Certificate)
			if err != nil || !cert.SupportsEphemeral(cryptoutil.Group14) {
				t.Errorf("server certificate %+v (%v) does not offer group 14", cert, err)
			}
		}},
		{"g14-03-c2s-iikeying.bin", 0, 0, rtmfp.ChunkIIKeying, func(t *testing.T, c decodedChunk) {
			iik = c.value.(rtmfp.IIKeying)
			if iik.InitiatorSessionID != e2eG14ClientSID {
				t.Errorf("initiator session ID %#08x", iik.InitiatorSessionID)
			}
		}},
		{"g14-04-s2c-rikeying.bin", e2eG14ClientSID, 1002, rtmfp.ChunkRIKeying, func(t *testing.T, c decodedChunk) {
			rik = c.value.(rtmfp.RIKeying)
			if rik.ResponderSessionID != e2eG14ServerSID {
				t.Errorf("responder session ID %#08x", rik.ResponderSessionID)
			}
		}},
	} {
		if !t.Run(f.name, func(t *testing.T) {
			p := decodePacket(t, openDatagram(t, startup, readCapture(t, rfcDir, f.name), f.sid, 0), &dec)
			wantShape(t, p, 0x0B, f.ts, 0, f.typ)
			f.check(t, p.chunks[0])
		}) {
			t.FailNow()
		}
	}

	serverKey, err := cryptoutil.NewDHKey(cryptoutil.Group14, hexlit.Decode(t, e2eG14ServerPrivate))
	if err != nil {
		t.Fatalf("NewDHKey: %v", err)
	}
	_, skrcKey, err := cryptoutil.ParseResponderComponent(rik.SKRC, cryptoutil.Group14)
	if err != nil || !bytes.Equal(skrcKey, serverKey.PublicKey()) {
		t.Fatalf("SKRC group-14 key %x (%v) is not 2^x mod p", skrcKey, err)
	}
	cert, err := cryptoutil.ParseCertificate(iik.Certificate)
	if err != nil {
		t.Fatalf("client ParseCertificate: %v", err)
	}
	ic, err := cryptoutil.ParseInitiatorComponent(iik.SKIC)
	if err != nil || ic.Group != cryptoutil.Group14 {
		t.Fatalf("ParseInitiatorComponent: group %d, %v; want group 14", ic.Group, err)
	}
	clientKey, err := ic.PeerPublicKey(&cert)
	if err != nil {
		t.Fatalf("PeerPublicKey: %v", err)
	}
	secret, err := serverKey.SharedSecret(clientKey)
	if err != nil {
		t.Fatalf("SharedSecret: %v", err)
	}
	ra, err := cryptoutil.NegotiateResponder(ic, cryptoutil.Policy{})
	if err != nil || !ra.RecvHMAC || !ra.SendHMAC || !ra.RecvSequence || !ra.SendSequence || ra.FarHMACLength != 16 {
		t.Fatalf("NegotiateResponder: %+v, %v; want HMAC (16) and sequence numbers both ways", ra, err)
	}
	ia, _, err := cryptoutil.NegotiateInitiator(cryptoutil.StrictPolicy(), rik.SKRC, cryptoutil.Group14)
	if err != nil {
		t.Fatalf("NegotiateInitiator: %v", err)
	}
	_, serverDec, err := cryptoutil.NewSessionCrypto(cryptoutil.Responder, secret, iik.SKIC, rik.SKRC, ra)
	if err != nil {
		t.Fatalf("NewSessionCrypto(Responder): %v", err)
	}
	clientEnc, clientDec, err := cryptoutil.NewSessionCrypto(cryptoutil.Initiator, secret, iik.SKIC, rik.SKRC, ia)
	if err != nil {
		t.Fatalf("NewSessionCrypto(Initiator): %v", err)
	}

	// In capture order, so that each direction's sequence numbers go 0, 1, 2 and the
	// client's Encrypter numbers the re-sealed packets as tcconn did.
	for _, f := range []struct {
		name     string
		c2s      bool
		seq      uint64
		flags    byte
		ts, echo uint16
		types    []byte
		check    func(t *testing.T, p decodedPacket)
	}{
		{"g14-05-c2s-connect.bin", true, 0, 0x8D, 0, 1002, []byte{rtmfp.ChunkUserData}, func(t *testing.T, p decodedPacket) {
			c := p.chunks[0]
			wantUserData(t, c, rtmfp.UserDataOptions, 2, 1, 1)
			wantNetConnectionFlow(t, c, 0)
			cmd := wantCommand(t, c, flash.TypeCommandAMF0, 0, flash.CommandConnect, 1, 0)
			o, ok := cmd.Object.(*amf.Object)
			if !ok {
				t.Fatalf("connect command object %T", cmd.Object)
			}
			if v, _ := o.GetString("app"); v != "live" {
				t.Errorf("app %q, want live", v)
			}
			if v, _ := o.GetString("tcUrl"); v != e2eG14URL {
				t.Errorf("tcUrl %q, want %q", v, e2eG14URL)
			}
			if v, ok := o.GetNumber("objectEncoding"); !ok || v != 0 {
				t.Errorf("objectEncoding %v (present %v), want 0", v, ok)
			}
		}},
		{"g14-06-s2c-ack.bin", false, 0, 0x0E, 1002, 0, []byte{rtmfp.ChunkECNReport, rtmfp.ChunkAckRanges}, func(t *testing.T, p decodedPacket) {
			wantAck(t, p.chunks[1], 2, 64, 1)
		}},
		{"g14-07-s2c-result.bin", false, 1, 0x82, 0, 0, []byte{rtmfp.ChunkUserData}, func(t *testing.T, p decodedPacket) {
			c := p.chunks[0]
			wantUserData(t, c, rtmfp.UserDataOptions, 2, 1, 1)
			wantNetConnectionFlow(t, c, 2)
			cmd := wantCommand(t, c, flash.TypeCommandAMF0, 0, flash.CommandResult, 1, 1)
			s := wantStatus(t, cmd.Args[0], flash.CodeConnectSuccess)
			if v, ok := extra(s, "objectEncoding"); !ok || v != 0.0 {
				t.Errorf("objectEncoding %#v (present %v), want 0", v, ok)
			}
		}},
		{"g14-08-c2s-ack.bin", true, 1, 0x01, 0, 0, []byte{rtmfp.ChunkECNReport, rtmfp.ChunkAckRanges}, func(t *testing.T, p decodedPacket) {
			if e := p.chunks[0].value.(rtmfp.ECNReport); e.CECount != 0 {
				t.Errorf("ECN CE count %d", e.CECount)
			}
			wantAck(t, p.chunks[1], 2, 16383, 1)
		}},
		{"g14-09-c2s-setpeerinfo-createstream.bin", true, 2, 0x81, 0, 0, []byte{rtmfp.ChunkUserData, rtmfp.ChunkNextUserData}, func(t *testing.T, p decodedPacket) {
			wantUserData(t, p.chunks[0], 0, 2, 2, 1)
			wantCommand(t, p.chunks[0], flash.TypeCommandAMF0, 0, flash.CommandSetPeerInfo, 0, 0)
			// The 0x11 continuation resolves to the next sequence number of flow 2 with
			// the same FSN (1), hence FSN offset 2.
			wantUserData(t, p.chunks[1], 0, 2, 3, 2)
			cmd := wantCommand(t, p.chunks[1], flash.TypeCommandAMF0, 0, flash.CommandCreateStream, 2, 0)
			if cmd.Object != nil {
				t.Errorf("createStream command object %#v, want null", cmd.Object)
			}
		}},
		{"g14-10-s2c-result-ack.bin", false, 2, 0x82, 0, 0, []byte{rtmfp.ChunkUserData, rtmfp.ChunkECNReport, rtmfp.ChunkAckRanges}, func(t *testing.T, p decodedPacket) {
			wantUserData(t, p.chunks[0], 0, 2, 2, 1)
			cmd := wantCommand(t, p.chunks[0], flash.TypeCommandAMF0, 0, flash.CommandResult, 2, 1)
			if cmd.Args[0] != 1.0 {
				t.Errorf("createStream _result stream ID %#v, want 1", cmd.Args[0])
			}
			wantAck(t, p.chunks[2], 2, 64, 3)
		}},
	} {
		t.Run(f.name, func(t *testing.T) {
			datagram := readCapture(t, rfcDir, f.name)
			d, sid := serverDec, rik.ResponderSessionID
			if !f.c2s {
				d, sid = clientDec, iik.InitiatorSessionID
			}
			p := decodePacket(t, openDatagram(t, d, datagram, sid, f.seq), &dec)
			wantShape(t, p, f.flags, f.ts, f.echo, f.types...)
			f.check(t, p)
			if f.c2s {
				if clientEnc.NextSequence() != f.seq {
					t.Fatalf("client Encrypter would number the packet %d, want %d", clientEnc.NextSequence(), f.seq)
				}
				wantResealed(t, clientEnc, sid, p, rtmfp.MaxPacketSize, datagram)
			}
		})
	}
}
