package main

import (
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/luaapp"
)

func TestGoAndLuaPaths(t *testing.T) {
	www := t.TempDir()
	if err := os.WriteFile(filepath.Join(www, "main.lua"), []byte("function onConnection() end"), 0o644); err != nil {
		t.Fatal(err)
	}
	apps, err := applications(www, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer apps.Close()
	if a, ok := apps.Lookup("go"); !ok {
		t.Fatal("no application on /go")
	} else if got, err := a.OnCall(nil, "echo", []any{"x", 1.0}); err != nil || len(got) != 2 || got[0] != "x" {
		t.Errorf("echo: %v %v", got, err)
	} else if _, err := a.OnCall(nil, "other", nil); err != app.ErrMethodNotFound {
		t.Errorf("other: %v", err)
	}
	if a, ok := apps.Lookup(""); !ok {
		t.Error("no Lua application on /")
	} else if _, isLua := a.(*luaapp.App); !isLua {
		t.Errorf("/ is served by %T", a)
	}
	if _, ok := apps.Lookup("none"); ok {
		t.Error("a path without main.lua is served")
	}
}
