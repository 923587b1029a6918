#!/usr/bin/env bash
# `make run`: the main job. Runs the otelcol-databricks distribution with its shipped configuration against
#   - the Databricks workspace in DATABRICKS_HOST / DATABRICKS_TOKEN when both are set,
#   - otherwise the built-in workspace simulator (bin/workspace-simulator) on 127.0.0.1,
# remote-writing to a local Prometheus it starts on 127.0.0.1:${PROMETHEUS_PORT:-9090}. With DD_API_KEY set,
# Datadog joins the pipeline (cmd/otelcol-databricks/datadog.yaml; DD_SITE picks the site). PROMETHEUS=3 runs
# Prometheus 3 (.tools/prometheus3, which `make run PROMETHEUS=3` builds) instead of Debian's 2.42, the default.
# Stop it with Ctrl-C; RUN_FOR=90s stops it by itself after that long.
#
# Ports, all on 127.0.0.1, each with the variable that sets it:
#   PROMETHEUS_PORT (9090)                   Prometheus
#   SIMULATOR_PORT (18080)                   the workspace simulator (only without DATABRICKS_HOST/DATABRICKS_TOKEN)
#   HEALTH_CHECK_ENDPOINT (127.0.0.1:13133)  the collector's health check (port 0: any free port)
#   SELF_TELEMETRY_PORT (8888)               the collector's own metrics, which it scrapes itself
# Every port is checked before anything starts. A default port that is taken (Debian's prometheus service on
# 9090, say, which would even answer the readiness check) is replaced by the next free one, and the run prints
# which; a port set through its variable that is taken stops the run, naming the process that holds it.
set -euo pipefail
cd "$(dirname "$0")/.."

state=.run
mkdir -p "$state"
pids=()
cleanup() {
	# The collector first, while Prometheus still takes its last write; then the rest.
	[ -n "${collector:-}" ] && kill "$collector" 2>/dev/null && wait "$collector" 2>/dev/null
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# --- Ports ------------------------------------------------------------------------------------------------------
listeners() { # port: the listening TCP sockets on that port (ss is in iproute2, which `make deps` installs)
	ss -Hltnp "sport = :$1" 2>/dev/null
}
listener_pids() { # port: the pids of the processes listening on it, as far as ss can name them
	command -v ss >/dev/null || return 0
	listeners "$1" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u || true
}
claimed=" "
port_taken() { # port: whether this run gave it away already or something listens on it
	case "$claimed" in *" $1 "*) return 0 ;; esac
	if command -v ss >/dev/null; then
		[ -n "$(listeners "$1")" ]
	else
		# Without ss: whether anything accepts a connection on it.
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}
port_holder() { # port: who holds it, in words
	case "$claimed" in *" $1 "*) echo "another part of this run"; return ;; esac
	if ! command -v ss >/dev/null; then
		echo "a process this script cannot name (ss is missing: 'make deps' installs it, then ss -ltnp 'sport = :$1' names it)"
		return
	fi
	local who
	who=$(listeners "$1" | grep -o '"[^"]*",pid=[0-9]*' | sed -E 's/^"(.*)",pid=([0-9]+)$/\1 (pid \2)/' | sort -u | paste -sd, - | sed 's/,/, /g' || true)
	if [ -n "$who" ]; then
		echo "$who"
	else
		echo "a process ss cannot name (another user's, or one in another PID namespace: as root, ss -ltnp 'sport = :$1' names it)"
	fi
}
choose_port() { # what variable port explicit: sets $chosen to the port to use for what, or stops the run
	local what=$1 variable=$2 port=$3 explicit=$4 candidate
	if ! [[ "$port" =~ ^[0-9]+$ ]] || [ "$port" -gt 65535 ]; then
		echo "$variable: '$port' is not a port number" >&2
		exit 1
	fi
	chosen=$port
	[ "$port" -eq 0 ] && return 0 # the kernel picks a free one when it binds
	if port_taken "$port"; then
		if [ "$explicit" = yes ]; then
			echo "cannot start $what on 127.0.0.1:$port ($variable): the port is taken by $(port_holder "$port"). Stop that process, or set $variable to a free port." >&2
			exit 1
		fi
		for candidate in $(seq $((port + 1)) $((port + 200))); do
			if [ "$candidate" -le 65535 ] && ! port_taken "$candidate"; then
				echo "port $port, the default of $what, is taken by $(port_holder "$port"): using $candidate instead ($variable sets it)"
				chosen=$candidate
				break
			fi
		done
		if [ "$chosen" -eq "$port" ]; then
			echo "cannot start $what: port $port is taken by $(port_holder "$port"), and so are the 200 after it; set $variable to a free port" >&2
			exit 1
		fi
	fi
	claimed+="$chosen "
}
explicit() { # variable: yes when the user set it
	if [ -n "${!1:-}" ]; then echo yes; else echo no; fi
}

