package server

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/actorrtmfp/actorrtmfp/actors/endpoint"
)

// Config is the server's configuration. cmd/actorrtmfp fills it from environment
// variables (prefix ACTORRTMFP_, the env tags below); an embedding program may fill it by
// hand. A zero field means its default: the envDefault tag, the one source of defaults.
// Validate names the variable of a bad value.
type Config struct {
	Listen          []string      `env:"LISTEN" envDefault:":1935" envSeparator:"," desc:"UDP addresses to serve, host:port, comma-separated (:1935 is every interface, IPv4 and IPv6)"`
	KeepaliveServer time.Duration `env:"KEEPALIVE_SERVER" envDefault:"15s" desc:"how often clients ping the server when idle, told to them with Set Keepalive (5s-255s)"`
	KeepalivePeer   time.Duration `env:"KEEPALIVE_PEER" envDefault:"10s" desc:"how often clients ping their P2P peers when idle (5s-255s)"`
	IdleTimeout     time.Duration `env:"IDLE_TIMEOUT" envDefault:"90s" desc:"a session silent this long is closed and freed (10s-1h)"`
	LogLevel        string        `env:"LOG_LEVEL" envDefault:"info" desc:"debug, info, warn or error"`
	LogFormat       string        `env:"LOG_FORMAT" envDefault:"console" desc:"console (human-readable) or json"`
	Dump            string        `env:"DUMP" envDefault:"none" desc:"packet dumps at debug level: none, startup (handshakes) or all (every packet, decrypted)"`
	Shards          int           `env:"SHARDS" envDefault:"0" desc:"decrypt-and-parse goroutines per socket, 1-256 (0: one per CPU)"`
	UDPBuffer       int           `env:"UDP_BUFFER" envDefault:"4194304" desc:"socket send and receive buffer, bytes, 4096-1073741824 (-1: the OS default)"`
	MaxSessions     int           `env:"MAX_SESSIONS" envDefault:"100000" desc:"sessions per socket, beyond which handshakes are refused (1-10000000)"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"5s" desc:"how long a graceful stop waits for clients to acknowledge the close (100ms-1m)"`
	GroupMaxMembers int           `env:"GROUP_MAX_MEMBERS" envDefault:"10000" desc:"members per NetGroup, beyond which joins are refused (1-1000000)"`
	GroupsPerClient int           `env:"GROUPS_PER_CLIENT" envDefault:"8" desc:"NetGroups one client may be in at once (1-256)"`
	GroupNeighbors  int           `env:"GROUP_NEIGHBORS" envDefault:"6" desc:"peer IDs handed to a NetGroup member per join (1-32)"`
	RTMP            string        `env:"RTMP" envDefault:":1935" empty:"off" desc:"TCP address of RTMP, host:port (:1935 is every interface, beside RTMFP's UDP 1935); empty or off: no RTMP"`
	RTMPS           string        `env:"RTMPS" envDefault:"" desc:"TCP address of RTMPS (RTMP over TLS), host:port, e.g. :443; needs RTMPS_CERT and RTMPS_KEY; empty: no RTMPS"`
	RTMPSCert       string        `env:"RTMPS_CERT" envDefault:"" desc:"PEM file of the RTMPS certificate (with its chain)"`
	RTMPSKey        string        `env:"RTMPS_KEY" envDefault:"" desc:"PEM file of the RTMPS private key"`
	Media           string        `env:"MEDIA" envDefault:"media" empty:"off" desc:"folder of FLV recordings (publish \"record\" or \"append\") and of the files played when a name is not live, one sub-folder per application; it must exist (relative: to the working directory); empty or off: none"`
}

// Off is the value of RTMP or Media that turns it off (an embedding program's way to say
// what an empty variable says).
const Off = "off"

// Defaults returns the configuration with every default.
func Defaults() Config {
	var c Config
	return c.WithDefaults()
}

// WithDefaults returns c with its zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	// The tags are fixed and parse: an error here is a bug in them.
	if err := env.ParseWithOptions(&c, env.Options{Environment: map[string]string{}, SetDefaultsForZeroValuesOnly: true}); err != nil {
		panic(fmt.Sprintf("server: the defaults of Config do not parse: %v", err))
	}
	return c
}

// ConfigError is a configuration value out of range; Var is the environment variable.
type ConfigError struct {
	Var, Value, Want string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("ACTORRTMFP_%s=%q is invalid: %s", e.Var, e.Value, e.Want)
}

