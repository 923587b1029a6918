// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

// Tests named for one behaviour each, written so that the one-line mutation of that behaviour fails them (see
// docs/development.md, "Mutation testing").

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/exposition"
)

// A served entity that appears after the receiver's first scrape of its endpoint counts its first window: only
// the series present at the first scrape are a baseline.
func TestAServedEntityThatAppearsAfterTheFirstScrapeCountsItsFirstWindow(t *testing.T) {
	h := newLifecycleHarness(t)
	h.scrapeFor(2)
	h.setEntities(entitySpec{"champion", "3", "Small"}, entitySpec{"challenger", "4", "Small"})
	h.setBody("champion", "challenger")
	h.scrape()
	first := h.truth("challenger", false)
	require.Positive(t, first)
	assert.Equal(t, first, countedTotal(h.outputs, "databricks.serving.request.count", "challenger"),
		"the challenger's first window is counted")
	assert.Equal(t, first, countedTotal(h.outputs, "databricks.serving.request.latency", "challenger"))
	h.scrapeFor(2)
	h.requireExactTotals(map[string]bool{"champion": true})
}

// latencyPoints returns the histogram points of the request latency that carry a value.
func latencyPoints(md pmetric.Metrics) []pmetric.HistogramDataPoint {
	var out []pmetric.HistogramDataPoint
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		sms := md.ResourceMetrics().At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				if m := ms.At(k); m.Name() == "databricks.serving.request.latency" {
					for p := 0; p < m.Histogram().DataPoints().Len(); p++ {
						if dp := m.Histogram().DataPoints().At(p); !dp.Flags().NoRecordedValue() {
							out = append(out, dp)
						}
					}
				}
			}
		}
	}
	return out
}

// Observations above the last finite bound land in the +Inf bucket of the OpenTelemetry histogram, whether the
// body lists the +Inf bucket or only the count.
func TestObservationsAboveTheLastBoundAreInTheOverflowBucket(t *testing.T) {
	for _, withInf := range []bool{true, false} {
		t.Run(fmt.Sprintf("+Inf line %v", withInf), func(t *testing.T) {
			clock := &fakeClock{t: time.UnixMilli(bodyTimestamp).Add(30 * time.Second)}
			body := func(int) (int, string, string) {
				ts := clock.now().Truncate(time.Minute).UnixMilli()
				var b strings.Builder
				b.WriteString("# TYPE request_latency_ms histogram\n")
				fmt.Fprintf(&b, "request_latency_ms_bucket{served_entity_name=\"champion\",le=\"10.0\"} 3 %d\n", ts)
				fmt.Fprintf(&b, "request_latency_ms_bucket{served_entity_name=\"champion\",le=\"100.0\"} 5 %d\n", ts)
				if withInf {
					fmt.Fprintf(&b, "request_latency_ms_bucket{served_entity_name=\"champion\",le=\"+Inf\"} 9 %d\n", ts)
				}
				fmt.Fprintf(&b, "request_latency_ms_sum{served_entity_name=\"champion\"} 2345 %d\n", ts)
				fmt.Fprintf(&b, "request_latency_ms_count{served_entity_name=\"champion\"} 9 %d\n", ts)
				return http.StatusOK, textFormat, b.String()
			}
			ws := newFakeWorkspace(t)
			ws.addEndpoint("scorer", "", body, "champion")
			srv := httptest.NewServer(ws)
			defer srv.Close()
			s := newClockedScraper(t, srv.URL, clock, func(c *Config) { c.Discovery.RefreshInterval = time.Hour })
			_, err := scrapeOnce(t, s) // the baseline
			require.NoError(t, err)
			clock.advance(time.Minute)
			md, err := scrapeOnce(t, s)
			require.NoError(t, err)
			points := latencyPoints(md)
			require.Len(t, points, 2, "the zero point and the first counted window")
			dp := points[1]
			assert.Equal(t, []float64{10, 100}, dp.ExplicitBounds().AsRaw())
			assert.Equal(t, []uint64{3, 2, 4}, dp.BucketCounts().AsRaw(), "4 observations above 100 ms are in the +Inf bucket")
			assert.Equal(t, uint64(9), dp.Count())
			assert.Equal(t, 2345.0, dp.Sum())
		})
	}
}

