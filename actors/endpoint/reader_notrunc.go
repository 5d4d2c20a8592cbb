//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package endpoint

// msgTrunc: no truncation flag here; a datagram cut to the buffer fails to decrypt or
// parse and is counted there.
const msgTrunc = 0
