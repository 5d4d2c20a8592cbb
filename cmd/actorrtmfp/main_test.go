package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors"
	"github.com/actorrtmfp/actorrtmfp/actors/client"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
	"github.com/actorrtmfp/actorrtmfp/actors/session"
	"go.uber.org/zap"
)

func TestHelpListsEveryVariableWithItsDefaultOnce(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		var out, errb bytes.Buffer
		if code := run([]string{arg}, nil, &out, &errb, nil); code != 0 {
			t.Fatalf("%s exited %d: %s", arg, code, errb.String())
		}
		if errb.Len() != 0 {
			t.Errorf("%s wrote to stderr: %q", arg, errb.String())
		}
		if n := strings.Count(out.String(), "Usage: actorrtmfp"); n != 1 {
			t.Errorf("%s printed the usage %d times", arg, n)
		}
		typ := reflect.TypeOf(server.Config{})
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			def := f.Tag.Get("envDefault")
			if def == "" {
				def = `""`
			}
			line := fmt.Sprintf("ACTORRTMFP_%s (default %s)", f.Tag.Get("env"), def)
			if strings.Count(out.String(), line) != 1 {
				t.Errorf("%s does not list %s once", arg, line)
			}
		}
		for _, line := range []string{`ACTORRTMFP_PPROF (default "")`, `ACTORRTMFP_HTTP_TOKEN (default "")`, "ACTORRTMFP_APPS (default www)",
			"ACTORRTMFP_LUA_CALL_TIMEOUT (default 1s)", "ACTORRTMFP_LUA_MEMORY (default 64MB)"} {
			if !strings.Contains(out.String(), line) {
				t.Errorf("%s does not list %s", arg, line)
			}
		}
	}
}

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--version"}, nil, &out, &errb, nil); code != 0 {
		t.Fatalf("--version exited %d: %s", code, errb.String())
	}
	if got, want := out.String(), "actorrtmfp "+server.Version()+"\n"; got != want || server.Version() == "" {
		t.Fatalf("--version printed %q, want %q", got, want)
	}
}

func TestZeroConfigurationIsTheDefaults(t *testing.T) {
	st, err := loadSettings(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st.Config, server.Defaults()) || st.PProf != "" || st.HTTPToken != "" {
		t.Fatalf("zero-config %+v\ndiffers from server.Defaults() %+v", st.Config, server.Defaults())
	}
	// A zero field of a hand-made Config means its default too.
	if got := (server.Config{}).WithDefaults(); !reflect.DeepEqual(got, server.Defaults()) {
		t.Fatalf("Config{}.WithDefaults() = %+v, want the defaults", got)
	}
}

