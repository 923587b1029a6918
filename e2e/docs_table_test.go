// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// metricRow is one row of the name table in docs/metrics.md: the suite checks the documented names against what
// reaches the backends, so the documentation cannot drift from the pipeline.
type metricRow struct {
	Family string // Databricks exposition family, e.g. request_4xx_count_total
	Kind   string // "gauge", "sum" or "histogram"
	// PromName is the Prometheus metric name (for histograms without _bucket); PromMatch the extra label it
	// carries, e.g. status_class="4xx".
	PromName  string
	PromMatch map[string]string
	// OTLPName and OTLPMatch are the same for the metrics Prometheus 3 stores from OTLP (its OTLP receiver's
	// translation, which is the remote-write exporter's).
	OTLPName  string
	OTLPMatch map[string]string
	DDName    string
	DDMatch   map[string]string
}

// metricsTableCells is what strings.Split(line, "|") gives for a row of the name table: its six columns (Databricks
// series, OpenTelemetry metric, type, Prometheus by remote write, Prometheus 3 by OTLP, Datadog) between the outer
// pipes.
const metricsTableCells = 8

// otlpRows returns rows with the OTLP names as their Prometheus names, for the checks written for remote write.
func otlpRows(rows map[string]metricRow) map[string]metricRow {
	out := make(map[string]metricRow, len(rows))
	for family, row := range rows {
		row.PromName, row.PromMatch = row.OTLPName, row.OTLPMatch
		out[family] = row
	}
	return out
}

// prometheusName splits a table cell's Prometheus name, e.g. `x_total{status_class="4xx"}` or `x_bucket`, into the
// name (without _bucket) and the label it must match.
func prometheusName(span string) (string, map[string]string) {
	match := map[string]string{}
	if name, selector, ok := strings.Cut(span, "{"); ok {
		span = name
		for _, pair := range strings.Split(strings.TrimSuffix(selector, "}"), ",") {
			k, v, _ := strings.Cut(pair, "=")
			match[k] = strings.Trim(v, `"`)
		}
	}
	return strings.TrimSuffix(span, "_bucket"), match
}

var codeSpan = regexp.MustCompile("`([^`]*)`")

func readMetricsTable(t *testing.T) map[string]metricRow {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(*repoRoot, "docs", "metrics.md"))
	require.NoError(t, err)
	rows := map[string]metricRow{}
	for _, line := range strings.Split(string(raw), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != metricsTableCells || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		span := func(cell string, i int) string {
			m := codeSpan.FindAllStringSubmatch(cell, -1)
			if i >= len(m) {
				return ""
			}
			return m[i][1]
		}
		row := metricRow{Family: span(cells[1], 0), DDMatch: map[string]string{}}
		switch typ := cells[3]; {
		case strings.Contains(typ, "histogram"):
			row.Kind = "histogram"
		case strings.Contains(typ, "sum"):
			row.Kind = "sum"
		default:
			row.Kind = "gauge"
		}
		row.PromName, row.PromMatch = prometheusName(span(cells[4], 0))
		row.OTLPName, row.OTLPMatch = prometheusName(span(cells[5], 0))
		row.DDName = span(cells[6], 0)
		if tag := span(cells[6], 1); strings.Contains(tag, ":") {
			k, v, _ := strings.Cut(tag, ":")
			row.DDMatch[k] = v
		}
		rows[row.Family] = row
	}
	require.NotEmpty(t, rows, "docs/metrics.md has no metrics table")
	return rows
}
