// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"flag"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-databricks/otelcol-databricks/internal/simulator"
)

// outage is how long each backend is down in the outage scenarios.
var outage = flag.Duration("outage", 3*time.Minute, "how long a backend is down in the outage scenarios")

// recoveryTimeout covers the exporters' retry backoff (at most 30 s between attempts in the shipped config) and
// the queue draining after a backend returns.
const recoveryTimeout = 2 * time.Minute

// waitForEveryWindow waits until both backends hold a request count for every counted window of every endpoint:
// after an outage the newest windows arrive first, while the retries of the older ones are still on their way.
func waitForEveryWindow(t *testing.T, s *stack, rows map[string]metricRow, truth simulator.Truth) {
	t.Helper()
	started := time.Now()
	defer func() { t.Logf("every window arrived %.0f s after the truth snapshot", time.Since(started).Seconds()) }()
	row := rows["request_count_total"]
	eventually(t, recoveryTimeout, "every window reaches both backends", func() error {
		for name, ep := range truth.Endpoints {
			windows := ep.Windows
			last := windows[len(windows)-1].TimestampMillis
			series, err := s.prometheus.rawSamples(selector(row.PromName, map[string]string{endpointLabel: name}))
			if err != nil {
				return err
			}
			have := map[int64]bool{}
			for _, ser := range series {
				for _, smp := range ser.Samples {
					have[smp.TimestampMs] = true
				}
			}
			ddHave := map[int64]bool{}
			if s.intake != nil {
				for ts := range datadogPointsUntil(s.intake.SeriesPoints(row.DDName, "count", map[string]string{endpointTag: name}), last/1000) {
					ddHave[ts] = true
				}
			}
			for _, w := range windows[1:] { // the first is the baseline
				if !have[w.TimestampMillis] {
					return fmt.Errorf("prometheus: %s window %d missing", name, w.TimestampMillis)
				}
				if s.intake != nil && !ddHave[w.TimestampMillis/1000] {
					return fmt.Errorf("datadog: %s window %d missing", name, w.TimestampMillis)
				}
			}
		}
		return nil
	})
}

// checkAllEndpoints compares every endpoint's windows with the backends, exactly: no window may be missing.
func checkAllEndpoints(t *testing.T, s *stack, rows map[string]metricRow, truth simulator.Truth) {
	t.Helper()
	names := make([]string, 0, len(truth.Endpoints))
	for name := range truth.Endpoints {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			checkEndpoint(t, s, rows, name, truth.Endpoints[name].Windows, true)
		})
	}
}

// TestPrometheusOutageLosesNoWindow stops Prometheus for the outage, restarts it on its storage, and checks that
// after recovery every window of every series is there: the remote-write exporter's retries and queue carry them.
//
// It is also the failure suite's Prometheus outage (failures_test.go): the collector's own metrics show the
// exporter stalled, live in Datadog and, once Prometheus is back, in the backlog Prometheus receives.
func TestPrometheusOutageLosesNoWindow(t *testing.T) {
	requireLoopbackOnly(t)
	t.Parallel()
	rows := readMetricsTable(t)
	s := startStack(t, stackOptions{})
	time.Sleep(3 * windowLength)

	s.prometheus.stop(t)
	outageStart := time.Now()
	t.Logf("Prometheus down for %s", *outage)
	time.Sleep(*outage)
	outageEnd := time.Now()
	s.prometheus.start(t)
	time.Sleep(3 * windowLength)

	truth := s.truth(t)
	waitForEveryWindow(t, s, rows, truth)
	checkAllEndpoints(t, s, rows, truth)
	t.Logf("outage %s: %d windows per endpoint checked, none missing", *outage, len(truth.Endpoints["cpu-endpoint-0"].Windows))
	checkExportStalledWasSeen(t, s, outageStart, outageEnd)
	s.collector.stop(t) // while Prometheus is still up (the restarted Prometheus stops first otherwise)
}

