// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"bufio"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-databricks/otelcol-databricks/internal/simulator"
)

// lifecycleEndpoints is the workspace of the lifecycle scenario: one endpoint per event, so each event's effect
// is checked on its own.
var lifecycleEndpoints = []string{"-cpu", "7", "-gpu", "1", "-multi-entity", "2", "-scale-to-zero", "1", "-fmapi", "0", "-gpus", "2"}

// lifecycleStep is one round of events, applied through the simulator's control API after the collector has
// seen the workspace for a few windows.
type lifecycleStep struct {
	endpoint string
	event    map[string]any
	fault    any // a /metrics fault to set ({"fault": ...}); nil for none
}

// The hidden endpoint stays out of the list for 2.5 s: discovery is due every second but runs at the cycle's
// start, so two lists can be up to two cycles (2 s) apart, and a shorter absence could fall between them unseen.
var lifecycleRounds = [][]lifecycleStep{
	{
		{endpoint: "multi-entity-endpoint-0", event: map[string]any{"event": "add_entity", "traffic_percentage": 30}},
		{endpoint: "cpu-endpoint-0", event: map[string]any{"event": "bump_version"}},
		{endpoint: "cpu-endpoint-1", event: map[string]any{"event": "resize"}},
		{endpoint: "cpu-endpoint-2", event: map[string]any{"event": "retag"}},
		{endpoint: "multi-entity-endpoint-1", event: map[string]any{"event": "remove_entity"}},
		{endpoint: "cpu-endpoint-3", event: map[string]any{"event": "scale_to_zero"}},
		{endpoint: "gpu-endpoint-0", event: map[string]any{"event": "flip_type"}},
		{endpoint: "cpu-endpoint-4", event: map[string]any{"event": "hide", "gap": "2500ms"}},
		{endpoint: "cpu-endpoint-5", event: map[string]any{"event": "recreate", "gap": "3s"}},
		{endpoint: "cpu-endpoint-6", fault: map[string]any{"mode": "status", "status": 500}},
	},
	{
		{endpoint: "multi-entity-endpoint-0", event: map[string]any{"event": "add_entity", "traffic_percentage": 20}},
		{endpoint: "cpu-endpoint-0", event: map[string]any{"event": "bump_version"}},
		{endpoint: "cpu-endpoint-3", event: map[string]any{"event": "scale_up"}},
		{endpoint: "gpu-endpoint-0", event: map[string]any{"event": "flip_type"}},
		{endpoint: "cpu-endpoint-4", event: map[string]any{"event": "hide", "gap": "2500ms"}},
		{endpoint: "cpu-endpoint-6", fault: nil},
	},
	{
		{endpoint: "cpu-endpoint-2", event: map[string]any{"event": "retag"}},
		{endpoint: "gpu-endpoint-0", event: map[string]any{"event": "flip_type"}},
		{endpoint: "multi-entity-endpoint-1", event: map[string]any{"event": "add_entity"}},
	},
}

