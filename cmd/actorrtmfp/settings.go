package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/actorrtmfp/actorrtmfp/actors/httpapi"
	"github.com/actorrtmfp/actorrtmfp/actors/server"
)

const envPrefix = "ACTORRTMFP_"

// settings are every variable the command reads: the server's configuration and the
// command's own. Their tags are the one source of names, defaults and help.
type settings struct {
	server.Config
	PProf string `env:"PPROF" envDefault:"" desc:"opt-in profiling: serve net/http/pprof on this host:port; a bare :port binds loopback (:6060 is 127.0.0.1:6060); any other interface needs ACTORRTMFP_HTTP_TOKEN"`
	// The operators' HTTP side (package httpapi): status API and page, metrics, health.
	HTTP      string `env:"HTTP" envDefault:"" desc:"serve the status API, status page, /metrics and health checks on this host:port (e.g. 127.0.0.1:8080); beyond loopback only with HTTP_TOKEN; empty: off"`
	HTTPToken string `env:"HTTP_TOKEN" envDefault:"" secret:"true" desc:"bearer token of the operator endpoints (the HTTP API and /metrics, pprof): every request needs Authorization: Bearer <token> (the status page: open /#token=<token>); required to serve them beyond loopback (at least 16 characters, no spaces)"`
	// The command's choice of applications: Lua scripts of a folder (package luaapp); an
	// embedding program passes its own app.Registry instead.
	Apps           string        `env:"APPS" envDefault:"www" desc:"the folder of the Lua applications: www/main.lua serves rtmfp://host/, www/a/main.lua rtmfp://host/a (no such folder: every client is accepted)"`
	LuaCallTimeout time.Duration `env:"LUA_CALL_TIMEOUT" envDefault:"1s" desc:"time budget of one call into a Lua script; a call running longer is stopped with an error (10ms-1m)"`
	LuaMemory      byteSize      `env:"LUA_MEMORY" envDefault:"64MB" desc:"memory limit of one Lua application's state, e.g. 64MB or 1GB (1MB-64GB)"`
}

// byteSize is a size in bytes written with an optional unit: 65536, 64KB, 64MB, 1GB.
type byteSize int64

func (b *byteSize) UnmarshalText(text []byte) error {
	s := strings.ToUpper(strings.TrimSpace(string(text)))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("want a size such as 64MB or 1GB")
	}
	*b = byteSize(n * mult)
	return nil
}

// validate checks the command's own settings, naming the variable of a bad value.
func (st settings) validate() error {
	if err := st.Config.Validate(); err != nil {
		return err
	}
	if st.LuaCallTimeout < 10*time.Millisecond || st.LuaCallTimeout > time.Minute {
		return &server.ConfigError{Var: "LUA_CALL_TIMEOUT", Value: st.LuaCallTimeout.String(), Want: "want 10ms-1m"}
	}
	if err := st.validateHTTP(); err != nil {
		return err
	}
	if st.LuaMemory < 1<<20 || st.LuaMemory > 64<<30 {
		return &server.ConfigError{Var: "LUA_MEMORY", Value: strconv.FormatInt(int64(st.LuaMemory), 10) + " bytes", Want: "want 1MB-64GB"}
	}
	if t := st.HTTPToken; t != "" && (len(t) < minTokenLen || strings.ContainsAny(t, " \t\r\n")) {
		return fmt.Errorf("%sHTTP_TOKEN is invalid: want at least %d characters and no spaces", envPrefix, minTokenLen)
	}
	if st.PProf != "" {
		if _, err := hostPort("PPROF", st.PProf, "want host:port or :port"); err != nil {
			return err
		}
	}
	return nil
}

// minTokenLen is the shortest HTTP_TOKEN accepted.
const minTokenLen = 16

// configs are the settings as Lua scripts see them (cumulus.configs): each variable's
// name without the prefix, in lower case, and its value as text; secrets (HTTP_TOKEN) are
// left out.
func (st settings) configs() map[string]string {
	out := map[string]string{}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(v.Field(i))
				continue
			}
			key := f.Tag.Get("env")
			if key == "" || f.Tag.Get("secret") == "true" {
				continue // a secret is not the scripts' to read
			}
			val := v.Field(i).Interface()
			switch x := val.(type) {
			case []string:
				val = strings.Join(x, ",")
			case byteSize:
				val = int64(x)
			}
			out[strings.ToLower(key)] = fmt.Sprint(val)
		}
	}
	walk(reflect.ValueOf(st))
	return out
}

// variable is one setting as --help and the README show it. Empty, if set, is the value
// the variable takes when it is set but empty (caarlos0/env gives an empty variable its
// default; "ACTORRTMFP_RTMP=" must turn RTMP off).
type variable struct {
	Name, Default, Desc, Empty string
}

