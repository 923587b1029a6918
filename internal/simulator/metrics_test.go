// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scannedWindows is how many consecutive windows the invariant tests scan:
// enough to see scale-to-zero endpoints both running and scaled.
const scannedWindows = 30

var resourceFamilies = []string{"cpu_usage_percentage", "mem_usage_percentage", "provisioned_concurrent_requests_total"}

func TestEveryMetricsBodyParses(t *testing.T) {
	cfg := testConfig()
	cfg.CPU, cfg.GPU, cfg.MultiEntity, cfg.ScaleToZero = 3, 2, 2, 2
	ts := newTestServer(t, cfg)
	for range scannedWindows {
		for _, endpoint := range metricEndpoints(ts.sim) {
			families := parseExposition(t, ts.getMetrics(t, endpoint))
			for name, family := range families {
				wantType := dto.MetricType_GAUGE
				if strings.HasSuffix(name, "_ms") {
					wantType = dto.MetricType_HISTOGRAM
				}
				assert.Equal(t, wantType, family.GetType(), name)
				assert.NotEmpty(t, family.GetHelp(), name)
			}
		}
		ts.clock.Advance(cfg.Window)
	}
}

func TestMetricsBodyLayout(t *testing.T) {
	ts := newTestServer(t, testConfig())
	body := string(ts.getMetrics(t, "cpu-endpoint-0"))
	suffix := " " + strconv.FormatInt(testWindowEndMillis, 10) + "\n"
	for line := range strings.Lines(body) {
		if strings.HasPrefix(line, "#") {
			assert.Regexp(t, `^# (HELP [a-z_0-9]+ .+|TYPE [a-z_0-9]+ (gauge|histogram))\n$`, line)
			continue
		}
		assert.True(t, strings.HasSuffix(line, suffix), "every sample is stamped with the window end: %q", line)
		assert.Contains(t, line, `{served_entity_name="cpu-endpoint-0-model-1"`)
	}
	assert.Contains(t, body, "# TYPE request_count_total gauge\n")
	assert.Contains(t, body, "# TYPE request_latency_ms histogram\n")
	assert.Regexp(t, `(?m)^request_count_total\{served_entity_name="cpu-endpoint-0-model-1"\} \d+ \d+$`, body, "counts print as integers")
	assert.Contains(t, body, `request_latency_ms_bucket{served_entity_name="cpu-endpoint-0-model-1",le="600000"}`)
	assert.Contains(t, body, `request_latency_ms_bucket{served_entity_name="cpu-endpoint-0-model-1",le="+Inf"}`)
}

func TestMetricsAreDeterministic(t *testing.T) {
	first := newTestServer(t, testConfig())
	second := newTestServer(t, testConfig())
	for _, endpoint := range metricEndpoints(first.sim) {
		assert.Equal(t, string(first.getMetrics(t, endpoint)), string(second.getMetrics(t, endpoint)), endpoint)
		assert.Equal(t, string(first.getMetrics(t, endpoint)), string(first.getMetrics(t, endpoint)), "repeated scrape of %s", endpoint)
	}
}

func TestSeedChangesValues(t *testing.T) {
	first := newTestServer(t, testConfig())
	cfg := testConfig()
	cfg.Seed = 2
	second := newTestServer(t, cfg)
	assert.NotEqual(t, string(first.getMetrics(t, "cpu-endpoint-0")), string(second.getMetrics(t, "cpu-endpoint-0")))
}

func TestWindowsHaveDifferentValues(t *testing.T) {
	ts := newTestServer(t, testConfig())
	for _, endpoint := range []string{"cpu-endpoint-0", "gpu-endpoint-0", "multi-entity-endpoint-0"} {
		t.Run(endpoint, func(t *testing.T) {
			ts.clock.Set(testStart)
			before := parseExposition(t, ts.getMetrics(t, endpoint))
			ts.clock.Advance(testWindow)
			after := parseExposition(t, ts.getMetrics(t, endpoint))
			for _, name := range []string{"cpu_usage_percentage", "mem_usage_percentage", "request_count_total"} {
				assert.NotEqual(t, gaugeValues(before, name), gaugeValues(after, name), name)
			}
		})
	}
}

