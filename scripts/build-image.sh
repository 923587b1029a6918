#!/usr/bin/env bash
# Builds the otelcol-databricks container image with podman (no Docker engine needed) from the Dockerfile at the
# repository root, and tags it IMAGE:VERSION and IMAGE:latest. It packages what `make build` produced: it does not
# compile anything, and fails if bin/otelcol-databricks is missing.
#
# The build context is the repository root; .dockerignore lets only the Dockerfile's inputs in. The CA bundle
# comes from the host's Debian ca-certificates package (the image is FROM scratch: no base image is pulled) and is
# copied to bin/ca-certificates.crt first.
#
# Environment: IMAGE (default otelcol-databricks), VERSION (default: dist.version of builder-config.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-otelcol-databricks}
VERSION=${VERSION:-$(awk '/^dist:/ {d = 1; next} /^[^ #]/ {d = 0} d && $1 == "version:" {print $2; exit}' builder-config.yaml)}
if [ -z "$VERSION" ]; then
	echo "cannot read dist.version from builder-config.yaml; set VERSION" >&2
	exit 1
fi

BINARY=bin/otelcol-databricks
if [ ! -x "$BINARY" ]; then
	echo "$BINARY is missing: run \`make build\` first (the image packages the binary it builds)" >&2
	exit 1
fi
# The image has no libc: a dynamically linked binary would fail at start with a bare "no such file or directory".
if command -v file >/dev/null && file -b "$BINARY" | grep -q 'dynamically linked'; then
	echo "$BINARY is dynamically linked; the FROM scratch image needs CGO_ENABLED=0 (\`make build\`)" >&2
	exit 1
fi

scripts/install-podman.sh

install -m 0644 /etc/ssl/certs/ca-certificates.crt bin/ca-certificates.crt
# The state directory of the image: empty, with its owner and mode set by the Dockerfile's COPY.
mkdir -p bin/state

# runc and cgroupfs explicitly: crun (podman's first choice when installed) fails on some kernels' cgroup layouts,
# and there may be no systemd to manage cgroups or journald to log events to. A FROM scratch build with no RUN
# step never starts a container, but the same flags keep every podman call here alike.
podman=(podman --runtime runc --cgroup-manager cgroupfs --events-backend file)

# The image this build replaces, removed below once untagged (each rebuild of the binary would leave 80 MB behind).
previous=$("${podman[@]}" image inspect --format '{{.Id}}' "$IMAGE:$VERSION" 2>/dev/null || true)

start=$(date +%s)
# --layers=false: no intermediate image per Dockerfile step (nothing to cache: every step after the first COPY
# changes with the binary); the result is one layer holding the files.
"${podman[@]}" build \
	--layers=false \
	--file Dockerfile \
	--build-arg VERSION="$VERSION" \
	--tag "$IMAGE:$VERSION" \
	--tag "$IMAGE:latest" \
	.
echo "built $IMAGE:$VERSION and $IMAGE:latest in $(($(date +%s) - start)) s"
current=$("${podman[@]}" image inspect --format '{{.Id}}' "$IMAGE:$VERSION")
if [ -n "$previous" ] && [ "$previous" != "$current" ] &&
	[ -z "$("${podman[@]}" image inspect --format '{{join .RepoTags " "}}' "$previous" 2>/dev/null)" ]; then
	"${podman[@]}" rmi "$previous" >/dev/null 2>&1 || echo "note: the replaced image ${previous:0:12} is still in use; not removed" >&2
fi
"${podman[@]}" image ls --filter reference="$IMAGE" --format '{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}'
