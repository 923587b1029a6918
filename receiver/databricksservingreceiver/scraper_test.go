// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/collector/scraper/scrapererror"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/metadata"
)

var updateGolden = flag.Bool("update", false, "rewrite the expected golden files from the scraper's output")

const testToken = "dapi-test-0123456789abcdef"

// bodyTimestamp is the window timestamp written in testdata/scraper/*.txt.
const bodyTimestamp = 1788718020000

// fakeWorkspace serves the serving-endpoint API from test bodies. respond returns the answer to the n-th
// (0-based) /metrics request of an endpoint.
type fakeWorkspace struct {
	t         *testing.T
	endpoints []map[string]any
	respond   map[string]func(n int) (status int, contentType, body string)

	mu       sync.Mutex
	requests map[string]int // by endpoint name; "list" for the list call
	// listStatus and getStatus, when set, are the answers of the list and get calls (with retryAfter).
	listStatus, getStatus int
	retryAfter            string
}

// failCalls makes the list (and, with get, the get) calls answer status with Retry-After retryAfter.
func (f *fakeWorkspace) failCalls(list, get int, retryAfter string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listStatus, f.getStatus, f.retryAfter = list, get, retryAfter
}

// failed answers a call with status and the workspace's Retry-After when status is set.
func (f *fakeWorkspace) failed(w http.ResponseWriter, status int) bool {
	if status == 0 {
		return false
	}
	if f.retryAfter != "" {
		w.Header().Set("Retry-After", f.retryAfter)
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error_code":"REQUEST_LIMIT_EXCEEDED","message":"slow down"}`))
	return true
}

func newFakeWorkspace(t *testing.T) *fakeWorkspace {
	return &fakeWorkspace{t: t, respond: map[string]func(int) (int, string, string){}, requests: map[string]int{}}
}

// addEndpoint adds an endpoint whose /metrics answers with respond; entities are its served entities' names.
func (f *fakeWorkspace) addEndpoint(name, endpointType string, respond func(n int) (int, string, string), entities ...string) {
	ep := map[string]any{
		"name": name, "id": "0f3c2a9b5d8e4c1fa7b6e5d4c3b2a190", "task": "llm/v1/chat",
		"state": map[string]string{"ready": "READY", "config_update": "NOT_UPDATING"},
		"tags":  []map[string]string{{"key": "team", "value": "fraud"}},
	}
	if endpointType != "" {
		ep["endpoint_type"] = endpointType
	}
	var served []map[string]any
	for _, entity := range entities {
		served = append(served, map[string]any{
			"name": entity, "entity_name": "main.models." + strings.Split(entity, "-")[0], "entity_version": "8",
			"workload_type": "CPU", "workload_size": "Small", "scale_to_zero_enabled": true,
			"state": map[string]string{"deployment": "DEPLOYMENT_READY"},
		})
	}
	ep["config"] = map[string]any{"served_entities": served}
	f.mu.Lock()
	f.endpoints = append(f.endpoints, ep)
	f.respond[name] = respond
	f.mu.Unlock()
}

func (f *fakeWorkspace) removeEndpoint(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.endpoints = slices.DeleteFunc(f.endpoints, func(ep map[string]any) bool { return ep["name"] == name })
	delete(f.respond, name)
}

func (f *fakeWorkspace) endpoint(name string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ep := range f.endpoints {
		if ep["name"] == name {
			return ep
		}
	}
	return nil
}

func (f *fakeWorkspace) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+testToken {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error_code":"UNAUTHENTICATED","message":"Invalid access token."}`))
		return
	}
	if r.URL.Path == "/api/2.0/serving-endpoints" {
		f.count("list")
		f.mu.Lock()
		defer f.mu.Unlock()
		if !f.failed(w, f.listStatus) {
			_ = json.NewEncoder(w).Encode(map[string]any{"endpoints": f.endpoints})
		}
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/api/2.0/serving-endpoints/")
	name, isMetrics := strings.CutSuffix(name, "/metrics")
	if ok && !isMetrics {
		if ep := f.endpoint(name); ep != nil {
			f.count("get " + name)
			f.mu.Lock()
			defer f.mu.Unlock()
			if !f.failed(w, f.getStatus) {
				_ = json.NewEncoder(w).Encode(ep)
			}
			return
		}
	}
	f.mu.Lock()
	respond := f.respond[name]
	f.mu.Unlock()
	if !ok || !isMetrics || respond == nil {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Serving endpoint with name ` + name + ` not found"}`))
		return
	}
	status, contentType, body := respond(f.count(name))
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// count records a request and returns how many came before it.
func (f *fakeWorkspace) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.requests[key]
	f.requests[key]++
	return n
}

func (f *fakeWorkspace) requestsFor(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[key]
}

func readBody(t *testing.T, name string) string {
	b, err := os.ReadFile(filepath.Join("testdata", "scraper", name))
	require.NoError(t, err)
	return string(b)
}

// shiftWindow moves every sample of a body by windows minutes: the same values, another minute.
func shiftWindow(body string, minutes int) string {
	from := strconv.FormatInt(bodyTimestamp, 10)
	to := strconv.FormatInt(bodyTimestamp+int64(minutes)*60_000, 10)
	body = strings.ReplaceAll(body, " "+from, " "+to)
	fromSeconds, toSeconds := from[:len(from)-3]+"."+from[len(from)-3:], to[:len(to)-3]+"."+to[len(to)-3:]
	return strings.ReplaceAll(body, " "+fromSeconds, " "+toSeconds)
}

func serve(contentType string, bodies ...string) func(int) (int, string, string) {
	return func(n int) (int, string, string) {
		return http.StatusOK, contentType, bodies[min(n, len(bodies)-1)]
	}
}

const textFormat = "text/plain; version=0.0.4; charset=utf-8"

// withoutComputedMetrics switches off the metrics stamped with the scrape time (scrape health, states), for tests
// that compare windows and golden files.
func withoutComputedMetrics(c *Config) {
	c.Metrics.DatabricksServingScrapeUp.Enabled = false
	c.Metrics.DatabricksServingScrapeDuration.Enabled = false
	c.Metrics.DatabricksServingScrapeSamples.Enabled = false
	c.Metrics.DatabricksServingEndpointState.Enabled = false
	c.Metrics.DatabricksServingEndpointConfigUpdateState.Enabled = false
	c.Metrics.DatabricksServingServedEntityDeploymentState.Enabled = false
	c.Metrics.DatabricksServingWindowsMissed.Enabled = false
	c.Metrics.DatabricksServingWorkspaceUp.Enabled = false
	c.Metrics.DatabricksServingWorkspaceEndpoints.Enabled = false
	c.Metrics.DatabricksServingLimitExceeded.Enabled = false
}

func newTestScraper(t testing.TB, serverURL string, mutate ...func(*Config)) *servingScraper {
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = serverURL
	cfg.Token = testToken
	cfg.SpreadRequests = false // tests that need it turn it on
	for _, m := range mutate {
		m(cfg)
	}
	require.NoError(t, cfg.Validate())
	s := newServingScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
	// The test bodies are stamped bodyTimestamp: the clock starts half a minute after it, as a scrape in that
	// minute would see it, and runs (tests against the simulator, which stamps the wall clock, use
	// newRealTimeScraper; tests that move time by hand replace it).
	started := time.Now()
	s.now = func() time.Time { return time.UnixMilli(bodyTimestamp).Add(30*time.Second + time.Since(started)) }
	return s
}

// newRealTimeScraper is newTestScraper on the wall clock, for workspaces that stamp samples with it.
func newRealTimeScraper(t testing.TB, serverURL string, mutate ...func(*Config)) *servingScraper {
	s := newTestScraper(t, serverURL, mutate...)
	s.now = time.Now
	return s
}

func scrapeOnce(_ *testing.T, s *servingScraper) (pmetric.Metrics, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.scrape(ctx)
}

// TestScrapeGolden drives each realistic body through the scrape sequence a running receiver sees: the minute
// before at start-up (a baseline, not counted), the next minute (counted), that minute again (nothing new) and
// the minute after (counted). The last scrape is compared with the golden file: gauges of the last minute, and
// sums and histograms holding both counted minutes since a start just before the first.
func TestScrapeGolden(t *testing.T) {
	cases := []struct {
		name, file, contentType, entity string
	}{
		{name: "cpu endpoint", file: "cpu_endpoint", contentType: textFormat, entity: "readmission_model-8"},
		{name: "multi-GPU endpoint with unknown families", file: "gpu_endpoint", contentType: textFormat, entity: "llama-ft-1"},
		{name: "scaled-to-zero endpoint with series missing", file: "scaled_to_zero", contentType: textFormat, entity: "nightly-batch-scorer-3"},
		{name: "OpenMetrics body", file: "openmetrics", contentType: "application/openmetrics-text; version=1.0.0; charset=utf-8", entity: "readmission_model-8"},
		{name: "OpenMetrics body behind a proxy that drops the content type", file: "openmetrics", contentType: "text/plain", entity: "readmission_model-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := readBody(t, tc.file+".txt")
			ws := newFakeWorkspace(t)
			ws.addEndpoint("readmission", "", serve(tc.contentType, shiftWindow(body, -2), shiftWindow(body, -1), shiftWindow(body, -1), body), tc.entity)
			srv := httptest.NewServer(ws)
			defer srv.Close()
			s := newTestScraper(t, srv.URL, withoutComputedMetrics)

			var outputs []pmetric.Metrics
			for range 4 {
				md, err := scrapeOnce(t, s)
				require.NoError(t, err)
				requireSeriesAscend(t, md)
				outputs = append(outputs, md)
			}
			assert.Zero(t, countPoints(outputs[2], pmetric.MetricTypeSum)+countPoints(outputs[2], pmetric.MetricTypeHistogram)+countPoints(outputs[2], pmetric.MetricTypeGauge),
				"re-scraping a minute must emit nothing")
			assert.Zero(t, countPoints(outputs[0], pmetric.MetricTypeSum)+countPoints(outputs[0], pmetric.MetricTypeHistogram),
				"the baseline minute must not be counted")

			compareGolden(t, filepath.Join("testdata", "scraper", tc.file+"_expected.yaml"), outputs[3])
		})
	}
}