// Validate checks every value (zero ones stand for their defaults) and reports the first
// bad one, naming its variable.
func (c Config) Validate() error {
	c = c.WithDefaults()
	for _, l := range c.Listen {
		if _, port, err := net.SplitHostPort(l); err != nil {
			return &ConfigError{"LISTEN", l, "want host:port, e.g. :1935 or 127.0.0.1:1935"}
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			return &ConfigError{"LISTEN", l, "port must be 0-65535"}
		}
	}
	if err := durationIn("KEEPALIVE_SERVER", c.KeepaliveServer, 5*time.Second, 255*time.Second); err != nil {
		return err
	}
	if err := durationIn("KEEPALIVE_PEER", c.KeepalivePeer, 5*time.Second, 255*time.Second); err != nil {
		return err
	}
	if err := durationIn("IDLE_TIMEOUT", c.IdleTimeout, 10*time.Second, time.Hour); err != nil {
		return err
	}
	if err := durationIn("SHUTDOWN_TIMEOUT", c.ShutdownTimeout, 100*time.Millisecond, time.Minute); err != nil {
		return err
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return &ConfigError{"LOG_LEVEL", c.LogLevel, "want debug, info, warn or error"}
	}
	switch c.LogFormat {
	case "console", "json":
	default:
		return &ConfigError{"LOG_FORMAT", c.LogFormat, "want console or json"}
	}
	if _, err := endpoint.ParseDumpMode(c.Dump); err != nil {
		return &ConfigError{"DUMP", c.Dump, "want none, startup or all"}
	}
	if c.Shards < 0 || c.Shards > 256 {
		return &ConfigError{"SHARDS", strconv.Itoa(c.Shards), "want 1-256, or 0 for one per CPU"}
	}
	if c.UDPBuffer != -1 && (c.UDPBuffer < 4096 || c.UDPBuffer > 1<<30) {
		return &ConfigError{"UDP_BUFFER", strconv.Itoa(c.UDPBuffer), "want 4096-1073741824 bytes, or -1 for the OS default"}
	}
	if c.MaxSessions < 1 || c.MaxSessions > 10000000 {
		return &ConfigError{"MAX_SESSIONS", strconv.Itoa(c.MaxSessions), "want 1-10000000"}
	}
	if c.GroupMaxMembers < 1 || c.GroupMaxMembers > 1000000 {
		return &ConfigError{"GROUP_MAX_MEMBERS", strconv.Itoa(c.GroupMaxMembers), "want 1-1000000"}
	}
	if c.GroupsPerClient < 1 || c.GroupsPerClient > 256 {
		return &ConfigError{"GROUPS_PER_CLIENT", strconv.Itoa(c.GroupsPerClient), "want 1-256"}
	}
	if c.GroupNeighbors < 1 || c.GroupNeighbors > 32 {
		return &ConfigError{"GROUP_NEIGHBORS", strconv.Itoa(c.GroupNeighbors), "want 1-32"}
	}
	if c.RTMP != Off {
		if err := checkHostPort("RTMP", c.RTMP, "or off"); err != nil {
			return err
		}
	}
	if c.RTMPS != "" {
		if err := checkHostPort("RTMPS", c.RTMPS, "or empty"); err != nil {
			return err
		}
		if c.RTMPSCert == "" {
			return &ConfigError{"RTMPS_CERT", "", "RTMPS needs a certificate file"}
		}
		if c.RTMPSKey == "" {
			return &ConfigError{"RTMPS_KEY", "", "RTMPS needs a private key file"}
		}
	}
	return nil
}

// checkHostPort checks a TCP listen address.
func checkHostPort(name, v, other string) error {
	if _, port, err := net.SplitHostPort(v); err != nil {
		return &ConfigError{name, v, "want host:port, e.g. :1935 or 127.0.0.1:1935, " + other}
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return &ConfigError{name, v, "port must be 0-65535"}
	}
	return nil
}

func durationIn(name string, d, lo, hi time.Duration) error {
	if d < lo || d > hi {
		return &ConfigError{name, d.String(), fmt.Sprintf("want %s-%s", seconds(lo), seconds(hi))}
	}
	return nil
}

// seconds prints whole-second durations as "255s" rather than "4m15s".
func seconds(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}
