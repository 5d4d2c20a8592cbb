package flash

import (
	"errors"
	"fmt"

	"github.com/actorrtmfp/actorrtmfp/codec/amf"
)

// Command names the server handles or sends.
const (
	CommandConnect      = "connect"
	CommandResult       = "_result"
	CommandError        = "_error"
	CommandOnStatus     = "onStatus"
	CommandClose        = "close"
	CommandSetPeerInfo  = "setPeerInfo"
	CommandCreateStream = "createStream"
	CommandDeleteStream = "deleteStream"
	CommandInitStream   = "initStream"
	CommandPublish      = "publish"
	CommandPlay         = "play"
	CommandCloseStream  = "closeStream"
	CommandReceiveAudio = "receiveAudio"
	CommandReceiveVideo = "receiveVideo"
	CommandPause        = "pause"
	CommandSeek         = "seek"
)

// ErrCommand means a command body without a name or transaction ID.
var ErrCommand = errors.New("flash: malformed command")

// Command is an AMF command (message type 0x14, or 0x11 with the format byte):
//
//	AMF0 string name | AMF0 number transaction ID | command object (usually null) | args…
//
// Any of the values may arrive as AMF3 through the 0x11 switch. AMF3 records whether the
// message type was 0x11; the body is AMF0 in both cases. Timestamp is the message
// timestamp: commands are normally sent with 0 (Flash stamped one setPeerInfo with 130 ms).
type Command struct {
	Name          string
	TransactionID float64
	Object        any
	Args          []any
	AMF3          bool
	Timestamp     uint32
}

// ParseCommand decodes a command message of type 0x14 or 0x11 with dec, which is Reset to
// the message body (its AMF3 tables then span this message). A body that ends after the
// transaction ID has a nil Object and no Args.
func ParseCommand(m Message, dec *amf.Decoder) (Command, error) {
	if m.Type != TypeCommandAMF0 && m.Type != TypeCommandAMF3 {
		return Command{}, fmt.Errorf("%w 0x%02x for a command", ErrType, m.Type)
	}
	dec.Reset(m.Body)
	c := Command{AMF3: m.Type == TypeCommandAMF3, Timestamp: m.Timestamp}
	var err error
	if c.Name, err = dec.ReadAMF0String(); err != nil {
		return Command{}, fmt.Errorf("%w: name: %w", ErrCommand, err)
	}
	if c.TransactionID, err = dec.ReadAMF0Number(); err != nil {
		return Command{}, fmt.Errorf("%w: transaction ID: %w", ErrCommand, err)
	}
	if dec.Len() == 0 {
		return c, nil
	}
	if c.Object, err = dec.ReadAMF0(); err != nil {
		return Command{}, err
	}
	if c.Args, err = readValues(dec); err != nil {
		return Command{}, err
	}
	return c, nil
}

// readValues reads AMF0 values until the decoder's input ends.
func readValues(dec *amf.Decoder) ([]any, error) {
	var vs []any
	for dec.Len() > 0 {
		v, err := dec.ReadAMF0()
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	return vs, nil
}

// AppendCommand appends c as a whole message: type 0x14 (0x11 with its format byte when
// c.AMF3), c.Timestamp, the name, the transaction ID, the command object and the arguments,
// all in AMF0 (values that exist only in AMF3 are switched).
func AppendCommand(b []byte, c Command) ([]byte, error) {
	typ := TypeCommandAMF0
	if c.AMF3 {
		typ = TypeCommandAMF3
	}
	b = AppendMessageHeader(b, typ, c.Timestamp)
	b = amf.AppendAMF0String(b, c.Name)
	b = amf.AppendAMF0Number(b, c.TransactionID)
	b, err := appendInfo(b, c.Object)
	if err != nil {
		return b, err
	}
	for _, a := range c.Args {
		if b, err = appendInfo(b, a); err != nil {
			return b, err
		}
	}
	return b, nil
}

// AppendResult appends a `_result` reply (type 0x14, timestamp 0): "_result", txn, null,
// then info (an *amf.Object, a number for createStream, a Status…).
func AppendResult(b []byte, txn float64, info any) ([]byte, error) {
	return appendInfo(appendReplyHeader(b, CommandResult, txn), info)
}

// AppendError appends an `_error` reply: "_error", txn, null, info.
func AppendError(b []byte, txn float64, info any) ([]byte, error) {
	return appendInfo(appendReplyHeader(b, CommandError, txn), info)
}

// AppendStatusResult is AppendResult for a Status, written without building an
// *amf.Object or boxing s: allocation-free.
func AppendStatusResult(b []byte, txn float64, s Status) ([]byte, error) {
	return s.AppendAMF0(appendReplyHeader(b, CommandResult, txn))
}

// AppendStatusError is AppendError for a Status.
func AppendStatusError(b []byte, txn float64, s Status) ([]byte, error) {
	return s.AppendAMF0(appendReplyHeader(b, CommandError, txn))
}

// AppendOnStatus appends an `onStatus` call (transaction 0, null object) carrying s, as sent
// on NetStream flows.
func AppendOnStatus(b []byte, s Status) ([]byte, error) {
	return s.AppendAMF0(appendReplyHeader(b, CommandOnStatus, 0))
}

// appendReplyHeader writes a type 0x14 header, name, txn and the null command object.
func appendReplyHeader(b []byte, name string, txn float64) []byte {
	b = AppendMessageHeader(b, TypeCommandAMF0, 0)
	b = amf.AppendAMF0String(b, name)
	b = amf.AppendAMF0Number(b, txn)
	return amf.AppendAMF0Null(b)
}

// appendInfo writes one AMF0 value, with a fast path for Status.
func appendInfo(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case Status:
		return x.AppendAMF0(b)
	case *Status:
		if x != nil {
			return x.AppendAMF0(b)
		}
	}
	return amf.AppendAMF0(b, v)
}

// Data is a data message (type 0x12, or 0x0F with the format byte): a sequence of AMF0
// values, usually a handler name first ("@setDataFrame", "onMetaData", "|RtmpSampleAccess").
type Data struct {
	Timestamp uint32
	Values    []any
	AMF3      bool // arrived / leaves as type 0x0F
}

// Name returns the first value when it is a string.
func (d Data) Name() string {
	if len(d.Values) > 0 {
		if s, ok := d.Values[0].(string); ok {
			return s
		}
	}
	return ""
}

// ParseData decodes a data message of type 0x12 or 0x0F with dec.
func ParseData(m Message, dec *amf.Decoder) (Data, error) {
	if m.Type != TypeDataAMF0 && m.Type != TypeDataAMF3 {
		return Data{}, fmt.Errorf("%w 0x%02x for data", ErrType, m.Type)
	}
	dec.Reset(m.Body)
	vs, err := readValues(dec)
	if err != nil {
		return Data{}, err
	}
	return Data{Timestamp: m.Timestamp, Values: vs, AMF3: m.Type == TypeDataAMF3}, nil
}

// AppendData appends d as a whole message of type 0x12 (0x0F when d.AMF3).
func AppendData(b []byte, d Data) ([]byte, error) {
	typ := TypeDataAMF0
	if d.AMF3 {
		typ = TypeDataAMF3
	}
	b = AppendMessageHeader(b, typ, d.Timestamp)
	var err error
	for _, v := range d.Values {
		if b, err = appendInfo(b, v); err != nil {
			return b, err
		}
	}
	return b, nil
}
