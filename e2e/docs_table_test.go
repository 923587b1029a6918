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
	DDName    string
	DDMatch   map[string]string
}

var codeSpan = regexp.MustCompile("`([^`]*)`")

func readMetricsTable(t *testing.T) map[string]metricRow {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(*repoRoot, "docs", "metrics.md"))
	require.NoError(t, err)
	rows := map[string]metricRow{}
	for _, line := range strings.Split(string(raw), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 7 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		span := func(cell string, i int) string {
			m := codeSpan.FindAllStringSubmatch(cell, -1)
			if i >= len(m) {
				return ""
			}
			return m[i][1]
		}
		row := metricRow{Family: span(cells[1], 0), PromMatch: map[string]string{}, DDMatch: map[string]string{}}
		switch typ := cells[3]; {
		case strings.Contains(typ, "histogram"):
			row.Kind = "histogram"
		case strings.Contains(typ, "sum"):
			row.Kind = "sum"
		default:
			row.Kind = "gauge"
		}
		prom := span(cells[4], 0)
		if name, selector, ok := strings.Cut(prom, "{"); ok {
			prom = name
			for _, pair := range strings.Split(strings.TrimSuffix(selector, "}"), ",") {
				k, v, _ := strings.Cut(pair, "=")
				row.PromMatch[k] = strings.Trim(v, `"`)
			}
		}
		row.PromName = strings.TrimSuffix(prom, "_bucket")
		row.DDName = span(cells[5], 0)
		if tag := span(cells[5], 1); strings.Contains(tag, ":") {
			k, v, _ := strings.Cut(tag, ":")
			row.DDMatch[k] = v
		}
		rows[row.Family] = row
	}
	require.NotEmpty(t, rows, "docs/metrics.md has no metrics table")
	return rows
}