// TestScrapeBodyWithoutTimestamps: an unchanged body is the same window; a changed body is the next window,
// stamped with the scrape time. The scrapes run on a fixed clock, 30 s apart, so the golden file records the
// timestamps and a run compares them.
func TestScrapeBodyWithoutTimestamps(t *testing.T) {
	first := readBody(t, "no_timestamps.txt")
	second := strings.ReplaceAll(first, "} 37", "} 40") // 3 more requests: a different minute
	second = strings.ReplaceAll(second, "request_latency_ms_sum{served_entity_name=\"readmission_model-8\"} 1762.0", "request_latency_ms_sum{served_entity_name=\"readmission_model-8\"} 1900.0")
	second = strings.ReplaceAll(second, `le="500.0"} 36`, `le="500.0"} 39`)
	second = strings.ReplaceAll(second, `le="250.0"} 36`, `le="250.0"} 39`)
	require.NotEqual(t, first, second)
	ws := newFakeWorkspace(t)
	ws.addEndpoint("readmission", "", serve(textFormat, first, first, second, second), "readmission_model-8")
	srv := httptest.NewServer(ws)
	defer srv.Close()
	s := newTestScraper(t, srv.URL, withoutComputedMetrics)
	// Scrapes at 30 s, 60 s, 90 s and 120 s past the minute of bodyTimestamp.
	scrapedAt := make([]time.Time, 4)
	for i := range scrapedAt {
		scrapedAt[i] = time.UnixMilli(bodyTimestamp).Add(time.Duration(i+1) * 30 * time.Second)
	}
	var clock time.Time
	s.now = func() time.Time { return clock }

	var outputs []pmetric.Metrics
	for i := range scrapedAt {
		clock = scrapedAt[i]
		md, err := scrapeOnce(t, s)
		require.NoError(t, err)
		outputs = append(outputs, md)
	}
	assert.Equal(t, 3, countPoints(outputs[0], pmetric.MetricTypeGauge), "gauges of the first body")
	assert.Zero(t, countPoints(outputs[0], pmetric.MetricTypeSum), "the first body is the baseline")
	assert.Zero(t, countPoints(outputs[1], pmetric.MetricTypeSum)+countPoints(outputs[1], pmetric.MetricTypeGauge), "an unchanged body is the same window")
	assert.Zero(t, countPoints(outputs[3], pmetric.MetricTypeSum)+countPoints(outputs[3], pmetric.MetricTypeGauge), "an unchanged body is the same window")
	requireTimestamps(t, outputs[0], scrapedAt[0])
	requireTimestamps(t, outputs[2], scrapedAt[2])
	compareGolden(t, filepath.Join("testdata", "scraper", "no_timestamps_expected.yaml"), outputs[2])
}

