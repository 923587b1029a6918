#!/usr/bin/env bash
# Runs a command in a new network namespace whose only interface is loopback. Everything started inside (the
# simulator, Prometheus, the Datadog intake, the collector) reaches 127.0.0.1 and nothing else: the datadog
# exporter's cloud metadata probes (169.254.169.254) fail at once instead of leaving the machine.
set -euo pipefail
if ! unshare --net true 2>/dev/null; then
	echo "cannot create a network namespace (unshare --net needs root or CAP_SYS_ADMIN); the end-to-end suite must not run outside one" >&2
	exit 1
fi
exec unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh "$@"