// TestLifecycleTotalsAreExactInBothBackends changes the workspace the way deployments do (a new served entity
// taking part of the traffic, version bumps, a resize, tag changes, a removed entity, scale to zero and back, a
// family changing type, an endpoint leaving the list for a moment, an endpoint deleted and recreated with a new id,
// minutes missed by failed scrapes) and checks, per served entity, that the counters and histograms summed over
// every label set in Prometheus, and the count points and sketches in Datadog, equal what the simulator served.
func TestLifecycleTotalsAreExactInBothBackends(t *testing.T) {
	requireLoopbackOnly(t)
	rows := readMetricsTable(t)
	s := startStack(t, stackOptions{simulatorArgs: lifecycleEndpoints, overlays: []string{"lifecycle.yaml"}})

	time.Sleep(3 * windowLength)
	for _, round := range lifecycleRounds {
		for _, step := range round {
			if step.event != nil {
				s.control(t, http.MethodPost, "/simulator/endpoints/"+step.endpoint+"/events", step.event, nil)
			} else {
				s.control(t, http.MethodPatch, "/simulator/endpoints/"+step.endpoint, map[string]any{"fault": step.fault}, nil)
			}
		}
		time.Sleep(3 * windowLength)
	}
	time.Sleep(2 * windowLength)
	truthAt := time.Now()
	truth := s.truth(t)
	waitForLastWindows(t, s, rows, truth, nil)

	for name, ep := range truth.Endpoints {
		t.Run(name, func(t *testing.T) {
			// The collector goes on scraping after the truth was read: only what it wrote before the next
			// window counts (a point of a window is stamped before the next window starts).
			until := ep.Windows[len(ep.Windows)-1].TimestampMillis + truth.WindowMillis - 2
			for entity, want := range entityTotals(ep.Windows) {
				checkEntityTotals(t, s, rows, name, entity, want, until)
			}
		})
	}

	t.Run("a new served entity is attributed from its first window", func(t *testing.T) {
		series, err := s.prometheus.rawSamples(selector(rows["request_count_total"].PromName, map[string]string{endpointLabel: "multi-entity-endpoint-0"}))
		require.NoError(t, err)
		require.NotEmpty(t, series)
		described := map[string]bool{}
		for _, ser := range series {
			entity := ser.Labels["served_entity_name"]
			assert.Equal(t, entity, ser.Labels["databricks_serving_served_entity_name"],
				"every series of a served entity carries its resource, never the endpoint's alone: %v", ser.Labels)
			// Until the endpoint's description names a new entity (the next discovery refresh, or a describe
			// at most once a minute), its series carry a provisional resource without the version; then they
			// go on under the full one (docs/metrics.md, "Series identity").
			if ser.Labels["databricks_serving_served_entity_entity_version"] != "" {
				described[entity] = true
			}
		}
		for _, ser := range series {
			assert.True(t, described[ser.Labels["served_entity_name"]], "served entity %s never got its full resource", ser.Labels["served_entity_name"])
		}
	})

	t.Run("a version bump writes the new version's labels", func(t *testing.T) {
		versions := labelValues(t, s, rows["request_count_total"].PromName, "cpu-endpoint-0", "databricks_serving_served_entity_entity_version")
		assert.Len(t, versions, 3, "the first version and two bumps")
	})

	t.Run("the family that changed type never broke the endpoint", func(t *testing.T) {
		internal, err := s.prometheus.instantSeries(`max_over_time(databricks_serving_scrape_up{error_type="internal"}[1h])`)
		require.NoError(t, err)
		assert.Empty(t, internal, "no scrape panicked")
		names, err := s.prometheus.metricNames()
		require.NoError(t, err)
		for _, name := range []string{"databricks_serving_unmapped_custom_score", "databricks_serving_unmapped_custom_score_total", "databricks_serving_unmapped_custom_score_bucket"} {
			assert.Contains(t, names, name, "each type is its own series")
		}
	})

	t.Run("Prometheus accepted every remote write", func(t *testing.T) {
		// The check means something only if the collector saw the hidden endpoint leave (and wrote its stale
		// markers) before it returned.
		left := regexp.MustCompile(`Serving endpoint left the workspace's list; its series are marked stale.*"cpu-endpoint-4"`)
		assert.Regexp(t, left, s.collector.out.String(), "the collector never saw cpu-endpoint-4 leave the list")
		assert.Zero(t, s.prometheus.rejectedWrites(t), "a write was refused (a sample at or before one the series has)")
		assert.NotContains(t, s.collector.out.String(), "out of order")
		assert.NotContains(t, s.collector.out.String(), "Permanent error")
	})

	t.Run("minutes missed by failed scrapes are counted", func(t *testing.T) {
		// Written on every scrape, stamped with its time: what was written before the truth was read.
		until := truthAt.UnixMilli()
		windows := truth.Endpoints["cpu-endpoint-6"].Windows
		first, last := windows[0].TimestampMillis, windows[len(windows)-1].TimestampMillis
		unserved := int((last-first)/truth.WindowMillis) + 1 - len(windows)
		require.Positive(t, unserved, "the fault made the endpoint miss windows")
		series, err := s.prometheus.rawSamples(selector("databricks_serving_windows_missed_total", map[string]string{endpointLabel: "cpu-endpoint-6"}))
		require.NoError(t, err)
		assert.Equal(t, float64(unserved), resetAwareTotal(series, until))
		assert.Equal(t, float64(unserved), total(datadogPointsUntil(s.intake.SeriesPoints("databricks.serving.windows.missed", "count", map[string]string{endpointTag: "cpu-endpoint-6"}), until/1000)))
		for _, quiet := range []string{"cpu-endpoint-0", "multi-entity-endpoint-0"} {
			windows := truth.Endpoints[quiet].Windows
			gaps := int((windows[len(windows)-1].TimestampMillis-windows[0].TimestampMillis)/truth.WindowMillis) + 1 - len(windows)
			series, err := s.prometheus.rawSamples(selector("databricks_serving_windows_missed_total", map[string]string{endpointLabel: quiet}))
			require.NoError(t, err)
			require.NotEmpty(t, series, "%s: written from the first cycle", quiet)
			assert.Equal(t, float64(gaps), resetAwareTotal(series, until), quiet)
		}
	})
}

// entityWindows is what one served entity served, summed over the windows counted: every window but the first
// (the baseline of an endpoint present when the collector started).
type entityWindows struct {
	counts  map[string]float64 // by family
	latency simulator.HistogramTruth
}

