package server

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actorrtmfp/actorrtmfp/actors/cluster"
)

// clusterState is a node's cluster layer (package cluster), when configured.
type clusterState struct {
	membership *cluster.Membership
	node       atomic.Pointer[cluster.Node]
	stopOnce   sync.Once
}

// clusterPIDs are the cluster actors the node's services talk to (nil: no cluster).
type clusterPIDs struct {
	p2p, streams, groups *actor.PID
}

// startRemote starts the node's cluster listener, before any actor of the node exists.
func (s *Server) startRemote() error {
	ccfg := s.cfg.clusterConfig()
	ccfg.Log, ccfg.OnLost = s.log.Named("cluster"), s.opts.ClusterLost
	m, err := cluster.Start(s.sys, ccfg, &s.stats.Cluster)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	s.cluster.membership = m
	return nil
}

func (s *Server) clusterPIDs() clusterPIDs {
	m := s.cluster.membership
	if m == nil {
		return clusterPIDs{}
	}
	return clusterPIDs{p2p: m.P2P(), streams: m.Streams(), groups: m.Groups()}
}

// runCluster starts the node's cluster actors and joins the cluster.
func (s *Server) runCluster(publications, groups *actor.PID) error {
	capacity := s.cfg.ClusterCapacity
	if capacity == 0 {
		capacity = s.cfg.MaxSessions * len(s.cfg.Listen)
	}
	n, err := s.cluster.membership.Run(cluster.Services{
		Directory: s.directory, Publications: publications, Groups: groups,
		Sessions: s.servedSessions, Capacity: capacity, RedirectLoad: s.cfg.ClusterRedirectLoad, Public: s.publicAddrs,
		GroupMaxMembers: s.cfg.GroupMaxMembers, GroupNeighbors: s.cfg.GroupNeighbors,
		Clock: s.opts.Clock, Options: s.propsOptions(),
	})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	s.cluster.node.Store(n)
	return nil
}

// servedSessions counts the sessions of the endpoints, once they all started.
func (s *Server) servedSessions() int {
	eps := s.served.Load()
	if eps == nil {
		return 0
	}
	n := 0
	for _, e := range *eps {
		n += e.Sessions()
	}
	return n
}

// publicAddrs are where clients reach this node: PUBLIC_ADDRESS, or the addresses it
// listens on that others can reach.
func (s *Server) publicAddrs() []netip.AddrPort {
	var out []netip.AddrPort
	for _, a := range s.cfg.PublicAddress {
		if ap, err := netip.ParseAddrPort(a); err == nil {
			out = append(out, ap)
		}
	}
	if len(out) > 0 {
		return out
	}
	if eps := s.served.Load(); eps != nil {
		for _, e := range *eps {
			if a := e.Addr(); !a.Addr().IsUnspecified() {
				out = append(out, a)
			}
		}
	}
	return out
}

// loadRedirect is the HelloHandler's: where new clients go while this node is loaded.
func (s *Server) loadRedirect() []netip.AddrPort {
	if n := s.cluster.node.Load(); n != nil {
		if to := n.LoadRedirect(); len(to) > 0 {
			s.stats.Cluster.Redirects.Add(1)
			return to
		}
	}
	return nil
}

// stopCluster leaves the cluster (once): goodbye, cluster actors, membership, remote.
func (s *Server) stopCluster() {
	if s.cluster.membership == nil {
		return
	}
	s.cluster.stopOnce.Do(func() {
		if n := s.cluster.node.Load(); n != nil {
			n.Stop()
			return
		}
		s.cluster.membership.Stop()
	})
}

// ClusterMember returns this node's member ID in its cluster ("" without one).
func (s *Server) ClusterMember() string {
	if m := s.cluster.membership; m != nil {
		return m.ID()
	}
	return ""
}
