package media

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/clock"
)

// Config configures the recordings of a node.
type Config struct {
	// Folder holds the recordings, one sub-folder per application; "" turns recording
	// and VOD off. It must exist: the server never makes it (it makes the applications'
	// sub-folders in it).
	Folder string
	Clock  clock.Clock // nil: the real one
	Log    *zap.Logger
	Stats  *Stats
}

// Stats counts what recorders and players did.
type Stats struct {
	Recordings     atomic.Uint64 // recordings started
	Closed         atomic.Uint64 // recordings whose file was closed (written to its end)
	RecordFailures atomic.Uint64 // recordings refused or ended by an error
	Plays          atomic.Uint64 // recordings played
	NotFound       atomic.Uint64 // plays of a name with no recording
	BadFiles       atomic.Uint64 // recordings that are not valid FLV (refused to play or append to)
	PlayFailures   atomic.Uint64 // plays ended by a read error
}

// Media is what the recorders and players of a node share.
type Media struct {
	cfg      Config
	channels atomic.Uint64
}

// New returns the recordings of a node.
func New(cfg Config) *Media {
	cfg.Clock = clock.Or(cfg.Clock)
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Stats == nil {
		cfg.Stats = &Stats{}
	}
	return &Media{cfg: cfg}
}

// Enabled reports whether the node has a media folder setting (the folder may still be
// missing: recording then fails with ErrNoFolder).
func (m *Media) Enabled() bool { return m != nil && m.cfg.Folder != "" }

// Stats returns the counters.
func (m *Media) Stats() *Stats { return m.cfg.Stats }

// Channel returns a channel ID for a player, unique in the node: publications use their
// registry IDs, which never reach the top bit.
func (m *Media) Channel() uint64 { return 1<<63 | m.channels.Add(1) }

// Errors about recordings.
var (
	// ErrNoFolder means the node has no media folder, or it does not exist.
	ErrNoFolder = errors.New("recording is off: the server has no media folder")
	// ErrName means a stream name that cannot name a file.
	ErrName = errors.New("this stream name cannot name a recording")
)

// File returns the recording of stream name in application app:
// <folder>/<app>/<name>.flv. A "flv:" prefix and a ".flv" suffix of name are dropped (Flash
// Media Server's way of naming files); other prefixes ("mp4:") are not served. Both app and
// name may have sub-folders ("/"), but no segment may be empty, "." or "..", or hold a
// backslash, a colon or a control character.
func (m *Media) File(app, name string) (string, error) {
	if !m.Enabled() {
		return "", ErrNoFolder
	}
	name = strings.TrimSuffix(strings.TrimPrefix(name, "flv:"), ".flv")
	parts := []string{m.cfg.Folder}
	if app != "" {
		segs, err := segments(app)
		if err != nil {
			return "", err
		}
		parts = append(parts, segs...)
	}
	segs, err := segments(name)
	if err != nil {
		return "", err
	}
	parts = append(parts, segs...)
	return filepath.Join(parts...) + ".flv", nil
}

// segments splits a name on "/" and checks every segment.
func segments(name string) ([]string, error) {
	if name == "" || len(name) > 1024 {
		return nil, ErrName
	}
	segs := strings.Split(name, "/")
	for _, s := range segs {
		if s == "" || s == "." || s == ".." || len(s) > 255 {
			return nil, fmt.Errorf("%w: %q", ErrName, name)
		}
		for _, r := range s {
			if r < 0x20 || r == 0x7F || r == '\\' || r == ':' {
				return nil, fmt.Errorf("%w: %q", ErrName, name)
			}
		}
	}
	return segs, nil
}

// checkFolder reports ErrNoFolder unless the media folder exists.
func (m *Media) checkFolder() error {
	if !m.Enabled() {
		return ErrNoFolder
	}
	if fi, err := os.Stat(m.cfg.Folder); err != nil || !fi.IsDir() {
		return fmt.Errorf("%w (%s is missing)", ErrNoFolder, m.cfg.Folder)
	}
	return nil
}
