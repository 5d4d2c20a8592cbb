package luaapp

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/actorrtmfp/actorrtmfp/actors/app"
	"github.com/actorrtmfp/actorrtmfp/actors/clock"
	"github.com/actorrtmfp/actorrtmfp/codec/amf"
	"github.com/actorrtmfp/actorrtmfp/cryptoutil"
)

// The application layer alone (no network, no actor): what a call costs in a Lua
// application, against the same method in Go. The load tool measures the whole server
// (docs/benchmarks.md).

type benchClient struct{ peer cryptoutil.PeerID }

func (c *benchClient) Protocol() string                   { return app.ProtocolRTMFP }
func (c *benchClient) SessionID() uint32                  { return 1 }
func (c *benchClient) PeerID() cryptoutil.PeerID          { return c.peer }
func (c *benchClient) Address() netip.AddrPort            { return netip.MustParseAddrPort("127.0.0.1:1") }
func (c *benchClient) PrivateAddresses() []netip.AddrPort { return nil }
func (c *benchClient) Path() string                       { return "" }
func (c *benchClient) Query() map[string][]string         { return nil }
func (c *benchClient) ConnectObject() *amf.Object         { return amf.NewObject() }
func (c *benchClient) Call(string, ...any) error          { return nil }
func (c *benchClient) Close()                             {}

type benchHost struct{}

func (benchHost) Path() string                          { return "" }
func (benchHost) Clock() clock.Clock                    { return clock.Real() }
func (benchHost) Log() *zap.Logger                      { return zap.NewNop() }
func (benchHost) Post(f func())                         { f() }
func (benchHost) Publish(string) (app.Publisher, error) { return nil, nil }
func (benchHost) Ban(netip.Addr)                        {}
func (benchHost) Unban(netip.Addr)                      {}

type goEcho struct{}

func (goEcho) OnConnect(app.Client, []any) ([]amf.Property, error) { return nil, nil }
func (goEcho) OnCall(_ app.Client, m string, args []any) ([]any, error) {
	if m == "echo" {
		return args, nil
	}
	return nil, app.ErrMethodNotFound
}

func luaEcho(b *testing.B, src string) (app.Application, app.Client) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.lua"), []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	reg, err := New(Config{Root: dir, CallTimeout: time.Second, Memory: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = reg.Close() })
	a, _ := reg.Lookup("")
	a.(app.Starter).OnStart(benchHost{})
	b.Cleanup(a.(app.Starter).OnStop)
	c := &benchClient{}
	if _, err := a.OnConnect(c, nil); err != nil {
		b.Fatal(err)
	}
	return a, c
}

const echoScript = `function onConnection(client) function client:echo(...) return ... end end`

func BenchmarkCall(b *testing.B) {
	args := map[string][]any{
		"string": {"hello"},
		"object": {"hello", 42.0, amf.NewObject(amf.Property{Key: "name", Value: "x"}, amf.Property{Key: "n", Value: 1.0},
			amf.Property{Key: "list", Value: []any{1.0, 2.0, 3.0}})},
	}
	for _, kind := range []string{"string", "object"} {
		b.Run("go/"+kind, func(b *testing.B) {
			a, c := goEcho{}, &benchClient{}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.OnCall(c, "echo", args[kind]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("lua/"+kind, func(b *testing.B) {
			a, c := luaEcho(b, echoScript)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.OnCall(c, "echo", args[kind]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkConnect(b *testing.B) {
	a, _ := luaEcho(b, `function onConnection(client, name)
	function client:hello() return "hello " .. name end
	return {motd = "welcome"}
end
function onDisconnection(client) end`)
	b.ReportAllocs()
	for b.Loop() {
		c := &benchClient{}
		if _, err := a.OnConnect(c, []any{"ada"}); err != nil {
			b.Fatal(err)
		}
		a.(app.Disconnecter).OnDisconnect(c)
	}
}
