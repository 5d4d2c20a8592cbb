package server

import (
	"fmt"
	"math"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/actorrtmfp/actorrtmfp/actors/access"
	"github.com/actorrtmfp/actorrtmfp/actors/endpoint"
	"github.com/actorrtmfp/actorrtmfp/actors/multicast"
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
	// Limits on what a client may make the server hold or do (docs/security.md).
	MaxMessageSize    int           `env:"MAX_MESSAGE_SIZE" envDefault:"4194304" desc:"largest message a client may send, bytes; a larger one gets its flow rejected (65536-268435456)"`
	RecvBudgetSession int           `env:"RECV_BUDGET_SESSION" envDefault:"5242880" desc:"bytes the receive flows of one session may hold (out-of-order fragments, messages being assembled); the flow that grows past it is rejected"`
	RecvBudgetAddress int           `env:"RECV_BUDGET_ADDRESS" envDefault:"8388608" desc:"bytes the receive flows of all the sessions of one source address (IPv4 address, IPv6 /64) may hold; the flow that grows past it is rejected"`
	RecvBudgetServer  int64         `env:"RECV_BUDGET_SERVER" envDefault:"0" desc:"bytes the receive flows of every session may hold together; beyond it fragments that would hold more are refused (0: a quarter of GOMEMLIMIT if it is set, else 268435456)"`
	FlowStallTimeout  time.Duration `env:"FLOW_STALL_TIMEOUT" envDefault:"30s" desc:"a receive flow that holds fragments and makes no progress this long is rejected (5s-10m)"`
	PendingTimeout    time.Duration `env:"PENDING_TIMEOUT" envDefault:"5s" desc:"a session whose client is not heard from this long after the handshake is freed (1s-60s)"`
	PendingPerAddress int           `env:"PENDING_PER_ADDRESS" envDefault:"32" desc:"sessions not yet heard from that one source address may hold; further handshakes from it are refused (an eighth of it when the session table is nearly full) (1-100000)"`
	HelloRate         int           `env:"HELLO_RATE" envDefault:"50" desc:"IHellos per second answered per source address, in bursts of twice that (1-100000)"`
	// The server as a NetGroup member (docs/multicast.md).
	Multicast          string `env:"MULTICAST" envDefault:"" desc:"live streams injected into NetGroup multicast: comma-separated app/stream=G:groupspec pairs (the multicast stream keeps the stream's name); empty: none"`
	MulticastListen    string `env:"MULTICAST_LISTEN" envDefault:":0" desc:"UDP address of the server's NetGroup member (multicast ingest, posting), host:port; members reach it at this IP (unspecified: the first LISTEN IP, else the machine's first non-loopback one)"`
	MulticastNeighbors int    `env:"MULTICAST_NEIGHBORS" envDefault:"4" desc:"sessions the server keeps with members of each NetGroup it is in, hence the most copies of each multicast fragment it sends (1-64)"`

	// A cluster (docs/cluster.md): nothing of it runs while ClusterBind is empty.
	ClusterName         string        `env:"CLUSTER_NAME" envDefault:"actorrtmfp" desc:"the cluster's name: nodes join only their own cluster (letters, digits, '.', '_', '-'; up to 64)"`
	ClusterBind         string        `env:"CLUSTER_BIND" desc:"host:port of this node's cluster listener (gRPC, TCP); empty: no cluster, the server is one node"`
	ClusterAdvertise    string        `env:"CLUSTER_ADVERTISE" desc:"host:port the other nodes reach this node's cluster listener at, when not CLUSTER_BIND (required when its host is 0.0.0.0 or ::)"`
	ClusterMembers      []string      `env:"CLUSTER_MEMBERS" envSeparator:"," desc:"static membership: the cluster addresses (CLUSTER_ADVERTISE) of every node, this one included, comma-separated; each node also answers health checks on the TCP port after its cluster port"`
	ClusterEtcd         []string      `env:"CLUSTER_ETCD" envSeparator:"," desc:"membership through etcd: its endpoints, comma-separated (instead of CLUSTER_MEMBERS)"`
	ClusterTTL          time.Duration `env:"CLUSTER_TTL" envDefault:"2s" desc:"how soon a node that stops answering leaves the others' view: the etcd lease's TTL, or how often the static members are polled (1s-60s)"`
	ClusterTLSCA        string        `env:"CLUSTER_TLS_CA" desc:"mutual TLS between nodes: the PEM file of the cluster's CA (with CLUSTER_TLS_CERT and CLUSTER_TLS_KEY; without them cluster traffic is not encrypted)"`
	ClusterTLSCert      string        `env:"CLUSTER_TLS_CERT" desc:"this node's certificate (PEM), signed by CLUSTER_TLS_CA, used as server and as client"`
	ClusterTLSKey       string        `env:"CLUSTER_TLS_KEY" desc:"the key of CLUSTER_TLS_CERT (PEM)"`
	PublicAddress       []string      `env:"PUBLIC_ADDRESS" envSeparator:"," desc:"ip:port where clients reach this node's RTMFP socket, comma-separated, for the other nodes' load redirects (empty: the addresses it listens on, if not 0.0.0.0 or ::)"`
	ClusterCapacity     int           `env:"CLUSTER_CAPACITY" envDefault:"0" desc:"sessions this node is sized for, the measure of its load (0: MAX_SESSIONS per listen address)"`
	ClusterRedirectLoad int           `env:"CLUSTER_REDIRECT_LOAD" envDefault:"80" desc:"percent of CLUSTER_CAPACITY beyond which new clients are redirected to nodes at least 10 points less loaded (1-100; -1: never)"`
	// Access control (package access); SIGHUP rereads the files they name (Server.Reload).
	Deny           []string `env:"DENY" envDefault:"" envSeparator:"," desc:"IP deny list: CIDRs, addresses or files of them (one per line, # comments), comma-separated; their datagrams and connections are dropped before any decryption or key exchange"`
	Allow          []string `env:"ALLOW" envDefault:"" envSeparator:"," desc:"IP allow list, as DENY: when not empty, only these addresses are served (DENY still applies inside it)"`
	AuthFile       string   `env:"AUTH_FILE" envDefault:"" desc:"Cumulus' auth file: rules host[,path] matched against a connect's pageUrl (a .swf path: its swfUrl's path); empty: no rules"`
	AuthWhitelist  bool     `env:"AUTH_WHITELIST" envDefault:"false" desc:"true: only clients an AUTH_FILE rule matches connect; false: the clients a rule matches are refused"`
	RendezvousRate int      `env:"RENDEZVOUS_RATE" envDefault:"50" desc:"P2P rendezvous lookups per second answered per source address, in bursts of twice that (clients behind one NAT share it) (1-100000)"`
}

