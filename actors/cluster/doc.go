// Package cluster makes the nodes of a cluster one service: a node started with cluster
// settings (server.Config's CLUSTER_ variables) joins the others over protoactor's remote
// (gRPC), learns who the members are from a membership provider — a static list
// (protoactor's automanaged provider) or etcd (our own small provider, see etcd.go) — and
// runs four actors of well-known names that the other nodes address by member address:
//
//	cluster          members, node status (load, public addresses), load redirects (node.go)
//	cluster/p2p      the peer directory kept in step on every node; introductions and
//	                 relays to peers served elsewhere (directory.go)
//	cluster/streams  which node publishes which stream; one copy of a stream per playing
//	                 node, fanned out there (streams.go, edge.go, link.go)
//	cluster/groups   NetGroup membership kept by each group's home node (groups.go)
//
// Only the membership of protoactor's cluster package is used ("lite" start): no grains,
// no identity lookup, no gossip, which race at the pinned version (docs/cluster.md). Every
// message between nodes is a protobuf message of package messages, names the member that
// sent it and, where it matters, the member it is for; the gRPC guard (guard.go) drops
// what could hurt remote before it reads it. docs/cluster.md describes the whole.
package cluster