// histogramWindow turns cumulative "le" buckets into per-bucket counts with the overflow bucket last, and
// rejects what is not a histogram.
func TestHistogramWindowConversion(t *testing.T) {
	b := func(le, count float64) exposition.Bucket {
		return exposition.Bucket{UpperBound: le, CumulativeCount: count}
	}
	inf := func(count float64) exposition.Bucket { return b(math.Inf(1), count) }
	for _, tc := range []struct {
		name       string
		buckets    []exposition.Bucket
		count      float64
		wantBounds []float64
		wantCounts []uint64
		wantErr    string
	}{
		{name: "overflow bucket from the +Inf line", buckets: []exposition.Bucket{b(1, 2), b(5, 6), inf(10)}, count: 10,
			wantBounds: []float64{1, 5}, wantCounts: []uint64{2, 4, 4}},
		{name: "overflow bucket from the count", buckets: []exposition.Bucket{b(1, 2), b(5, 6)}, count: 10,
			wantBounds: []float64{1, 5}, wantCounts: []uint64{2, 4, 4}},
		{name: "everything in the overflow bucket", buckets: []exposition.Bucket{b(1, 0), inf(7)}, count: 7,
			wantBounds: []float64{1}, wantCounts: []uint64{0, 7}},
		{name: "buckets listed out of order", buckets: []exposition.Bucket{inf(10), b(5, 6), b(1, 2)}, count: 10,
			wantBounds: []float64{1, 5}, wantCounts: []uint64{2, 4, 4}},
		{name: "equal cumulative counts are monotonic", buckets: []exposition.Bucket{b(1, 3), b(5, 3), inf(3)}, count: 3,
			wantBounds: []float64{1, 5}, wantCounts: []uint64{3, 0, 0}},
		// Non-monotonic cumulative buckets: the per-bucket counts would wrap around and still add up to the count.
		{name: "a bucket with fewer observations than the one below", buckets: []exposition.Bucket{b(1, 5), b(5, 3), inf(9)}, count: 9,
			wantErr: "fewer than the bucket below it"},
		{name: "+Inf below the last finite bucket", buckets: []exposition.Bucket{b(1, 5), inf(4)}, count: 4,
			wantErr: "fewer than the bucket below it"},
		{name: "+Inf and count disagree", buckets: []exposition.Bucket{b(1, 5), inf(9)}, count: 8, wantErr: "le=+Inf holds 9"},
		{name: "count below the finite buckets", buckets: []exposition.Bucket{b(1, 5)}, count: 4, wantErr: "smaller than the finite buckets"},
		{name: "fractional count", buckets: []exposition.Bucket{b(1, 1.5)}, count: 2, wantErr: "not a whole number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &converter{}
			h, err := c.histogramWindow(&exposition.Histogram{Buckets: tc.buckets, Count: tc.count, Sum: 1})
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantBounds, h.Bounds)
			assert.Equal(t, tc.wantCounts, h.Counts)
			assert.Equal(t, uint64(tc.count), h.Count)
			require.NoError(t, h.Validate())
		})
	}
}

