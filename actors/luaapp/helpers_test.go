package luaapp_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/actors/luaapp"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
)

// fixture is a server whose applications are the Lua scripts of a www folder the test
// writes, on a clock the test may skip forward.
type fixture struct {
	t     *testing.T
	sys   *actor.ActorSystem
	srv   *server.Server
	reg   *luaapp.Registry
	clock *clock.Warp
	dir   string // the www folder
	logs  *observer.ObservedLogs
	mu    sync.Mutex
	mtime time.Time // the last mtime given to a written file
}

type options struct {
	callTimeout time.Duration
	memory      int64
	configs     map[string]string
	apps        func(*luaapp.Registry) app.Registry // wraps the registry (Go and Lua applications)
	sessions    []actor.ReceiverMiddleware          // server.Options.SessionMiddleware
}

// start writes files (name → source, relative to www) and starts a server on them.
func start(t *testing.T, files map[string]string, o options) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: filepath.Join(t.TempDir(), "www"), clock: clock.NewWarp(), mtime: time.Now().Add(-time.Hour)}
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range files {
		f.write(name, src)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	f.logs = logs
	log := zap.New(zapcore.NewTee(core, testCore(t)))
	reg, err := luaapp.New(luaapp.Config{Root: f.dir, CallTimeout: o.callTimeout, Memory: o.memory, Configs: o.configs, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	f.reg = reg
	f.sys = actors.NewActorSystem(zap.NewNop())
	cfg := server.Defaults()
	cfg.Listen = []string{"127.0.0.1:0"}
	cfg.RTMP, cfg.Media = "127.0.0.1:0", server.Off
	cfg.Shards = 2
	opts := server.Options{Apps: reg, Log: log, Clock: f.clock, SessionMiddleware: o.sessions}
	if o.apps != nil {
		opts.Apps = o.apps(reg)
	}
	srv, err := server.Start(f.sys.Root, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
		f.sys.Shutdown()
		_ = reg.Close()
	})
	return f
}

// testCore logs warnings and errors through the test (shown when it fails).
func testCore(t *testing.T) zapcore.Core {
	enc := zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	return zapcore.NewCore(enc, zapcore.AddSync(testWriter{t}), zapcore.WarnLevel)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// write writes a file of the www folder with an mtime later than any before, so that a
// rewrite is seen as a change whatever the file system's time granularity.
func (f *fixture) write(name, src string) {
	f.t.Helper()
	p := filepath.Join(f.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	f.mtime = f.mtime.Add(time.Second)
	mt := f.mtime
	f.mu.Unlock()
	if err := os.Chtimes(p, mt, mt); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) url(path string) string {
	return fmt.Sprintf("rtmfp://%s/%s", f.srv.Addrs()[0], path)
}

// dial connects to the application at path (or to a whole rtmfp:// URL).
func (f *fixture) dial(path string, o client.Options) (*client.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	url := path
	if !strings.HasPrefix(path, "rtmfp://") {
		url = f.url(path)
	}
	c, err := client.Dial(ctx, f.sys, url, o)
	if err == nil {
		f.t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

func (f *fixture) mustDial(path string, o client.Options) *client.Conn {
	f.t.Helper()
	c, err := f.dial(path, o)
	if err != nil {
		f.t.Fatalf("connect to %q: %v", path, err)
	}
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// call calls method and fails the test on an error.
func call(t *testing.T, c *client.Conn, method string, args ...any) []any {
	t.Helper()
	got, err := c.Call(ctxT(t), method, args...)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return got
}

// waitLog waits for a log entry whose message contains msg (and, if field is set, a field
// of that key whose value contains value) and returns it.
func (f *fixture) waitLog(msg, field, value string) observer.LoggedEntry {
	f.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, e := range f.logs.All() {
			if !strings.Contains(e.Message, msg) {
				continue
			}
			if field == "" {
				return e
			}
			if v, ok := e.ContextMap()[field]; ok && strings.Contains(fmt.Sprint(v), value) {
				return e
			}
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("no log %q with %s~%q; logs: %v", msg, field, value, f.logs.All())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// manage skips the clock past a manage tick (and everything due by then).
func (f *fixture) manage() { f.clock.Skip(2100 * time.Millisecond) }

// eventually polls cond (for what the server does on its own after an event).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