func TestWindowTimestampIsTheWindowEnd(t *testing.T) {
	ts := newTestServer(t, testConfig())
	timestampOf := func() int64 {
		families := parseExposition(t, ts.getMetrics(t, "cpu-endpoint-0"))
		timestamps := make(map[int64]bool)
		for _, family := range families {
			for _, m := range family.GetMetric() {
				timestamps[m.GetTimestampMs()] = true
			}
		}
		require.Len(t, timestamps, 1, "one window per body")
		for ts := range timestamps {
			return ts
		}
		return 0
	}

	assert.Equal(t, testWindowEndMillis, timestampOf())
	ts.clock.Advance(testWindow / 4)
	assert.Equal(t, testWindowEndMillis, timestampOf(), "same window until the next boundary")
	ts.clock.Advance(testWindow)
	assert.Equal(t, testWindowEndMillis+testWindow.Milliseconds(), timestampOf())
	ts.clock.Advance(10 * testWindow)
	assert.Equal(t, testWindowEndMillis+11*testWindow.Milliseconds(), timestampOf())
}

func TestScaleToZeroWindowsLackResourceSeries(t *testing.T) {
	ts := newTestServer(t, testConfig())
	var scaled, running int
	for range scannedWindows {
		families := parseExposition(t, ts.getMetrics(t, "scale-to-zero-endpoint-0"))
		_, hasCPU := families["cpu_usage_percentage"]
		if hasCPU {
			running++
			for _, name := range resourceFamilies {
				assert.Contains(t, families, name)
			}
		} else {
			scaled++
			for _, name := range resourceFamilies {
				assert.NotContains(t, families, name, "scaled to zero")
			}
			for _, name := range []string{"request_count_total", "request_4xx_count_total", "request_5xx_count_total"} {
				require.Contains(t, families, name)
				assert.Zero(t, families[name].GetMetric()[0].GetGauge().GetValue(), name)
			}
			for _, name := range []string{"request_latency_ms", "model_queue_time_ms"} {
				require.Contains(t, families, name)
				h := families[name].GetMetric()[0].GetHistogram()
				assert.Zero(t, h.GetSampleCount(), name)
				assert.Zero(t, h.GetSampleSum(), name)
				for _, bucket := range h.GetBucket() {
					assert.Zero(t, bucket.GetCumulativeCount(), name)
				}
			}
		}
		ts.clock.Advance(testWindow)
	}
	assert.Positive(t, scaled, "some windows are scaled to zero")
	assert.Positive(t, running, "some windows are running")
	assert.InDelta(t, scannedWindows/2, scaled, scannedWindows/4, "about half of the windows are scaled to zero")
}

func TestOtherKindsAlwaysHaveResourceSeries(t *testing.T) {
	ts := newTestServer(t, testConfig())
	for range scannedWindows {
		for _, endpoint := range []string{"cpu-endpoint-0", "gpu-endpoint-0", "multi-entity-endpoint-0"} {
			families := parseExposition(t, ts.getMetrics(t, endpoint))
			for _, name := range resourceFamilies {
				assert.Contains(t, families, name, endpoint)
			}
		}
		ts.clock.Advance(testWindow)
	}
}

func TestGPUSeriesPerGPU(t *testing.T) {
	for _, gpus := range []int{1, 4, 8} {
		t.Run(fmt.Sprintf("%d GPUs", gpus), func(t *testing.T) {
			cfg := testConfig()
			cfg.GPUsPerEndpoint = gpus
			ts := newTestServer(t, cfg)
			families := parseExposition(t, ts.getMetrics(t, "gpu-endpoint-0"))
			for _, name := range []string{"gpu_usage_percentage", "gpu_memory_usage_percentage"} {
				require.Contains(t, families, name)
				var seen []string
				for _, m := range families[name].GetMetric() {
					labels := labelMap(m)
					assert.Equal(t, "gpu-endpoint-0-model-1", labels["served_entity_name"])
					seen = append(seen, labels["gpu"])
					assert.GreaterOrEqual(t, m.GetGauge().GetValue(), 1.0)
					assert.LessOrEqual(t, m.GetGauge().GetValue(), 100.0)
				}
				want := make([]string, gpus)
				for i := range want {
					want[i] = fmt.Sprintf("gpu%d", i)
				}
				assert.Equal(t, want, seen, name)
			}
		})
	}
}

