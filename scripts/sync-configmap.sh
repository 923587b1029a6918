#!/usr/bin/env bash
# Rewrites the data of deploy/kubernetes/configmap.yaml from the shipped collector configuration
# (cmd/otelcol-databricks/config.yaml and datadog.yaml), so the Kubernetes manifests carry exactly the configs the
# distribution ships. Run by `make generate`; deploy/kubernetes/manifests_test.go fails when they differ.
set -euo pipefail
cd "$(dirname "$0")/.."
out=deploy/kubernetes/configmap.yaml
tmp=$(mktemp)
sed -n '1,/^data:$/p' "$out" >"$tmp"
for name in config.yaml datadog.yaml; do
	echo "  $name: |" >>"$tmp"
	while IFS= read -r line || [ -n "$line" ]; do
		if [ -z "$line" ]; then echo >>"$tmp"; else printf '    %s\n' "$line" >>"$tmp"; fi
	done <"cmd/otelcol-databricks/$name"
done
mv "$tmp" "$out"
