//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package endpoint

import "syscall"

// msgTrunc is the receive flag of a datagram cut to the buffer it was read into.
const msgTrunc = syscall.MSG_TRUNC
