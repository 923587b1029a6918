// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/scraper/scrapererror"

	"github.com/otelcol-databricks/otelcol-databricks/internal/simulator"
)

// simulatedWorkspace runs the workspace simulator in-process with three CPU endpoints.
type simulatedWorkspace struct {
	sim *simulator.Server
	srv *httptest.Server
}

func newSimulatedWorkspace(t *testing.T, configure ...func(*simulator.Config)) *simulatedWorkspace {
	t.Helper()
	cfg := simulator.DefaultConfig()
	cfg.Token = testToken
	cfg.Window = 2 * time.Second
	cfg.CPU, cfg.GPU, cfg.MultiEntity, cfg.ScaleToZero, cfg.FoundationModel = 3, 0, 0, 0, 0
	for _, c := range configure {
		c(&cfg)
	}
	sim, err := simulator.New(cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { srv.Close(); _ = sim.Close() })
	return &simulatedWorkspace{sim: sim, srv: srv}
}

// patch sends a control request to the simulator.
func (w *simulatedWorkspace) patch(t *testing.T, method, path string, body any) {
	t.Helper()
	payload, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(method, w.srv.URL+path, bytes.NewReader(payload))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Less(t, resp.StatusCode, 300, "%s %s", method, path)
}

func upOf(md pmetric.Metrics, endpoint string) (float64, string, bool) {
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		name, _ := rm.Resource().Attributes().Get("databricks.serving.endpoint.name")
		if name.Str() != endpoint {
			continue
		}
		ms := rm.ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			if ms.At(j).Name() != "databricks.serving.scrape.up" {
				continue
			}
			for k := 0; k < ms.At(j).Gauge().DataPoints().Len(); k++ {
				dp := ms.At(j).Gauge().DataPoints().At(k)
				if dp.Flags().NoRecordedValue() {
					continue // the stale marker of the previous outcome's series
				}
				class, _ := dp.Attributes().Get("error.type")
				return float64(dp.IntValue()), class.Str(), true
			}
		}
	}
	return 0, "", false
}

