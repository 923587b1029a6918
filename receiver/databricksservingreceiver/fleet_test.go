// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/discovery"
)

// fakeClock is a scraper clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time                { return c.t }
func (c *fakeClock) advance(d time.Duration)       { c.t = c.t.Add(d) }
func withClock(c *fakeClock) func(*servingScraper) { return func(s *servingScraper) { s.now = c.now } }

func newClockedScraper(t *testing.T, serverURL string, clock *fakeClock, mutate ...func(*Config)) *servingScraper {
	s := newTestScraper(t, serverURL, mutate...)
	withClock(clock)(s)
	return s
}

// point finds the data point of metric name in md whose resource and point attributes include want.
type foundPoint struct {
	ts      pcommon.Timestamp
	value   float64
	noValue bool
}

func findPoints(md pmetric.Metrics, name string, want map[string]string) []foundPoint {
	var out []foundPoint
	matches := func(res, attrs pcommon.Map) bool {
		for k, v := range want {
			got, ok := attrs.Get(k)
			if !ok {
				got, ok = res.Get(k)
			}
			if !ok || got.AsString() != v {
				return false
			}
		}
		return true
	}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		for j := 0; j < rm.ScopeMetrics().Len(); j++ {
			ms := rm.ScopeMetrics().At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				if m.Name() != name {
					continue
				}
				var dps pmetric.NumberDataPointSlice
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				case pmetric.MetricTypeSum:
					dps = m.Sum().DataPoints()
				case pmetric.MetricTypeHistogram:
					for p := 0; p < m.Histogram().DataPoints().Len(); p++ {
						dp := m.Histogram().DataPoints().At(p)
						if matches(rm.Resource().Attributes(), dp.Attributes()) {
							out = append(out, foundPoint{ts: dp.Timestamp(), value: float64(dp.Count()), noValue: dp.Flags().NoRecordedValue()})
						}
					}
					continue
				}
				for p := 0; p < dps.Len(); p++ {
					dp := dps.At(p)
					if !matches(rm.Resource().Attributes(), dp.Attributes()) {
						continue
					}
					v := dp.DoubleValue()
					if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
						v = float64(dp.IntValue())
					}
					out = append(out, foundPoint{ts: dp.Timestamp(), value: v, noValue: dp.Flags().NoRecordedValue()})
				}
			}
		}
	}
	return out
}

func TestDiscoveryRefreshesOnItsOwnInterval(t *testing.T) {
	ws := newFakeWorkspace(t)
	ws.addEndpoint("fraud", "", serve(textFormat, readBody(t, "cpu_endpoint.txt")), "readmission_model-8")
	srv := httptest.NewServer(ws)
	defer srv.Close()
	clock := &fakeClock{t: time.UnixMilli(bodyTimestamp).Add(30 * time.Second)}
	s := newClockedScraper(t, srv.URL, clock, func(c *Config) { c.Discovery.RefreshInterval = 5 * time.Minute })

	for range 10 { // 10 cycles of 30 s: one refresh at the start, one after 5 minutes
		_, err := scrapeOnce(t, s)
		require.NoError(t, err)
		clock.advance(30 * time.Second)
	}
	assert.Equal(t, 1, ws.requestsFor("list"), "the list is not fetched on every scrape")
	assert.Equal(t, 1, ws.requestsFor("get fraud"))
	assert.Equal(t, 10, ws.requestsFor("fraud"))
	clock.advance(time.Minute)
	_, err := scrapeOnce(t, s)
	require.NoError(t, err)
	assert.Equal(t, 2, ws.requestsFor("list"))
	assert.Equal(t, 2, ws.requestsFor("get fraud"), "descriptions are refreshed with the list")
}

