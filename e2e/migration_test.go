// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-databricks/otelcol-databricks/internal/monitoringassets"
)

// docs/migration.md maps every series of the two Databricks recipes (the Prometheus scrape job and the Datadog
// Agent check) to what a user queries after migrating. Each section (## Prometheus, ## Datadog) has one table
// whose header starts with "Databricks series"; its rows are of two kinds:
//   - a series row: the first cell names Databricks series (the families of docs/metrics.md; for Prometheus a
//     histogram's _bucket, _sum and _count). In the Prometheus table every code span of the second cell is a
//     PromQL query; in the Datadog table the first code span of the second cell is the metric and every further
//     one a Datadog query over it.
//   - the labels row (Prometheus, first cell mentions "labels") or the tags row (Datadog, "tag"): every code span
//     of the second cell is a label or tag the series carry.
// Any other row fails the test. Every family must have a series row in both tables.

const migrationGuide = "docs/migration.md"

type migrationRow struct {
	line          int
	before, after string
	series        []string // Databricks series the first cell names
}

func (r migrationRow) where() string { return fmt.Sprintf("%s:%d", migrationGuide, r.line) }

func (r migrationRow) afterSpans() []string { return codeSpansOf(r.after) }

// migrationSeries returns the Databricks series names each table must map: the families Databricks serves, the
// rows of docs/metrics.md's "Names in each backend" table before its "Metrics the receiver computes" (whose rows
// name description fields and scrape outcomes), with a histogram's _bucket, _sum and _count for Prometheus.
func migrationSeries(t *testing.T, prometheus bool) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(*repoRoot, "docs", "metrics.md"))
	require.NoError(t, err)
	text := string(raw)
	start := strings.Index(text, "\n## Names in each backend\n")
	require.GreaterOrEqual(t, start, 0, "docs/metrics.md has no section \"Names in each backend\"")
	text = text[start+1:]
	if end := strings.Index(text, "\n#"); end >= 0 {
		text = text[:end]
	}
	rows := readMetricsTable(t)
	var names []string
	for _, line := range strings.Split(text, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != metricsTableCells || len(codeSpansOf(cells[1])) == 0 {
			continue
		}
		family := codeSpansOf(cells[1])[0]
		row, ok := rows[family]
		require.True(t, ok, family)
		if prometheus && row.Kind == "histogram" {
			names = append(names, family+"_bucket", family+"_sum", family+"_count")
		} else {
			names = append(names, family)
		}
	}
	require.NotEmpty(t, names, "no Databricks series in docs/metrics.md")
	slices.Sort(names)
	return names
}

// migrationTable returns the rows of the "Databricks series" table of a section of docs/migration.md.
func migrationTable(t *testing.T, section string, series []string) []migrationRow {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(*repoRoot, migrationGuide))
	require.NoError(t, err)
	lines := strings.Split(string(raw), "\n")
	start := slices.Index(lines, "## "+section)
	require.GreaterOrEqual(t, start, 0, "%s has no section %q", migrationGuide, "## "+section)
	var rows []migrationRow
	tables := 0
	for i := start + 1; i < len(lines) && !strings.HasPrefix(lines[i], "## "); i++ {
		if !strings.HasPrefix(lines[i], "| Databricks series") {
			continue
		}
		tables++
		for i += 2; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
			cells := strings.Split(lines[i], "|")
			require.Len(t, cells, 5, "%s:%d: a row of three cells (no | inside a cell)", migrationGuide, i+1)
			row := migrationRow{line: i + 1, before: cells[1], after: cells[2]}
			for _, name := range series {
				if regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `\b`).MatchString(strings.Join(codeSpansOf(row.before), " ")) {
					row.series = append(row.series, name)
				}
			}
			rows = append(rows, row)
		}
	}
	require.Equal(t, 1, tables, "%s, ## %s: want one table whose header starts with \"| Databricks series\"", migrationGuide, section)
	return rows
}

func codeSpansOf(s string) []string {
	var spans []string
	for _, m := range codeSpan.FindAllStringSubmatch(s, -1) {
		spans = append(spans, m[1])
	}
	return spans
}

// promQLRanges finds the range selectors of a query, e.g. [5m].
var promQLRanges = regexp.MustCompile(`\[([0-9]+[smhdwy])\]`)

// prometheusMigration returns the PromQL queries of the Prometheus table (by row) and the labels it names, and
// fails on rows of neither kind, on series without a row and on ranges under 5 minutes.
func prometheusMigration(t *testing.T) (queries map[string][]string, labels []string) {
	t.Helper()
	series := migrationSeries(t, true)
	queries = map[string][]string{}
	mapped := map[string]bool{}
	for _, row := range migrationTable(t, "Prometheus", series) {
		switch {
		case len(row.series) > 0:
			spans := row.afterSpans()
			require.NotEmpty(t, spans, "%s: no query for %v", row.where(), row.series)
			for _, q := range spans {
				for _, r := range promQLRanges.FindAllStringSubmatch(q, -1) {
					d, err := time.ParseDuration(strings.NewReplacer("d", "h", "w", "h", "y", "h").Replace(r[1]))
					require.NoError(t, err)
					assert.GreaterOrEqual(t, d, 5*time.Minute, "%s: range [%s] in %s: Databricks serves one value a minute, use [5m] or more", row.where(), r[1], q)
				}
			}
			queries[row.where()] = spans
			for _, s := range row.series {
				mapped[s] = true
			}
		case strings.Contains(row.before, "labels"):
			labels = append(labels, row.afterSpans()...)
		default:
			t.Errorf("%s: names no Databricks series of docs/metrics.md and is not the labels row: %s", row.where(), row.before)
		}
	}
	for _, s := range series {
		assert.True(t, mapped[s], "%s, ## Prometheus: no row maps the Databricks series %s", migrationGuide, s)
	}
	// Queries in ```promql blocks of the guide count too.
	for _, block := range fencedBlocks(t, migrationGuide) {
		if block.Lang != "promql" {
			continue
		}
		for i, line := range strings.Split(block.Text, "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				where := fmt.Sprintf("%s:%d", migrationGuide, block.Line+1+i)
				queries[where] = append(queries[where], line)
			}
		}
	}
	require.NotEmpty(t, labels, "%s, ## Prometheus: no labels row", migrationGuide)
	return queries, labels
}