// TestFaultMatrix puts one endpoint into each fault of the fault matrix (docs/reliability.md) and checks what the
// receiver emits for it, that the failure is reported once while it lasts, and that the other endpoints are
// unaffected.
func TestFaultMatrix(t *testing.T) {
	elsewhere := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		t.Errorf("the redirect target was contacted (Authorization %q): credentials must not follow a redirect to another host", r.Header.Get("Authorization"))
	}))
	defer elsewhere.Close()
	redirectTarget := strings.Replace(elsewhere.URL, "127.0.0.1", "localhost", 1) + "/login"

	tests := []struct {
		name      string
		fault     *simulator.Fault
		configure func(*Config)
		wantClass string // "" means the endpoint still succeeds
		quiet     bool   // not reported as a scrape error at all (404: an endpoint without metrics)
	}{
		{name: "401 expired token", fault: &simulator.Fault{Mode: simulator.FaultStatus, Status: 401}, wantClass: errorTypeAuth},
		{name: "403 forbidden", fault: &simulator.Fault{Mode: simulator.FaultStatus, Status: 403}, wantClass: errorTypeAuth},
		{name: "404 no metrics", fault: &simulator.Fault{Mode: simulator.FaultStatus, Status: 404}, wantClass: errorTypeNotFound, quiet: true},
		{name: "429 with Retry-After", fault: &simulator.Fault{Mode: simulator.FaultStatus, Status: 429, RetryAfter: "30"}, wantClass: errorTypeRateLimited},
		{name: "429 without Retry-After", fault: &simulator.Fault{Mode: simulator.FaultStatus, Status: 429}, wantClass: errorTypeRateLimited},
		{name: "500", fault: &simulator.Fault{Mode: simulator.FaultStatus, Status: 500}, wantClass: errorTypeServerError},
		{name: "503 with an HTTP-date Retry-After", fault: &simulator.Fault{Mode: simulator.FaultStatus, Status: 503, RetryAfter: time.Now().Add(time.Minute).UTC().Format(http.TimeFormat)}, wantClass: errorTypeServerError},
		// A request timeout well above what a busy machine adds to a healthy answer, and a delay well above it.
		{name: "slow response headers", fault: &simulator.Fault{Mode: simulator.FaultSlowHeaders, Delay: simulator.Duration(5 * time.Second)}, wantClass: errorTypeTimeout},
		{name: "slow body", fault: &simulator.Fault{Mode: simulator.FaultSlowBody, Delay: simulator.Duration(5 * time.Second)}, wantClass: errorTypeTimeout},
		{name: "truncated body", fault: &simulator.Fault{Mode: simulator.FaultTruncated}, wantClass: errorTypeNetwork},
		{name: "malformed exposition lines", fault: &simulator.Fault{Mode: simulator.FaultMalformed}, wantClass: errorTypeParse},
		{name: "invalid UTF-8 in a label", fault: &simulator.Fault{Mode: simulator.FaultInvalidUTF8}, wantClass: errorTypeParse},
		// Reading a megabyte and inflating take a while under the race detector on a busy machine: the limit
		// must stop them, not the request timeout.
		{name: "huge body", fault: &simulator.Fault{Mode: simulator.FaultHugeBody, Size: 2 << 20}, configure: func(c *Config) {
			c.Limits.MaxBodyBytes = 1 << 20
			c.ClientConfig.Timeout = 30 * time.Second
		}, wantClass: errorTypeLimit},
		{name: "gzip bomb", fault: &simulator.Fault{Mode: simulator.FaultGzipBomb, Size: 64 << 20}, configure: func(c *Config) {
			c.ClientConfig.Timeout = 30 * time.Second
			c.Limits.MaxBodyBytes = 1 << 20
		}, wantClass: errorTypeLimit},
		{name: "too many series", fault: &simulator.Fault{Mode: simulator.FaultHugeBody, Size: 20000, PaddingSeries: true}, wantClass: errorTypeLimit},
		{name: "too many labels", fault: &simulator.Fault{Mode: simulator.FaultManyLabels, Labels: 50, LabelValueLength: 10}, wantClass: errorTypeLimit},
		{name: "label value too long", fault: &simulator.Fault{Mode: simulator.FaultManyLabels, Labels: 2, LabelValueLength: 5000}, wantClass: errorTypeLimit},
		{name: "HTML login page (Private Link)", fault: &simulator.Fault{Mode: simulator.FaultHTMLLogin}, wantClass: errorTypeAuth},
		{name: "redirect to another host", fault: &simulator.Fault{Mode: simulator.FaultRedirect, Location: redirectTarget}, wantClass: errorTypeNetwork},
		{name: "duplicate series in one body", fault: &simulator.Fault{Mode: simulator.FaultDuplicateSeries}},
		{name: "NaN and infinite values", fault: &simulator.Fault{Mode: simulator.FaultNaNInf}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := newSimulatedWorkspace(t)
			require.NoError(t, ws.sim.SetFault("cpu-endpoint-1", tt.fault))
			clock := &fakeClock{t: time.Now()}
			s := newClockedScraper(t, ws.srv.URL, clock, func(c *Config) {
				// Healthy answers take milliseconds; under the race detector on a busy machine, hundreds.
				c.ClientConfig.Timeout = 1500 * time.Millisecond
				if tt.configure != nil {
					tt.configure(c)
				}
			})
			var reported int
			for cycle := range 3 {
				md, err := scrapeOnce(t, s)
				if err != nil && strings.Contains(err.Error(), `"cpu-endpoint-1"`) {
					reported++
					assert.True(t, scrapererror.IsPartialScrapeError(err), "a failing endpoint must not fail the cycle")
					assert.NotContains(t, err.Error(), testToken)
				}
				for _, healthy := range []string{"cpu-endpoint-0", "cpu-endpoint-2"} {
					up, _, ok := upOf(md, healthy)
					require.True(t, ok, "cycle %d: %s has scrape health", cycle, healthy)
					assert.Equal(t, 1.0, up, "cycle %d: %s is unaffected", cycle, healthy)
				}
				up, class, ok := upOf(md, "cpu-endpoint-1")
				if cycle == 0 {
					require.True(t, ok, "the faulty endpoint reports its health")
					if tt.wantClass == "" {
						assert.Equal(t, 1.0, up)
					} else {
						assert.Equal(t, 0.0, up)
						assert.Equal(t, tt.wantClass, class)
					}
				}
				clock.advance(time.Second)
			}
			switch {
			case tt.quiet || tt.wantClass == "" && tt.fault.Mode != simulator.FaultNaNInf:
				assert.Zero(t, reported, "nothing to report")
			default:
				assert.Equal(t, 1, reported, "a lasting condition is reported once, not every cycle")
			}
		})
	}
}