// requireTimestamps checks the timestamp rule of a body without sample timestamps: every point of md carries
// window, the scrape time, except the zero point that opens a cumulative stream, which sits 1 ms before it at the
// stream's start; the cumulative points of the window start there too.
func requireTimestamps(t *testing.T, md pmetric.Metrics, window time.Time) {
	t.Helper()
	at := pcommon.NewTimestampFromTime(window)
	start := at - pcommon.Timestamp(time.Millisecond)
	points := 0
	check := func(name string, dpStart, ts pcommon.Timestamp, cumulative bool) {
		points++
		switch {
		case !cumulative:
			assert.Equal(t, at, ts, "%s: a gauge carries the scrape time", name)
		case ts == start:
			assert.Equal(t, start, dpStart, "%s: the zero point is at the stream's start", name)
		default:
			assert.Equal(t, at, ts, "%s: the window's point carries the scrape time", name)
			assert.Equal(t, start, dpStart, "%s: the stream starts 1 ms before its first window", name)
		}
	}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		ms := md.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			switch m.Type() {
			case pmetric.MetricTypeGauge:
				for k := 0; k < m.Gauge().DataPoints().Len(); k++ {
					dp := m.Gauge().DataPoints().At(k)
					check(m.Name(), dp.StartTimestamp(), dp.Timestamp(), false)
				}
			case pmetric.MetricTypeSum:
				for k := 0; k < m.Sum().DataPoints().Len(); k++ {
					dp := m.Sum().DataPoints().At(k)
					check(m.Name(), dp.StartTimestamp(), dp.Timestamp(), true)
				}
			case pmetric.MetricTypeHistogram:
				for k := 0; k < m.Histogram().DataPoints().Len(); k++ {
					dp := m.Histogram().DataPoints().At(k)
					check(m.Name(), dp.StartTimestamp(), dp.Timestamp(), true)
				}
			}
		}
	}
	require.Positive(t, points)
}