func TestDiscoveryFilters(t *testing.T) {
	body := readBody(t, "cpu_endpoint.txt")
	ws := newFakeWorkspace(t)
	for _, name := range []string{"fraud-scorer", "fraud-scorer-staging", "llm-a", "llm-ab", "churn"} {
		ws.addEndpoint(name, "", serve(textFormat, body))
	}
	ws.endpoint("churn")["tags"] = []map[string]string{{"key": "team", "value": "ml"}, {"key": "env", "value": "prod"}}
	ws.endpoint("llm-a")["tags"] = []map[string]string{{"key": "team", "value": "ml"}, {"key": "env", "value": "dev-3"}}
	srv := httptest.NewServer(ws)
	defer srv.Close()

	tests := []struct {
		name   string
		filter discovery.Config
		want   []string
	}{
		{"all", discovery.Config{}, []string{"churn", "fraud-scorer", "fraud-scorer-staging", "llm-a", "llm-ab"}},
		{"include globs", discovery.Config{Include: []string{"fraud-*", "llm-?"}}, []string{"fraud-scorer", "fraud-scorer-staging", "llm-a"}},
		{"exclude wins", discovery.Config{Include: []string{"fraud-*"}, Exclude: []string{"*-staging"}}, []string{"fraud-scorer"}},
		{"tag required", discovery.Config{IncludeTags: map[string]string{"team": "ml"}}, []string{"churn", "llm-a"}},
		{"tag excluded by value glob", discovery.Config{IncludeTags: map[string]string{"team": "*"}, ExcludeTags: map[string]string{"env": "dev*"}}, []string{"churn", "fraud-scorer", "fraud-scorer-staging", "llm-ab"}},
		{"tag value glob", discovery.Config{IncludeTags: map[string]string{"team": "fr*"}}, []string{"fraud-scorer", "fraud-scorer-staging", "llm-ab"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestScraper(t, srv.URL, func(c *Config) {
				refresh := c.Discovery.RefreshInterval
				c.Discovery = tt.filter
				c.Discovery.RefreshInterval = refresh
			})
			md, err := scrapeOnce(t, s)
			require.NoError(t, err)
			assert.Equal(t, tt.want, endpointNames(md))
		})
	}
}

func TestEndpointWithout404MetricsIsAskedAgainWithBackoff(t *testing.T) {
	ws := newFakeWorkspace(t)
	ws.addEndpoint("agent", "", func(int) (int, string, string) {
		return http.StatusNotFound, "application/json", `{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"no metrics"}`
	})
	ws.addEndpoint("fraud", "", serve(textFormat, readBody(t, "cpu_endpoint.txt")))
	srv := httptest.NewServer(ws)
	defer srv.Close()
	clock := &fakeClock{t: time.UnixMilli(bodyTimestamp).Add(30 * time.Second)}
	s := newClockedScraper(t, srv.URL, clock, func(c *Config) {
		c.CollectionInterval = 10 * time.Second
		c.Discovery.RefreshInterval = time.Hour
	})

	var askedAt []int
	for cycle := range 40 { // 400 s
		before := ws.requestsFor("agent")
		md, err := scrapeOnce(t, s)
		require.NoError(t, err, "a 404 endpoint is skipped quietly, not reported as a failure every cycle")
		if ws.requestsFor("agent") > before {
			askedAt = append(askedAt, cycle)
			up := findPoints(md, "databricks.serving.scrape.up", map[string]string{"databricks.serving.endpoint.name": "agent"})
			require.Len(t, up, 1)
			assert.Equal(t, 0.0, up[0].value)
			require.Len(t, findPoints(md, "databricks.serving.scrape.up", map[string]string{"databricks.serving.endpoint.name": "agent", "error.type": "not_found"}), 1)
		}
		clock.advance(10 * time.Second)
	}
	// Backoff doubles from the interval: asked at 0, 10 s, 30 s, 70 s, 150 s, 310 s.
	assert.Equal(t, []int{0, 1, 3, 7, 15, 31}, askedAt)
	assert.Equal(t, 40, ws.requestsFor("fraud"), "the other endpoint is scraped every cycle")
}