func TestDuplicateSeriesAndNaNAreNotCountedTwiceOrAdded(t *testing.T) {
	ws := newSimulatedWorkspace(t)
	clock := &fakeClock{t: time.Now()}
	s := newClockedScraper(t, ws.srv.URL, clock)
	_, err := scrapeOnce(t, s) // baseline
	require.NoError(t, err)
	time.Sleep(2100 * time.Millisecond) // the next window

	require.NoError(t, ws.sim.SetFault("cpu-endpoint-1", &simulator.Fault{Mode: simulator.FaultDuplicateSeries}))
	require.NoError(t, ws.sim.SetFault("cpu-endpoint-2", &simulator.Fault{Mode: simulator.FaultNaNInf}))
	md, err := scrapeOnce(t, s)
	require.Error(t, err, "the -Inf request count is rejected")
	assert.Contains(t, err.Error(), `endpoint "cpu-endpoint-2"`)
	assert.NotContains(t, err.Error(), `endpoint "cpu-endpoint-1"`, "a duplicate line is not an error")

	truth := ws.sim.Truth()
	windows := truth.Endpoints["cpu-endpoint-1"].Windows
	last := windows[len(windows)-1]
	var want float64
	for _, series := range last.Series {
		if series.Name == "request_count_total" {
			want = *series.Value
		}
	}
	counts := findPoints(md, "databricks.serving.request.count", map[string]string{"databricks.serving.endpoint.name": "cpu-endpoint-1"})
	require.Len(t, counts, 2, "zero point and the window")
	assert.Equal(t, want, counts[1].value, "the duplicated line is counted once")
	assert.Empty(t, findPoints(md, "databricks.serving.request.count", map[string]string{"databricks.serving.endpoint.name": "cpu-endpoint-2"}), "-Inf is not a count")
	cpu := findPoints(md, "databricks.serving.cpu.utilization", map[string]string{"databricks.serving.endpoint.name": "cpu-endpoint-2"})
	require.Len(t, cpu, 1, "a NaN gauge passes through, as Prometheus keeps it; the datadog exporter skips it")
}

func TestRetryAfterAndBackoffBoundTheRequestRate(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter string
		cycles     int
		maxAsked   int
	}{
		// 60 one-second cycles, told to wait 10 s each time: at most 6 requests.
		{"Retry-After", "10", 60, 6},
		// Without the header the wait doubles from the 1 s interval: asked at 0, 1, 3, 7, 15, 31 s (±20 %).
		{"exponential backoff", "", 60, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := newSimulatedWorkspace(t)
			require.NoError(t, ws.sim.SetFault("cpu-endpoint-1", &simulator.Fault{Mode: simulator.FaultStatus, Status: 429, RetryAfter: tc.retryAfter}))
			clock := &fakeClock{t: time.Now()}
			s := newClockedScraper(t, ws.srv.URL, clock, func(c *Config) { c.CollectionInterval = time.Second })
			for range tc.cycles {
				_, _ = scrapeOnce(t, s)
				clock.advance(time.Second)
			}
			asked := len(ws.sim.Timeline("cpu-endpoint-1"))
			assert.LessOrEqual(t, asked, tc.maxAsked, "no retry storm under a sustained 429")
			assert.GreaterOrEqual(t, asked, 3, "the endpoint is still tried now and then")
			assert.Equal(t, tc.cycles, len(ws.sim.Timeline("cpu-endpoint-0")), "the other endpoints are scraped every cycle")
		})
	}
}

