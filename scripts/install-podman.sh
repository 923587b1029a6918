#!/usr/bin/env bash
# Installs, from Debian, what `make image` and the container end-to-end test need and a fresh machine lacks:
# podman (builds and runs the image; no Docker engine is needed), runc (the OCI runtime the scripts and tests run
# podman with: crun fails on some kernels' cgroup layouts) and ca-certificates (the CA bundle the image ships,
# since the image is built FROM scratch and no base image is pulled).
set -euo pipefail

missing=()
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
[ -s /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
	echo "missing: ${missing[*]}; install them (Debian: apt-get install -y ${missing[*]}) and run again" >&2
	exit 1
fi
echo "installing ${missing[*]} from Debian"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
if [ ! -s /etc/ssl/certs/ca-certificates.crt ]; then
	update-ca-certificates >/dev/null
fi
