// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-databricks/otelcol-databricks/internal/simulator"
)

// checkScraped checks what Prometheus 3 scraped from the collector's prometheus exporter (prometheus-scrape.yaml).
// Pull keeps no window timestamps: every sample is stamped with the time of the scrape, and a state of the
// exporter that came and went between two scrapes is never seen. So it cannot be checked window by window as
// remote write and OTLP are; what it must keep is the values. Each scrape of a series must hold one of the
// states the truth goes through, in order (a counter or histogram: its totals over the windows counted up to one
// window, every bucket, _sum and _count at the same window; a gauge: one window's value), never a value between
// two of them, never going back; and once the exporter has caught up, the last scrape holds the totals (the
// gauge) at the last window of the truth snapshot.
func checkScraped(t *testing.T, s *stack, rows map[string]metricRow, truth simulator.Truth) {
	view := s.prometheusOnly(s.p3.scrape)
	// Each pipeline batches on its own, so the exporter may get the last windows a little after the remote-write
	// exporters did. Wait until the last scrape holds them. Only scrapes up to the newest one seen are checked (a
	// target's scrapes are stored one after the other, each at once), and the truth is read after it: every
	// window a checked scrape holds is in it.
	var until int64
	var final simulator.Truth
	eventually(t, 30*time.Second, "the scrapes hold the last windows of the truth snapshot", func() error {
		// Prometheus' own up of the target: the exporter serves the collector's self-scrape's up too, with its
		// job renamed exported_job.
		up, err := view.prometheus.rawSamples(`up{job="e2e-scrape",exported_job=""}`)
		if err != nil || len(up) != 1 || len(up[0].Samples) == 0 {
			return fmt.Errorf("no scrape yet (%v)", err)
		}
		until = up[0].Samples[len(up[0].Samples)-1].TimestampMs
		final = s.truth(t)
		return scrapesCaughtUp(view.prometheus, rows["request_count_total"], final, truth, until)
	})

	t.Run("every endpoint with metrics is in the backend and the 404 endpoint not", func(t *testing.T) {
		checkEndpointsPresent(t, view, rows, truth)
	})
	t.Run("documented names reach the backend", func(t *testing.T) {
		checkDocumentedNames(t, view.prometheus, rows)
	})
	for name, ep := range final.Endpoints {
		snapshot := truth.Endpoints[name].Windows
		t.Run(name, func(t *testing.T) {
			checkScrapedEndpoint(t, view.prometheus, rows, name, ep.Windows, snapshot[len(snapshot)-1].TimestampMillis, until)
		})
	}
	t.Run("GPU series per GPU", func(t *testing.T) {
		checkGPUSeries(t, view, rows)
	})
}

// scrapesCaughtUp reports, as an error, the first request count series whose last scrape up to untilMs does not
// yet hold its total at the snapshot's last window (or a later one of final).
func scrapesCaughtUp(p *prometheusServer, row metricRow, final, snapshot simulator.Truth, untilMs int64) error {
	for name, ep := range final.Endpoints {
		windows := snapshot.Endpoints[name].Windows
		last := windows[len(windows)-1].TimestampMillis
		for _, ts := range groupSeries(ep.Windows) {
			if ts.family != row.Family {
				continue
			}
			match := map[string]string{endpointLabel: name}
			maps.Copy(match, ts.labels)
			counted := countedWindows(ts.values, ep.Windows[0].TimestampMillis)
			states, caughtUp := totalStates(counted, last, func(w int64) []float64 { return []float64{counted[w]} })
			series, err := p.rawSamples(selector(row.PromName, match))
			if err != nil || len(series) != 1 {
				return fmt.Errorf("%s%v: %d series (%v)", name, ts.labels, len(series), err)
			}
			scraped := vectorsByTime(untilMs, series[0].Samples)
			if len(scraped) == 0 || !slices.ContainsFunc(states[min(caughtUp, len(states)-1):], func(s []float64) bool { return sameVector(s, scraped[len(scraped)-1]) }) {
				return fmt.Errorf("%s%v: the last scrape does not hold the total at %d yet", name, ts.labels, last)
			}
		}
	}
	return nil
}

// checkScrapedEndpoint checks every series of endpoint (see checkScraped): windows is the truth read after the
// scrapes until untilMs, last the last window of the snapshot the other backends were checked against. The first
// window is the baseline, as in checkEndpoint.
func checkScrapedEndpoint(t *testing.T, p *prometheusServer, rows map[string]metricRow, endpoint string, windows []simulator.WindowTruth, last, untilMs int64) {
	baseline := windows[0].TimestampMillis
	for _, ts := range groupSeries(windows) {
		row, ok := rows[ts.family]
		require.True(t, ok, "docs/metrics.md has no row for %s", ts.family)
		match := map[string]string{endpointLabel: endpoint}
		maps.Copy(match, ts.labels)
		maps.Copy(match, row.PromMatch)
		what := fmt.Sprintf("%s%v", ts.family, ts.labels)

		var states, scraped [][]float64
		var caughtUp int
		switch row.Kind {
		case "gauge":
			keys := sortedKeys(ts.values)
			for _, k := range keys {
				states = append(states, []float64{ts.values[k]})
			}
			caughtUp = max(0, countUntil(keys, last)-1)
			scraped = vectorsByTime(untilMs, onlySeries(t, p, selector(row.PromName, match)))
		case "sum":
			counted := countedWindows(ts.values, baseline)
			states, caughtUp = totalStates(counted, last, func(w int64) []float64 { return []float64{counted[w]} })
			scraped = vectorsByTime(untilMs, onlySeries(t, p, selector(row.PromName, match)))
		case "histogram":
			counted := map[int64]float64{}
			for w := range ts.histogram {
				if w != baseline {
					counted[w] = 0
				}
			}
			states, caughtUp = totalStates(counted, last, func(w int64) []float64 { return histogramVector(ts.histogram[w]) })
			scraped = scrapedHistogram(t, p, row.PromName, match, untilMs)
		}
		matchScrapes(t, what, states, scraped, caughtUp)
	}
}