func TestBoundedConcurrencyAndSpreadStartOffsets(t *testing.T) {
	ws := newSimulatedWorkspace(t, func(c *simulator.Config) { c.CPU = 40; c.ResponseDelay = 50 * time.Millisecond })
	s := newRealTimeScraper(t, ws.srv.URL, func(c *Config) { c.MaxConcurrency = 4 })
	_, err := scrapeOnce(t, s)
	require.NoError(t, err)
	assert.LessOrEqual(t, ws.sim.Stats().MaxInFlight, int64(4), "max_concurrency is honoured")
	assert.GreaterOrEqual(t, ws.sim.Stats().MaxInFlight, int64(2), "requests do run concurrently")

	// Spread: 40 endpoints over the first half of a 2 s interval, each at the same offset every cycle.
	ws = newSimulatedWorkspace(t, func(c *simulator.Config) { c.CPU = 40 })
	s = newRealTimeScraper(t, ws.srv.URL, func(c *Config) { c.SpreadRequests = true; c.CollectionInterval = 2 * time.Second })
	offsets := func() map[string]time.Duration {
		start := time.Now()
		_, err := scrapeOnce(t, s)
		require.NoError(t, err)
		out := map[string]time.Duration{}
		for _, name := range ws.sim.Endpoints() {
			arrivals := ws.sim.Timeline(name)
			out[name] = arrivals[len(arrivals)-1].Sub(start)
		}
		return out
	}
	first, second := offsets(), offsets()
	var earliest, latest time.Duration = time.Hour, 0
	for _, offset := range first {
		earliest, latest = min(earliest, offset), max(latest, offset)
		assert.Less(t, offset, 1200*time.Millisecond, "offsets stay in the first half of the interval")
	}
	assert.Greater(t, latest-earliest, 500*time.Millisecond, "requests are spread, not sent at one instant")
	// Same offset every cycle. Arrivals are measured on the wall clock, so a busy machine delays them: the whole
	// cycle by its start (removed by measuring from each cycle's first arrival) and single requests by scheduling
	// (kept in the median below). Offsets drawn anew every cycle over the 1 s spread would differ by a third of a
	// second in the median; the same offsets differ by the scheduling noise alone.
	secondEarliest := time.Hour
	for _, offset := range second {
		secondEarliest = min(secondEarliest, offset)
	}
	var diffs []float64
	for name, offset := range first {
		diffs = append(diffs, math.Abs(((offset - earliest) - (second[name] - secondEarliest)).Seconds()))
	}
	sort.Float64s(diffs)
	assert.Less(t, diffs[len(diffs)/2], 0.1, "endpoints start at the same offset every cycle: median difference between two cycles, all: %v", diffs)
}

func TestTokenRotatedMidRunIsReportedOnceAndRecovers(t *testing.T) {
	ws := newSimulatedWorkspace(t)
	clock := &fakeClock{t: time.Now()}
	s := newClockedScraper(t, ws.srv.URL, clock, func(c *Config) { c.Endpoints = []string{"cpu-endpoint-0"} })
	_, err := scrapeOnce(t, s)
	require.NoError(t, err)

	ws.patch(t, http.MethodPut, "/simulator/tokens", map[string][]string{"tokens": {"dapi-someone-elses-token"}})
	var reports int
	for range 3 {
		clock.advance(time.Second)
		md, scrapeErr := scrapeOnce(t, s)
		if scrapeErr != nil {
			reports++
			assert.Contains(t, scrapeErr.Error(), "expired")
		}
		up, class, _ := upOf(md, "cpu-endpoint-0")
		assert.Equal(t, 0.0, up)
		assert.Equal(t, errorTypeAuth, class)
	}
	assert.Equal(t, 1, reports, "reported once while it lasts")

	ws.patch(t, http.MethodPut, "/simulator/tokens", map[string][]string{"tokens": {testToken}})
	clock.advance(time.Second)
	md, err := scrapeOnce(t, s)
	require.NoError(t, err)
	up, _, _ := upOf(md, "cpu-endpoint-0")
	assert.Equal(t, 1.0, up)
}

func TestEndpointDeletedMidRunInTheSimulator(t *testing.T) {
	ws := newSimulatedWorkspace(t)
	clock := &fakeClock{t: time.Now()}
	s := newClockedScraper(t, ws.srv.URL, clock, func(c *Config) { c.Discovery.RefreshInterval = time.Second })
	_, err := scrapeOnce(t, s)
	require.NoError(t, err)
	ws.patch(t, http.MethodDelete, "/simulator/endpoints/cpu-endpoint-1", nil)
	clock.advance(time.Second)
	md, err := scrapeOnce(t, s)
	require.NoError(t, err, "a deleted endpoint is not an error")
	stale := findPoints(md, "databricks.serving.scrape.up", map[string]string{"databricks.serving.endpoint.name": "cpu-endpoint-1"})
	require.Len(t, stale, 1)
	assert.True(t, stale[0].noValue, "marked stale once")
	up, _, ok := upOf(md, "cpu-endpoint-0")
	require.True(t, ok)
	assert.Equal(t, 1.0, up)
}

func TestTLSVerificationIsOnByDefault(t *testing.T) {
	sim, err := simulator.New(func() simulator.Config {
		cfg := simulator.DefaultConfig()
		cfg.Token = testToken
		return cfg
	}())
	require.NoError(t, err)
	srv := httptest.NewTLSServer(sim.Handler())
	defer srv.Close()

	s := newRealTimeScraper(t, srv.URL, func(c *Config) { c.Endpoints = []string{"cpu-endpoint-0"} })
	md, err := scrapeOnce(t, s)
	require.Error(t, err, "a self-signed certificate is refused")
	assert.Contains(t, err.Error(), "certificate")
	up, _, _ := upOf(md, "cpu-endpoint-0")
	assert.Equal(t, 0.0, up)

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
	s = newRealTimeScraper(t, srv.URL, func(c *Config) {
		c.Endpoints = []string{"cpu-endpoint-0"}
		c.ClientConfig.TLS = configtls.ClientConfig{Config: configtls.Config{CAFile: caFile}}
	})
	_, err = scrapeOnce(t, s)
	require.NoError(t, err, "trusted once its CA is configured")
}

