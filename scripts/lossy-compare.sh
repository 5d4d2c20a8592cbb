#!/bin/sh
# Goodput of a reliable bulk transfer over RTMFP and over TCP through the same impaired
# path (loss and delay applied to IP packets by a userspace forwarder between two network
# namespaces joined by TUN devices; see cmd/lossycompare). Needs root.
#
#   scripts/lossy-compare.sh                       # 10 MB at 0, 5 and 20 % loss, 20 ms each way
#   scripts/lossy-compare.sh -mb 2 -loss 0.01,0.1  # any flags of cmd/lossycompare
set -eu
cd "$(dirname "$0")/.."
A=lossyA
B=lossyB
bin=$(mktemp -d "${TMPDIR:-/tmp}/lossycompare.XXXXXX")
cleanup() {
	ip netns del "$A" 2>/dev/null || true
	ip netns del "$B" 2>/dev/null || true
	rm -rf "$bin"
}
trap cleanup EXIT INT TERM
cleanup
ip netns add "$A"
ip netns add "$B"
go build -o "$bin/lossycompare" ./cmd/lossycompare
"$bin/lossycompare" -ns-a "$A" -ns-b "$B" "$@"