# Each version keeps its own storage under .run: switching between them never hands one the other's blocks.
prometheus_data=$state/prometheus-data
case "${PROMETHEUS:-2}" in
2) prometheus_bin=prometheus ;;
3)
	prometheus_bin=.tools/prometheus3
	prometheus_data=$state/prometheus3-data
	if [ ! -x "$prometheus_bin" ]; then
		echo "PROMETHEUS=3: $prometheus_bin is missing; 'make run PROMETHEUS=3' builds it" >&2
		exit 1
	fi
	;;
*)
	echo "PROMETHEUS: '$PROMETHEUS' is neither 2 (Debian's 2.42, the default) nor 3" >&2
	exit 1
	;;
esac

use_simulator=yes
if [ -n "${DATABRICKS_HOST:-}" ] && [ -n "${DATABRICKS_TOKEN:-}" ]; then
	use_simulator=no
fi
choose_port Prometheus PROMETHEUS_PORT "${PROMETHEUS_PORT:-9090}" "$(explicit PROMETHEUS_PORT)"
prometheus_port=$chosen
simulator_port=
if [ "$use_simulator" = yes ]; then
	choose_port "the workspace simulator" SIMULATOR_PORT "${SIMULATOR_PORT:-18080}" "$(explicit SIMULATOR_PORT)"
	simulator_port=$chosen
fi
health_check=${HEALTH_CHECK_ENDPOINT:-127.0.0.1:13133}
choose_port "the collector's health check" HEALTH_CHECK_ENDPOINT "${health_check##*:}" "$(explicit HEALTH_CHECK_ENDPOINT)"
export HEALTH_CHECK_ENDPOINT=${health_check%:*}:$chosen
choose_port "the collector's own metrics" SELF_TELEMETRY_PORT "${SELF_TELEMETRY_PORT:-8888}" "$(explicit SELF_TELEMETRY_PORT)"
export SELF_TELEMETRY_PORT=$chosen
echo "ports: Prometheus 127.0.0.1:$prometheus_port${simulator_port:+, workspace simulator 127.0.0.1:$simulator_port}, collector health check $HEALTH_CHECK_ENDPOINT, collector's own metrics 127.0.0.1:$SELF_TELEMETRY_PORT"

wait_for() { # url what log pid port
	local holders
	for _ in $(seq 1 150); do
		if ! kill -0 "$4" 2>/dev/null; then
			echo "$2 stopped at start; its log is $3:" >&2
			tail -20 "$3" >&2
			exit 1
		fi
		if curl -fsS -o /dev/null "$1" 2>/dev/null; then
			# The answer must come from the process this run started, not from another one on the same port.
			holders=$(listener_pids "$5")
			if [ -z "$holders" ] || grep -qx "$4" <<<"$holders"; then
				return 0
			fi
		fi
		sleep 0.2
	done
	echo "$2 did not come up on 127.0.0.1:$5; its log is $3:" >&2
	tail -20 "$3" >&2
	exit 1
}

if [ "$use_simulator" = no ]; then
	echo "scraping the Databricks workspace at $DATABRICKS_HOST"
	interval=${DATABRICKS_COLLECTION_INTERVAL:-30s}