func TestAPanicFailsOneEndpointNotTheCollector(t *testing.T) {
	ws := newSimulatedWorkspace(t)
	s := newRealTimeScraper(t, ws.srv.URL)
	_, err := scrapeOnce(t, s)
	require.NoError(t, err)
	// Corrupt one endpoint's state so that recording its scrape health dereferences nil: a stand-in for any bug.
	s.endpoints["cpu-endpoint-1"].resources.endpoint = nil
	md, err := scrapeOnce(t, s)
	require.Error(t, err)
	assert.True(t, scrapererror.IsPartialScrapeError(err))
	assert.Contains(t, err.Error(), `endpoint "cpu-endpoint-1": scraping the endpoint panicked`)
	for _, healthy := range []string{"cpu-endpoint-0", "cpu-endpoint-2"} {
		up, _, ok := upOf(md, healthy)
		require.True(t, ok, healthy)
		assert.Equal(t, 1.0, up, healthy)
	}
	up, errorType, ok := upOf(md, "cpu-endpoint-1")
	require.True(t, ok, "the endpoint that panicked still reports its scrape health")
	assert.Equal(t, 0.0, up)
	assert.Equal(t, "internal", errorType)

	// Its state was reset: the next cycle scrapes it again from clean state.
	md, err = scrapeOnce(t, s)
	require.NoError(t, err)
	up, _, ok = upOf(md, "cpu-endpoint-1")
	require.True(t, ok)
	assert.Equal(t, 1.0, up)
}

func TestEndpointsWaitingOutABackoffReportScrapeUpEveryCycle(t *testing.T) {
	ws := newSimulatedWorkspace(t)
	require.NoError(t, ws.sim.SetFault("cpu-endpoint-1", &simulator.Fault{Mode: simulator.FaultStatus, Status: 429, RetryAfter: "3600"}))
	ws.patch(t, http.MethodPatch, "/simulator/endpoints/cpu-endpoint-2", map[string]any{"metrics_status": 404})
	clock := &fakeClock{t: time.Now()}
	s := newClockedScraper(t, ws.srv.URL, clock, func(c *Config) { c.CollectionInterval = time.Second })
	for cycle := range 20 {
		md, _ := scrapeOnce(t, s)
		for endpoint, errorType := range map[string]string{"cpu-endpoint-1": errorTypeRateLimited, "cpu-endpoint-2": errorTypeNotFound} {
			up, class, ok := upOf(md, endpoint)
			require.True(t, ok, "cycle %d: %s reports scrape.up although it is not asked", cycle, endpoint)
			assert.Equal(t, 0.0, up)
			assert.Equal(t, errorType, class)
		}
		clock.advance(time.Second)
	}
	assert.Len(t, ws.sim.Timeline("cpu-endpoint-1"), 1, "asked once: Retry-After is an hour")
}

func TestARecoveredEndpointsFailureSeriesGoesStaleAtOnce(t *testing.T) {
	ws := newSimulatedWorkspace(t)
	require.NoError(t, ws.sim.SetFault("cpu-endpoint-1", &simulator.Fault{Mode: simulator.FaultStatus, Status: 401}))
	clock := &fakeClock{t: time.Now()}
	s := newClockedScraper(t, ws.srv.URL, clock)
	_, _ = scrapeOnce(t, s)
	clock.advance(time.Second)
	require.NoError(t, ws.sim.SetFault("cpu-endpoint-1", nil))
	md, err := scrapeOnce(t, s)
	require.NoError(t, err)
	failed := findPoints(md, "databricks.serving.scrape.up", map[string]string{"databricks.serving.endpoint.name": "cpu-endpoint-1", "error.type": errorTypeAuth})
	require.Len(t, failed, 1)
	assert.True(t, failed[0].noValue, "the auth failure's series ends with the first successful scrape")
	up, class, ok := upOf(md, "cpu-endpoint-1")
	require.True(t, ok)
	assert.Equal(t, 1.0, up)
	assert.Empty(t, class)
}