func TestCPUEndpointsHaveNoGPUSeries(t *testing.T) {
	ts := newTestServer(t, testConfig())
	for _, endpoint := range []string{"cpu-endpoint-0", "multi-entity-endpoint-0", "scale-to-zero-endpoint-0"} {
		families := parseExposition(t, ts.getMetrics(t, endpoint))
		assert.NotContains(t, families, "gpu_usage_percentage", endpoint)
		assert.NotContains(t, families, "gpu_memory_usage_percentage", endpoint)
	}
}

func TestMultiEntitySeriesPerServedEntity(t *testing.T) {
	ts := newTestServer(t, testConfig())
	families := parseExposition(t, ts.getMetrics(t, "multi-entity-endpoint-0"))
	require.Len(t, families, 8, "every family but the GPU ones")
	for name, family := range families {
		var entities []string
		for _, m := range family.GetMetric() {
			entities = append(entities, labelMap(m)["served_entity_name"])
		}
		assert.ElementsMatch(t, []string{"multi-entity-endpoint-0-champion-1", "multi-entity-endpoint-0-challenger-2"}, entities, name)
	}
	provisioned := gaugeValues(families, "provisioned_concurrent_requests_total")
	assert.Equal(t, map[string]float64{
		"served_entity_name=multi-entity-endpoint-0-champion-1;":   8,
		"served_entity_name=multi-entity-endpoint-0-challenger-2;": 4,
	}, provisioned, "concurrency follows each entity's workload size")
}

// TestValueInvariants checks, over many windows of every kind, the
// properties a receiver may rely on.
func TestValueInvariants(t *testing.T) {
	cfg := testConfig()
	cfg.CPU, cfg.MultiEntity, cfg.ScaleToZero = 3, 2, 2
	ts := newTestServer(t, cfg)
	var busyWindows int
	for range scannedWindows {
		for _, endpoint := range metricEndpoints(ts.sim) {
			families := parseExposition(t, ts.getMetrics(t, endpoint))
			for _, m := range families["request_count_total"].GetMetric() {
				entity := labelMap(m)["served_entity_name"]
				context := endpoint + "/" + entity
				requests := m.GetGauge().GetValue()
				errors4xx := entityGauge(t, families, "request_4xx_count_total", entity)
				errors5xx := entityGauge(t, families, "request_5xx_count_total", entity)
				assert.Equal(t, math.Trunc(requests), requests, context)
				assert.GreaterOrEqual(t, requests, 0.0, context)
				assert.LessOrEqual(t, requests, 300.0, context)
				assert.LessOrEqual(t, errors4xx, math.Floor(requests*0.05), context)
				assert.LessOrEqual(t, errors5xx, math.Floor(requests*0.02), context)

				latency := entityHistogram(t, families, "request_latency_ms", entity)
				queue := entityHistogram(t, families, "model_queue_time_ms", entity)
				for _, h := range []*dto.Histogram{latency, queue} {
					assertHistogramInvariants(t, h, context)
					assert.Equal(t, requests, float64(h.GetSampleCount()), "%s: _count equals the requests", context)
				}
				assert.LessOrEqual(t, queue.GetSampleSum(), latency.GetSampleSum(), "%s: queue time is part of latency", context)

				if requests >= 50 {
					busyWindows++
					p50, p99 := quantileBucket(latency, 0.5), quantileBucket(latency, 0.99)
					assert.Less(t, p50, p99, "%s: P50 and P99 land in different buckets", context)
				}
			}
			for _, name := range []string{"cpu_usage_percentage", "mem_usage_percentage"} {
				for _, m := range families[name].GetMetric() {
					assert.GreaterOrEqual(t, m.GetGauge().GetValue(), 1.0, name)
					assert.LessOrEqual(t, m.GetGauge().GetValue(), 90.0, name)
				}
			}
			for _, m := range families["provisioned_concurrent_requests_total"].GetMetric() {
				assert.Contains(t, []float64{4, 8, 16}, m.GetGauge().GetValue())
			}
		}
		ts.clock.Advance(cfg.Window)
	}
	assert.Positive(t, busyWindows)
}

