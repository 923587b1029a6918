// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"encoding/json"
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
)

// dashboardQueries returns every PromQL expression of the Grafana dashboard (panel targets, and the selectors of
// the template variables' label_values queries), with the variables replaced as Grafana's "All" would.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(*repoRoot, "deploy", "grafana", "databricks-serving.json"))
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
	replacer := strings.NewReplacer("$workspace", ".*", "$endpoint", ".*", "$served_entity", ".*", "$__rate_interval", "1m", "${datasource}", "")
	for i, e := range exprs {
		exprs[i] = replacer.Replace(e)
	}
	return exprs
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

var (
	// labelContexts are the parts of an expression that hold label names rather than metric names: matchers in
	// braces and the label lists of by, without, on, ignoring and group_left/right.
	labelContexts = regexp.MustCompile(`\{[^}]*\}|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	metricName    = regexp.MustCompile(`\b((?:databricks_serving|otelcol)_[a-z0-9_]+)\b`)
)

// selectedMetrics finds the metric names an expression selects.
func selectedMetrics(expr string) []string {
	var names []string
	for _, m := range metricName.FindAllStringSubmatch(labelContexts.ReplaceAllString(expr, " "), -1) {
		names = append(names, m[1])
	}
	return names
}

// Failure-only metrics exist once something has failed: an exporter's dropped points are counted from the first
// drop. Where nothing fails, queries over them return nothing; the failure suite makes them exist and checks
// them there (checkFailureOnlyAssets).
var (
	failureOnlyPrometheus = []string{"otelcol_exporter_send_failed_metric_points_total"}
	failureOnlyDatadog    = []string{"otelcol_exporter_send_failed_metric_points"}
)

func readsFailureOnlyMetric(expr string) bool {
	return slices.ContainsFunc(failureOnlyPrometheus, func(m string) bool { return strings.Contains(expr, m) })
}

// checkMonitoringAssets evaluates every dashboard and alert expression against the suite's Prometheus, and checks
// every metric and tag the Datadog dashboard and monitors use against what the datadog exporter really sent.
func checkMonitoringAssets(t *testing.T, s *stack) {
	t.Run("every Grafana dashboard query returns data", func(t *testing.T) {
		for _, expr := range dashboardQueries(t) {
			values, err := s.prometheus.instantSeries(expr)
			require.NoError(t, err, expr)
			if !readsFailureOnlyMetric(expr) {
				assert.NotEmpty(t, values, "no data for %s", expr)
			}
		}
	})
	t.Run("every alert expression evaluates, over metrics that exist", func(t *testing.T) {
		names, err := s.prometheus.metricNames()
		require.NoError(t, err)
		for alert, expr := range alertExpressions(t) {
			_, err := s.prometheus.instantSeries(expr)
			require.NoError(t, err, alert)
			selected := selectedMetrics(expr)
			require.NotEmpty(t, selected, alert)
			for _, m := range selected {
				if !slices.Contains(failureOnlyPrometheus, m) {
					assert.Contains(t, names, m, "%s reads %s", alert, m)
				}
			}
		}
	})
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
			if !slices.Contains(failureOnlyDatadog, m) {
				assert.Contains(t, sent, m)
			}
		}
		seenTags := sentTagKeys(s.intake)
		for _, key := range tagKeys {
			assert.Contains(t, seenTags, key)
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
		for _, expr := range dashboardQueries(t) {
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
