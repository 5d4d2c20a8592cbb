// Package rtmp serves RTMP and RTMPS beside RTMFP: every TCP connection is an actor
// under the node (a child of its listener's actor) with the same Flash layer as an RTMFP
// session — the applications, their rules and limits, publish and play in the same
// stream namespace, recording and recordings — and it is a live sink, as a session is,
// so that one publication feeds RTMFP and RTMP players alike, and either can publish.
//
// The framing is gortmplib's (its chunk reader and writer, pkg/rawmessage, which leave
// message bodies untouched: Enhanced RTMP passes through byte for byte); the handshake,
// with the digest Flash Player needs, is package handshake; commands and statuses are
// codec/flash's, shared with RTMFP.
//
//	listener (per address)     accepts; parent of its connections
//	└── conn                   one per TCP connection: reader and writer goroutines,
//	    │                      the queue to the socket, the live sink (sink.go)
//	    └── connection         its NetConnection (package netconn), whose "session" the
//	        └── netstream …    conn plays (flows.go)
package rtmp
