// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/otelcol-databricks/otelcol-databricks/internal/ddintake"
	"github.com/otelcol-databricks/otelcol-databricks/internal/monitoringassets"
	"github.com/otelcol-databricks/otelcol-databricks/internal/simulator"
)

// dashboardPath is the shipped Grafana dashboard.
func dashboardPath() string {
	return filepath.Join(*repoRoot, "deploy", "grafana", "databricks-serving.json")
}

// dashboardQueries returns every PromQL expression of the Grafana dashboard at path (panel targets, and the
// selectors of the template variables' label_values queries), with the variables replaced as Grafana's "All"
// would.
func dashboardQueries(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var dashboard any
	require.NoError(t, json.Unmarshal(raw, &dashboard))
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if expr, ok := v["expr"].(string); ok && expr != "" {
				exprs = append(exprs, expr)
			}
			for _, child := range v {
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(dashboard)
	labelValues := regexp.MustCompile(`^label_values\((.*),\s*[a-zA-Z_]+\)$`)
	for _, variable := range dashboard.(map[string]any)["templating"].(map[string]any)["list"].([]any) {
		query := variable.(map[string]any)["query"]
		if q, ok := query.(map[string]any); ok {
			query = q["query"]
		}
		if m := labelValues.FindStringSubmatch(strings.TrimSpace(stringOf(query))); m != nil {
			exprs = append(exprs, m[1])
		}
	}
	for i, e := range exprs {
		exprs[i] = substituteVariables(e, "1m")
	}
	return exprs
}

// substituteVariables replaces the dashboard's variables as Grafana's "All" would, and $__rate_interval by
// rateInterval.
func substituteVariables(expr, rateInterval string) string {
	return strings.NewReplacer("$workspace", ".*", "$endpoint", ".*", "$served_entity", ".*", "$__rate_interval", rateInterval, "${datasource}", "").Replace(expr)
}

// dashboardPanelExpr returns the expression of the first target of the dashboard's panel titled title.
func dashboardPanelExpr(t *testing.T, title, rateInterval string) string {
	t.Helper()
	raw, err := os.ReadFile(dashboardPath())
	require.NoError(t, err)
	var dashboard struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
			Panels []json.RawMessage `json:"panels"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(raw, &dashboard))
	for _, p := range dashboard.Panels {
		if p.Title == title && len(p.Targets) > 0 {
			return substituteVariables(p.Targets[0].Expr, rateInterval)
		}
	}
	t.Fatalf("the dashboard has no panel %q", title)
	return ""
}

func stringOf(v any) string {
	s, _ := v.(string)
	return s
}

// alertExpressions returns the expressions of the Prometheus alerting rules by alert name.
func alertExpressions(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(*repoRoot, "deploy", "prometheus", "alerts.yaml"))
	require.NoError(t, err)
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &rules))
	out := map[string]string{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			out[r.Alert] = r.Expr
		}
	}
	require.NotEmpty(t, out)
	return out
}

// conditionalLabels are labels a metric carries only in situations a healthy single-collector run does not have:
// workspace_up's error_type when listing fails, its shard when the workspace is sharded; limit_exceeded's endpoint
// name when a limit drops part of an endpoint's answers (a healthy run has only the workspace's max_endpoints 0).
var conditionalLabels = map[string][]string{
	"databricks_serving_workspace_up":   {"error_type", "databricks_serving_shard"},
	"databricks_serving_account_up":     {"error_type", "databricks_serving_shard"},
	"databricks_serving_limit_exceeded": {"databricks_serving_endpoint_name"},
}

// unknownReferences lists what expr names that the suite's Prometheus does not hold: every metric it selects
// must have series, and every label of its matchers and groupings must be carried by a series of one of them. A
// query over a misspelt name is still valid PromQL and, behind `or vector(0)`, even returns data; this is what
// makes a dashboard or alert over a name the pipeline does not produce fail. Failure-only metrics (and the labels
// of expressions that read them) are left to the failure suite.
func unknownReferences(t *testing.T, p *prometheusServer, expr string) []string {
	t.Helper()
	metrics, labels, err := monitoringassets.PromQLReferences(expr)
	require.NoError(t, err, expr)
	require.NotEmpty(t, metrics, "no metric in %s", expr)
	known := map[string]bool{"__name__": true}
	checkLabels := true
	var problems []string
	for _, m := range metrics {
		if slices.Contains(failureOnlyPrometheus, m) || slices.Contains(accountOnlyPrometheus, m) {
			checkLabels = false
			continue
		}
		names, err := p.labelNames(m)
		require.NoError(t, err, m)
		if len(names) == 0 {
			problems = append(problems, fmt.Sprintf("unknown metric %s", m))
		}
		for _, n := range names {
			known[n] = true
		}
	}
	for _, m := range metrics {
		for _, l := range conditionalLabels[m] {
			known[l] = true
		}
	}
	for _, l := range labels {
		if checkLabels && !known[l] {
			problems = append(problems, fmt.Sprintf("label %s is on no series of %v", l, metrics))
		}
	}
	return problems
}

// Failure-only metrics exist once something has failed: an exporter's dropped points are counted from the first
// drop. Where nothing fails, queries over them return nothing; the failure suite makes them exist and checks
// them there (checkFailureOnlyAssets).
var (
	failureOnlyPrometheus = []string{"otelcol_exporter_send_failed_metric_points_total"}
	failureOnlyDatadog    = []string{"otelcol_exporter_send_failed_metric_points"}
)

// Account-only metrics and tags exist when the receiver runs in account mode (account:); the account suite checks
// them against its own stack (checkAccountOnlyAssets), the other suites leave them out.
var (
	accountOnlyPrometheus = []string{"databricks_serving_account_up", "databricks_serving_account_workspaces"}
	accountOnlyDatadog    = []string{"databricks.serving.account.up", "databricks.serving.account.workspaces"}
	accountOnlyTagKeys    = []string{"databricks.account.host", "databricks.account.id"}
)

func readsFailureOnlyMetric(expr string) bool {
	return slices.ContainsFunc(failureOnlyPrometheus, func(m string) bool { return strings.Contains(expr, m) })
}

// checkMonitoringAssets evaluates every dashboard and alert expression against the suite's Prometheus servers
// (2.42, and Prometheus 3 when the scenario remote-writes into one: the queries must work on both), and checks
// every metric and tag the Datadog dashboard and monitors use against what the datadog exporter really sent; the
// same for the queries of docs/migration.md (checkMigrationGuide).
func checkMonitoringAssets(t *testing.T, s *stack) {
	t.Run("Prometheus 2.42", func(t *testing.T) {
		checkPrometheusAssets(t, s.prometheus)
	})
	if s.p3.remoteWrite != nil {
		t.Run("Prometheus 3", func(t *testing.T) {
			checkPrometheusAssets(t, s.p3.remoteWrite)
		})
	}
	t.Run("every Datadog metric and tag the dashboard and monitors use was sent", func(t *testing.T) {
		dashboard, err := os.ReadFile(filepath.Join(*repoRoot, "deploy", "datadog", "dashboard.json"))
		require.NoError(t, err)
		monitors, err := os.ReadFile(filepath.Join(*repoRoot, "deploy", "datadog", "monitors.json"))
		require.NoError(t, err)
		metrics, tagKeys, err := monitoringassets.DatadogReferences(dashboard, monitors)
		require.NoError(t, err)
		require.NotEmpty(t, metrics)
		sent := s.intake.MetricNames()
		for _, m := range metrics {
			if !slices.Contains(failureOnlyDatadog, m) && !slices.Contains(accountOnlyDatadog, m) {
				assert.Contains(t, sent, m)
			}
		}
		seenTags := sentTagKeys(s.intake)
		for _, key := range tagKeys {
			if !slices.Contains(accountOnlyTagKeys, key) {
				assert.Contains(t, seenTags, key)
			}
		}
	})
	checkMigrationGuide(t, s)
}

// checkPrometheusAssets evaluates every Grafana dashboard and alert expression against p: each returns data (but
// over failure-only metrics) and names only metrics and labels p holds.
func checkPrometheusAssets(t *testing.T, p *prometheusServer) {
	t.Run("every Grafana dashboard query returns data, over metrics and labels that exist", func(t *testing.T) {
		for _, expr := range dashboardQueries(t, dashboardPath()) {
			values, err := p.instantSeries(expr)
			require.NoError(t, err, expr)
			if !readsFailureOnlyMetric(expr) {
				assert.NotEmpty(t, values, "no data for %s", expr)
			}
			assert.Empty(t, unknownReferences(t, p, expr), expr)
		}
	})
	t.Run("every alert expression evaluates, over metrics and labels that exist", func(t *testing.T) {
		for alert, expr := range alertExpressions(t) {
			_, err := p.instantSeries(expr)
			require.NoError(t, err, alert)
			assert.Empty(t, unknownReferences(t, p, expr), "%s: %s", alert, expr)
		}
	})
	t.Run("the check fails on a copy of the dashboard with a renamed metric or label", func(t *testing.T) {
		raw, err := os.ReadFile(dashboardPath())
		require.NoError(t, err)
		for from, to := range map[string]string{
			"databricks_serving_request_count_total": "databricks_serving_request_count_totl",
			"databricks_serving_served_entity_name)": "databricks_serving_served_entity)",
		} {
			require.Contains(t, string(raw), from)
			renamed := filepath.Join(t.TempDir(), "dashboard.json")
			require.NoError(t, os.WriteFile(renamed, []byte(strings.ReplaceAll(string(raw), from, to)), 0o600))
			var problems []string
			for _, expr := range dashboardQueries(t, renamed) {
				problems = append(problems, unknownReferences(t, p, expr)...)
			}
			assert.NotEmpty(t, problems, "renaming %s to %s went unnoticed", from, to)
		}
	})
}

// checkFailureOnlyAssets checks, once a failure made them exist, the failure-only metrics: every alert and
// Grafana query that reads them returns data from Prometheus, and Datadog received them.
func checkFailureOnlyAssets(t *testing.T, s *stack) {
	t.Run("failure-only metrics reach both backends and the queries over them return data", func(t *testing.T) {
		names, err := s.prometheus.metricNames()
		require.NoError(t, err)
		for _, m := range failureOnlyPrometheus {
			assert.Contains(t, names, m)
		}
		for _, expr := range dashboardQueries(t, dashboardPath()) {
			if readsFailureOnlyMetric(expr) {
				values, err := s.prometheus.instantSeries(expr)
				require.NoError(t, err, expr)
				assert.NotEmpty(t, values, "no data for %s", expr)
			}
		}
		sent := s.intake.MetricNames()
		for _, m := range failureOnlyDatadog {
			assert.Contains(t, sent, m)
		}
	})
}

func sentTagKeys(intake *ddintake.Server) []string {
	keys := map[string]bool{}
	add := func(tags []string) {
		for _, tag := range tags {
			key, _, _ := strings.Cut(tag, ":")
			keys[key] = true
		}
	}
	for _, ser := range intake.Series() {
		add(ser.Tags)
	}
	for _, sk := range intake.Sketches() {
		add(sk.Tags)
	}
	out := make([]string, 0, len(keys))
	for k := range keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkDashboardAgainstTruth evaluates the "Request rate" and "Latency P99" panels and compares each served
// entity's value with the same quantity computed from the truth. The range is chosen so that Prometheus'
// rate() has nothing to extrapolate: it ends at a window (the last every endpoint served) and starts before the
// zero point of every counter, so each series' first sample in range is 0 (rate() then does not extrapolate
// towards the start) and its last is at the end. rate() is then exactly (total − 0) / range, and the tolerance
// only covers float rounding: a wrong metric, label or aggregation, or one lost or repeated window, fails.
func checkDashboardAgainstTruth(t *testing.T, s *stack, truth simulator.Truth) {
	end, firstCounted := int64(math.MaxInt64), int64(math.MaxInt64)
	for _, ep := range truth.Endpoints {
		end = min(end, ep.Windows[len(ep.Windows)-1].TimestampMillis)
		firstCounted = min(firstCounted, ep.Windows[1].TimestampMillis) // the first window is the baseline
	}
	rangeMs := end - (firstCounted - 1) + 1000
	rangeSeconds := float64(rangeMs) / 1000
	requests, latency := map[string]float64{}, map[string][]float64{}
	for name, ep := range truth.Endpoints {
		for _, w := range ep.Windows[1:] {
			if w.TimestampMillis > end {
				continue
			}
			for _, ser := range w.Series {
				key := name + "/" + ser.Labels["served_entity_name"]
				switch {
				case ser.Name == "request_count_total":
					requests[key] += *ser.Value
				case ser.Name == "request_latency_ms" && ser.Histogram != nil:
					sum := latency[key]
					if sum == nil {
						sum = make([]float64, len(ser.Histogram.CumulativeCounts))
					}
					for i, c := range ser.Histogram.CumulativeCounts {
						sum[i] += float64(c)
					}
					latency[key] = sum
				}
			}
		}
	}
	require.NotEmpty(t, requests)
	bounds := append(slices.Clone(latencyBounds(truth)), math.Inf(1))
	interval := fmt.Sprintf("%dms", rangeMs)
	for title, want := range map[string]map[string]float64{
		"Request rate": mapValues(requests, func(total float64) float64 { return total / rangeSeconds }),
		"Latency P99": mapValues(latency, func(counts []float64) float64 {
			rates := make([]float64, len(counts))
			for i, c := range counts {
				rates[i] = c / rangeSeconds
			}
			return bucketQuantile(0.99, bounds, rates)
		}),
	} {
		got := panelValues(t, s.prometheus, dashboardPanelExpr(t, title, interval), end)
		require.Equal(t, sortedStringKeys(want), sortedStringKeys(got), "%s: one series per served entity", title)
		for key, w := range want {
			if math.IsNaN(w) {
				assert.True(t, math.IsNaN(got[key]), "%s %s = %v, want NaN (no request)", title, key, got[key])
				continue
			}
			assert.InDelta(t, w, got[key], 1e-9*math.Max(1, math.Abs(w)), "%s %s (range %s ending at %d)", title, key, interval, end)
		}
	}
}

func mapValues[V any](m map[string]V, f func(V) float64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = f(v)
	}
	return out
}

func sortedStringKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// latencyBounds returns the finite bounds of the latency histogram in the truth.
func latencyBounds(truth simulator.Truth) []float64 {
	for _, ep := range truth.Endpoints {
		for _, w := range ep.Windows {
			for _, ser := range w.Series {
				if ser.Histogram != nil {
					return ser.Histogram.Bounds
				}
			}
		}
	}
	return nil
}

// bucketQuantile is Prometheus' histogram_quantile over cumulative bucket values (the last one +Inf): the bucket
// holding rank q·total, linearly interpolated from its lower bound (0 for the first); NaN without observations,
// the last finite bound when the rank falls in the +Inf bucket.
func bucketQuantile(q float64, bounds, cumulative []float64) float64 {
	total := cumulative[len(cumulative)-1]
	if total == 0 {
		return math.NaN()
	}
	rank := q * total
	b := sort.Search(len(cumulative)-1, func(i int) bool { return cumulative[i] >= rank })
	if b == len(cumulative)-1 {
		return bounds[len(bounds)-2]
	}
	start, count := 0.0, cumulative[b]
	if b > 0 {
		start, count, rank = bounds[b-1], count-cumulative[b-1], rank-cumulative[b-1]
	}
	return start + (bounds[b]-start)*(rank/count)
}

// panelValues evaluates a panel's expression at atMs and returns each result by "endpoint/served entity".
func panelValues(t *testing.T, p *prometheusServer, expr string, atMs int64) map[string]float64 {
	t.Helper()
	results, err := p.instantWithLabels(expr, atMs)
	require.NoError(t, err, expr)
	out := map[string]float64{}
	for _, r := range results {
		out[r.Labels[endpointLabel]+"/"+r.Labels["databricks_serving_served_entity_name"]] = r.Value
	}
	return out
}
