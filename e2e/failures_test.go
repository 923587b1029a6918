// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The failure suite: one scenario per way collection fails, each against the real distribution, Prometheus and the
// Datadog intake. For every failure it checks the shipped alert's expression (deploy/prometheus/alerts.yaml),
// evaluated by the live Prometheus, returns the failing series while the failure lasts and none after recovery,
// and that the metric the matching Datadog monitor reads (deploy/datadog/monitors.json) reached the intake with
// the failing value and the monitor's tags. The alerts' `for:` durations are covered by the promtool tests
// (deploy/prometheus/alerts_test.yaml), built from the same series.
//
// The scenarios are independent stacks and run in parallel: the export and memory scenarios wait out their
// alerts' 5-minute windows, and the others run meanwhile. A Prometheus outage is in outage_test.go, which has one
// already.

// failureTimeout bounds how long a failure may take to show in a backend, and a recovery to clear it.
const failureTimeout = 45 * time.Second

// alertResult evaluates the expression of a shipped alert at atMs (0: now) and returns its series, each as the
// sorted "key=value" pairs of the given label keys.
func (s *stack) alertResult(t *testing.T, alert string, atMs int64, keys ...string) ([]string, error) {
	t.Helper()
	expr, ok := alertExpressions(t)[alert]
	require.True(t, ok, "no alert %s in alerts.yaml", alert)
	series, err := s.prometheus.instantSeriesAt(expr, atMs)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(series))
	for _, labels := range series {
		var pairs []string
		for _, k := range keys {
			pairs = append(pairs, k+"="+labels[k])
		}
		out = append(out, strings.Join(pairs, ","))
	}
	sort.Strings(out)
	return out, nil
}

// waitForAlert waits until the alert's expression returns exactly want (as alertResult's strings); an empty want
// waits until it returns nothing.
func (s *stack) waitForAlert(t *testing.T, alert string, timeout time.Duration, want []string, keys ...string) {
	t.Helper()
	want = slices.Clone(want)
	sort.Strings(want)
	what := fmt.Sprintf("%s returns %v", alert, want)
	eventually(t, timeout, what, func() error {
		got, err := s.alertResult(t, alert, 0, keys...)
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("%s returns %v", alert, got)
		}
		return nil
	})
}

// requireNoAlert checks that the alert's expression returns nothing now.
func (s *stack) requireNoAlert(t *testing.T, alert string) {
	t.Helper()
	got, err := s.alertResult(t, alert, 0, "databricks_workspace_host", endpointLabel)
	require.NoError(t, err)
	assert.Empty(t, got, "%s must not fire for this failure", alert)
}

// waitForDatadogGauge waits until the last point of a Datadog gauge with the given tags has the value want.
func (s *stack) waitForDatadogGauge(t *testing.T, metric string, tags map[string]string, want float64) {
	t.Helper()
	eventually(t, failureTimeout, fmt.Sprintf("Datadog %s%v is %v", metric, tags, want), func() error {
		got, ok := s.intake.LastGauge(metric, tags)
		if !ok || got != want {
			return fmt.Errorf("last point %v (found: %v)", got, ok)
		}
		return nil
	})
}

// workspaceHost is the databricks.workspace.host of the stack's simulator.
func (s *stack) workspaceHost() string { return fmt.Sprintf("127.0.0.1:%d", s.simulatorPort) }