// TestScriptsReadSettingsButNoSecret: cumulus.configs has every setting but the token.
func TestScriptsReadSettingsButNoSecret(t *testing.T) {
	st, err := loadSettings([]string{"ACTORRTMFP_LISTEN=127.0.0.1:1935", "ACTORRTMFP_HTTP_TOKEN=0123456789abcdef0123"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.configs()
	if cfg["listen"] != "127.0.0.1:1935" || cfg["max_sessions"] == "" {
		t.Fatalf("configs lack settings: listen %q, max_sessions %q", cfg["listen"], cfg["max_sessions"])
	}
	for k, v := range cfg {
		if k == "http_token" || strings.Contains(v, "0123456789abcdef0123") {
			t.Fatalf("configs expose the token as %s", k)
		}
	}
}

// TestEmptyRTMPAndMediaTurnThemOff: an empty ACTORRTMFP_RTMP or ACTORRTMFP_MEDIA means
// none (an unset one means the default), as does "off".
func TestEmptyRTMPAndMediaTurnThemOff(t *testing.T) {
	for _, environ := range [][]string{{"ACTORRTMFP_RTMP=", "ACTORRTMFP_MEDIA="}, {"ACTORRTMFP_RTMP=off", "ACTORRTMFP_MEDIA= "}} {
		st, err := loadSettings(environ)
		if err != nil {
			t.Fatal(err)
		}
		if st.RTMP != server.Off || st.Media != server.Off {
			t.Fatalf("%v: RTMP %q, media %q; want both off", environ, st.RTMP, st.Media)
		}
	}
	st, err := loadSettings([]string{"ACTORRTMFP_RTMP=127.0.0.1:1936"})
	if err != nil || st.RTMP != "127.0.0.1:1936" || st.Media != "media" {
		t.Fatalf("%+v %v", st.Config, err)
	}
}

// TestUnknownVariableStopsStartupNamingTheClosest: a typo in a setting's name must not
// leave the server on that setting's default.
func TestUnknownVariableStopsStartupNamingTheClosest(t *testing.T) {
	for kv, want := range map[string]string{
		"ACTORRTMFP_LISTN=127.0.0.1:1935":      "ACTORRTMFP_LISTN is not a setting: did you mean ACTORRTMFP_LISTEN?",
		"ACTORRTMFP_IDLE_TIMOUT=30s":           "did you mean ACTORRTMFP_IDLE_TIMEOUT?",
		"ACTORRTMFP_KEEPALIVE=20s":             "did you mean ACTORRTMFP_KEEPALIVE_PEER?",
		"ACTORRTMFP_SOMETHING_ELSE_ENTIRELY=1": "ACTORRTMFP_SOMETHING_ELSE_ENTIRELY is not a setting (actorrtmfp --help lists them)",
	} {
		var out, errb bytes.Buffer
		code := run(nil, []string{kv, "OTHER_PROGRAM_VAR=1"}, &out, &errb, nil)
		if code != 2 || !strings.Contains(errb.String(), want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and %q", kv, code, errb.String(), want)
		}
	}
}

func TestBadValuesStopStartupNamingTheVariable(t *testing.T) {
	cases := []string{
		"ACTORRTMFP_LISTEN=1935",
		"ACTORRTMFP_LISTEN=:99999",
		"ACTORRTMFP_KEEPALIVE_SERVER=2s",
		"ACTORRTMFP_KEEPALIVE_PEER=ten",
		"ACTORRTMFP_IDLE_TIMEOUT=5s",
		"ACTORRTMFP_LOG_LEVEL=chatty",
		"ACTORRTMFP_LOG_FORMAT=xml",
		"ACTORRTMFP_DUMP=middle",
		"ACTORRTMFP_SHARDS=300",
		"ACTORRTMFP_SHARDS=abc",
		"ACTORRTMFP_UDP_BUFFER=-2",
		"ACTORRTMFP_MAX_SESSIONS=-1",
		"ACTORRTMFP_SHUTDOWN_TIMEOUT=1h",
		"ACTORRTMFP_LUA_CALL_TIMEOUT=1ms",
		"ACTORRTMFP_LUA_CALL_TIMEOUT=2h",
		"ACTORRTMFP_LUA_MEMORY=12",
		"ACTORRTMFP_LUA_MEMORY=lots",
		"ACTORRTMFP_LUA_MEMORY=-1MB",
		"ACTORRTMFP_RTMP=1935",
		"ACTORRTMFP_RTMPS=:443",
		"ACTORRTMFP_MAX_MESSAGE_SIZE=1000",
		"ACTORRTMFP_FLOW_STALL_TIMEOUT=1s",
		"ACTORRTMFP_PENDING_TIMEOUT=500ms",
		"ACTORRTMFP_PENDING_PER_ADDRESS=-1",
		"ACTORRTMFP_HELLO_RATE=-1",
		"ACTORRTMFP_RECV_BUDGET_SERVER=-5",
		"ACTORRTMFP_HTTP_TOKEN=short",
		"ACTORRTMFP_PPROF=6060",
	}
	for _, kv := range cases {
		var out, errb bytes.Buffer
		code := run(nil, []string{kv}, &out, &errb, nil)
		name := kv[:strings.IndexByte(kv, '=')]
		if code != 2 || !strings.Contains(errb.String(), name) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 naming %s", kv, code, errb.String(), name)
		}
	}
}

func TestServesThenClosesEverySessionOnSIGTERM(t *testing.T) {
	ready := make(chan *server.Server, 1)
	exit := make(chan int, 1)
	var out, errb bytes.Buffer
	go func() {
		exit <- run(nil, []string{"ACTORRTMFP_LISTEN=127.0.0.1:0", "ACTORRTMFP_RTMP=127.0.0.1:0", "ACTORRTMFP_MEDIA=", "ACTORRTMFP_LOG_LEVEL=warn"}, &out, &errb, ready)
	}()
	var srv *server.Server
	select {
	case srv = <-ready:
	case code := <-exit:
		t.Fatalf("exited %d before serving: %s", code, errb.String())
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	sys := actors.NewActorSystem(zap.NewNop())
	defer sys.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var conns []*client.Conn
	for _, d := range []client.Dialect{client.Flash, client.RFC7425} {
		c, err := client.Dial(ctx, sys, fmt.Sprintf("rtmfp://%s/app", srv.Addrs()[0]), client.Options{Dialect: d})
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		select {
		case <-c.Done():
			if c.CloseReason() != session.ReasonRemote {
				t.Errorf("client closed with %v, want the server's close (remote)", c.CloseReason())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a client was not told the server stopped")
		}
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit code %d after SIGTERM: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not exit after SIGTERM")
	}
}

func TestPprofEndpointServesProfiles(t *testing.T) {
	addr, stop, err := servePprof("127.0.0.1:0", "", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if code := pprofGet(t, addr, ""); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
}

// pprofGet fetches the command line from the profiling endpoint at addr, with token as
// a bearer token if not empty, and returns the status code.
func pprofGet(t *testing.T, addr net.Addr, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr.String()+"/debug/pprof/cmdline", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestPprofBarePortBindsLoopback: ACTORRTMFP_PPROF=:port serves on 127.0.0.1, not on
// every interface.
func TestPprofBarePortBindsLoopback(t *testing.T) {
	if got := pprofAddr(":19441"); got != "127.0.0.1:19441" {
		t.Fatalf("pprofAddr(:19441) = %s", got)
	}
	addr, stop, err := servePprof(":0", "", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if ip := addr.(*net.TCPAddr).IP; !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("a bare port listens on %s, want 127.0.0.1", addr)
	}
}

// TestPprofBeyondLoopbackNeedsTheToken: on every interface the profiles are refused
// without a token — at start-up, naming the setting — and served with one only to
// requests that bear it.
func TestPprofBeyondLoopbackNeedsTheToken(t *testing.T) {
	if _, _, err := servePprof("0.0.0.0:0", "", zap.NewNop()); err == nil || !strings.Contains(err.Error(), "ACTORRTMFP_HTTP_TOKEN") {
		t.Fatalf("every interface without a token: %v", err)
	}
	var out, errb bytes.Buffer
	code := run(nil, []string{"ACTORRTMFP_PPROF=0.0.0.0:0", "ACTORRTMFP_LISTEN=127.0.0.1:0"}, &out, &errb, nil)
	if code != 2 || !strings.Contains(errb.String(), "ACTORRTMFP_PPROF") || !strings.Contains(errb.String(), "ACTORRTMFP_HTTP_TOKEN") {
		t.Fatalf("start-up with pprof on every interface and no token: exit %d, %q", code, errb.String())
	}
	const token = "s3cret-operator-token"
	addr, stop, err := servePprof("0.0.0.0:0", token, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: addr.(*net.TCPAddr).Port}
	for _, c := range []struct {
		token string
		want  int
	}{{"", http.StatusUnauthorized}, {"wrong-token-of-some-length", http.StatusUnauthorized}, {token, http.StatusOK}} {
		if got := pprofGet(t, local, c.token); got != c.want {
			t.Errorf("token %q: status %d, want %d", c.token, got, c.want)
		}
	}
}

// TestContradictorySettingsNameBoth: settings that cannot hold together stop start-up
// with a message naming both.
func TestContradictorySettingsNameBoth(t *testing.T) {
	for _, c := range []struct {
		env  []string
		both [2]string
	}{
		{[]string{"ACTORRTMFP_IDLE_TIMEOUT=10s"}, [2]string{"ACTORRTMFP_IDLE_TIMEOUT", "ACTORRTMFP_KEEPALIVE_SERVER"}},
		{[]string{"ACTORRTMFP_IDLE_TIMEOUT=40s", "ACTORRTMFP_KEEPALIVE_SERVER=30s"}, [2]string{"ACTORRTMFP_IDLE_TIMEOUT", "ACTORRTMFP_KEEPALIVE_SERVER"}},
		{[]string{"ACTORRTMFP_MAX_MESSAGE_SIZE=16777216"}, [2]string{"ACTORRTMFP_RECV_BUDGET_SESSION", "ACTORRTMFP_MAX_MESSAGE_SIZE"}},
		{[]string{"ACTORRTMFP_RECV_BUDGET_ADDRESS=1048576"}, [2]string{"ACTORRTMFP_RECV_BUDGET_ADDRESS", "ACTORRTMFP_RECV_BUDGET_SESSION"}},
		{[]string{"ACTORRTMFP_RECV_BUDGET_SERVER=1048576"}, [2]string{"ACTORRTMFP_RECV_BUDGET_SERVER", "ACTORRTMFP_RECV_BUDGET_ADDRESS"}},
		{[]string{"ACTORRTMFP_PENDING_TIMEOUT=30s", "ACTORRTMFP_IDLE_TIMEOUT=30s"}, [2]string{"ACTORRTMFP_PENDING_TIMEOUT", "ACTORRTMFP_IDLE_TIMEOUT"}},
	} {
		var out, errb bytes.Buffer
		code := run(nil, c.env, &out, &errb, nil)
		if code != 2 || !strings.Contains(errb.String(), c.both[0]) || !strings.Contains(errb.String(), c.both[1]) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming %s and %s", c.env, code, errb.String(), c.both[0], c.both[1])
		}
	}
	// Twice the keepalive is enough.
	if _, err := loadSettings([]string{"ACTORRTMFP_IDLE_TIMEOUT=30s"}); err != nil {
		t.Fatalf("IDLE_TIMEOUT=30s with the 15s keepalive: %v", err)
	}
}

// TestREADMEListsEveryVariable: the README's configuration table has a row for every
// environment variable, with its default.
func TestREADMEListsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(readme), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) > 3 && strings.HasPrefix(strings.TrimSpace(cells[1]), "`"+envPrefix) {
			rows[strings.Trim(strings.TrimSpace(cells[1]), "`")] = strings.Trim(strings.TrimSpace(cells[2]), "`")
		}
	}
	vars := variables()
	for _, v := range vars {
		def := v.Default
		if def == "" {
			def = "empty"
		}
		if got, ok := rows[v.Name]; !ok || got != def {
			t.Errorf("README: %s has default %q, want %q", v.Name, got, def)
		}
	}
	if len(rows) != len(vars) {
		t.Errorf("README lists %d variables, the server has %d", len(rows), len(vars))
	}
}