func TestEndpointChurn(t *testing.T) {
	ws := newFakeWorkspace(t)
	body := readBody(t, "cpu_endpoint.txt")
	window := 0
	fixed := func(int) (int, string, string) { return http.StatusOK, textFormat, shiftWindow(body, window) }
	ws.addEndpoint("stays", "", fixed, "readmission_model-8")
	ws.addEndpoint("goes", "", fixed, "readmission_model-8")
	srv := httptest.NewServer(ws)
	defer srv.Close()
	clock := &fakeClock{t: time.UnixMilli(bodyTimestamp).Add(30 * time.Second)}
	s := newClockedScraper(t, srv.URL, clock, func(c *Config) { c.Discovery.RefreshInterval = time.Minute })
	next := func() pmetric.Metrics {
		md, err := scrapeOnce(t, s)
		require.NoError(t, err)
		requireSeriesAscend(t, md)
		window++
		clock.advance(time.Minute)
		return md
	}
	next() // baseline
	md := next()
	lastCount := findPoints(md, "databricks.serving.request.count", map[string]string{"databricks.serving.endpoint.name": "goes"})
	require.Len(t, lastCount, 2, "zero point and first counted window")

	ws.removeEndpoint("goes")
	ws.addEndpoint("arrives", "", fixed, "readmission_model-8")
	md = next()
	gone := map[string]string{"databricks.serving.endpoint.name": "goes"}
	stale := findPoints(md, "databricks.serving.request.count", gone)
	require.Len(t, stale, 1, "one stale marker per series of the deleted endpoint")
	assert.True(t, stale[0].noValue)
	assert.Greater(t, stale[0].ts, lastCount[1].ts, "the stale marker follows the last point")
	for _, name := range []string{"databricks.serving.cpu.utilization", "databricks.serving.request.latency", "databricks.serving.scrape.up", "databricks.serving.endpoint.state"} {
		points := findPoints(md, name, gone)
		require.NotEmpty(t, points, name)
		for _, p := range points {
			assert.True(t, p.noValue, name)
		}
	}
	assert.NotContains(t, s.endpoints, "goes", "a deleted endpoint's state is dropped")
	arrived := findPoints(md, "databricks.serving.request.count", map[string]string{"databricks.serving.endpoint.name": "arrives"})
	require.Len(t, arrived, 2, "an endpoint created after start-up counts from its first window")
	assert.Equal(t, 37.0, arrived[1].value)

	md = next()
	assert.Empty(t, findPoints(md, "databricks.serving.request.count", gone), "stale markers are written once")

	// The endpoint comes back within idleSeriesLifetime: the receiver still knows which windows it counted, so
	// it counts the new one, in a new stream that starts after the stale marker.
	ws.addEndpoint("goes", "", fixed, "readmission_model-8")
	md = next()
	back := findPoints(md, "databricks.serving.request.count", gone)
	require.Len(t, back, 2, "zero point and the window it had not counted")
	assert.Equal(t, 0.0, back[0].value)
	assert.Equal(t, 37.0, back[1].value)
	assert.Greater(t, back[0].ts, stale[0].ts, "nothing is written at or before the stale marker")
}