// compareGolden compares actual, timestamps included, with the golden file at path. With -update it writes the
// file from actual instead and compares nothing (comparing the file with what was just written proves nothing):
// review the change with git diff, then run the tests without -update.
func compareGolden(t *testing.T, path string, actual pmetric.Metrics) {
	t.Helper()
	// The test server's port changes every run; the rest of the host attribute is what the golden file records.
	for i := 0; i < actual.ResourceMetrics().Len(); i++ {
		attrs := actual.ResourceMetrics().At(i).Resource().Attributes()
		if host, ok := attrs.Get("databricks.workspace.host"); ok {
			name, _, _ := strings.Cut(host.Str(), ":")
			attrs.PutStr("databricks.workspace.host", name+":PORT")
		}
	}
	if *updateGolden {
		require.NoError(t, golden.WriteMetricsToFile(path, actual, golden.SkipMetricTimestampNormalization()))
		t.Logf("wrote %s without comparing it: review it with git diff and run the tests without -update", path)
		return
	}
	expected, err := golden.ReadMetrics(path)
	require.NoError(t, err, "run go test with -update to create %s", path)
	require.NoError(t, pmetrictest.CompareMetrics(expected, actual,
		pmetrictest.IgnoreMetricsOrder(), pmetrictest.IgnoreMetricDataPointsOrder(), pmetrictest.IgnoreScopeVersion()))
}

// requireSeriesAscend checks that the points of each series (metric and attributes) carry strictly increasing
// timestamps, after their start: a series that opens carries its zero point and its first value in one batch,
// and backends reject out-of-order samples.
func requireSeriesAscend(t *testing.T, md pmetric.Metrics) {
	t.Helper()
	last := map[string]pcommon.Timestamp{}
	check := func(name string, attrs pcommon.Map, start, ts pcommon.Timestamp) {
		key := name + fmt.Sprint(attrs.AsRaw())
		require.Greater(t, ts, last[key], "%s %v: timestamps must ascend", name, attrs.AsRaw())
		require.LessOrEqual(t, start, ts, "%s %v: start after time", name, attrs.AsRaw())
		last[key] = ts
	}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		resource := fmt.Sprint(rm.Resource().Attributes().AsRaw())
		ms := rm.ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			name := resource + m.Name()
			switch m.Type() {
			case pmetric.MetricTypeGauge:
				for k := 0; k < m.Gauge().DataPoints().Len(); k++ {
					dp := m.Gauge().DataPoints().At(k)
					check(name, dp.Attributes(), dp.StartTimestamp(), dp.Timestamp())
				}
			case pmetric.MetricTypeSum:
				for k := 0; k < m.Sum().DataPoints().Len(); k++ {
					dp := m.Sum().DataPoints().At(k)
					check(name, dp.Attributes(), dp.StartTimestamp(), dp.Timestamp())
				}
			case pmetric.MetricTypeHistogram:
				for k := 0; k < m.Histogram().DataPoints().Len(); k++ {
					dp := m.Histogram().DataPoints().At(k)
					check(name, dp.Attributes(), dp.StartTimestamp(), dp.Timestamp())
				}
			}
		}
	}
}

