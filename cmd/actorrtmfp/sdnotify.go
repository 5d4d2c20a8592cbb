package main

import (
	"net"
	"strings"
)

// notifier tells systemd how the service stands (sd_notify(3)) when it was started with
// Type=notify: datagrams on the unix socket named by NOTIFY_SOCKET. Without one it does
// nothing. The protocol is a few lines; no library needed.
type notifier struct{ socket string }

// newNotifier reads NOTIFY_SOCKET from environ.
func newNotifier(environ []string) notifier {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "NOTIFY_SOCKET="); ok {
			return notifier{socket: v}
		}
	}
	return notifier{}
}

// notify sends state ("READY=1", "RELOADING=1", "STOPPING=1", "STATUS=…", several
// separated by newlines).
func (n notifier) notify(state string) error {
	if n.socket == "" {
		return nil
	}
	name := n.socket
	if name[0] == '@' {
		name = "\x00" + name[1:] // an abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}