func entityTotals(windows []simulator.WindowTruth) map[string]*entityWindows {
	out := map[string]*entityWindows{}
	for _, w := range windows[1:] {
		for _, s := range w.Series {
			entity := s.Labels["served_entity_name"]
			if out[entity] == nil {
				out[entity] = &entityWindows{counts: map[string]float64{}}
			}
			e := out[entity]
			switch {
			case s.Name == "request_latency_ms" && s.Histogram != nil:
				if e.latency.CumulativeCounts == nil {
					e.latency.Bounds, e.latency.CumulativeCounts = s.Histogram.Bounds, make([]uint64, len(s.Histogram.CumulativeCounts))
				}
				for i, c := range s.Histogram.CumulativeCounts {
					e.latency.CumulativeCounts[i] += c
				}
				e.latency.Count += s.Histogram.Count
			case strings.HasPrefix(s.Name, "request_") && s.Value != nil:
				e.counts[s.Name] += *s.Value
			}
		}
	}
	return out
}

func checkEntityTotals(t *testing.T, s *stack, rows map[string]metricRow, endpoint, entity string, want *entityWindows, untilMs int64) {
	for _, family := range []string{"request_count_total", "request_4xx_count_total", "request_5xx_count_total"} {
		row := rows[family]
		promMatch := map[string]string{endpointLabel: endpoint, "served_entity_name": entity}
		ddMatch := map[string]string{endpointTag: endpoint, "served_entity_name": entity}
		for k, v := range row.PromMatch {
			promMatch[k] = v
		}
		for k, v := range row.DDMatch {
			ddMatch[k] = v
		}
		series, err := s.prometheus.rawSamples(selector(row.PromName, promMatch))
		require.NoError(t, err)
		assert.Equal(t, want.counts[family], resetAwareTotal(series, untilMs), "prometheus %s %s, over %d label sets", entity, family, len(series))
		assert.Equal(t, want.counts[family], total(datadogPointsUntil(s.intake.SeriesPoints(row.DDName, "count", ddMatch), untilMs/1000)), "datadog %s %s", entity, family)
	}
	row := rows["request_latency_ms"]
	promMatch := map[string]string{endpointLabel: endpoint, "served_entity_name": entity}
	count, err := s.prometheus.rawSamples(selector(row.PromName+"_count", promMatch))
	require.NoError(t, err)
	assert.Equal(t, float64(want.latency.Count), resetAwareTotal(count, untilMs), "prometheus %s latency count", entity)
	assert.Equal(t, int64(want.latency.Count), s.intake.SketchCountUntil(row.DDName, map[string]string{endpointTag: endpoint, "served_entity_name": entity}, untilMs/1000), "datadog %s latency count", entity)
	for i, bound := range append(append([]float64{}, want.latency.Bounds...), math.Inf(1)) {
		le := strconv.FormatFloat(bound, 'f', -1, 64)
		if math.IsInf(bound, 1) {
			le = "+Inf"
		}
		buckets, err := s.prometheus.rawSamples(selector(row.PromName+"_bucket", map[string]string{endpointLabel: endpoint, "served_entity_name": entity, "le": le}))
		require.NoError(t, err)
		assert.Equal(t, float64(want.latency.CumulativeCounts[i]), resetAwareTotal(buckets, untilMs), "prometheus %s latency bucket le=%s", entity, le)
	}
}

// resetAwareTotal is what increase() counts over every series given, up to untilMs: each series' first value
// (its zero point) and every rise after it, a drop being a counter reset from which the new value counts whole.
func resetAwareTotal(series []promSeries, untilMs int64) float64 {
	total := 0.0
	for _, ser := range series {
		samples := append([]sample{}, ser.Samples...)
		sort.Slice(samples, func(i, j int) bool { return samples[i].TimestampMs < samples[j].TimestampMs })
		previous := 0.0
		for _, smp := range samples {
			if smp.TimestampMs > untilMs {
				break
			}
			if smp.Value >= previous {
				total += smp.Value - previous
			} else {
				total += smp.Value
			}
			previous = smp.Value
		}
	}
	return total
}

// labelValues returns the values a label took across the series of metric for an endpoint.
func labelValues(t *testing.T, s *stack, metric, endpoint, label string) []string {
	series, err := s.prometheus.rawSamples(selector(metric, map[string]string{endpointLabel: endpoint}))
	require.NoError(t, err)
	var values []string
	for _, ser := range series {
		values = append(values, ser.Labels[label])
	}
	return sortedUnique(values)
}

// rejectedWrites is how many remote-write requests Prometheus answered with an error, from its own metrics.
func (p *prometheusServer) rejectedWrites(t *testing.T) int {
	resp, err := http.Get(localURL(p.port, "/metrics"))
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	rejected := 0
	scanner := bufio.NewScanner(resp.Body)
	for scanner.Scan() {
		line := scanner.Text()
		if !strings.HasPrefix(line, "prometheus_http_requests_total{") || !strings.Contains(line, `handler="/api/v1/write"`) {
			continue
		}
		if strings.Contains(line, `code="2`) {
			continue
		}
		fields := strings.Fields(line)
		n, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		require.NoError(t, err, line)
		rejected += int(n)
	}
	require.NoError(t, scanner.Err())
	return rejected
}
