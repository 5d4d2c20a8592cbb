package server_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/actorrtmfp/actorrtmfp/actors/server"
)

// TestClusterSettings: the cluster settings are checked together and a bad one names its
// variable; without CLUSTER_BIND none but the defaults may be set.
func TestClusterSettings(t *testing.T) {
	ok := []server.Config{
		{},
		{ClusterBind: "10.0.0.1:7000", ClusterMembers: []string{"10.0.0.1:7000", "10.0.0.2:7000"}},
		{ClusterBind: "0.0.0.0:7000", ClusterAdvertise: "10.0.0.1:7000", ClusterMembers: []string{"10.0.0.1:7000"}},
		{ClusterBind: "10.0.0.1:0", ClusterEtcd: []string{"10.0.0.9:2379"}, ClusterTLSCA: "ca", ClusterTLSCert: "c", ClusterTLSKey: "k"},
		{ClusterBind: "10.0.0.1:7000", ClusterEtcd: []string{"http://etcd:2379"}, PublicAddress: []string{"203.0.113.1:1935", "[2001:db8::1]:1935"},
			ClusterCapacity: 5000, ClusterRedirectLoad: -1},
	}
	for i, c := range ok {
		if err := c.Validate(); err != nil {
			t.Errorf("config %d: %v", i, err)
		}
	}
	members := []string{"10.0.0.1:7000"}
	bad := map[string]server.Config{
		"CLUSTER_NAME":          {ClusterName: "no spaces"},
		"CLUSTER_TTL":           {ClusterTTL: 1},
		"PUBLIC_ADDRESS":        {PublicAddress: []string{"host.example:1935"}},
		"CLUSTER_CAPACITY":      {ClusterCapacity: -1},
		"CLUSTER_REDIRECT_LOAD": {ClusterRedirectLoad: 101},
		"CLUSTER_MEMBERS":       {ClusterMembers: members},
		"CLUSTER_ETCD":          {ClusterEtcd: []string{"x:1"}},
		"CLUSTER_TLS_CA":        {ClusterTLSCA: "ca"},
		"CLUSTER_ADVERTISE":     {ClusterBind: "0.0.0.0:7000", ClusterMembers: members},
		"CLUSTER_BIND":          {ClusterBind: "nonsense", ClusterMembers: members},
	}
	bad["CLUSTER_BIND "] = server.Config{ClusterBind: "10.0.0.1:0", ClusterMembers: []string{"10.0.0.1:0"}}
	bad["CLUSTER_MEMBERS "] = server.Config{ClusterBind: "10.0.0.1:7000"}
	bad["CLUSTER_MEMBERS  "] = server.Config{ClusterBind: "10.0.0.1:7000", ClusterMembers: []string{"10.0.0.2:7000"}}
	bad["CLUSTER_ETCD "] = server.Config{ClusterBind: "10.0.0.1:7000", ClusterMembers: members, ClusterEtcd: []string{"x:1"}}
	bad["CLUSTER_TLS_KEY"] = server.Config{ClusterBind: "10.0.0.1:7000", ClusterMembers: members, ClusterTLSCA: "ca", ClusterTLSCert: "c"}
	bad["CLUSTER_ADVERTISE "] = server.Config{ClusterBind: "10.0.0.1:7000", ClusterAdvertise: "0.0.0.0:7000", ClusterMembers: members}
	for want, c := range bad {
		var ce *server.ConfigError
		if err := c.Validate(); !errors.As(err, &ce) || ce.Var != strings.TrimSpace(want) {
			t.Errorf("%s: %v", want, err)
		}
	}
}

// TestNoClusterWithoutSettings: a server started without cluster settings starts no
// remote (its actor system keeps the address "nonhost": no gRPC listener, no health
// endpoint) and has no member ID.
func TestNoClusterWithoutSettings(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sessionConfigZero())
	if id := f.srv.ClusterMember(); id != "" {
		t.Fatalf("member %q without cluster settings", id)
	}
	if a := f.sys.Address(); a != "nonhost" {
		t.Fatalf("the actor system has the address %q: remote was started", a)
	}
}