// Every limit admits a body exactly at it and refuses one just over it; each limit is compared with its own
// setting (a name is not held to the value limit, nor a value to the name limit).
func TestEveryLimitAdmitsExactlyItsValue(t *testing.T) {
	limits := LimitsConfig{MaxSamples: 4, MaxLabels: 3, MaxLabelNameLength: 5, MaxLabelValueLength: 8}
	gauge := func(samples ...exposition.Sample) []exposition.Family {
		return []exposition.Family{{Name: "g", Type: dto.MetricType_GAUGE, Samples: samples}}
	}
	labels := func(n int) []exposition.Label {
		out := make([]exposition.Label, n)
		for i := range out {
			out[i] = exposition.Label{Name: fmt.Sprintf("l%d", i), Value: "v"}
		}
		return out
	}
	sample := func(l ...exposition.Label) exposition.Sample { return exposition.Sample{Labels: l, HasTimestamp: true} }
	samples := func(n int) []exposition.Sample { return make([]exposition.Sample, n) }
	for _, tc := range []struct {
		name     string
		limits   LimitsConfig
		families []exposition.Family
		wantErr  string
	}{
		{"max_samples: at the limit", limits, gauge(samples(4)...), ""},
		{"max_samples: one over", limits, gauge(samples(5)...), "max_samples (4)"},
		{"max_samples counts histogram lines", limits, []exposition.Family{{Name: "h", Type: dto.MetricType_HISTOGRAM,
			Samples: []exposition.Sample{{Histogram: exposition.Histogram{Buckets: []exposition.Bucket{{UpperBound: 1, CumulativeCount: 1}, {UpperBound: 2, CumulativeCount: 1}, {UpperBound: 3, CumulativeCount: 1}}}}}}}, "5 samples"},
		{"max_labels: at the limit", limits, gauge(sample(labels(3)...)), ""},
		{"max_labels: one over", limits, gauge(sample(labels(4)...)), "max_labels (3)"},
		{"max_label_name_length: at the limit", limits, gauge(sample(exposition.Label{Name: "abcde", Value: "v"})), ""},
		{"max_label_name_length: one over", limits, gauge(sample(exposition.Label{Name: "abcdef", Value: "v"})), "max_label_name_length (5)"},
		{"max_label_value_length: at the limit", limits, gauge(sample(exposition.Label{Name: "a", Value: "12345678"})), ""},
		{"max_label_value_length: one over", limits, gauge(sample(exposition.Label{Name: "a", Value: "123456789"})), "max_label_value_length (8)"},
		// The name limit is below the value limit here: a 6-byte name breaks it, though it is within the value limit.
		{"a name is held to the name limit", LimitsConfig{MaxSamples: 10, MaxLabels: 10, MaxLabelNameLength: 5, MaxLabelValueLength: 100},
			gauge(sample(exposition.Label{Name: "abcdef", Value: "v"})), "max_label_name_length (5)"},
		// And the other way round: a 20-byte name within the name limit passes, though it exceeds the value limit.
		{"a name is not held to the value limit", LimitsConfig{MaxSamples: 10, MaxLabels: 10, MaxLabelNameLength: 100, MaxLabelValueLength: 5},
			gauge(sample(exposition.Label{Name: "a_long_label_name_20", Value: "v"})), ""},
		{"a value is not held to the name limit", LimitsConfig{MaxSamples: 10, MaxLabels: 10, MaxLabelNameLength: 5, MaxLabelValueLength: 100},
			gauge(sample(exposition.Label{Name: "a", Value: "a value longer than five"})), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stats, err := checkLimits(tc.families, tc.limits)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			var limitErr *limitError
			require.ErrorAs(t, err, &limitErr)
			assert.Contains(t, err.Error(), tc.wantErr)
			_ = stats
		})
	}
	t.Run("untimed samples are noticed", func(t *testing.T) {
		stats, err := checkLimits(gauge(sample(), exposition.Sample{}), limits)
		require.NoError(t, err)
		assert.True(t, stats.untimed)
		assert.Equal(t, 2, stats.samples)
		stats, err = checkLimits(gauge(sample(), sample()), limits)
		require.NoError(t, err)
		assert.False(t, stats.untimed)
	})
}

