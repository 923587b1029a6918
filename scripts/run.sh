#!/usr/bin/env bash
# `make run`: the main job. Runs the otelcol-databricks distribution with its shipped configuration against
#   - the Databricks workspace in DATABRICKS_HOST / DATABRICKS_TOKEN when both are set,
#   - otherwise the built-in workspace simulator (bin/workspace-simulator) on 127.0.0.1,
# remote-writing to a local Prometheus it starts on 127.0.0.1:${PROMETHEUS_PORT:-9090}. With DD_API_KEY set,
# Datadog joins the pipeline (cmd/otelcol-databricks/datadog.yaml; DD_SITE picks the site).
# Stop it with Ctrl-C; RUN_FOR=90s stops it by itself after that long.
set -euo pipefail
cd "$(dirname "$0")/.."

state=.run
mkdir -p "$state"
prometheus_port=${PROMETHEUS_PORT:-9090}
pids=()
cleanup() {
	# The collector first, while Prometheus still takes its last write; then the rest.
	[ -n "${collector:-}" ] && kill "$collector" 2>/dev/null && wait "$collector" 2>/dev/null
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

wait_for() { # url what log
	for _ in $(seq 1 150); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.2
	done
	echo "$2 did not come up; its log is $3:" >&2
	tail -20 "$3" >&2
	exit 1
}

if [ -n "${DATABRICKS_HOST:-}" ] && [ -n "${DATABRICKS_TOKEN:-}" ]; then
	echo "scraping the Databricks workspace at $DATABRICKS_HOST"
	interval=${DATABRICKS_COLLECTION_INTERVAL:-30s}
else
	# The simulator's windows are 10 s instead of Databricks' minute, so counters move within seconds.
	window=${SIMULATOR_WINDOW:-10s}
	export DATABRICKS_TOKEN=dapi-simulator-token
	export DATABRICKS_HOST=http://127.0.0.1:${SIMULATOR_PORT:-18080}
	interval=${DATABRICKS_COLLECTION_INTERVAL:-5s}
	# The simulated workspace changes as a real one does, once a minute, over and over: a new model version takes
	# 30 % of the traffic and is removed again, a version bump, a resize, an endpoint deleted and recreated, a
	# family changing type. SIMULATOR_LIFECYCLE= (empty) keeps it still.
	lifecycle=${SIMULATOR_LIFECYCLE-60s=multi-entity-endpoint-0:add_entity?traffic_percentage=30,120s=cpu-endpoint-0:bump_version,180s=cpu-endpoint-1:resize,240s=multi-entity-endpoint-0:remove_entity,300s=cpu-endpoint-1:recreate?gap=30s,360s=gpu-endpoint-0:flip_type}
	lifecycle_args=()
	if [ -n "$lifecycle" ]; then
		lifecycle_args=(-lifecycle "$lifecycle" -lifecycle-repeat)
	fi
	bin/workspace-simulator -listen "${DATABRICKS_HOST#http://}" -token "$DATABRICKS_TOKEN" -window "$window" "${lifecycle_args[@]}" >"$state/simulator.log" 2>&1 &
	pids+=($!)
	wait_for "$DATABRICKS_HOST/simulator/stats" "the workspace simulator" "$state/simulator.log"
	echo "no DATABRICKS_HOST/DATABRICKS_TOKEN: scraping the built-in workspace simulator at $DATABRICKS_HOST ($window windows)"
	if [ -n "$lifecycle" ]; then
		echo "the simulated workspace changes every minute (rollouts, version bumps, a resize, a recreated endpoint); SIMULATOR_LIFECYCLE= keeps it still"
	fi
fi

cat >"$state/prometheus.yml" <<'YAML'
global:
  evaluation_interval: 1m
YAML
prometheus --config.file="$state/prometheus.yml" --storage.tsdb.path="$state/prometheus-data" \
	--web.listen-address="127.0.0.1:$prometheus_port" --web.enable-remote-write-receiver --log.level=warn \
	>"$state/prometheus.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$prometheus_port/-/ready" "Prometheus" "$state/prometheus.log"
export PROMETHEUS_REMOTE_WRITE_ENDPOINT=http://127.0.0.1:$prometheus_port/api/v1/write

# The receiver's saved state (docs/reliability.md): kept under .run, so stopping and starting `make run` again goes
# on counting where it stopped.
export STATE_DIR=${STATE_DIR:-$PWD/$state/collector-state}
configs=(--config cmd/otelcol-databricks/config.yaml)
if [ -n "${DD_API_KEY:-}" ]; then
	# The exporter's native path retries and queues failed sends, so a Datadog outage loses nothing.
	configs+=(--config cmd/otelcol-databricks/datadog.yaml --feature-gates=-exporter.datadogexporter.metricexportserializerclient)
	echo "DD_API_KEY is set: sending to Datadog (${DD_SITE:-datadoghq.com}) too"
fi
# The interval is the only setting run changes, so metrics show up quickly against the simulator.
configs+=(--set "receivers::databricksserving::collection_interval=$interval")

# histogram_quantile(0.99, sum by (databricks_serving_endpoint_name, le) (rate(databricks_serving_request_latency_milliseconds_bucket[1m]))), URL-encoded
encoded='histogram_quantile%280.99%2C%20sum%20by%20%28databricks_serving_endpoint_name%2C%20le%29%20%28rate%28databricks_serving_request_latency_milliseconds_bucket%5B1m%5D%29%29%29'
cat <<MSG

Metrics flow into Prometheus at http://127.0.0.1:$prometheus_port — P99 latency per endpoint:
  http://127.0.0.1:$prometheus_port/graph?g0.expr=$encoded&g0.tab=0&g0.range_input=15m
or ask the API:
  curl -s 'http://127.0.0.1:$prometheus_port/api/v1/query' --data-urlencode 'query=sum by (databricks_serving_endpoint_name) (databricks_serving_request_count_total)'
(counters start with the second window; the first one a collector sees is its baseline, see docs/metrics.md)
Collector log below; Ctrl-C stops everything.

MSG
bin/otelcol-databricks "${configs[@]}" &
collector=$!
pids+=($collector)
if [ -n "${RUN_FOR:-}" ]; then
	sleep "$RUN_FOR"
	kill -TERM "$collector"
fi
wait "$collector" || true