// scrapedEndpoints lists the endpoints the receiver scrapes: all but the pay-per-token ones.
func (s *stack) scrapedEndpoints(t *testing.T) []string {
	t.Helper()
	var names []string
	for name, endpointType := range s.listEndpoints(t) {
		if endpointType != "FOUNDATION_MODEL_API" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	require.NotEmpty(t, names)
	return names
}

// perEndpoint returns alertResult strings "workspace host, endpoint" for each endpoint.
func (s *stack) perEndpoint(names []string) []string {
	out := make([]string, 0, len(names))
	for _, name := range names {
		out = append(out, fmt.Sprintf("databricks_workspace_host=%s,%s=%s", s.workspaceHost(), endpointLabel, name))
	}
	return out
}

func (s *stack) simulatorStats(t *testing.T) (stats struct {
	Requests struct {
		List    int `json:"list"`
		Metrics int `json:"metrics"`
	} `json:"requests"`
	TokenRequests struct {
		OAuth   int `json:"oauth"`
		Faulted int `json:"faulted"`
	} `json:"token_requests"`
},
) {
	t.Helper()
	s.control(t, http.MethodGet, "/simulator/stats", nil, &stats)
	return stats
}

// TestFailureDatabricksCredentialsAndThrottling runs one collector through a token refused from its first start,
// a token revoked mid-run and a storm of 429 answers with Retry-After on /metrics and on the list call, each
// followed by its recovery.
func TestFailureDatabricksCredentialsAndThrottling(t *testing.T) {
	requireLoopbackOnly(t)
	t.Parallel()
	const notYetValid = "dapi-e2e-not-yet-accepted-token-7c1d"
	s := startStack(t, stackOptions{overlays: []string{"failures.yaml"}, noCollector: true})
	host := s.workspaceHost()
	wsKeys := []string{"databricks_workspace_host"}
	wsOnly := []string{"databricks_workspace_host=" + host}
	epKeys := []string{"databricks_workspace_host", endpointLabel}

	// Processes started with a subtest's t stop when the subtest ends: the collector belongs to the whole test.
	started := time.Now()
	s.collector = startCollector(t, "otelcol-databricks", s.configs, append(append([]string{}, s.env...), "DATABRICKS_TOKEN="+notYetValid))

	t.Run("a token refused from the first start", func(t *testing.T) {
		s.waitForAlert(t, "DatabricksCredentialsRefused", failureTimeout, wsOnly, wsKeys...)
		samples := onlySeries(t, s.prometheus, `databricks_serving_workspace_up{error_type="auth"}`)
		require.NotEmpty(t, samples)
		assert.Less(t, samples[0].TimestampMs, started.Add(5*time.Second).UnixMilli(), "workspace.up is written from the first cycle")
		// No endpoint was ever listed: no scrape.up, and no endpoint count (unknown is not zero).
		s.requireNoAlert(t, "MetricsNotCollected")
		s.requireNoAlert(t, "NothingSelected")
		s.waitForDatadogGauge(t, "databricks.serving.workspace.up", map[string]string{"databricks.workspace.host": host, "error.type": "auth"}, 0)

		s.control(t, http.MethodPut, "/simulator/tokens", map[string]any{"tokens": []string{simulatorToken, notYetValid}}, nil)
		s.waitForAlert(t, "DatabricksCredentialsRefused", failureTimeout, nil, wsKeys...)
		s.waitForDatadogGauge(t, "databricks.serving.workspace.up", map[string]string{"databricks.workspace.host": host}, 1)
	})
	endpoints := s.scrapedEndpoints(t)
	s.waitForAlert(t, "MetricsNotCollected", failureTimeout, nil, epKeys...)

	t.Run("a token revoked mid-run", func(t *testing.T) {
		s.control(t, http.MethodPut, "/simulator/tokens", map[string]any{"tokens": []string{simulatorToken}}, nil)
		s.waitForAlert(t, "ScrapeAuthFailing", failureTimeout, s.perEndpoint(endpoints), epKeys...)
		s.waitForAlert(t, "MetricsNotCollected", failureTimeout, s.perEndpoint(endpoints), epKeys...)
		s.waitForAlert(t, "DatabricksCredentialsRefused", failureTimeout, wsOnly, wsKeys...)
		for _, name := range endpoints {
			s.waitForDatadogGauge(t, "databricks.serving.scrape.up", map[string]string{
				"databricks.workspace.host": host, endpointTag: name, "error.type": "auth",
			}, 0)
		}

		s.control(t, http.MethodPut, "/simulator/tokens", map[string]any{"tokens": []string{simulatorToken, notYetValid}}, nil)
		s.waitForAlert(t, "ScrapeAuthFailing", failureTimeout, nil, epKeys...)
		s.waitForAlert(t, "MetricsNotCollected", failureTimeout, nil, epKeys...)
		s.waitForAlert(t, "DatabricksCredentialsRefused", failureTimeout, nil, wsKeys...)
	})

	t.Run("a storm of 429 with Retry-After on /metrics and on the list", func(t *testing.T) {
		const retryAfter = 10 * time.Second
		throttle := map[string]any{"mode": "status", "status": http.StatusTooManyRequests, "retry_after": fmt.Sprint(int(retryAfter.Seconds()))}
		before := s.simulatorStats(t)
		stormStart := time.Now()
		s.control(t, http.MethodPut, "/simulator/faults/list", map[string]any{"fault": throttle}, nil)
		for _, name := range endpoints {
			s.control(t, http.MethodPatch, "/simulator/endpoints/"+name, map[string]any{"fault": throttle}, nil)
		}
		s.waitForCollectionFailing(t, host, endpoints, "rate_limited")
		time.Sleep(time.Until(stormStart.Add(retryAfter - time.Second)))
		during := s.simulatorStats(t)
		stormEnd := time.Now()

		// Retry-After is honoured: each endpoint and the list were asked about once, not every cycle.
		metricsAsked := during.Requests.Metrics - before.Requests.Metrics
		listAsked := during.Requests.List - before.Requests.List
		t.Logf("%s of 429s: %d /metrics requests for %d endpoints, %d list requests (collection every 1 s, list every 2 s)",
			stormEnd.Sub(stormStart).Round(time.Second), metricsAsked, len(endpoints), listAsked)
		assert.LessOrEqual(t, metricsAsked, 2*len(endpoints), "at most one request per endpoint per Retry-After, and one in flight at the start")
		assert.LessOrEqual(t, listAsked, 2, "the list waits out Retry-After too")
		// Meanwhile every endpoint's scrape.up was written on every cycle, not once per Retry-After.
		for _, name := range endpoints {
			checkWrittenEveryCycle(t, s, fmt.Sprintf(`databricks_serving_scrape_up{%s=%q, error_type="rate_limited"}`, endpointLabel, name), stormStart, stormEnd)
		}

		s.control(t, http.MethodPut, "/simulator/faults/list", map[string]any{"fault": nil}, nil)
		for _, name := range endpoints {
			s.control(t, http.MethodPatch, "/simulator/endpoints/"+name, map[string]any{"fault": nil}, nil)
		}
		s.waitForAlert(t, "MetricsNotCollected", failureTimeout, nil, epKeys...)
		s.waitForAlert(t, "WorkspaceListFailing", failureTimeout, nil, wsKeys...)
	})
}

// checkWrittenEveryCycle checks that the series has a sample at least every 3 s (the suite collects every
// second) between from and to.
func checkWrittenEveryCycle(t *testing.T, s *stack, selector string, from, to time.Time) {
	t.Helper()
	series, err := s.prometheus.rawSamples(selector)
	require.NoError(t, err)
	require.Len(t, series, 1, selector)
	last := from.Add(2 * time.Second).UnixMilli() // the first answer takes a cycle to arrive
	for _, smp := range series[0].Samples {
		if smp.TimestampMs <= last || smp.TimestampMs > to.UnixMilli() {
			continue
		}
		assert.LessOrEqual(t, smp.TimestampMs-last, int64(3000), "%s: no sample between %d and %d", selector, last, smp.TimestampMs)
		last = smp.TimestampMs
	}
	assert.GreaterOrEqual(t, last, to.Add(-3*time.Second).UnixMilli(), "%s: written until the end", selector)
}

// TestFailureOAuthTokenServiceDown makes the workspace's OAuth token endpoint answer 503 while the collector's
// short-lived tokens expire: every scrape and list needs a token, none is issued.
func TestFailureOAuthTokenServiceDown(t *testing.T) {
	requireLoopbackOnly(t)
	t.Parallel()
	const clientID, clientSecret = "e2e-failure-principal", "e2e-failure-secret-0c9d8e7f6a5b4c3d"
	s := startStack(t, stackOptions{
		simulatorArgs: append(append([]string{}, standardEndpoints...), "-oauth-client", clientID+":"+clientSecret, "-token-lifetime", "5s"),
		overlays:      []string{"oauth.yaml", "failures.yaml"},
		noCollector:   true,
	})
	s.collector = startCollector(t, "otelcol-databricks", s.configs, append(append([]string{}, s.env...), "OAUTH_CLIENT_ID="+clientID, "OAUTH_CLIENT_SECRET="+clientSecret))
	host := s.workspaceHost()
	endpoints := s.scrapedEndpoints(t)
	epKeys := []string{"databricks_workspace_host", endpointLabel}
	wsKeys := []string{"databricks_workspace_host"}
	s.waitForDatadogGauge(t, "databricks.serving.workspace.up", map[string]string{"databricks.workspace.host": host}, 1)

	before := s.simulatorStats(t)
	outageStart := time.Now()
	s.control(t, http.MethodPut, "/simulator/faults/token", map[string]any{"fault": map[string]any{"mode": "status", "status": http.StatusServiceUnavailable}}, nil)
	// A token service that is down is not a credentials problem: new credentials would not help.
	s.waitForCollectionFailing(t, host, endpoints, "server_error")
	time.Sleep(time.Until(outageStart.Add(15 * time.Second)))
	during := s.simulatorStats(t)
	outage := time.Since(outageStart).Round(time.Second)

	// One fetch at a time, shared by every request, and a failure remembered for a backoff: a handful of token
	// requests, where asking per request would make one per endpoint and list call every second.
	asked := during.TokenRequests.Faulted - before.TokenRequests.Faulted
	t.Logf("token service down for %s: %d token requests for %d endpoints collected every second", outage, asked, len(endpoints))
	assert.LessOrEqual(t, asked, 5)
	assert.Positive(t, asked)

	s.control(t, http.MethodPut, "/simulator/faults/token", map[string]any{"fault": nil}, nil)
	// The backoff after the last failed fetch decides when the next one is tried: up to 20 s after 15 s down.
	s.waitForAlert(t, "MetricsNotCollected", failureTimeout, nil, epKeys...)
	s.waitForAlert(t, "WorkspaceListFailing", failureTimeout, nil, wsKeys...)
}

// TestFailureExportsRefused makes each backend refuse the collector's data for good while the other is fine: the
// Datadog intake rejects the API key mid-run (403), then Prometheus runs without its remote-write receiver (404).
// Each backend sees the other's failure live, from the collector's own metrics.
func TestFailureExportsRefused(t *testing.T) {
	requireLoopbackOnly(t)
	t.Parallel()
	s := startStack(t, stackOptions{})
	exporterKeys := []string{"exporter"}
	time.Sleep(3 * windowLength)

	t.Run("the Datadog key is rejected mid-run", func(t *testing.T) {
		s.intake.SetPayloadStatus(http.StatusForbidden)
		s.waitForAlert(t, "CollectorExportFailing", failureTimeout, []string{"exporter=datadog"}, exporterKeys...)
		s.intake.SetPayloadStatus(0)
	})
	recovered := time.Now()

	// Prometheus is restarted with the test's t, not the subtest's: a process stops with the t that started it.
	enabled := s.prometheus.args
	s.prometheus.stop(t)
	s.prometheus.args = slices.DeleteFunc(slices.Clone(enabled), func(a string) bool { return a == "--web.enable-remote-write-receiver" })
	s.prometheus.start(t)
	t.Run("Prometheus refuses remote writes", func(t *testing.T) {
		match := map[string]string{"exporter": "prometheus_remote_write", "service": "otelcol-databricks"}
		eventually(t, failureTimeout, "Datadog receives the remote-write exporter's dropped points", func() error {
			if n := s.intake.SumCount("otelcol_exporter_send_failed_metric_points", match); n <= 0 {
				return fmt.Errorf("%v dropped points so far", n)
			}
			return nil
		})
	})
	s.prometheus.stop(t)
	s.prometheus.args = enabled
	s.prometheus.start(t)

	t.Run("after recovery", func(t *testing.T) {
		// The alert reads the last 5 minutes of drops: it clears 5 minutes after the Datadog drops stopped.
		s.waitForAlert(t, "CollectorExportFailing", 5*time.Minute+failureTimeout-time.Since(recovered), nil, exporterKeys...)
		t.Logf("CollectorExportFailing cleared %s after Datadog accepted the key again", time.Since(recovered).Round(time.Second))
	})
	checkFailureOnlyAssets(t, s)
	s.collector.stop(t) // while Prometheus is still up (the restarted Prometheus stops first otherwise)
}

// TestFailureMemoryLimiterRefuses runs the collector far above its memory limit: the memory limiter refuses the
// Databricks pipeline's data, and the collector's own metrics, which bypass it, say so.
func TestFailureMemoryLimiterRefuses(t *testing.T) {
	requireLoopbackOnly(t)
	t.Parallel()
	s := startStack(t, stackOptions{overlays: []string{"memory-limit.yaml"}, withoutDatadog: true})
	s.waitForAlert(t, "CollectorRefusingData", failureTimeout, []string{"receiver=databricksserving"}, "receiver")
	assert.Contains(t, s.collector.out.String(), "memory", "the collector logs why it refuses")
}

// TestFailureDatadogKeyRejectedAtStart starts the collector with an API key the Datadog intake rejects: with the
// shipped api.fail_on_invalid_key it stops at start-up, saying why, instead of dropping every payload.
func TestFailureDatadogKeyRejectedAtStart(t *testing.T) {
	requireLoopbackOnly(t)
	t.Parallel()
	const wrongKey = "e2e0dd0wrong0key0ffffffffffffff01"
	s := startStack(t, stackOptions{noCollector: true})
	env := append(append([]string{}, s.env...), "DD_API_KEY="+wrongKey, "STATE_DIR="+t.TempDir(),
		fmt.Sprintf("HEALTH_CHECK_ENDPOINT=127.0.0.1:%d", freePort(t)), fmt.Sprintf("SELF_TELEMETRY_PORT=%d", freePort(t)))
	p := startProcess(t, "otelcol-databricks-wrong-key", s.collectorBinary(), s.configs, env)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the collector still runs 60 s after its Datadog API key was rejected")
	}
	require.Error(t, p.err, "a non-zero exit status")
	out := p.out.String()
	assert.Contains(t, strings.ToLower(out), "api key", "the error names the API key")
	assert.NotContains(t, out, wrongKey, "the key itself is never logged")
	t.Logf("exit: %v; last lines:\n%s", p.err, lastLines(out, 3))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// waitForCollectionFailing waits until every endpoint and the workspace list fail with errorType, a failure that
// is not the credentials': MetricsNotCollected and WorkspaceListFailing fire, the credentials alerts do not, and
// Datadog receives scrape.up and workspace.up 0 tagged with errorType.
func (s *stack) waitForCollectionFailing(t *testing.T, host string, endpoints []string, errorType string) {
	t.Helper()
	s.waitForAlert(t, "MetricsNotCollected", failureTimeout, s.perEndpoint(endpoints), "databricks_workspace_host", endpointLabel)
	s.waitForAlert(t, "WorkspaceListFailing", failureTimeout, []string{"databricks_workspace_host=" + host}, "databricks_workspace_host")
	s.requireNoAlert(t, "ScrapeAuthFailing")
	s.requireNoAlert(t, "DatabricksCredentialsRefused")
	for _, name := range endpoints {
		s.waitForDatadogGauge(t, "databricks.serving.scrape.up", map[string]string{
			"databricks.workspace.host": host, endpointTag: name, "error.type": errorType,
		}, 0)
	}
	s.waitForDatadogGauge(t, "databricks.serving.workspace.up", map[string]string{"databricks.workspace.host": host, "error.type": errorType}, 0)
}