func TestScrapeHealth(t *testing.T) {
	ws := newFakeWorkspace(t)
	ws.addEndpoint("healthy", "", serve(textFormat, readBody(t, "gpu_endpoint.txt")))
	status := func(code int) func(int) (int, string, string) {
		return func(int) (int, string, string) { return code, "application/json", `{"error_code":"X","message":"y"}` }
	}
	ws.addEndpoint("forbidden", "", status(http.StatusForbidden))
	ws.addEndpoint("throttled", "", status(http.StatusTooManyRequests))
	ws.addEndpoint("broken", "", status(http.StatusServiceUnavailable))
	ws.addEndpoint("garbled", "", serve(textFormat, "not an exposition{"))
	srv := httptest.NewServer(ws)
	defer srv.Close()
	s := newTestScraper(t, srv.URL)

	md, err := scrapeOnce(t, s)
	require.Error(t, err)
	ep := func(name string) map[string]string {
		return map[string]string{"databricks.serving.endpoint.name": name}
	}
	up := findPoints(md, "databricks.serving.scrape.up", ep("healthy"))
	require.Len(t, up, 1)
	assert.Equal(t, 1.0, up[0].value)
	samples := findPoints(md, "databricks.serving.scrape.samples", ep("healthy"))
	require.Len(t, samples, 1)
	assert.Equal(t, float64(sampleLines(readBody(t, "gpu_endpoint.txt"))), samples[0].value, "like Prometheus' scrape_samples_scraped: every sample line")
	duration := findPoints(md, "databricks.serving.scrape.duration", ep("healthy"))
	require.Len(t, duration, 1)
	assert.Greater(t, duration[0].value, 0.0)

	for name, class := range map[string]string{"forbidden": "auth", "throttled": "rate_limited", "broken": "server_error", "garbled": "parse"} {
		failed := findPoints(md, "databricks.serving.scrape.up", map[string]string{"databricks.serving.endpoint.name": name, "error.type": class})
		require.Len(t, failed, 1, name)
		assert.Equal(t, 0.0, failed[0].value, name)
	}
}

func TestEndpointAndDeploymentStates(t *testing.T) {
	ws := newFakeWorkspace(t)
	ws.addEndpoint("fraud", "", serve(textFormat, readBody(t, "cpu_endpoint.txt")), "readmission_model-8")
	ws.endpoint("fraud")["state"] = map[string]string{"ready": "NOT_READY", "config_update": "UPDATE_FAILED"}
	entity := ws.endpoint("fraud")["config"].(map[string]any)["served_entities"].([]map[string]any)[0]
	entity["state"] = map[string]string{"deployment": "DEPLOYMENT_FAILED"}
	srv := httptest.NewServer(ws)
	defer srv.Close()
	s := newTestScraper(t, srv.URL)

	md, err := scrapeOnce(t, s)
	require.NoError(t, err)
	states := func(metric string) map[string]float64 {
		out := map[string]float64{}
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			ms := md.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
			for j := 0; j < ms.Len(); j++ {
				if ms.At(j).Name() != metric {
					continue
				}
				dps := ms.At(j).Gauge().DataPoints()
				for k := 0; k < dps.Len(); k++ {
					state, _ := dps.At(k).Attributes().Get("state")
					out[state.Str()] = float64(dps.At(k).IntValue())
				}
			}
		}
		return out
	}
	assert.Equal(t, map[string]float64{"READY": 0, "NOT_READY": 1}, states("databricks.serving.endpoint.state"))
	assert.Equal(t, map[string]float64{"NOT_UPDATING": 0, "IN_PROGRESS": 0, "UPDATE_FAILED": 1, "UPDATE_CANCELED": 0}, states("databricks.serving.endpoint.config_update.state"))
	assert.Equal(t, map[string]float64{"DEPLOYMENT_READY": 0, "DEPLOYMENT_CREATING": 0, "DEPLOYMENT_RECOVERING": 0, "DEPLOYMENT_FAILED": 1, "DEPLOYMENT_ABORTED": 0},
		states("databricks.serving.served_entity.deployment.state"))
	failed := findPoints(md, "databricks.serving.served_entity.deployment.state", map[string]string{"databricks.serving.served_entity.name": "readmission_model-8", "state": "DEPLOYMENT_FAILED"})
	require.Len(t, failed, 1, "the deployment state belongs to the served entity's resource")
}