// checkExportStalledWasSeen checks what the collector's own metrics said about the remote-write exporter during
// a Prometheus outage: Datadog received its queue size above zero throughout, the monitor's failing value; in
// Prometheus, the backlog makes CollectorExportStalled's expression return the exporter at the end of the
// outage, and nothing once the queue drained.
func checkExportStalledWasSeen(t *testing.T, s *stack, outageStart, outageEnd time.Time) {
	t.Run("the collector's own metrics show the exporter stalled", func(t *testing.T) {
		match := map[string]string{"exporter": "prometheus_remote_write", "service": "otelcol-databricks"}
		var during, empty int
		for _, p := range s.intake.GaugePoints("otelcol_exporter_queue_size", match) {
			at := time.Unix(p.Timestamp, 0)
			if at.After(outageStart.Add(20*time.Second)) && at.Before(outageEnd) {
				during++
				if p.Value <= 0 {
					empty++
				}
			}
		}
		assert.Positive(t, during, "Datadog received the queue size during the outage")
		assert.Zero(t, empty, "the queue was never empty during the outage (%d of %d points)", empty, during)

		if *outage >= 2*time.Minute+30*time.Second {
			got, err := s.alertResult(t, "CollectorExportStalled", outageEnd.Add(-10*time.Second).UnixMilli(), "exporter")
			require.NoError(t, err)
			assert.Contains(t, got, "exporter=prometheus_remote_write", "evaluated at the end of the outage over the backlog")
		} else {
			t.Logf("outage %s is shorter than CollectorExportStalled's 2-minute window: its expression is not checked", *outage)
		}
		s.waitForAlert(t, "CollectorExportStalled", failureTimeout, nil, "exporter")
	})
}

// TestDatadogOutageLosesNoWindow makes the Datadog intake answer 500 for the outage, then 202, and checks that
// every window reaches it after recovery.
func TestDatadogOutageLosesNoWindow(t *testing.T) {
	requireLoopbackOnly(t)
	t.Parallel()
	rows := readMetricsTable(t)
	s := startStack(t, stackOptions{})
	time.Sleep(3 * windowLength)

	s.intake.SetPayloadStatus(http.StatusInternalServerError)
	t.Logf("Datadog intake answering 500 for %s", *outage)
	time.Sleep(*outage)
	s.intake.SetPayloadStatus(0)
	time.Sleep(3 * windowLength)

	truth := s.truth(t)
	waitForEveryWindow(t, s, rows, truth)
	checkAllEndpoints(t, s, rows, truth)
	t.Logf("outage %s: %d windows per endpoint checked, none missing", *outage, len(truth.Endpoints["cpu-endpoint-0"].Windows))
}

// TestRestartDuringDatadogOutage queues data for Datadog on disk during an outage, restarts the collector in the
// middle of it, and checks the first run's windows are delivered by the second run once Datadog is back. This
// needs the datadog exporter's native path, the distribution's default: on its serializer path (the upstream
// default) the exporter hands payloads to an in-memory forwarder that retries them itself, so the persistent
// sending queue never holds them.
func TestRestartDuringDatadogOutage(t *testing.T) {
	requireLoopbackOnly(t)
	rows := readMetricsTable(t)
	storage := t.TempDir()
	s := startStack(t, stackOptions{
		overlays: []string{"file-storage.yaml"},
		env:      []string{"STORAGE_DIR=" + storage},
	})
	s.intake.SetPayloadStatus(http.StatusInternalServerError)
	time.Sleep(6 * windowLength)

	// During the outage the exporter is in the middle of a retry, and shutdown waits for it; Kubernetes would kill
	// the pod at the end of its grace period. The queue on disk is what must survive either way.
	if !s.collector.terminate(15 * time.Second) {
		t.Log("the collector was killed after 15 s of SIGTERM, as a pod at the end of its grace period")
	}
	firstRun := s.truth(t)
	env := append(append([]string{}, s.env...), "STORAGE_DIR="+storage, "SELF_TELEMETRY_PORT="+strconv.Itoa(freePort(t)))
	s.collector = startCollector(t, "otelcol-databricks-restarted", s.configs, env)
	time.Sleep(3 * windowLength)
	s.intake.SetPayloadStatus(0)

	name := "cpu-endpoint-0"
	windows := firstRun.Endpoints[name].Windows
	require.GreaterOrEqual(t, len(windows), 4, "the first run counted several windows")
	counted := countedWindows(onlyFamily(t, windows, "request_count_total").values, windows[0].TimestampMillis)
	want := secondsKeys(counted)
	match := map[string]string{endpointTag: name}
	eventually(t, recoveryTimeout, "the first run's windows reach Datadog after the restart", func() error {
		got := datadogPointsUntil(s.intake.SeriesPoints(rows["request_count_total"].DDName, "count", match), windows[len(windows)-1].TimestampMillis/1000)
		for ts, v := range want {
			if got[ts] != v {
				return fmt.Errorf("window %d: Datadog has %v, the simulator served %v (all: %v)", ts, got[ts], v, got)
			}
		}
		return nil
	})
	require.FileExists(t, filepath.Join(storage, "exporter_datadog__metrics"), "the queue lived on disk")
	t.Logf("all %d windows the first run counted reached Datadog after the restart", len(want))
}
