package flash

import (
	"errors"
	"fmt"

	"github.com/actorrtmfp/actorrtmfp/codec/amf"
)

// Status levels.
const (
	LevelStatus  = "status"
	LevelWarning = "warning"
	LevelError   = "error"
)

// Status codes sent by the server.
const (
	CodeConnectSuccess      = "NetConnection.Connect.Success"
	CodeConnectRejected     = "NetConnection.Connect.Rejected"
	CodeConnectInvalidApp   = "NetConnection.Connect.InvalidApp"
	CodeConnectClosed       = "NetConnection.Connect.Closed"
	CodeCallFailed          = "NetConnection.Call.Failed"
	CodePublishStart        = "NetStream.Publish.Start"
	CodePublishBadName      = "NetStream.Publish.BadName"
	CodeUnpublishSuccess    = "NetStream.Unpublish.Success"
	CodePlayReset           = "NetStream.Play.Reset"
	CodePlayStart           = "NetStream.Play.Start"
	CodePlayStop            = "NetStream.Play.Stop"
	CodePlayFailed          = "NetStream.Play.Failed"
	CodePlayPublishNotify   = "NetStream.Play.PublishNotify"
	CodePlayUnpublishNotify = "NetStream.Play.UnpublishNotify"
	CodePlayStreamNotFound  = "NetStream.Play.StreamNotFound"
	CodeSeekInvalidTime     = "NetStream.Seek.InvalidTime"
	CodeSeekFailed          = "NetStream.Seek.Failed"
	CodeRecordStart         = "NetStream.Record.Start"
	CodeRecordStop          = "NetStream.Record.Stop"
	CodeRecordFailed        = "NetStream.Record.Failed"
	CodeRecordNoAccess      = "NetStream.Record.NoAccess"
)

// ErrStatus means a value that is not a status (info) object.
var ErrStatus = errors.New("flash: not a status object")

// Status is an info object as carried by onStatus, _result and _error. It is written as an
// anonymous AMF0 object with level, code and description first, then Extra in order — the
// order Cumulus writes (go-rtmfp and tcserver happen to sort their keys; Flash accepts any
// order).
type Status struct {
	Level       string
	Code        string
	Description string
	Extra       []amf.Property
}

// Object returns s as an *amf.Object.
func (s Status) Object() *amf.Object {
	props := make([]amf.Property, 0, 3+len(s.Extra))
	props = append(props,
		amf.Property{Key: "level", Value: s.Level},
		amf.Property{Key: "code", Value: s.Code},
		amf.Property{Key: "description", Value: s.Description})
	return amf.NewObject(append(props, s.Extra...)...)
}

// AppendAMF0 appends s as an AMF0 object, the same bytes as AppendAMF0(s.Object()).
func (s Status) AppendAMF0(b []byte) ([]byte, error) {
	b = amf.AppendAMF0ObjectStart(b)
	b = amf.AppendAMF0Key(b, "level")
	b = amf.AppendAMF0String(b, s.Level)
	b = amf.AppendAMF0Key(b, "code")
	b = amf.AppendAMF0String(b, s.Code)
	b = amf.AppendAMF0Key(b, "description")
	b = amf.AppendAMF0String(b, s.Description)
	var err error
	for _, p := range s.Extra {
		if b, err = amf.AppendAMF0Property(b, p.Key, p.Value); err != nil {
			return b, err
		}
	}
	return amf.AppendAMF0ObjectEnd(b), nil
}