func TestEndpointTagsAreOptIn(t *testing.T) {
	ws := newFakeWorkspace(t)
	ws.addEndpoint("fraud", "", serve(textFormat, readBody(t, "cpu_endpoint.txt")))
	srv := httptest.NewServer(ws)
	defer srv.Close()

	md, err := scrapeOnce(t, newTestScraper(t, srv.URL))
	require.NoError(t, err)
	_, has := endpointResource(t, md, "fraud").Get("databricks.serving.endpoint.tag.team")
	assert.False(t, has, "tags are opt-in")

	md, err = scrapeOnce(t, newTestScraper(t, srv.URL, func(c *Config) { c.ResourceAttributes.DatabricksServingEndpointTags.Enabled = true }))
	require.NoError(t, err)
	v, has := endpointResource(t, md, "fraud").Get("databricks.serving.endpoint.tag.team")
	require.True(t, has)
	assert.Equal(t, "fraud", v.Str())
}

// endpointResource returns the attributes of the first resource of an endpoint in md.
func endpointResource(t *testing.T, md pmetric.Metrics, endpoint string) pcommon.Map {
	t.Helper()
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		attrs := md.ResourceMetrics().At(i).Resource().Attributes()
		if name, ok := attrs.Get("databricks.serving.endpoint.name"); ok && name.Str() == endpoint {
			return attrs
		}
	}
	t.Fatalf("no resource of endpoint %s", endpoint)
	return pcommon.Map{}
}

func TestShardsPartitionTheEndpointsStably(t *testing.T) {
	owners := map[string]int{}
	perShard := make([]int, 3)
	for i := range 300 {
		name := fmt.Sprintf("endpoint-%03d", i)
		for index := range 3 {
			if (discovery.ShardConfig{Count: 3, Index: index}).Owns("adb-1.azuredatabricks.net", name) {
				owners[name]++
				perShard[index]++
			}
		}
	}
	for name, n := range owners {
		require.Equal(t, 1, n, "%s must belong to exactly one shard", name)
	}
	require.Len(t, owners, 300)
	for index, n := range perShard {
		assert.InDelta(t, 100, n, 30, "shard %d is roughly a third", index)
	}
}

// tokenServer is a Databricks workspace with an OAuth token endpoint that issues short-lived tokens.
type tokenServer struct {
	mu       sync.Mutex
	issued   map[string]time.Time // token → expiry
	requests int
	forms    []url.Values
	lifetime time.Duration
	// status, when set, is the answer of every token request: the token service is down or throttling.
	status int
}

func (ts *tokenServer) handler(t *testing.T, ws *fakeWorkspace, basicAuth bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/token") {
			require.NoError(t, r.ParseForm())
			id, secret, ok := r.BasicAuth()
			if !basicAuth {
				id, secret, ok = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret"), true
			}
			ts.mu.Lock()
			defer ts.mu.Unlock()
			ts.requests++
			ts.forms = append(ts.forms, r.PostForm)
			if ts.status != 0 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(ts.status)
				_, _ = w.Write([]byte(`{"error":"temporarily_unavailable","error_description":"The token service is unavailable."}`))
				return
			}
			if !ok || id != "sp-client" || secret != "sp-secret" || r.PostForm.Get("grant_type") != "client_credentials" {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"Client authentication failed"}`))
				return
			}
			token := fmt.Sprintf("issued-%d", ts.requests)
			ts.issued[token] = time.Now().Add(ts.lifetime)
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": token, "token_type": "Bearer", "expires_in": int(ts.lifetime.Seconds())})
			return
		}
		bearer := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		ts.mu.Lock()
		expiry, known := ts.issued[bearer]
		ts.mu.Unlock()
		if !known || time.Now().After(expiry) {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error_code":"UNAUTHENTICATED","message":"Token expired."}`))
			return
		}
		r.Header.Set("Authorization", "Bearer "+testToken) // the fake workspace's own check
		ws.ServeHTTP(w, r)
	})
}

