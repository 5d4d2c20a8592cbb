package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/httpapi"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/codec/flash"
)

// lockedBuffer is a log the test reads while the command writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fakeSystemd is the socket systemd gives a Type=notify service (NOTIFY_SOCKET).
type fakeSystemd struct{ conn *net.UnixConn }

func newFakeSystemd(t *testing.T) (*fakeSystemd, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &fakeSystemd{conn: c}, path
}

// next returns the next notification.
func (f *fakeSystemd) next(t *testing.T) string {
	t.Helper()
	_ = f.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 4096)
	n, err := f.conn.Read(buf)
	if err != nil {
		t.Fatalf("no notification to systemd: %v", err) // (a command that exited early logs why: see the test's log)
	}
	return string(buf[:n])
}

// The command under systemd: it says READY=1 once every socket listens (RTMFP, RTMP, the
// HTTP API); SIGHUP rereads the access lists without dropping the client connected; the
// HTTP API answers on its address; SIGTERM says STOPPING=1.
func TestSystemdReadinessHTTPAndSIGHUPReload(t *testing.T) {
	dir := t.TempDir()
	deny, auth := filepath.Join(dir, "deny"), filepath.Join(dir, "auth")
	if err := os.WriteFile(deny, []byte("# nobody yet\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(auth, []byte("# no rules yet\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	systemd, socket := newFakeSystemd(t)
	// The test holds SIGHUP too, so that no moment is left where it would end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	ready := make(chan *server.Server, 1)
	exit := make(chan int, 1)
	var out lockedBuffer
	logs := &lockedBuffer{}
	go func() {
		exit <- run(nil, []string{"ACTORRTMFP_LISTEN=127.0.0.1:0", "ACTORRTMFP_RTMP=127.0.0.1:0", "ACTORRTMFP_MEDIA=", "ACTORRTMFP_HTTP=127.0.0.1:0",
			"ACTORRTMFP_DENY=" + deny, "ACTORRTMFP_AUTH_FILE=" + auth, "NOTIFY_SOCKET=" + socket},
			&out, logs, ready)
	}()
	if got := systemd.next(t); !strings.Contains(got, "READY=1") {
		t.Fatalf("first notification %q, want READY=1 (log: %s)", got, logs.String())
	}
	var srv *server.Server
	select {
	case srv = <-ready:
	case code := <-exit:
		t.Fatalf("exited %d: %s", code, logs.String())
	}
	// Ready means listening: the HTTP API answers at once.
	m := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("the log does not say where the HTTP API is: %s", logs.String())
	}
	resp, err := http.Get("http://" + m[1] + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	var st httpapi.Status
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || st.Listen.RTMFP[0] != srv.Addrs()[0].String() {
		t.Fatalf("/v1/status: %+v %v", st, err)
	}

	sys := actors.NewActorSystem(zap.NewNop())
	defer sys.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := fmt.Sprintf("rtmfp://%s/app", srv.Addrs()[0])
	page := client.Options{ConnectObject: []amf.Property{{Key: "pageUrl", Value: "http://www.example.com/live.html"}}}
	conn, err := client.Dial(ctx, sys, url, page)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// New rules: this page is refused from now on (blacklist mode), and an address that
	// is not ours is denied.
	if err := os.WriteFile(auth, []byte("www.example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(deny, []byte("192.0.2.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if got := systemd.next(t); got != "RELOADING=1" {
		t.Fatalf("notification %q, want RELOADING=1", got)
	}
	if got := systemd.next(t); !strings.Contains(got, "READY=1") {
		t.Fatalf("notification %q, want READY=1 after the reload", got)
	}
	// The client connected before the reload is still served.
	if _, err := conn.Call(ctx, "anything"); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a call of the client connected before the reload: %v", err)
	}
	select {
	case <-conn.Done():
		t.Fatal("the reload dropped a client")
	default:
	}
	if n := srv.Sessions(); n != 1 {
		t.Fatalf("%d sessions after the reload", n)
	}
	// The new rules hold.
	_, err = client.Dial(ctx, sys, url, page)
	var ce *client.ConnectError
	if !errors.As(err, &ce) || ce.Status.Code != flash.CodeConnectRejected {
		t.Fatalf("a page the reloaded auth file refuses: %v", err)
	}
	if !strings.Contains(logs.String(), "SIGHUP: access lists reloaded") {
		t.Errorf("the log does not say the lists were reloaded: %s", logs.String())
	}

	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := systemd.next(t); got != "STOPPING=1" {
		t.Fatalf("notification %q, want STOPPING=1", got)
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit code %d: %s", code, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not exit after SIGTERM")
	}
}

func TestHTTPBeyondLoopbackNeedsAToken(t *testing.T) {
	for _, c := range []struct {
		env     []string
		wantErr string
	}{
		{[]string{"ACTORRTMFP_HTTP=0.0.0.0:8080"}, "ACTORRTMFP_HTTP_TOKEN"},
		{[]string{"ACTORRTMFP_HTTP=:8080"}, "ACTORRTMFP_HTTP_TOKEN"},
		{[]string{"ACTORRTMFP_HTTP=0.0.0.0:8080", "ACTORRTMFP_HTTP_TOKEN=short"}, "ACTORRTMFP_HTTP_TOKEN"},
		{[]string{"ACTORRTMFP_HTTP=127.0.0.1:99999"}, "ACTORRTMFP_HTTP"},
		{[]string{"ACTORRTMFP_HTTP=0.0.0.0:8080", "ACTORRTMFP_HTTP_TOKEN=0123456789abcdef"}, ""},
		{[]string{"ACTORRTMFP_HTTP=127.0.0.1:8080"}, ""},
		{[]string{"ACTORRTMFP_HTTP=[::1]:8080"}, ""},
	} {
		_, err := loadSettings(c.env)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%v: %v", c.env, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%v: %v, want an error naming %s", c.env, err, c.wantErr)
		}
	}
	if _, err := loadSettings([]string{"ACTORRTMFP_HTTP_TOKEN=0123456789abcdef secret"}); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("a token with a space: %v (and the error must not print it)", err)
	}
}
