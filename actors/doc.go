// Package actors holds what every part of the actor tree shares: the protoactor system set
// up to log through zap, and the dispatcher. The tree itself lives in sub-packages:
// endpoint (sockets, reader shards, handshakes), session (one actor per RTMFP session with
// its flows), server (the Flash server: connections, streams, publications, groups,
// directory, applications) and client (the Go RTMFP client). See docs/architecture.md.
package actors