func countPoints(md pmetric.Metrics, typ pmetric.MetricType) int {
	n := 0
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		sms := md.ResourceMetrics().At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				if m.Type() != typ {
					continue
				}
				switch typ {
				case pmetric.MetricTypeGauge:
					n += m.Gauge().DataPoints().Len()
				case pmetric.MetricTypeSum:
					n += m.Sum().DataPoints().Len()
				case pmetric.MetricTypeHistogram:
					n += m.Histogram().DataPoints().Len()
				}
			}
		}
	}
	return n
}

// endpointNames lists, in order and once each, the endpoints md has window metrics (not just scrape health) for.
func endpointNames(md pmetric.Metrics) []string {
	var names []string
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		v, _ := rm.Resource().Attributes().Get("databricks.serving.endpoint.name")
		if hasWindowMetrics(rm) && !slices.Contains(names, v.Str()) {
			names = append(names, v.Str())
		}
	}
	return names
}

func hasWindowMetrics(rm pmetric.ResourceMetrics) bool {
	ms := rm.ScopeMetrics().At(0).Metrics()
	for i := 0; i < ms.Len(); i++ {
		name := ms.At(i).Name()
		if !strings.HasPrefix(name, "databricks.serving.scrape.") && !strings.HasPrefix(name, "databricks.serving.workspace.") &&
			!strings.HasSuffix(name, ".state") && name != windowsMissedMetric.name && name != limitExceededMetric.name {
			return true
		}
	}
	return false
}

// TestOneBrokenEndpointDoesNotStopTheOthers: each endpoint fails alone; the cycle's data flows.
func TestOneBrokenEndpointDoesNotStopTheOthers(t *testing.T) {
	body := readBody(t, "cpu_endpoint.txt")
	ws := newFakeWorkspace(t)
	ws.addEndpoint("healthy-a", "", serve(textFormat, body))
	ws.addEndpoint("server-error", "", func(int) (int, string, string) {
		return http.StatusInternalServerError, "application/json", `{"error_code":"INTERNAL_ERROR","message":"boom"}`
	})
	ws.addEndpoint("login-page", "", serve("text/html; charset=utf-8", "<html><body>Sign in</body></html>"))
	ws.addEndpoint("garbage", "", serve(textFormat, "cpu_usage_percentage{served_entity_name=\"x\" 1\n"))
	ws.addEndpoint("databricks-claude", "FOUNDATION_MODEL_API", serve(textFormat, body))
	ws.addEndpoint("healthy-b", "", serve(textFormat, body))
	srv := httptest.NewServer(ws)
	defer srv.Close()
	s := newTestScraper(t, srv.URL)

	md, err := scrapeOnce(t, s)
	require.Error(t, err)
	assert.True(t, scrapererror.IsPartialScrapeError(err), "a per-endpoint failure must be partial, so the rest of the cycle is kept")
	var partial scrapererror.PartialScrapeError
	require.ErrorAs(t, err, &partial)
	assert.Equal(t, 3, partial.Failed)
	assert.Contains(t, err.Error(), `endpoint "server-error": GET /api/2.0/serving-endpoints/server-error/metrics: HTTP 500 INTERNAL_ERROR: boom`)
	assert.Contains(t, err.Error(), `endpoint "login-page"`)
	assert.Contains(t, err.Error(), "Private Link")
	assert.Contains(t, err.Error(), `endpoint "garbage": parsing exposition`)

	assert.Equal(t, []string{"healthy-a", "healthy-b"}, endpointNames(md))
	assert.Zero(t, ws.requestsFor("databricks-claude"), "pay-per-token Foundation Model endpoints have no metrics and must not be asked")
}

func TestStaticEndpointListSkipsDiscovery(t *testing.T) {
	body := readBody(t, "cpu_endpoint.txt")
	ws := newFakeWorkspace(t)
	ws.addEndpoint("chosen", "", serve(textFormat, body))
	ws.addEndpoint("not-chosen", "", serve(textFormat, body))
	srv := httptest.NewServer(ws)
	defer srv.Close()
	s := newTestScraper(t, srv.URL, func(c *Config) { c.Endpoints = []string{"chosen"} })

	md, err := scrapeOnce(t, s)
	require.NoError(t, err)
	assert.Equal(t, []string{"chosen"}, endpointNames(md))
	assert.Zero(t, ws.requestsFor("list"))
	assert.Zero(t, ws.requestsFor("not-chosen"))
}

