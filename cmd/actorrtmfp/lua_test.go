package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// These tests start the command itself, built once by TestMain, as a separate process
// with a www folder they write, and drive it with the project's client: the wiring of
// the Lua applications, their reload and their budgets as an operator meets them. The
// Lua API itself is tested in-process in actors/luaapp.

var binary string // the built command

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "actorrtmfp-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "actorrtmfp")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "cannot build the command:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is the command running as a child process.
type process struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string // the UDP address it serves
	www  string
	mu   sync.Mutex
	logs []map[string]any // its JSON log lines
	done chan struct{}
}

// startProcess writes files into a fresh www folder and starts the command on it.
func startProcess(t *testing.T, files map[string]string, env ...string) *process {
	t.Helper()
	www := filepath.Join(t.TempDir(), "www")
	for name, src := range files {
		writeFile(t, filepath.Join(www, name), src, time.Now().Add(-time.Hour))
	}
	cmd := exec.Command(binary)
	cmd.Dir = t.TempDir()
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "ACTORRTMFP_LISTEN=127.0.0.1:0", "ACTORRTMFP_RTMP=127.0.0.1:0", "ACTORRTMFP_MEDIA=", "ACTORRTMFP_LOG_FORMAT=json",
		"ACTORRTMFP_LOG_LEVEL=info", "ACTORRTMFP_APPS=" + www}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{t: t, cmd: cmd, www: www, done: make(chan struct{})}
	started := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var line map[string]any
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				continue
			}
			p.mu.Lock()
			p.logs = append(p.logs, line)
			p.mu.Unlock()
			if line["msg"] == "actorrtmfp started" {
				if addrs, _ := line["addrs"].([]any); len(addrs) > 0 {
					started <- fmt.Sprint(addrs[0])
				}
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
		_ = cmd.Wait()
	})
	select {
	case p.addr = <-started:
	case <-p.done:
		t.Fatalf("the command exited before serving: %v", p.allLogs())
	case <-time.After(30 * time.Second):
		t.Fatal("the command did not start")
	}
	return p
}

func writeFile(t *testing.T, path, src string, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func (p *process) allLogs() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]any(nil), p.logs...)
}