func assertHistogramInvariants(t *testing.T, h *dto.Histogram, context string) {
	t.Helper()
	buckets := h.GetBucket()
	require.Len(t, buckets, len(latencyBoundsMillis)+1, context)
	for i, bucket := range buckets {
		if i == len(buckets)-1 {
			assert.True(t, math.IsInf(bucket.GetUpperBound(), 1), "%s: last bucket is +Inf", context)
			assert.Equal(t, h.GetSampleCount(), bucket.GetCumulativeCount(), "%s: +Inf bucket equals _count", context)
			break
		}
		assert.Equal(t, latencyBoundsMillis[i], bucket.GetUpperBound(), context)
		assert.LessOrEqual(t, bucket.GetCumulativeCount(), buckets[i+1].GetCumulativeCount(), "%s: cumulative counts never decrease", context)
	}
	assert.GreaterOrEqual(t, h.GetSampleSum(), 0.0, context)
	if h.GetSampleCount() == 0 {
		assert.Zero(t, h.GetSampleSum(), context)
	}
}

// quantileBucket returns the index of the bucket holding quantile q.
func quantileBucket(h *dto.Histogram, q float64) int {
	rank := uint64(math.Ceil(q * float64(h.GetSampleCount())))
	for i, bucket := range h.GetBucket() {
		if bucket.GetCumulativeCount() >= rank {
			return i
		}
	}
	return len(h.GetBucket())
}

func labelMap(m *dto.Metric) map[string]string {
	labels := make(map[string]string)
	for _, pair := range m.GetLabel() {
		labels[pair.GetName()] = pair.GetValue()
	}
	return labels
}

func entityMetric(t *testing.T, families map[string]*dto.MetricFamily, name, entity string) *dto.Metric {
	t.Helper()
	require.Contains(t, families, name)
	for _, m := range families[name].GetMetric() {
		if labelMap(m)["served_entity_name"] == entity {
			return m
		}
	}
	t.Fatalf("no %s series for %s", name, entity)
	return nil
}

func entityGauge(t *testing.T, families map[string]*dto.MetricFamily, name, entity string) float64 {
	t.Helper()
	return entityMetric(t, families, name, entity).GetGauge().GetValue()
}

func entityHistogram(t *testing.T, families map[string]*dto.MetricFamily, name, entity string) *dto.Histogram {
	t.Helper()
	return entityMetric(t, families, name, entity).GetHistogram()
}

func TestConcurrentScrapesGetTheSameBody(t *testing.T) {
	cfg := testConfig()
	cfg.CPU = 20
	ts := newTestServer(t, cfg)
	want := make(map[string]string)
	for _, endpoint := range metricEndpoints(ts.sim) {
		want[endpoint] = string(ts.getMetrics(t, endpoint))
	}
	var wg sync.WaitGroup
	for _, endpoint := range metricEndpoints(ts.sim) {
		for range 4 {
			wg.Go(func() {
				resp, body := ts.get(t, metricsPath(endpoint), testToken)
				assert.Equal(t, 200, resp.StatusCode)
				assert.Equal(t, want[endpoint], string(body))
			})
		}
	}
	wg.Wait()
}

func TestBodyCacheKeepsTwoWindows(t *testing.T) {
	ts := newTestServer(t, testConfig())
	for range 5 {
		ts.getMetrics(t, "cpu-endpoint-0")
		ts.clock.Advance(testWindow)
	}
	assert.Equal(t, 2, ts.sim.bodies.len())

	// A clock moved backwards still gets its (uncached) window.
	ts.clock.Set(testStart)
	families := parseExposition(t, ts.getMetrics(t, "cpu-endpoint-0"))
	assert.Equal(t, testWindowEndMillis, families["request_count_total"].GetMetric()[0].GetTimestampMs())
	assert.Equal(t, 2, ts.sim.bodies.len())
}