else
	# The simulator's windows are 10 s instead of Databricks' minute, so counters move within seconds.
	window=${SIMULATOR_WINDOW:-10s}
	export DATABRICKS_TOKEN=dapi-simulator-token
	export DATABRICKS_HOST=http://127.0.0.1:$simulator_port
	interval=${DATABRICKS_COLLECTION_INTERVAL:-5s}
	# The simulated workspace changes as a real one does, once a minute, over and over: a new model version takes
	# 30 % of the traffic and is removed again, a version bump, a resize, an endpoint deleted and recreated, a
	# family changing type. SIMULATOR_LIFECYCLE= (empty) keeps it still.
	lifecycle=${SIMULATOR_LIFECYCLE-60s=multi-entity-endpoint-0:add_entity?traffic_percentage=30,120s=cpu-endpoint-0:bump_version,180s=cpu-endpoint-1:resize,240s=multi-entity-endpoint-0:remove_entity,300s=cpu-endpoint-1:recreate?gap=30s,360s=gpu-endpoint-0:flip_type}
	lifecycle_args=()
	if [ -n "$lifecycle" ]; then
		lifecycle_args=(-lifecycle "$lifecycle" -lifecycle-repeat)
	fi
	bin/workspace-simulator -listen "127.0.0.1:$simulator_port" -token "$DATABRICKS_TOKEN" -window "$window" "${lifecycle_args[@]}" >"$state/simulator.log" 2>&1 &
	pids+=($!)
	wait_for "$DATABRICKS_HOST/simulator/stats" "the workspace simulator" "$state/simulator.log" "$!" "$simulator_port"
	echo "no DATABRICKS_HOST/DATABRICKS_TOKEN: scraping the built-in workspace simulator at $DATABRICKS_HOST ($window windows)"
	if [ -n "$lifecycle" ]; then
		echo "the simulated workspace changes every minute (rollouts, version bumps, a resize, a recreated endpoint); SIMULATOR_LIFECYCLE= keeps it still"
	fi
fi

cat >"$state/prometheus.yml" <<'YAML'
global:
  evaluation_interval: 1m
YAML
"$prometheus_bin" --config.file="$state/prometheus.yml" --storage.tsdb.path="$prometheus_data" \
	--web.listen-address="127.0.0.1:$prometheus_port" --web.enable-remote-write-receiver --log.level=warn \
	>"$state/prometheus.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$prometheus_port/-/ready" "Prometheus" "$state/prometheus.log" "$!" "$prometheus_port"
export PROMETHEUS_REMOTE_WRITE_ENDPOINT=http://127.0.0.1:$prometheus_port/api/v1/write

# The receiver's saved state (docs/reliability.md): kept under .run, so stopping and starting `make run` again goes
# on counting where it stopped.
export STATE_DIR=${STATE_DIR:-$PWD/$state/collector-state}
configs=(--config cmd/otelcol-databricks/config.yaml)
if [ -n "${DD_API_KEY:-}" ]; then
	# The distribution runs the exporter's native path by default: failed sends are retried and queued.
	configs+=(--config cmd/otelcol-databricks/datadog.yaml)
	echo "DD_API_KEY is set: sending to Datadog (${DD_SITE:-datadoghq.com}) too"
fi
# The interval is the only setting run changes, so metrics show up quickly against the simulator.
configs+=(--set "receivers::databricksserving::collection_interval=$interval")

# histogram_quantile(0.99, sum by (databricks_serving_endpoint_name, le) (rate(databricks_serving_request_latency_milliseconds_bucket[5m]))),
# URL-encoded. 5m like the alert rules (deploy/prometheus/alerts.yaml): Databricks' counters move once a minute,
# so a shorter window may hold a single sample and show nothing.
encoded='histogram_quantile%280.99%2C%20sum%20by%20%28databricks_serving_endpoint_name%2C%20le%29%20%28rate%28databricks_serving_request_latency_milliseconds_bucket%5B5m%5D%29%29%29'
if [ "${PROMETHEUS:-2}" = 3 ]; then
	# The Prometheus 3 of .tools is built from its Go module, which ships no web UI: the API is all there is.
	graph="(this Prometheus 3 build has no web UI: use the API or Grafana)"
else
	graph="http://127.0.0.1:$prometheus_port/graph?g0.expr=$encoded&g0.tab=0&g0.range_input=15m"
fi
cat <<MSG

Metrics flow into Prometheus $("$prometheus_bin" --version 2>/dev/null | awk 'NR == 1 {print $3}') at http://127.0.0.1:$prometheus_port — P99 latency per endpoint:
  $graph
or ask the API:
  curl -s 'http://127.0.0.1:$prometheus_port/api/v1/query' --data-urlencode 'query=sum by (databricks_serving_endpoint_name) (databricks_serving_request_count_total)'
(counters start with the second window; the first one a collector sees is its baseline, see docs/metrics.md)
Grafana dashboard: deploy/grafana/databricks-serving.json. In Grafana: Dashboards → New → Import → upload that
file, then choose a Prometheus data source for http://127.0.0.1:$prometheus_port in its "Data source" variable
(deploy/grafana/README.md).
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