func TestOAuthServicePrincipals(t *testing.T) {
	for _, tc := range []struct {
		name      string
		basicAuth bool
		configure func(c *Config, tokenURL string)
		wantScope string
	}{
		{"databricks M2M", true, func(c *Config, _ string) {
			c.OAuth = &OAuthConfig{ClientID: "sp-client", ClientSecret: "sp-secret", Scopes: []string{"model-serving"}}
		}, "model-serving"},
		{"azure entra id", false, func(c *Config, tokenURL string) {
			c.Azure = &AzureConfig{TenantID: "tenant-1", ClientID: "sp-client", ClientSecret: "sp-secret", TokenURL: tokenURL}
		}, azureDatabricksScope},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := newFakeWorkspace(t)
			ws.addEndpoint("fraud", "", serve(textFormat, readBody(t, "cpu_endpoint.txt")))
			tokens := &tokenServer{issued: map[string]time.Time{}, lifetime: 3 * time.Second}
			srv := httptest.NewServer(tokens.handler(t, ws, tc.basicAuth))
			defer srv.Close()
			s := newTestScraper(t, srv.URL, func(c *Config) {
				c.Token = ""
				tc.configure(c, srv.URL+"/tenant-1/oauth2/v2.0/token")
			})

			deadline := time.Now().Add(4 * time.Second) // longer than a token lives
			scrapes := 0
			for time.Now().Before(deadline) {
				md, err := scrapeOnce(t, s)
				require.NoError(t, err, "scrape %d: the token must be refreshed before it expires", scrapes)
				up := findPoints(md, "databricks.serving.scrape.up", map[string]string{"databricks.serving.endpoint.name": "fraud"})
				require.Len(t, up, 1)
				require.Equal(t, 1.0, up[0].value, "scrape %d", scrapes)
				scrapes++
				time.Sleep(250 * time.Millisecond)
			}
			tokens.mu.Lock()
			defer tokens.mu.Unlock()
			assert.GreaterOrEqual(t, tokens.requests, 2, "a new token before the first expired")
			assert.Less(t, tokens.requests, scrapes, "tokens are cached, not fetched per request")
			assert.Equal(t, tc.wantScope, tokens.forms[0].Get("scope"))
		})
	}
}

func TestOAuthFailureIsAnAuthErrorThatKeepsTheSecret(t *testing.T) {
	ws := newFakeWorkspace(t)
	tokens := &tokenServer{issued: map[string]time.Time{}, lifetime: time.Hour}
	srv := httptest.NewServer(tokens.handler(t, ws, true))
	defer srv.Close()
	s := newTestScraper(t, srv.URL, func(c *Config) {
		c.Token = ""
		c.OAuth = &OAuthConfig{ClientID: "sp-client", ClientSecret: "wrong-secret-value"}
	})
	_, err := scrapeOnce(t, s)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "invalid_client")
	assert.NotContains(t, err.Error(), "wrong-secret-value")
	assert.NotContains(t, err.Error(), base64.StdEncoding.EncodeToString([]byte("sp-client:wrong-secret-value")))
}

// A token service that is down or throttling is not a credentials problem: new credentials would not help, so
// it must not raise the alert that asks for them.
func TestTokenServiceFailuresAreClassifiedApartFromRefusedCredentials(t *testing.T) {
	for _, tc := range []struct {
		name      string
		secret    string
		status    int
		wantClass string
	}{
		{"client refused", "wrong-secret-value", 0, errorTypeAuth},
		{"token service down", "sp-secret", http.StatusServiceUnavailable, errorTypeServerError},
		{"token service throttling", "sp-secret", http.StatusTooManyRequests, errorTypeRateLimited},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := newFakeWorkspace(t)
			tokens := &tokenServer{issued: map[string]time.Time{}, lifetime: time.Hour, status: tc.status}
			srv := httptest.NewServer(tokens.handler(t, ws, true))
			defer srv.Close()
			s := newTestScraper(t, srv.URL, func(c *Config) {
				c.Token = ""
				c.OAuth = &OAuthConfig{ClientID: "sp-client", ClientSecret: configopaque.String(tc.secret)}
			})
			md, err := scrapeOnce(t, s)
			require.Error(t, err)
			up, errorType, _, _ := workspaceHealth(t, md)
			assert.Equal(t, 0.0, up)
			assert.Equal(t, tc.wantClass, errorType, err.Error())
		})
	}

	// Unreachable: nothing listens where the token endpoint should be.
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	s := newTestScraper(t, closedURL, func(c *Config) {
		c.Token = ""
		c.OAuth = &OAuthConfig{ClientID: "sp-client", ClientSecret: "sp-secret"}
	})
	md, err := scrapeOnce(t, s)
	require.Error(t, err)
	_, errorType, _, _ := workspaceHealth(t, md)
	assert.Equal(t, errorTypeNetwork, errorType, err.Error())
}

