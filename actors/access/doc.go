// Package access decides who may use the server, before it spends anything on them: an
// IP deny list and allow list of CIDRs, checked on every datagram and TCP connection
// before any decryption or key exchange (IPList), and Cumulus' auth file, rules on the
// page and SWF a client's connect names (AuthRules). Both are read from settings and
// files, and reloaded from them in place (SIGHUP): a reload swaps what the checks read
// with one atomic store, so a check never waits and a client already connected stays.
//
// The package is pure: no actors and no sockets; the endpoint, the RTMP listener and the
// Flash layer call it.
package access
