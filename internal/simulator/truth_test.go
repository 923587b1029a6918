// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTruthRecordsExactlyTheServedWindows(t *testing.T) {
	ts := newTestServer(t, testConfig())
	window := testWindow.Milliseconds()
	served := make(map[string]map[int64][]byte) // endpoint → window end → body

	scrape := func(endpoint string) {
		body := ts.getMetrics(t, endpoint)
		families := parseExposition(t, body)
		end := families["request_count_total"].GetMetric()[0].GetTimestampMs()
		if served[endpoint] == nil {
			served[endpoint] = make(map[int64][]byte)
		}
		served[endpoint][end] = body
	}

	scrape("cpu-endpoint-0")
	scrape("cpu-endpoint-0") // the same window twice is recorded once
	scrape("multi-entity-endpoint-0")
	ts.clock.Advance(testWindow)
	scrape("gpu-endpoint-0")
	ts.clock.Advance(testWindow)
	scrape("cpu-endpoint-0")
	scrape("scale-to-zero-endpoint-0")
	// Skipped windows and failed requests are not served windows.
	ts.clock.Advance(3 * testWindow)
	ts.get(t, metricsPath("cpu-endpoint-1"), "wrong-token")
	ts.get(t, metricsPath("databricks-fmapi-endpoint-0"), testToken)
	ts.get(t, metricsPath("no-such-endpoint"), testToken)
	ts.get(t, "/api/2.0/serving-endpoints/cpu-endpoint-1", testToken)
	ts.clock.Advance(testWindow)
	scrape("cpu-endpoint-0")

	truth := ts.getTruth(t, "")
	assert.Equal(t, window, truth.WindowMillis)
	assert.Equal(t, int64(1), truth.Seed)

	wantEnds := map[string][]int64{
		"cpu-endpoint-0":           {testWindowEndMillis, testWindowEndMillis + 2*window, testWindowEndMillis + 6*window},
		"multi-entity-endpoint-0":  {testWindowEndMillis},
		"gpu-endpoint-0":           {testWindowEndMillis + window},
		"scale-to-zero-endpoint-0": {testWindowEndMillis + 2*window},
	}
	gotEnds := make(map[string][]int64)
	for endpoint, et := range truth.Endpoints {
		for _, wt := range et.Windows {
			gotEnds[endpoint] = append(gotEnds[endpoint], wt.TimestampMillis)
		}
	}
	assert.Equal(t, wantEnds, gotEnds, "windows sorted by timestamp, only those served")

	for endpoint, et := range truth.Endpoints {
		for _, wt := range et.Windows {
			body := served[endpoint][wt.TimestampMillis]
			require.NotNil(t, body)
			assert.Equal(t, observedFromFamilies(t, parseExposition(t, body)), observedFromTruth(t, wt),
				"truth of %s at %d equals what was served", endpoint, wt.TimestampMillis)
			for _, s := range wt.Series {
				if s.Histogram != nil {
					assert.Equal(t, latencyBoundsMillis, s.Histogram.Bounds)
					assert.Len(t, s.Histogram.CumulativeCounts, len(latencyBoundsMillis)+1)
				}
			}
		}
	}

	assert.Equal(t, truth, ts.sim.Truth(), "Truth() and /simulator/truth agree")
}

func TestTruthFilterByEndpoint(t *testing.T) {
	ts := newTestServer(t, testConfig())
	ts.getMetrics(t, "cpu-endpoint-0")
	ts.getMetrics(t, "gpu-endpoint-0")

	truth := ts.getTruth(t, "?endpoint=gpu-endpoint-0")
	require.Len(t, truth.Endpoints, 1)
	assert.Contains(t, truth.Endpoints, "gpu-endpoint-0")

	truth = ts.getTruth(t, "?endpoint=databricks-fmapi-endpoint-0")
	assert.Empty(t, truth.Endpoints, "a known endpoint never served has no windows")

	resp, body := ts.get(t, "/simulator/truth?endpoint=no-such-endpoint", "")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "RESOURCE_DOES_NOT_EXIST", decodeAPIError(t, body).ErrorCode)
}

func TestTruthJSONShape(t *testing.T) {
	ts := newTestServer(t, testConfig())
	ts.getMetrics(t, "cpu-endpoint-0")
	_, body := ts.get(t, "/simulator/truth", "")

	var truth map[string]any
	require.NoError(t, json.Unmarshal(body, &truth))
	assert.Equal(t, 2000.0, truth["window_ms"])
	assert.Equal(t, 1.0, truth["seed"])
	windows := truth["endpoints"].(map[string]any)["cpu-endpoint-0"].(map[string]any)["windows"].([]any)
	require.Len(t, windows, 1)
	window := windows[0].(map[string]any)
	assert.Equal(t, float64(testWindowEndMillis), window["timestamp_ms"])

	byName := make(map[string]map[string]any)
	for _, s := range window["series"].([]any) {
		series := s.(map[string]any)
		byName[series["name"].(string)] = series
		assert.Equal(t, map[string]any{"served_entity_name": "cpu-endpoint-0-model-1"}, series["labels"])
	}
	for _, gauge := range []string{"cpu_usage_percentage", "request_count_total", "request_4xx_count_total", "request_5xx_count_total"} {
		require.Contains(t, byName, gauge)
		assert.Contains(t, byName[gauge], "value", "gauges always carry value, even 0")
		assert.NotContains(t, byName[gauge], "histogram")
	}
	latency := byName["request_latency_ms"]
	assert.NotContains(t, latency, "value")
	histogram := latency["histogram"].(map[string]any)
	assert.ElementsMatch(t, []string{"bounds", "cumulative_counts", "sum", "count"}, keys(histogram))
	assert.Len(t, histogram["bounds"], 16)
	assert.Len(t, histogram["cumulative_counts"], 17)
	assert.Equal(t, byName["request_count_total"]["value"], histogram["count"])
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestTruthIsEmptyBeforeAnyScrape(t *testing.T) {
	ts := newTestServer(t, testConfig())
	_, body := ts.get(t, "/simulator/truth", "")
	assert.JSONEq(t, `{"window_ms":2000,"seed":1,"endpoints":{}}`, string(body))
}