// datadogMigration returns, by row, the metric and the queries of the Datadog table, and the tags it names.
type datadogMigrationRow struct {
	metric  string
	queries []string
}

func datadogMigration(t *testing.T) (rows map[string]datadogMigrationRow, tags []string) {
	t.Helper()
	series := migrationSeries(t, false)
	rows = map[string]datadogMigrationRow{}
	mapped := map[string]bool{}
	metricName := regexp.MustCompile(`^databricks\.serving\.[a-z0-9_.]+$`)
	for _, row := range migrationTable(t, "Datadog", series) {
		spans := row.afterSpans()
		switch {
		case len(row.series) > 0:
			require.GreaterOrEqual(t, len(spans), 2, "%s: want the metric, then at least one query", row.where())
			require.Regexp(t, metricName, spans[0], "%s: the first code span is the Datadog metric", row.where())
			r := datadogMigrationRow{metric: spans[0], queries: spans[1:]}
			for _, q := range r.queries {
				metrics, _ := datadogQueryReferences(t, row.where(), q)
				assert.Equal(t, []string{r.metric}, metrics, "%s: the query %s is over the row's metric", row.where(), q)
			}
			rows[row.where()] = r
			for _, s := range row.series {
				mapped[s] = true
			}
		case strings.Contains(row.before, "tag"):
			tags = append(tags, spans...)
		default:
			t.Errorf("%s: names no Databricks series of docs/metrics.md and is not the tags row: %s", row.where(), row.before)
		}
	}
	for _, s := range series {
		assert.True(t, mapped[s], "%s, ## Datadog: no row maps the Databricks series %s", migrationGuide, s)
	}
	require.NotEmpty(t, tags, "%s, ## Datadog: no tags row", migrationGuide)
	return rows, tags
}

// datadogQueryReferences parses one Datadog query with the parser of the shipped monitors' check.
func datadogQueryReferences(t *testing.T, where, query string) (metrics, tagKeys []string) {
	t.Helper()
	monitors, err := json.Marshal([]map[string]string{{"name": where, "query": query}})
	require.NoError(t, err)
	metrics, tagKeys, err = monitoringassets.DatadogReferences(nil, monitors)
	require.NoError(t, err, "%s: %s", where, query)
	return metrics, tagKeys
}

// TestMigrationGuideMapsEverySeries checks the tables of docs/migration.md without a backend: every Databricks
// series has a row in both, every row is of a known kind, ranges are at least 5 minutes and every Datadog query
// parses. checkMigrationGuide, in the fleet scenario, evaluates them against the backends.
func TestMigrationGuideMapsEverySeries(t *testing.T) {
	queries, labels := prometheusMigration(t)
	rows, tags := datadogMigration(t)
	t.Logf("%d Prometheus rows, labels %v; %d Datadog rows, tags %v", len(queries), labels, len(rows), tags)
}

// checkMigrationGuide evaluates every PromQL query of docs/migration.md against the scenario's Prometheus and
// requires data for each, checks the labels it names exist, and checks every Datadog metric and tag it names
// (and those its queries read) against what the datadog exporter sent.
func checkMigrationGuide(t *testing.T, s *stack) {
	t.Run("every query of the migration guide returns data from Prometheus", func(t *testing.T) {
		queries, labels := prometheusMigration(t)
		for where, exprs := range queries {
			for _, expr := range exprs {
				values, err := s.prometheus.instantSeries(expr)
				require.NoError(t, err, "%s: %s", where, expr)
				assert.NotEmpty(t, values, "%s: no data for %s", where, expr)
			}
		}
		for _, label := range labels {
			values, err := s.prometheus.instantSeries(fmt.Sprintf(`databricks_serving_request_count_total{%s!=""}`, label))
			require.NoError(t, err, label)
			assert.NotEmpty(t, values, "%s, ## Prometheus: no series carries the label %s", migrationGuide, label)
		}
	})
	t.Run("every Datadog metric and tag of the migration guide was sent", func(t *testing.T) {
		rows, tags := datadogMigration(t)
		sent := s.intake.MetricNames()
		sentTags := sentTagKeys(s.intake)
		for where, row := range rows {
			assert.Contains(t, sent, row.metric, where)
			for _, q := range row.queries {
				_, tagKeys := datadogQueryReferences(t, where, q)
				for _, key := range tagKeys {
					assert.Contains(t, sentTags, key, "%s: %s", where, q)
				}
			}
		}
		for _, tag := range tags {
			assert.Contains(t, sentTags, tag, "%s, ## Datadog: tags row", migrationGuide)
		}
	})
}