// ParseStatus reads an info object (an *amf.Object or *amf.ECMAArray with a string code).
// level and description are optional; every other property goes to Extra in order.
func ParseStatus(v any) (Status, error) {
	var props []amf.Property
	switch x := v.(type) {
	case *amf.Object:
		if x == nil {
			return Status{}, ErrStatus
		}
		props = x.Props
	case *amf.ECMAArray:
		if x == nil {
			return Status{}, ErrStatus
		}
		props = x.Props
	default:
		return Status{}, fmt.Errorf("%w: %T", ErrStatus, v)
	}
	var s Status
	hasCode := false
	for _, p := range props {
		str, isStr := p.Value.(string)
		switch {
		case p.Key == "level" && isStr:
			s.Level = str
		case p.Key == "code" && isStr:
			s.Code, hasCode = str, true
		case p.Key == "description" && isStr:
			s.Description = str
		default:
			s.Extra = append(s.Extra, p)
		}
	}
	if !hasCode {
		return Status{}, fmt.Errorf("%w: no code", ErrStatus)
	}
	return s, nil
}

// ConnectSuccess is the info object of a successful connect's _result; objectEncoding is
// the client's (0 or 3).
func ConnectSuccess(objectEncoding float64) Status {
	return Status{Level: LevelStatus, Code: CodeConnectSuccess, Description: "Connection succeeded",
		Extra: []amf.Property{{Key: "objectEncoding", Value: objectEncoding}}}
}

// ConnectRejected is the _error info object of a refused connect.
func ConnectRejected(description string) Status {
	return Status{Level: LevelError, Code: CodeConnectRejected, Description: description}
}

// ConnectInvalidApp is the _error info object of a connect to an unknown application.
func ConnectInvalidApp(description string) Status {
	return Status{Level: LevelError, Code: CodeConnectInvalidApp, Description: description}
}

// ConnectClosed reports that the server closed the connection.
func ConnectClosed() Status {
	return Status{Level: LevelStatus, Code: CodeConnectClosed, Description: "Connection closed"}
}

// CallFailed is the _error info object of a failed remote call.
func CallFailed(description string) Status {
	return Status{Level: LevelError, Code: CodeCallFailed, Description: description}
}

// PublishStart reports that stream name is being published.
func PublishStart(name string) Status {
	return Status{Level: LevelStatus, Code: CodePublishStart, Description: name + " is now published"}
}

// PublishBadName refuses a publication (name already published, or refused by the
// application).
func PublishBadName(description string) Status {
	return Status{Level: LevelError, Code: CodePublishBadName, Description: description}
}

// UnpublishSuccess reports that stream name is no longer published.
func UnpublishSuccess(name string) Status {
	return Status{Level: LevelStatus, Code: CodeUnpublishSuccess, Description: name + " is now unpublished"}
}

// PlayReset is sent first when playback of name starts.
func PlayReset(name string) Status {
	return Status{Level: LevelStatus, Code: CodePlayReset, Description: "Playing and resetting " + name}
}

// PlayStart follows PlayReset.
func PlayStart(name string) Status {
	return Status{Level: LevelStatus, Code: CodePlayStart, Description: "Started playing " + name}
}

// PlayStop reports that playback of name stopped.
func PlayStop(name string) Status {
	return Status{Level: LevelStatus, Code: CodePlayStop, Description: "Stopped playing " + name}
}

// PlayFailed refuses a play request.
func PlayFailed(description string) Status {
	return Status{Level: LevelError, Code: CodePlayFailed, Description: description}
}

// PlayPublishNotify tells a subscriber that name is now published.
func PlayPublishNotify(name string) Status {
	return Status{Level: LevelStatus, Code: CodePlayPublishNotify, Description: name + " is now published"}
}

// PlayUnpublishNotify tells a subscriber that name is no longer published.
func PlayUnpublishNotify(name string) Status {
	return Status{Level: LevelStatus, Code: CodePlayUnpublishNotify, Description: name + " is now unpublished"}
}

// PlayStreamNotFound reports that name does not exist.
func PlayStreamNotFound(name string) Status {
	return Status{Level: LevelError, Code: CodePlayStreamNotFound, Description: name + " not found"}
}

// SeekInvalidTime refuses a seek.
func SeekInvalidTime(description string) Status {
	return Status{Level: LevelError, Code: CodeSeekInvalidTime, Description: description}
}