// A 429 with Retry-After is asked again exactly when the server said, on the scraper's clock: in seconds, as an
// HTTP date, and at most an hour later whatever it says. A Retry-After that names no time in the future (a past
// date, garbage) leaves the ordinary backoff, which asks again after one interval.
func TestRetryAfterSetsTheNextRequestExactly(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter func() string
		interval   time.Duration
		cycles     int
		wantAsked  []int // the cycles in which the endpoint was asked
		prefixOnly bool  // wantAsked is the first of them only (the backoff after it is jittered)
	}{
		{"seconds", func() string { return "120" }, 10 * time.Second, 60, []int{0, 12, 24, 36, 48}, false},
		// The date is taken on the wall clock, the scraper's is fake: the wait is within a second under 120 s.
		{"HTTP date", func() string { return time.Now().Add(120 * time.Second).UTC().Format(http.TimeFormat) }, 10 * time.Second, 60, []int{0, 12, 24, 36, 48}, false},
		{"a day, capped at an hour", func() string { return "86400" }, time.Minute, 130, []int{0, 60, 120}, false},
		{"a day as a date, capped at an hour", func() string { return time.Now().Add(24 * time.Hour).UTC().Format(http.TimeFormat) }, time.Minute, 130, []int{0, 60, 120}, false},
		{"a past date", func() string { return time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat) }, 10 * time.Second, 4, []int{0, 1}, true},
		{"garbage", func() string { return "in a while" }, 10 * time.Second, 4, []int{0, 1}, true},
		{"negative seconds", func() string { return "-120" }, 10 * time.Second, 4, []int{0, 1}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := newFakeWorkspace(t)
			ws.addEndpoint("throttled", "", func(int) (int, string, string) {
				return http.StatusTooManyRequests, "application/json", `{"error_code":"REQUEST_LIMIT_EXCEEDED","message":"slow down"}`
			})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/throttled/metrics") {
					w.Header().Set("Retry-After", tc.retryAfter())
				}
				ws.ServeHTTP(w, r)
			}))
			defer srv.Close()
			clock := &fakeClock{t: time.UnixMilli(bodyTimestamp).Add(30 * time.Second)}
			s := newClockedScraper(t, srv.URL, clock, func(c *Config) {
				c.CollectionInterval = tc.interval
				c.Discovery.RefreshInterval = 24 * time.Hour
			})
			var asked []int
			for cycle := range tc.cycles {
				before := ws.requestsFor("throttled")
				_, _ = scrapeOnce(t, s)
				if ws.requestsFor("throttled") > before {
					asked = append(asked, cycle)
				}
				clock.advance(tc.interval)
			}
			if tc.prefixOnly {
				require.GreaterOrEqual(t, len(asked), len(tc.wantAsked))
				asked = asked[:len(tc.wantAsked)]
			}
			assert.Equal(t, tc.wantAsked, asked)
		})
	}
}

// A stream's stale marker comes after its last point when Databricks' clock runs ahead of the collector's (the
// receiver accepts windows up to 10 minutes ahead): here a new version of the served entity ends its streams.
func TestStaleMarkersFollowTheLastPointWhenTheWorkspaceClockRunsAhead(t *testing.T) {
	clock := &fakeClock{t: time.UnixMilli(bodyTimestamp).Add(30 * time.Second)}
	const ahead = 5 * time.Minute
	body := func(int) (int, string, string) {
		ts := clock.now().Add(ahead).Truncate(time.Minute).UnixMilli()
		return http.StatusOK, textFormat, fmt.Sprintf("# TYPE request_count_total gauge\nrequest_count_total{served_entity_name=\"champion\"} 7 %d\n"+
			"# TYPE cpu_usage_percentage gauge\ncpu_usage_percentage{served_entity_name=\"champion\"} 12.5 %d\n", ts, ts)
	}
	ws := newFakeWorkspace(t)
	ws.addEndpoint("scorer", "", body, "champion")
	srv := httptest.NewServer(ws)
	defer srv.Close()
	s := newClockedScraper(t, srv.URL, clock, func(c *Config) { c.Discovery.RefreshInterval = time.Minute })
	var outputs []pmetric.Metrics
	for range 3 {
		md, err := scrapeOnce(t, s)
		require.NoError(t, err)
		outputs = append(outputs, md)
		clock.advance(time.Minute)
	}
	// A new version: every stream of the old one ends with a stale marker at the next refresh.
	ws.mu.Lock()
	for _, ep := range ws.endpoints {
		ep["config"].(map[string]any)["served_entities"].([]map[string]any)[0]["entity_version"] = "9"
	}
	ws.mu.Unlock()
	for range 2 {
		md, err := scrapeOnce(t, s)
		require.NoError(t, err)
		outputs = append(outputs, md)
		clock.advance(time.Minute)
	}
	metrics := []string{"databricks.serving.request.count", "databricks.serving.cpu.utilization"}
	requireStreamsAscend(t, outputs, metrics...)
	for _, metric := range metrics {
		markers := 0
		for _, p := range pointsOf(outputs, metric) {
			if p.noValue {
				markers++
			}
		}
		assert.Equal(t, 1, markers, "%s: the old version's stream ends with one stale marker", metric)
	}
}