// serverBudgetFixed is the server's receive budget when neither RECV_BUDGET_SERVER nor
// GOMEMLIMIT says otherwise (the tag's desc names it).
const serverBudgetFixed = 256 << 20

// RecvBudgetTotal is the server's receive budget in effect: RecvBudgetServer, or a
// quarter of the Go runtime's memory limit (GOMEMLIMIT) when that is set, or 256 MiB.
func (c Config) RecvBudgetTotal() int64 {
	if c.RecvBudgetServer > 0 {
		return c.RecvBudgetServer
	}
	if limit := debug.SetMemoryLimit(-1); limit != math.MaxInt64 {
		return max(limit/4, int64(c.WithDefaults().RecvBudgetAddress))
	}
	return serverBudgetFixed
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
	if c.IdleTimeout < 2*c.KeepaliveServer {
		// Clients ping once a keepalive period when idle: one lost ping must not end a
		// live client's session.
		return &ConfigError{"IDLE_TIMEOUT", c.IdleTimeout.String(),
			fmt.Sprintf("must be at least twice ACTORRTMFP_KEEPALIVE_SERVER=%s (clients ping the server once a keepalive period; one lost ping must not end a session)", c.KeepaliveServer)}
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
	if _, err := multicast.ParseMappings(c.Multicast); err != nil {
		return &ConfigError{"MULTICAST", c.Multicast, "want comma-separated app/stream=G:groupspec pairs: " + err.Error()}
	}
	if err := checkHostPort("MULTICAST_LISTEN", c.MulticastListen, "e.g. :0 or 0.0.0.0:1936"); err != nil {
		return err
	}
	if c.MulticastNeighbors < 1 || c.MulticastNeighbors > 64 {
		return &ConfigError{"MULTICAST_NEIGHBORS", strconv.Itoa(c.MulticastNeighbors), "want 1-64"}
	}
	if err := c.validateAccess(); err != nil {
		return err
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
	if err := c.validateLimits(); err != nil {
		return err
	}
	return c.validateCluster()
}

// validateAccess checks the access settings: the lists parse and their files are there,
// the auth file is readable.
func (c Config) validateAccess() error {
	var l access.IPList
	if err := l.Load(c.Deny, nil); err != nil {
		return &ConfigError{"DENY", strings.Join(c.Deny, ","), err.Error()}
	}
	if err := l.Load(nil, c.Allow); err != nil {
		return &ConfigError{"ALLOW", strings.Join(c.Allow, ","), err.Error()}
	}
	if c.AuthFile != "" {
		var a access.AuthRules
		if err := a.Load(c.AuthFile, c.AuthWhitelist); err != nil {
			return &ConfigError{"AUTH_FILE", c.AuthFile, err.Error()}
		}
	}
	if c.RendezvousRate < 1 || c.RendezvousRate > 100000 {
		return &ConfigError{"RENDEZVOUS_RATE", strconv.Itoa(c.RendezvousRate), "want 1-100000 per second"}
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

// validateLimits checks the limits of docs/security.md, alone and against each other.
func (c Config) validateLimits() error {
	if c.MaxMessageSize < 64<<10 || c.MaxMessageSize > 256<<20 {
		return &ConfigError{"MAX_MESSAGE_SIZE", strconv.Itoa(c.MaxMessageSize), "want 65536-268435456 bytes"}
	}
	// A session must be able to hold the largest message with its bookkeeping (an eighth
	// is plenty) and a flow window (256 KiB) out of order beside it.
	if need := c.MaxMessageSize + c.MaxMessageSize/8 + 256<<10; c.RecvBudgetSession < need {
		return &ConfigError{"RECV_BUDGET_SESSION", strconv.Itoa(c.RecvBudgetSession),
			fmt.Sprintf("must be at least %d to hold a message of ACTORRTMFP_MAX_MESSAGE_SIZE=%d with its bookkeeping and a flow window", need, c.MaxMessageSize)}
	}
	if c.RecvBudgetSession > 1<<30 {
		return &ConfigError{"RECV_BUDGET_SESSION", strconv.Itoa(c.RecvBudgetSession), "want at most 1073741824 bytes"}
	}
	if c.RecvBudgetAddress < c.RecvBudgetSession {
		return &ConfigError{"RECV_BUDGET_ADDRESS", strconv.Itoa(c.RecvBudgetAddress),
			fmt.Sprintf("must be at least ACTORRTMFP_RECV_BUDGET_SESSION=%d (an address holds at least one session)", c.RecvBudgetSession)}
	}
	if c.RecvBudgetServer < 0 || c.RecvBudgetServer > 0 && c.RecvBudgetServer < int64(c.RecvBudgetAddress) {
		return &ConfigError{"RECV_BUDGET_SERVER", strconv.FormatInt(c.RecvBudgetServer, 10),
			fmt.Sprintf("must be 0 (automatic) or at least ACTORRTMFP_RECV_BUDGET_ADDRESS=%d", c.RecvBudgetAddress)}
	}
	if err := durationIn("FLOW_STALL_TIMEOUT", c.FlowStallTimeout, 5*time.Second, 10*time.Minute); err != nil {
		return err
	}
	if err := durationIn("PENDING_TIMEOUT", c.PendingTimeout, time.Second, time.Minute); err != nil {
		return err
	}
	if c.PendingTimeout >= c.IdleTimeout {
		return &ConfigError{"PENDING_TIMEOUT", c.PendingTimeout.String(),
			fmt.Sprintf("must be below ACTORRTMFP_IDLE_TIMEOUT=%s", c.IdleTimeout)}
	}
	if c.PendingPerAddress < 1 || c.PendingPerAddress > 100000 {
		return &ConfigError{"PENDING_PER_ADDRESS", strconv.Itoa(c.PendingPerAddress), "want 1-100000"}
	}
	if c.HelloRate < 1 || c.HelloRate > 100000 {
		return &ConfigError{"HELLO_RATE", strconv.Itoa(c.HelloRate), "want 1-100000 per second"}
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