// A list that fails before any succeeded is an actionable error, partial so that the scraper controller keeps the
// cycle's metrics: workspace.up says the same from the first cycle.
func TestListFailureIsAnActionableErrorThatKeepsTheCyclesHealth(t *testing.T) {
	ws := newFakeWorkspace(t)
	srv := httptest.NewServer(ws)
	defer srv.Close()
	s := newTestScraper(t, srv.URL, func(c *Config) { c.Token = "dapi-expired-token-value" })

	md, err := scrapeOnce(t, s)
	require.Error(t, err)
	assert.True(t, scrapererror.IsPartialScrapeError(err), "a cycle that fails as a whole is dropped by the scraper controller, workspace.up included")
	up, errorType, _, _ := workspaceHealth(t, md)
	assert.Equal(t, 0.0, up)
	assert.Equal(t, errorTypeAuth, errorType)
	assert.Contains(t, err.Error(), "listing serving endpoints: GET /api/2.0/serving-endpoints: HTTP 401 UNAUTHENTICATED: Invalid access token.")
	assert.Contains(t, err.Error(), "expire")
	assert.NotContains(t, err.Error(), "dapi-expired-token-value", "a token must never appear in an error")
}

func TestDisabledMetricIsNotEmitted(t *testing.T) {
	ws := newFakeWorkspace(t)
	ws.addEndpoint("readmission", "", serve(textFormat, readBody(t, "cpu_endpoint.txt")))
	srv := httptest.NewServer(ws)
	defer srv.Close()
	s := newTestScraper(t, srv.URL, func(c *Config) { c.Metrics.DatabricksServingCPUUtilization.Enabled = false })

	md, err := scrapeOnce(t, s)
	require.NoError(t, err)
	names := map[string]bool{}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		ms := md.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			names[ms.At(j).Name()] = true
		}
	}
	assert.False(t, names["databricks.serving.cpu.utilization"])
	assert.True(t, names["databricks.serving.memory.utilization"])
}

func TestRejectedSampleFailsAloneAndIsCounted(t *testing.T) {
	body := readBody(t, "cpu_endpoint.txt")
	later := shiftWindow(body, 1)
	broken := strings.Replace(later, `request_5xx_count_total{served_entity_name="readmission_model-8"} 0.0`, `request_5xx_count_total{served_entity_name="readmission_model-8"} -4`, 1)
	require.NotEqual(t, later, broken)
	ws := newFakeWorkspace(t)
	ws.addEndpoint("readmission", "", serve(textFormat, body, broken))
	srv := httptest.NewServer(ws)
	defer srv.Close()
	s := newTestScraper(t, srv.URL, withoutComputedMetrics)

	_, err := scrapeOnce(t, s)
	require.NoError(t, err)
	md, err := scrapeOnce(t, s)
	var partial scrapererror.PartialScrapeError
	require.ErrorAs(t, err, &partial)
	assert.Equal(t, 1, partial.Failed)
	assert.Contains(t, err.Error(), "1 samples rejected")
	assert.Equal(t, 4, countPoints(md, pmetric.MetricTypeSum), "the request count and the 4xx count (each a zero point and a value) still flow")
}

// TestNoCredentialsAcrossARedirectToAnotherHost: a workspace answering with a redirect elsewhere (as a Private
// Link login does) must not get the token sent to the other host.
func TestNoCredentialsAcrossARedirectToAnotherHost(t *testing.T) {
	var leaked sync.Map
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store("request", r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusOK)
	}))
	defer elsewhere.Close()
	workspaceSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// 127.0.0.1 and localhost are different hosts to an HTTP client, like two real hosts.
		target := strings.Replace(elsewhere.URL, "127.0.0.1", "localhost", 1) + "/login"
		http.Redirect(w, r, target, http.StatusFound)
	}))
	defer workspaceSrv.Close()
	s := newTestScraper(t, workspaceSrv.URL, func(c *Config) { c.Endpoints = []string{"readmission"} })

	_, err := scrapeOnce(t, s)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refusing to follow a redirect")
	_, asked := leaked.Load("request")
	assert.False(t, asked, "the redirect target must not be contacted at all")
}
