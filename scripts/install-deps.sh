#!/usr/bin/env bash
# Installs, from Debian, what the tests and `make run` need and a fresh machine lacks: Prometheus (the
# remote-write backend), iproute2 and util-linux (ip and unshare, for the loopback-only test namespace), curl
# (readiness checks of `make run`).
set -euo pipefail

missing=()
command -v prometheus >/dev/null || missing+=(prometheus)
command -v ip >/dev/null || missing+=(iproute2)
command -v unshare >/dev/null || missing+=(util-linux)
command -v curl >/dev/null || missing+=(curl ca-certificates)
command -v jq >/dev/null || missing+=(jq) # scripts/check-monitoring-assets.sh reads the dashboard JSON with it
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
	echo "missing: ${missing[*]}; install them (Debian: apt-get install -y ${missing[*]}) and run again" >&2
	exit 1
fi
echo "installing ${missing[*]} from Debian"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
