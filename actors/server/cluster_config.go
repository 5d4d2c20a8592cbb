package server

import (
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/actorrtmfp/actorrtmfp/actors/cluster"
)

var clusterNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Clustered reports whether the configuration makes the node a member of a cluster.
func (c Config) Clustered() bool { return c.ClusterBind != "" }

// validateCluster checks the cluster settings: all of them, or none beyond the defaults.
func (c Config) validateCluster() error {
	if !clusterNameRE.MatchString(c.ClusterName) {
		return &ConfigError{"CLUSTER_NAME", c.ClusterName, "want 1-64 letters, digits, '.', '_' or '-'"}
	}
	if err := durationIn("CLUSTER_TTL", c.ClusterTTL, time.Second, time.Minute); err != nil {
		return err
	}
	for _, a := range c.PublicAddress {
		if ap, err := netip.ParseAddrPort(strings.TrimSpace(a)); err != nil || ap.Addr().IsUnspecified() || ap.Port() == 0 {
			return &ConfigError{"PUBLIC_ADDRESS", a, "want ip:port addresses clients can reach, e.g. 203.0.113.7:1935"}
		}
	}
	if c.ClusterCapacity < 0 || c.ClusterCapacity > 100000000 {
		return &ConfigError{"CLUSTER_CAPACITY", strconv.Itoa(c.ClusterCapacity), "want 0-100000000 (0: MAX_SESSIONS per listen address)"}
	}
	if c.ClusterRedirectLoad != -1 && (c.ClusterRedirectLoad < 1 || c.ClusterRedirectLoad > 100) {
		return &ConfigError{"CLUSTER_REDIRECT_LOAD", strconv.Itoa(c.ClusterRedirectLoad), "want 1-100 percent, or -1 for never"}
	}
	tls := []struct{ name, v string }{{"CLUSTER_TLS_CA", c.ClusterTLSCA}, {"CLUSTER_TLS_CERT", c.ClusterTLSCert}, {"CLUSTER_TLS_KEY", c.ClusterTLSKey}}
	if !c.Clustered() {
		for _, s := range []struct {
			name string
			set  bool
		}{{"CLUSTER_ADVERTISE", c.ClusterAdvertise != ""}, {"CLUSTER_MEMBERS", len(c.ClusterMembers) > 0},
			{"CLUSTER_ETCD", len(c.ClusterEtcd) > 0}, {tls[0].name, tls[0].v != ""}, {tls[1].name, tls[1].v != ""}, {tls[2].name, tls[2].v != ""}} {
			if s.set {
				return &ConfigError{s.name, "", "needs ACTORRTMFP_CLUSTER_BIND (the cluster listener)"}
			}
		}
		return nil
	}
	port, err := hostPort(c.ClusterBind)
	if err != nil {
		return &ConfigError{"CLUSTER_BIND", c.ClusterBind, "want host:port, e.g. 10.0.0.5:7946"}
	}
	advertised := c.ClusterBind
	if c.ClusterAdvertise != "" {
		if p, err := hostPort(c.ClusterAdvertise); err != nil || p == 0 || cluster.Unspecified(c.ClusterAdvertise) {
			return &ConfigError{"CLUSTER_ADVERTISE", c.ClusterAdvertise, "want the host:port other nodes dial, e.g. 10.0.0.5:7946"}
		}
		advertised = c.ClusterAdvertise
	} else if cluster.Unspecified(c.ClusterBind) {
		return &ConfigError{"CLUSTER_ADVERTISE", "", "required: CLUSTER_BIND's host is unspecified, other nodes cannot dial it"}
	}
	switch {
	case len(c.ClusterMembers) > 0 && len(c.ClusterEtcd) > 0:
		return &ConfigError{"CLUSTER_ETCD", strings.Join(c.ClusterEtcd, ","), "set either CLUSTER_MEMBERS or CLUSTER_ETCD, not both"}
	case len(c.ClusterMembers) == 0 && len(c.ClusterEtcd) == 0:
		return &ConfigError{"CLUSTER_MEMBERS", "", "a cluster needs its membership: CLUSTER_MEMBERS (static) or CLUSTER_ETCD"}
	case len(c.ClusterMembers) > 0:
		if port == 0 || port == 65535 {
			return &ConfigError{"CLUSTER_BIND", c.ClusterBind, "with CLUSTER_MEMBERS the port must be 1-65534 (the next one answers health checks)"}
		}
		for _, m := range c.ClusterMembers {
			if _, err := cluster.HealthAddr(m); err != nil || cluster.Unspecified(m) {
				return &ConfigError{"CLUSTER_MEMBERS", m, "want host:port cluster addresses of the nodes (ports 1-65534)"}
			}
		}
		if !slices.Contains(c.ClusterMembers, advertised) {
			return &ConfigError{"CLUSTER_MEMBERS", strings.Join(c.ClusterMembers, ","), "must list this node's own address " + advertised}
		}
	default:
		for _, e := range c.ClusterEtcd {
			if strings.TrimSpace(e) == "" {
				return &ConfigError{"CLUSTER_ETCD", strings.Join(c.ClusterEtcd, ","), "want etcd endpoints, e.g. 10.0.0.9:2379"}
			}
		}
	}
	set := 0
	for _, t := range tls {
		if t.v != "" {
			set++
		}
	}
	if set != 0 && set != 3 {
		for _, t := range tls {
			if t.v == "" {
				return &ConfigError{t.name, "", "mutual TLS needs CLUSTER_TLS_CA, CLUSTER_TLS_CERT and CLUSTER_TLS_KEY together"}
			}
		}
	}
	return nil
}

// hostPort checks a host:port and returns its port.
func hostPort(s string) (int, error) {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return 0, err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return 0, strconv.ErrRange
	}
	return p, nil
}

// clusterConfig is the cluster package's configuration of the node.
func (c Config) clusterConfig() cluster.Config {
	return cluster.Config{
		Name: c.ClusterName, Bind: c.ClusterBind, Advertise: c.ClusterAdvertise, Members: c.ClusterMembers, Etcd: c.ClusterEtcd,
		TTL: c.ClusterTTL, TLS: cluster.TLSFiles{CA: c.ClusterTLSCA, Cert: c.ClusterTLSCert, Key: c.ClusterTLSKey},
	}
}
