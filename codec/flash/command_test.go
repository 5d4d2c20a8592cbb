package flash

import (
	"bytes"
	"errors"
	"testing"

	"github.com/actorrtmfp/actorrtmfp/codec/amf"
)

func parseCommand(t *testing.T, dec *amf.Decoder, hex string) (Command, []byte) {
	t.Helper()
	in := unhex(t, hex)
	m, err := ParseMessage(in)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCommand(m, dec)
	if err != nil {
		t.Fatal(err)
	}
	return c, in
}

// Every captured command re-encodes to the sender's exact bytes.
func TestCommandsByteExact(t *testing.T) {
	var dec amf.Decoder
	for _, tc := range []struct {
		name, hex string
		cmd       string
		txn       float64
		args      int
		amf3      bool
	}{
		{"flash connect", msgFlashConnect, "connect", 1, 0, false},
		{"flash _result", msgFlashResult, "_result", 1, 1, false},
		{"flash setPeerInfo 0x11", msgFlashSetPeerInfo, "setPeerInfo", 0, 2, true},
		{"cumulus setPeerInfo 0x14", msgCumulusSetPeerInfo, "setPeerInfo", 0, 2, false},
		{"tc connect", msgTCConnect, "connect", 1, 0, false},
		{"tc _result", msgTCResult, "_result", 1, 1, false},
		{"tc setPeerInfo", msgTCSetPeerInfo, "setPeerInfo", 0, 0, false},
		{"tc createStream", msgTCCreateStream, "createStream", 2, 0, false},
		{"tc createStream _result", msgTCStreamResult, "_result", 2, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, in := parseCommand(t, &dec, tc.hex)
			if c.Name != tc.cmd || c.TransactionID != tc.txn || len(c.Args) != tc.args || c.AMF3 != tc.amf3 {
				t.Fatalf("parsed %+v", c)
			}
			out, err := AppendCommand(nil, c)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, in) {
				t.Fatalf("re-encoded\n%x\nwant\n%x", out, in)
			}
		})
	}
}

func TestConnectCommand(t *testing.T) {
	var dec amf.Decoder
	c, _ := parseCommand(t, &dec, msgFlashConnect)
	o, ok := c.Object.(*amf.Object)
	if !ok || c.Args != nil {
		t.Fatalf("object %#v args %#v", c.Object, c.Args)
	}
	if v, _ := o.Get("swfUrl"); v != (amf.Undefined{}) {
		t.Errorf("swfUrl %#v", v)
	}
	if n, _ := o.GetNumber("objectEncoding"); n != 3 {
		t.Errorf("objectEncoding %v", n)
	}
	if s, _ := o.GetString("tcUrl"); s != "rtmfp://192.168.137.183/" {
		t.Errorf("tcUrl %q", s)
	}
	c, _ = parseCommand(t, &dec, msgTCConnect)
	if n, ok := c.Object.(*amf.Object).GetNumber("objectEncoding"); !ok || n != 0 {
		t.Errorf("tc objectEncoding %v %v", n, ok)
	}
}

func TestSetPeerInfoCommand(t *testing.T) {
	var dec amf.Decoder
	c, _ := parseCommand(t, &dec, msgFlashSetPeerInfo)
	if c.Timestamp != 0x82 || c.Object != nil || c.Args[0] != "192.168.137.1:55655" || c.Args[1] != "192.168.202.99:55655" {
		t.Fatalf("%+v", c)
	}
}

// The server's replies, built with the helpers, equal the captured ones.
func TestReplies(t *testing.T) {
	got, err := AppendResult(nil, 2, 1.0)
	if err != nil || !bytes.Equal(got, unhex(t, msgTCStreamResult)) {
		t.Errorf("createStream _result %x %v", got, err)
	}
	// go-rtmfp's reply, with its object rebuilt in its (alphabetical) order.
	info := amf.NewObject(
		amf.Property{Key: "objectEncoding", Value: 3.0},
		amf.Property{Key: "code", Value: CodeConnectSuccess},
		amf.Property{Key: "data", Value: nil},
		amf.Property{Key: "description", Value: "Connection succeeded"},
		amf.Property{Key: "level", Value: LevelStatus})
	got, err = AppendResult(nil, 1, info)
	if err != nil || !bytes.Equal(got, unhex(t, msgFlashResult)) {
		t.Errorf("connect _result %x %v", got, err)
	}
	// Our own order: level, code, description, then extras.
	want := unhex(t, `14 00000000 02 0007 "_result" 00 3ff0000000000000 05
		03 0005 "level" 02 0006 "status"
		   0004 "code" 02 001d "NetConnection.Connect.Success"
		   000b "description" 02 0014 "Connection succeeded"
		   000e "objectEncoding" 00 4008000000000000
		000009`)
	got, err = AppendResult(nil, 1, ConnectSuccess(3))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("ConnectSuccess _result\n%x\n%x %v", got, want, err)
	}
	if got, err = AppendStatusResult(nil, 1, ConnectSuccess(3)); err != nil || !bytes.Equal(got, want) {
		t.Errorf("AppendStatusResult\n%x\n%x %v", got, want, err)
	}
	want = unhex(t, `14 00000000 02 0006 "_error" 00 4008000000000000 05
		03 0005 "level" 02 0005 "error"
		   0004 "code" 02 001e "NetConnection.Connect.Rejected"
		   000b "description" 02 0002 "no"
		000009`)
	got, err = AppendError(nil, 3, ConnectRejected("no"))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("_error\n%x\n%x %v", got, want, err)
	}
	if got, err = AppendStatusError(nil, 3, ConnectRejected("no")); err != nil || !bytes.Equal(got, want) {
		t.Errorf("AppendStatusError\n%x\n%x %v", got, want, err)
	}
	st := ConnectRejected("no")
	if got, err = AppendError(nil, 3, &st); err != nil || !bytes.Equal(got, want) {
		t.Errorf("AppendError(*Status)\n%x\n%x %v", got, want, err)
	}
	want = unhex(t, `14 00000000 02 0008 "onStatus" 00 0000000000000000 05
		03 0005 "level" 02 0006 "status"
		   0004 "code" 02 0017 "NetStream.Publish.Start"
		   000b "description" 02 0014 "cam is now published"
		000009`)
	got, err = AppendOnStatus(nil, PublishStart("cam"))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("onStatus\n%x\n%x %v", got, want, err)
	}
	// A server call: close, txn 0, null, in a 0x11 message with its format byte.
	got, err = AppendCommand(nil, Command{Name: CommandClose, AMF3: true})
	if err != nil || !bytes.Equal(got, unhex(t, `11 00000000 00 02 0005 "close" 00 0000000000000000 05`)) {
		t.Errorf("close %x %v", got, err)
	}
	// Cumulus-style createStream result through the AMF3 switch.
	got, err = AppendResult(nil, 2, amf.Integer(1))
	if err != nil || !bytes.Equal(got, unhex(t, `14 00000000 02 0007 "_result" 00 4000000000000000 05 11 04 01`)) {
		t.Errorf("integer result %x %v", got, err)
	}
}

