// Package media is the node's recordings: FLV files in a media folder that publishers
// record to (publish(name, "record") or "append") and that players play when a name is
// not live (VOD), over RTMFP and RTMP alike.
//
// A recorder is an actor its publisher's stream actor spawns: the stream forwards it the
// publisher's messages as it forwards them to the publication, and the recorder writes
// them to <folder>/<application>/<name>.flv (recorder.go). A player is an actor a playing
// stream actor spawns: it reads a file and feeds it to the subscriber's sink through the
// same sink protocol as a live publication (package live), paced on the node's clock, with
// seek and pause (player.go). Both do file I/O and run on protoactor's default dispatcher,
// so that a slow disk holds up nothing but themselves. The library answers questions about
// files that need no player (getStreamLength; library.go).
package media