// sampleLines counts the sample lines of an exposition body: what Prometheus reports as scrape_samples_scraped.
func sampleLines(body string) int {
	n := 0
	for _, line := range strings.Split(body, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			n++
		}
	}
	return n
}

func TestErrorClassesOfTransportFailures(t *testing.T) {
	// A server that answers too late: the per-request timeout fires.
	slow := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}))
	defer slow.Close()
	s := newTestScraper(t, slow.URL, func(c *Config) {
		c.Endpoints = []string{"slow"}
		c.ClientConfig.Timeout = 100 * time.Millisecond
	})
	md, err := scrapeOnce(t, s)
	require.Error(t, err)
	require.Len(t, findPoints(md, "databricks.serving.scrape.up", map[string]string{"error.type": "timeout"}), 1, err.Error())

	// Nothing listens: the connection is refused.
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	s = newTestScraper(t, closedURL, func(c *Config) { c.Endpoints = []string{"gone"} })
	md, err = scrapeOnce(t, s)
	require.Error(t, err)
	require.Len(t, findPoints(md, "databricks.serving.scrape.up", map[string]string{"error.type": "network"}), 1, err.Error())
}

// States can only change when the descriptions are refreshed, so they are written when they change and once a
// minute otherwise, not on every scrape.
func TestStatesAreWrittenWhenTheyChangeAndOncePerMinute(t *testing.T) {
	ws := newFakeWorkspace(t)
	ws.addEndpoint("fraud", "", serve(textFormat, readBody(t, "cpu_endpoint.txt")), "readmission_model-8")
	ws.endpoint("fraud")["state"] = map[string]string{"ready": "READY", "config_update": "NOT_UPDATING"}
	srv := httptest.NewServer(ws)
	defer srv.Close()
	clock := &fakeClock{t: time.UnixMilli(bodyTimestamp).Add(10 * time.Second)}
	s := newClockedScraper(t, srv.URL, clock, func(cfg *Config) { cfg.Discovery.RefreshInterval = 30 * time.Second })

	readyPoints := func() []foundPoint {
		md, err := scrapeOnce(t, s)
		require.NoError(t, err)
		return findPoints(md, "databricks.serving.endpoint.state", map[string]string{"state": "READY"})
	}
	require.Len(t, readyPoints(), 1, "first scrape: the states are written")
	clock.advance(15 * time.Second)
	assert.Empty(t, readyPoints(), "15 s later, nothing changed: not written again")
	clock.advance(45 * time.Second)
	require.Len(t, readyPoints(), 1, "a minute after the last write: written again")

	ws.endpoint("fraud")["state"] = map[string]string{"ready": "NOT_READY", "config_update": "NOT_UPDATING"}
	clock.advance(30 * time.Second) // the descriptions are refreshed
	changed := readyPoints()
	require.Len(t, changed, 1, "a changed state is written at once")
	assert.Equal(t, 0.0, changed[0].value)
	clock.advance(15 * time.Second)
	assert.Empty(t, readyPoints())
}