// Commands whose values arrive through the AMF3 switch decode to plain values; the AMF3
// string table spans the message, so the last argument (string reference #0) is the name.
func TestSwitchedCommand(t *testing.T) {
	in := unhex(t, `11 00000000 00 11 06 0b "relay" 11 04 05 05 11 06 07 "abc" 11 06 00`)
	m, err := ParseMessage(in)
	if err != nil {
		t.Fatal(err)
	}
	var dec amf.Decoder
	c, err := ParseCommand(m, &dec)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "relay" || c.TransactionID != 5 || c.Object != nil || len(c.Args) != 2 || c.Args[0] != "abc" || c.Args[1] != "relay" {
		t.Fatalf("%+v", c)
	}
}

func TestCommandErrors(t *testing.T) {
	var dec amf.Decoder
	for _, tc := range []struct {
		hex  string
		want error
	}{
		{"14 00000000 05", ErrCommand},
		{`14 00000000 02 0001 "x"`, ErrCommand},
		{`14 00000000 02 0001 "x" 02 0000`, ErrCommand},
		{`14 00000000 02 0001 "x" 00 0000000000000000 05 09`, amf.ErrMarker},
		{`12 00000000 02 0001 "x"`, ErrType},
	} {
		m, err := ParseMessage(unhex(t, tc.hex))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseCommand(m, &dec); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.hex, err, tc.want)
		}
	}
	// Name and transaction ID only: accepted, nil object.
	m, _ := ParseMessage(unhex(t, `14 00000000 02 0001 "x" 00 0000000000000000`))
	if c, err := ParseCommand(m, &dec); err != nil || c.Object != nil || c.Args != nil {
		t.Errorf("short command: %+v %v", c, err)
	}
	if _, err := AppendCommand(nil, Command{Name: "x", Args: []any{struct{}{}}}); !errors.Is(err, amf.ErrUnsupported) {
		t.Errorf("unsupported arg: %v", err)
	}
}

func TestData(t *testing.T) {
	var dec amf.Decoder
	for _, hex := range []string{
		`12 000003e8 02 000d "@setDataFrame" 02 000a "onMetaData"
		   08 00000002 0008 "duration" 00 0000000000000000 0005 "width" 00 4084000000000000 000009`,
		`0f 00000000 00 02 0011 "|RtmpSampleAccess" 01 01 01 01`,
	} {
		in := unhex(t, hex)
		m, err := ParseMessage(in)
		if err != nil {
			t.Fatal(err)
		}
		d, err := ParseData(m, &dec)
		if err != nil {
			t.Fatal(err)
		}
		out, err := AppendData(nil, d)
		if err != nil || !bytes.Equal(out, in) {
			t.Errorf("re-encoded %x %v", out, err)
		}
		if d.Name() == "" || d.AMF3 != (m.Type == TypeDataAMF3) {
			t.Errorf("%+v", d)
		}
	}
	m, _ := ParseMessage(unhex(t, `12 00000000 02 000d "@setDataFrame" 02 000a "onMetaData" 03 0005 "width" 00 4084000000000000 000009`))
	d, err := ParseData(m, &dec)
	if err != nil || d.Name() != "@setDataFrame" || d.Values[1] != "onMetaData" {
		t.Fatalf("%+v %v", d, err)
	}
	if w, _ := d.Values[2].(*amf.Object).GetNumber("width"); w != 640 {
		t.Errorf("width %v", w)
	}
	if _, err := ParseData(Message{Type: TypeCommandAMF0}, &dec); !errors.Is(err, ErrType) {
		t.Error(err)
	}
	if (Data{Values: []any{1.0}}).Name() != "" {
		t.Error("Name of non-string")
	}
}
