package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The repository's systemd unit passes `systemd-analyze verify` (no warning either: an
// unknown key or a bad value is only a warning to systemd), and keeps what the server
// relies on: readiness by notification, reload by SIGHUP, an environment file.
func TestSystemdUnitVerifies(t *testing.T) {
	unit, err := os.ReadFile("../../packaging/systemd/actorrtmfp.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "EnvironmentFile=-/etc/actorrtmfp/actorrtmfp.env",
		"ExecStart=/usr/local/bin/actorrtmfp", "NoNewPrivileges=yes", "ProtectSystem=strict"} {
		if !strings.Contains(string(unit), "\n"+line+"\n") {
			t.Errorf("the unit lacks %q", line)
		}
	}
	env, err := os.ReadFile("../../packaging/systemd/actorrtmfp.env")
	if err != nil {
		t.Fatal(err)
	}
	// Every setting the environment file sets is one the command knows.
	var sets []string
	for _, line := range strings.Split(string(env), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			sets = append(sets, line)
		}
	}
	if _, err := loadSettings(sets); err != nil {
		t.Errorf("actorrtmfp.env: %v", err)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze is not installed: run scripts/test-deps (it installs Debian's systemd package)")
	}
	// verify checks that ExecStart is an executable: this test's binary stands in for the
	// installed server.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "actorrtmfp.service")
	if err := os.WriteFile(path, []byte(strings.Replace(string(unit), "ExecStart=/usr/local/bin/actorrtmfp", "ExecStart="+self, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// `go install github.com/actorrtmfp/actorrtmfp/cmd/actorrtmfp@version` works only for a
// module whose path is the repository's and whose go.mod has no replace or exclude
// directives (the go command refuses those for a module installed by version).
func TestModuleIsGoInstallable(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(mod), "\n")
	if lines[0] != "module github.com/actorrtmfp/actorrtmfp" {
		t.Errorf("go.mod names the module %q", lines[0])
	}
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 0 && (f[0] == "replace" || f[0] == "exclude") {
			t.Errorf("go.mod has %q: go install …@version would refuse the module", l)
		}
	}
}
