#!/usr/bin/env bash
# `make screenshot`: regenerates docs/images/p99-latency.png, the README's picture. Runs scripts/run.sh (`make run`)
# against the built-in workspace simulator on non-default ports, waits until Prometheus has a few minutes of P99
# latency for several endpoints, takes a screenshot of the Prometheus graph with headless Chromium and stops
# everything again. Installs Debian's chromium when it is missing (needs root). Everything stays on 127.0.0.1.
#
#   SCREENSHOT_PROMETHEUS_PORT (19090), SCREENSHOT_SIMULATOR_PORT (18181)  where the run listens
#   SCREENSHOT_HISTORY (240)   seconds of P99 data to have before the screenshot
#   SCREENSHOT_TIMEOUT (600)   give up when it takes longer than this many seconds
set -euo pipefail
cd "$(dirname "$0")/.."

out=docs/images/p99-latency.png
prometheus_port=${SCREENSHOT_PROMETHEUS_PORT:-19090}
simulator_port=${SCREENSHOT_SIMULATOR_PORT:-18181}
history=${SCREENSHOT_HISTORY:-240}
timeout=${SCREENSHOT_TIMEOUT:-600}
min_endpoints=3

if ! command -v chromium >/dev/null; then
	if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
		echo "chromium is missing; install it (Debian: apt-get install -y chromium) and run again" >&2
		exit 1
	fi
	echo "installing chromium from Debian"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
for cmd in curl jq setsid; do
	command -v "$cmd" >/dev/null || { echo "$cmd is missing: run 'make deps'" >&2; exit 1; }
done
for port in "$prometheus_port" "$simulator_port"; do
	if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/"; then
		echo "127.0.0.1:$port is in use; pick other ports with SCREENSHOT_PROMETHEUS_PORT / SCREENSHOT_SIMULATOR_PORT" >&2
		exit 1
	fi
done

# Each background job gets its own session and process group (setsid), so stopping it stops everything it started.
groups=()
profile=
alive() { # pid: whether it still runs (exited but unreaped does not count)
	ps -o stat= -p "$1" 2>/dev/null | grep -qv '^Z'
}
running() { # session: whether a process of it still runs (exited but unreaped ones do not count)
	ps -o stat= --sid "$1" 2>/dev/null | grep -qv '^Z'
}
stop_group() { # pgid (= session id and pid of the job's first process)
	running "$1" || return 0
	kill -TERM -- "-$1" 2>/dev/null || return 0
	for _ in $(seq 1 100); do
		running "$1" || return 0
		sleep 0.2
	done
	echo "process group $1 did not stop within 20 s; killing it" >&2
	kill -KILL -- "-$1" 2>/dev/null || true
}
run=
child() { # pid name: run.sh's child process of that (short) name
	ps -o pid=,comm= --ppid "$1" 2>/dev/null | awk -v name="$2" '$2 == name {print $1}'
}
stop_run() { # the way RUN_FOR ends a run: first the collector, while Prometheus still takes its last batch (a
	# collector whose Prometheus is gone retries that batch for minutes), then run.sh's sleep, upon which run.sh
	# stops Prometheus and the simulator
	local pid name
	for name in otelcol-databri sleep; do
		pid=$(child "$run" "$name")
		[ -n "$pid" ] || continue
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 150); do
			alive "$pid" || break
			sleep 0.2
		done
	done
	for _ in $(seq 1 150); do
		running "$run" || return 0
		sleep 0.2
	done
}
cleanup() {
	[ -n "$run" ] && stop_run
	for g in "${groups[@]}"; do stop_group "$g"; done
	wait 2>/dev/null || true
	[ -n "$profile" ] && rm -rf "$profile"
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p .run
log=.run/screenshot-run.log
# The simulator, never a real workspace; no Datadog. RUN_FOR only bounds the run should this script be killed hard.
env -u DATABRICKS_HOST -u DATABRICKS_TOKEN -u DD_API_KEY \
	PROMETHEUS_PORT="$prometheus_port" SIMULATOR_PORT="$simulator_port" HEALTH_CHECK_ENDPOINT=127.0.0.1:0 \
	RUN_FOR=$((timeout + 120))s setsid scripts/run.sh >"$log" 2>&1 </dev/null &
run=$!
groups+=($run)
echo "started scripts/run.sh (Prometheus on 127.0.0.1:$prometheus_port, simulator on 127.0.0.1:$simulator_port); its log is $log"

expr='histogram_quantile(0.99, sum by (databricks_serving_endpoint_name, le) (rate(databricks_serving_request_latency_milliseconds_bucket[1m])))'
# The same expression, URL-encoded. scripts/run.sh prints it with a 5m window, which one-minute Databricks windows
# need; the simulator's 10 s windows fill a 1m window within a minute, so the picture needs no five-minute wait.
encoded='histogram_quantile%280.99%2C%20sum%20by%20%28databricks_serving_endpoint_name%2C%20le%29%20%28rate%28databricks_serving_request_latency_milliseconds_bucket%5B1m%5D%29%29%29'
url="http://127.0.0.1:$prometheus_port/graph?g0.expr=$encoded&g0.tab=0&g0.range_input=5m"

endpoints() { # how many endpoints have a P99 value now (NaN, from an idle endpoint, does not count)
	curl -fsS --max-time 5 "http://127.0.0.1:$prometheus_port/api/v1/query" --data-urlencode "query=$expr >= 0" 2>/dev/null |
		jq -r '.data.result | length' 2>/dev/null || echo 0
}
start=$SECONDS
first=
while :; do
	if ! alive "$run"; then
		echo "scripts/run.sh stopped early; its log is $log:" >&2
		tail -20 "$log" >&2
		exit 1
	fi
	n=$(endpoints)
	# A minute in, rate()'s window holds only this run's samples (.run/prometheus-data outlives runs).
	if [ "$n" -ge "$min_endpoints" ] && [ $((SECONDS - start)) -ge 60 ]; then
		[ -n "$first" ] || { first=$SECONDS; echo "P99 latency for $n endpoints; waiting ${history}s for the graph to fill"; }
		[ $((SECONDS - first)) -ge "$history" ] && break
	fi
	if [ $((SECONDS - start)) -ge "$timeout" ]; then
		echo "no ${history}s of P99 latency for $min_endpoints endpoints after ${timeout}s (now $n); the run's log is $log:" >&2
		tail -20 "$log" >&2
		exit 1
	fi
	sleep 5
done

profile=$(mktemp -d)
shot=$profile/p99-latency.png
echo "taking the screenshot of $url"
setsid chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
	--disable-sync --no-first-run --disable-quic --user-data-dir="$profile" --window-size=1400,900 \
	--virtual-time-budget=10000 --screenshot="$shot" "$url" >"$profile/chromium.log" 2>&1 </dev/null &
chromium=$!
groups+=($chromium)
for _ in $(seq 1 300); do alive "$chromium" || break; sleep 0.2; done
alive "$chromium" && { echo "chromium still running after 60 s; stopping it" >&2; stop_group "$chromium"; }
wait "$chromium" || true
stop_group "$chromium" # whatever it left behind
if [ "$(head -c 8 "$shot" 2>/dev/null | od -An -tx1 | tr -d ' \n')" != 89504e470d0a1a0a ]; then
	echo "chromium wrote no PNG; its log:" >&2
	tail -20 "$profile/chromium.log" >&2
	exit 1
fi
mkdir -p "$(dirname "$out")"
mv "$shot" "$out"
echo "wrote $out ($(stat -c %s "$out") bytes)"