// waitLog waits for a log line whose message starts with msg and whose field key
// contains value.
func (p *process) waitLog(msg, key, value string) map[string]any {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range p.allLogs() {
			if strings.HasPrefix(fmt.Sprint(l["msg"]), msg) && (key == "" || strings.Contains(fmt.Sprint(l[key]), value)) {
				return l
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("no log line %q with %s~%q in %v", msg, key, value, p.allLogs())
	return nil
}

// dial connects to the application at path.
func (p *process) dial(path string) (*client.Conn, error) {
	sys := actors.NewActorSystem(zap.NewNop())
	p.t.Cleanup(sys.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, sys, "rtmfp://"+p.addr+"/"+path, client.Options{})
	if err == nil {
		p.t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

func (p *process) mustDial(path string) *client.Conn {
	p.t.Helper()
	c, err := p.dial(path)
	if err != nil {
		p.t.Fatalf("connect to %q: %v", path, err)
	}
	return c
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

const helloWorld = `function onConnection(client,...)
	function client:test(name,firstname)
		return "Hello "..firstname.." "..name
	end
end
`

func TestBinaryServesLuaApplications(t *testing.T) {
	t.Parallel()
	p := startProcess(t, map[string]string{
		"main.lua":      helloWorld,
		"chat/main.lua": `function onConnection(client) function client:room() return client.path end end`,
	})
	started := p.waitLog("actorrtmfp started", "applications", "Lua applications of")
	if !strings.HasSuffix(fmt.Sprint(started["applications"]), "www") {
		t.Errorf("the start line names %v", started["applications"])
	}
	got, err := p.mustDial("").Call(callCtx(t), "test", "Client", "Test")
	if err != nil || len(got) != 1 || got[0] != "Hello Test Client" {
		t.Errorf("HelloWorld: %v %v", got, err)
	}
	got, err = p.mustDial("chat").Call(callCtx(t), "room")
	if err != nil || len(got) != 1 || got[0] != "/chat" {
		t.Errorf("chat: %v %v", got, err)
	}
	_, err = p.dial("nowhere")
	var ce *client.ConnectError
	if !errors.As(err, &ce) || ce.Status.Code != flash.CodeConnectInvalidApp {
		t.Errorf("a path without main.lua: %v, want InvalidApp", err)
	}
}

func TestBinaryReloadsWhileClientsStay(t *testing.T) {
	t.Parallel()
	v := func(s string) string {
		return `function onConnection(client) function client:version() return "` + s + `" end end`
	}
	p := startProcess(t, map[string]string{"main.lua": v("one")})
	old := p.mustDial("")
	main := filepath.Join(p.www, "main.lua")
	writeFile(t, main, v("two"), time.Now())
	if got, err := p.mustDial("").Call(callCtx(t), "version"); err != nil || got[0] != "two" {
		t.Errorf("a new client after the edit: %v %v", got, err)
	}
	if got, err := old.Call(callCtx(t), "version"); err != nil || got[0] != "one" {
		t.Errorf("the client connected before: %v %v", got, err)
	}
	p.waitLog("application reloaded", "app", "/")

	writeFile(t, main, "function onConnection(client)\n  return {\nend\n", time.Now().Add(time.Second))
	_, err := p.dial("")
	var ce *client.ConnectError
	if !errors.As(err, &ce) || ce.Status.Code != flash.CodeConnectRejected || !strings.HasPrefix(ce.Status.Description, "www/main.lua:3:") {
		t.Errorf("after a broken edit: %v, want Connect.Rejected with the file and line", err)
	}
	p.waitLog("application failed to load", "error", "www/main.lua:3:")
	if got, err := old.Call(callCtx(t), "version"); err != nil || got[0] != "one" {
		t.Errorf("the first client after the broken edit: %v %v", got, err)
	}
}

func TestBinaryStopsRunawayAndForbiddenCalls(t *testing.T) {
	t.Parallel()
	p := startProcess(t, map[string]string{
		"loop/main.lua": `function onConnection(client)
	function client:spin() while true do end end
	function client:shell() return os.execute("echo pwned") end
	function client:peek() local f, err = io.open("/etc/passwd") return f and "opened" or err end
end`,
		"echo/main.lua": `function onConnection(client) function client:echo(x) return x end end`,
	}, "ACTORRTMFP_LUA_CALL_TIMEOUT=200ms")
	loop, echo := p.mustDial("loop"), p.mustDial("echo")
	spun := make(chan error, 1)
	go func() {
		_, err := loop.Call(callCtx(t), "spin")
		spun <- err
	}()
	if got, err := echo.Call(callCtx(t), "echo", "meanwhile"); err != nil || got[0] != "meanwhile" {
		t.Errorf("another application during the loop: %v %v", got, err)
	}
	err := <-spun
	var ce *client.CallError
	if !errors.As(err, &ce) || !strings.Contains(ce.Status.Description, "script exceeded its time budget of 200ms") {
		t.Errorf("spin: %v", err)
	}
	if _, err := loop.Call(callCtx(t), "shell"); !errors.As(err, &ce) {
		t.Errorf("os.execute: %v, want an error", err)
	}
	if got, err := loop.Call(callCtx(t), "peek"); err != nil || got[0] == "opened" {
		t.Errorf("io.open of /etc/passwd: %v %v", got, err)
	}
}

func TestBinaryWithoutApplicationsFolder(t *testing.T) {
	t.Parallel()
	// The default folder missing: everyone is accepted, as before applications existed.
	var out, errb strings.Builder
	code := run(nil, []string{"ACTORRTMFP_APPS=" + filepath.Join(t.TempDir(), "absent")}, &out, &errb, nil)
	if code != 2 || !strings.Contains(errb.String(), "ACTORRTMFP_APPS") {
		t.Errorf("an explicit folder that is not there: exit %d, %q", code, errb.String())
	}
	st, err := loadSettings(nil)
	if err != nil {
		t.Fatal(err)
	}
	st.Apps = filepath.Join(t.TempDir(), "www")
	reg, desc, closeFn, err := applications(st, nil, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	if a, ok := reg.Lookup("any/path"); !ok || a == nil || !strings.Contains(desc, "every client accepted") {
		t.Errorf("without the default folder: %T %v %q, want every client accepted", a, ok, desc)
	}
}