// totalStates returns the states a cumulative series goes through over the counted windows: zero, then after
// each window (in time order) the sum of the vectors of the windows so far; and the index of the state after the
// last window at or before last.
func totalStates(counted map[int64]float64, last int64, vector func(ts int64) []float64) ([][]float64, int) {
	keys := sortedKeys(counted)
	var running []float64
	states := [][]float64{nil}
	for _, k := range keys {
		v := vector(k)
		if running == nil {
			running = make([]float64, len(v))
		}
		running = slices.Clone(running)
		for i := range v {
			running[i] += v[i]
		}
		states = append(states, running)
	}
	if len(states) > 1 {
		states[0] = make([]float64, len(states[1]))
	}
	return states, countUntil(keys, last)
}

func countUntil(sorted []int64, last int64) int {
	n := 0
	for _, k := range sorted {
		if k <= last {
			n++
		}
	}
	return n
}

// histogramVector is one window of a histogram as [_count, _sum, bucket counts (cumulative, +Inf last)...].
func histogramVector(h *simulator.HistogramTruth) []float64 {
	v := []float64{float64(h.Count), h.Sum}
	for _, c := range h.CumulativeCounts {
		v = append(v, float64(c))
	}
	return v
}

// scrapedHistogram returns the scrapes of a histogram as histogramVector's vectors. Buckets are told apart by
// their le's value: Prometheus 3 normalises a scraped le="5" to "5.0".
func scrapedHistogram(t *testing.T, p *prometheusServer, name string, match map[string]string, untilMs int64) [][]float64 {
	t.Helper()
	parts := [][]sample{onlySeries(t, p, selector(name+"_count", match)), onlySeries(t, p, selector(name+"_sum", match))}
	buckets, err := p.rawSamples(selector(name+"_bucket", match))
	require.NoError(t, err)
	slices.SortFunc(buckets, func(a, b promSeries) int {
		return compareFloat(leOf(t, a), leOf(t, b))
	})
	for _, b := range buckets {
		parts = append(parts, b.Samples)
	}
	return vectorsByTime(untilMs, parts...)
}

func leOf(t *testing.T, s promSeries) float64 {
	le, err := strconv.ParseFloat(s.Labels["le"], 64)
	require.NoError(t, err, "le of %v", s.Labels)
	return le
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// vectorsByTime joins the samples of several series by scrape time, up to untilMs, in time order: one vector per
// scrape that has a sample of every series.
func vectorsByTime(untilMs int64, series ...[]sample) [][]float64 {
	byTime := map[int64][]float64{}
	for i, samples := range series {
		for _, smp := range samples {
			if smp.TimestampMs > untilMs {
				continue
			}
			v := byTime[smp.TimestampMs]
			if v == nil && i > 0 {
				continue // absent from an earlier series
			}
			if len(v) == i {
				byTime[smp.TimestampMs] = append(v, smp.Value)
			}
		}
	}
	var out [][]float64
	for _, ts := range slices.Sorted(maps.Keys(byTime)) {
		if len(byTime[ts]) == len(series) {
			out = append(out, byTime[ts])
		}
	}
	return out
}

// matchScrapes checks the scraped vectors, in time order, against the states the truth goes through: each scrape
// holds a state at or after the one the scrape before held, and the last one a state at or after caughtUp.
func matchScrapes(t *testing.T, what string, states, scraped [][]float64, caughtUp int) {
	t.Helper()
	require.NotEmpty(t, states, "%s: no state in the truth", what)
	require.NotEmpty(t, scraped, "prometheus %s: never scraped", what)
	k := 0
	for i, v := range scraped {
		next := slices.IndexFunc(states[k:], func(s []float64) bool { return sameVector(s, v) })
		if !assert.GreaterOrEqual(t, next, 0, "prometheus %s: scrape %d of %d holds %v, no state of the truth at or after %v (states %v)", what, i+1, len(scraped), v, states[k], states) {
			return
		}
		k += next
	}
	lastScrape := scraped[len(scraped)-1]
	assert.True(t, slices.ContainsFunc(states[min(caughtUp, len(states)-1):], func(s []float64) bool { return sameVector(s, lastScrape) }),
		"prometheus %s: the last scrape holds %v, want the state at the truth snapshot's last window or after, %v", what, lastScrape, states[min(caughtUp, len(states)-1)])
}

// sameVector compares counts exactly and sums within float rounding (see checkHistogram).
func sameVector(want, got []float64) bool {
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		if math.Abs(want[i]-got[i]) > 1e-9*math.Max(1, math.Abs(want[i])) {
			return false
		}
	}
	return true
}
