package main

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"github.com/caarlos0/env/v11"

	"github.com/actorrtmfp/actorrtmfp/actors/server"
)

const envPrefix = "ACTORRTMFP_"

// settings are every variable the command reads: the server's configuration and the
// command's own. Their tags are the one source of names, defaults and help.
type settings struct {
	server.Config
	PProf string `env:"PPROF" desc:"opt-in profiling: serve net/http/pprof on this host:port (e.g. 127.0.0.1:6060); never expose it"`
}

// variable is one setting as --help and the README show it.
type variable struct {
	Name, Default, Desc string
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
				out = append(out, variable{Name: envPrefix + key, Default: f.Tag.Get("envDefault"), Desc: f.Tag.Get("desc")})
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
	return st, st.Config.Validate()
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
	fmt.Fprintf(w, `actorrtmfp %s — an RTMFP server (Flash Player / AIR and RFC 7016/7425 peers)

Usage: actorrtmfp [--help] [--version]

With no settings it serves UDP :1935 (every interface, IPv4 and IPv6) and accepts every
client. Settings are environment variables:

`, server.Version())
	for _, v := range variables() {
		def := v.Default
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  %s (default %s)\n      %s\n", v.Name, def, v.Desc)
	}
	fmt.Fprintln(w, "\nSIGINT or SIGTERM stops the server after sending every client a session close.")
}
