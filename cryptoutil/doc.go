// Package cryptoutil holds the cryptography of RTMFP's Flash profile (RFC 7425) as
// actorrtmfp uses it: the 16-bit packet checksum, per-packet AES-128-CBC with 0xFF
// padding, the optional HMAC-SHA256 trailer and session sequence numbers, the replay
// window, Diffie-Hellman over the MODP groups 2, 5, 14 and 16, session key derivation,
// the negotiation of HMAC and sequence numbers in the session key components,
// certificates, peer IDs and stateless handshake cookies.
//
// The package is pure: no I/O, no goroutines and no mutable global state (the prime
// tables are immutable). Encoders append to a caller's slice; the packet Encrypter and
// Decrypter reuse their internal state and do not allocate in steady state. Encrypter,
// Decrypter and ReplayWindow are not safe for concurrent use (one per session and
// direction); CookieService, DHKey and the free functions are.
//
// A datagram, from the outside in (framing-and-crypto.md §1, hmac-sseq-and-groups.md §3):
//
//	+----------------+------------------------------------+----------------------+
//	| SSID (4 bytes) | AES-128-CBC ciphertext (16·k bytes) | HMAC (L bytes, opt.) |
//	+----------------+------------------------------------+----------------------+
//
//	plaintext of the ciphertext (zero IV, reset for every packet):
//	+--------------+----------------+--------------------------------+-------------+
//	| [seq VLU]    | [checksum u16] | packet: flags [ts] [echo] chunks | 0xFF * 0..15 |
//	+--------------+----------------+--------------------------------+-------------+
//	 only with        only without     what Seal takes and Open returns
//	 sequence numbers HMAC             (Open keeps the padding)
package cryptoutil
