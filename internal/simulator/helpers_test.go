// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

const (
	testToken  = "test-token"
	testWindow = 2 * time.Second
	// testWindowEndMillis is minute-aligned, like the timestamps observed on
	// real workspaces; testStart lies half a second after it.
	testWindowEndMillis = int64(1788718020000)
)

var testStart = time.UnixMilli(testWindowEndMillis + 500)

// fakeClock is a settable clock for WithClock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock(now time.Time) *fakeClock { return &fakeClock{now: now} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Window = testWindow
	cfg.Token = testToken
	return cfg
}

type testServer struct {
	sim   *Server
	http  *httptest.Server
	clock *fakeClock
}

// newTestServer serves cfg on a loopback httptest server with a fake clock
// set to testStart, and the given options.
func newTestServer(t *testing.T, cfg Config, opts ...Option) *testServer {
	t.Helper()
	clock := newFakeClock(testStart)
	sim, err := New(cfg, append([]Option{WithClock(clock.Now)}, opts...)...)
	require.NoError(t, err)
	ts := httptest.NewServer(sim.Handler())
	t.Cleanup(func() {
		ts.Close()
		require.NoError(t, sim.Close())
	})
	return &testServer{sim: sim, http: ts, clock: clock}
}

// get sends GET path with the token (none when empty) and returns the
// response with its body read.
func (ts *testServer) get(t *testing.T, path, token string) (*http.Response, []byte) {
	t.Helper()
	return getURL(t, ts.http.URL+path, token)
}

func getURL(t *testing.T, url, token string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, http.NoBody)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

func metricsPath(endpoint string) string {
	return "/api/2.0/serving-endpoints/" + endpoint + "/metrics"
}

// getMetrics fetches a /metrics body that must be a 200 exposition.
func (ts *testServer) getMetrics(t *testing.T, endpoint string) []byte {
	t.Helper()
	resp, body := ts.get(t, metricsPath(endpoint), testToken)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, "text/plain; version=0.0.4; charset=utf-8", resp.Header.Get("Content-Type"))
	return body
}

func (ts *testServer) getTruth(t *testing.T, query string) Truth {
	t.Helper()
	resp, body := ts.get(t, "/simulator/truth"+query, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var truth Truth
	require.NoError(t, json.Unmarshal(body, &truth))
	return truth
}

func parseExposition(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err, string(body))
	return families
}

func decodeAPIError(t *testing.T, body []byte) apiError {
	t.Helper()
	var apiErr apiError
	require.NoError(t, json.Unmarshal(body, &apiErr), string(body))
	return apiErr
}

// observedSeries is one series in a form both a parsed body and a
// WindowTruth convert to, so tests can compare them with require.Equal.
type observedSeries struct {
	TimestampMillis int64
	Value           *float64
	Histogram       *HistogramTruth
}

func seriesKey(name string, labels map[string]string) string {
	pairs := make([]string, 0, len(labels))
	for k, v := range labels {
		pairs = append(pairs, k+"="+v)
	}
	sort.Strings(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

func observedFromFamilies(t *testing.T, families map[string]*dto.MetricFamily) map[string]observedSeries {
	t.Helper()
	observed := make(map[string]observedSeries)
	for name, family := range families {
		for _, m := range family.GetMetric() {
			labels := make(map[string]string)
			for _, pair := range m.GetLabel() {
				labels[pair.GetName()] = pair.GetValue()
			}
			series := observedSeries{TimestampMillis: m.GetTimestampMs()}
			switch family.GetType() {
			case dto.MetricType_GAUGE:
				value := m.GetGauge().GetValue()
				series.Value = &value
			case dto.MetricType_COUNTER:
				value := m.GetCounter().GetValue()
				series.Value = &value
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				hist := &HistogramTruth{Sum: h.GetSampleSum(), Count: h.GetSampleCount()}
				for _, bucket := range h.GetBucket() {
					if !math.IsInf(bucket.GetUpperBound(), 1) {
						hist.Bounds = append(hist.Bounds, bucket.GetUpperBound())
					}
					hist.CumulativeCounts = append(hist.CumulativeCounts, bucket.GetCumulativeCount())
				}
				series.Histogram = hist
			default:
				t.Fatalf("family %s has unexpected type %s", name, family.GetType())
			}
			key := seriesKey(name, labels)
			require.NotContains(t, observed, key, "duplicate series")
			observed[key] = series
		}
	}
	return observed
}

func observedFromTruth(t *testing.T, wt WindowTruth) map[string]observedSeries {
	t.Helper()
	observed := make(map[string]observedSeries)
	for _, s := range wt.Series {
		key := seriesKey(s.Name, s.Labels)
		require.NotContains(t, observed, key, "duplicate series")
		observed[key] = observedSeries{TimestampMillis: wt.TimestampMillis, Value: s.Value, Histogram: s.Histogram}
	}
	return observed
}

// gaugeValues returns the values of a gauge family keyed by served entity
// (and GPU, when present).
func gaugeValues(families map[string]*dto.MetricFamily, name string) map[string]float64 {
	values := make(map[string]float64)
	for _, m := range families[name].GetMetric() {
		key := ""
		for _, pair := range m.GetLabel() {
			key += pair.GetName() + "=" + pair.GetValue() + ";"
		}
		values[key] = m.GetGauge().GetValue()
	}
	return values
}

// metricEndpoints are the endpoints of cfg whose /metrics answers 200.
func metricEndpoints(sim *Server) []string {
	var names []string
	for _, name := range sim.Endpoints() {
		if !strings.HasPrefix(name, "databricks-fmapi-") {
			names = append(names, name)
		}
	}
	return names
}