// variables lists every setting in declaration order.
func variables() []variable {
	var out []variable
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if key := f.Tag.Get("env"); key != "" {
				out = append(out, variable{Name: envPrefix + key, Default: f.Tag.Get("envDefault"), Desc: f.Tag.Get("desc"), Empty: f.Tag.Get("empty")})
			}
		}
	}
	walk(reflect.TypeOf(settings{}))
	return out
}

// loadSettings reads the settings from environ (KEY=VALUE strings) and validates them.
// Every error names the variable concerned; a variable with our prefix that is not a
// setting is an error too (a typo must not leave a setting on its default).
func loadSettings(environ []string) (settings, error) {
	var st settings
	vars := env.ToMap(environ)
	if err := unknownVariable(vars); err != nil {
		return st, err
	}
	for _, v := range variables() {
		if val, ok := vars[v.Name]; ok && v.Empty != "" && strings.TrimSpace(val) == "" {
			vars[v.Name] = v.Empty
		}
	}
	if err := env.ParseWithOptions(&st, env.Options{Prefix: envPrefix, Environment: vars}); err != nil {
		var agg env.AggregateError
		if errors.As(err, &agg) && len(agg.Errors) > 0 {
			err = agg.Errors[0]
		}
		var pe env.ParseError
		if errors.As(err, &pe) {
			return st, fmt.Errorf("%s%s: %v", envPrefix, envKey(pe.Name), pe.Err)
		}
		return st, err
	}
	return st, st.validate()
}

// unknownVariable returns an error naming the first ACTORRTMFP_ variable that is not a
// setting, with the closest setting's name.
func unknownVariable(vars map[string]string) error {
	known := map[string]bool{}
	var names []string
	for _, v := range variables() {
		known[v.Name] = true
		names = append(names, v.Name)
	}
	var unknown []string
	for k := range vars {
		if strings.HasPrefix(k, envPrefix) && !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	k := unknown[0]
	best, dist := "", 1<<30
	for _, n := range names {
		if d := editDistance(k, n); d < dist {
			best, dist = n, d
		}
	}
	if dist <= max(3, len(k)/4) {
		return fmt.Errorf("%s is not a setting: did you mean %s? (actorrtmfp --help lists them)", k, best)
	}
	return fmt.Errorf("%s is not a setting (actorrtmfp --help lists them)", k)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// envKey returns the variable name (without prefix) of a settings field.
func envKey(field string) string {
	if f, ok := reflect.TypeOf(settings{}).FieldByName(field); ok {
		return f.Tag.Get("env")
	}
	return field
}

// usage prints every variable with its default and meaning.
func usage(w io.Writer) {
	fmt.Fprintf(w, `actorrtmfp %s — an RTMFP and RTMP server (Flash Player / AIR, RFC 7016/7425 peers, RTMP encoders and players)

Usage: actorrtmfp [--help] [--version]

With no settings it serves RTMFP on UDP :1935 and RTMP on TCP :1935 (every interface,
IPv4 and IPv6) and accepts every client. Settings are environment variables:

`, server.Version())
	for _, v := range variables() {
		def := v.Default
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  %s (default %s)\n      %s\n", v.Name, def, v.Desc)
	}
	fmt.Fprintln(w, "\nSIGINT or SIGTERM stops the server after sending every client a session close.")
	fmt.Fprintln(w, "SIGHUP rereads the access lists (the files of DENY and ALLOW, AUTH_FILE) without dropping a client.")
	fmt.Fprintln(w, "Under systemd (Type=notify) it tells systemd it is ready once every socket listens.")
}

// validateHTTP checks the HTTP side's address, and that a token protects it beyond
// loopback (validate checks the token itself).
func (st settings) validateHTTP() error {
	if st.HTTP == "" {
		return nil
	}
	host, err := hostPort("HTTP", st.HTTP, "want host:port, e.g. 127.0.0.1:8080")
	if err != nil {
		return err
	}
	if st.HTTPToken == "" && !httpapi.Loopback(host) {
		return &server.ConfigError{Var: "HTTP", Value: st.HTTP,
			Want: "serving the API beyond loopback needs ACTORRTMFP_HTTP_TOKEN (or listen on 127.0.0.1)"}
	}
	return nil
}

// hostPort checks that the setting name is value host:port with a port of 0-65535 (want
// says what is wanted if not), and returns its host.
func hostPort(name, value, want string) (string, error) {
	host, port, err := net.SplitHostPort(value)
	if err != nil {
		return "", &server.ConfigError{Var: name, Value: value, Want: want}
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return "", &server.ConfigError{Var: name, Value: value, Want: "port must be 0-65535"}
	}
	return host, nil
}
