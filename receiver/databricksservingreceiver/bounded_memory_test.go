// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-databricks/otelcol-databricks/internal/simulator"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/discovery"
)

// Bounded memory whatever a workspace sends: each test drives, with the default configuration, one way a
// workspace (or a proxy in between) could make the receiver hold memory that no limit bounded.

// hostileWorkspace serves a workspace whose answers the test builds: list is the list call's body, describe
// the get call's body of an endpoint (nil: the list's entry), metrics the n-th (0-based) /metrics body.
type hostileWorkspace struct {
	mu       sync.Mutex
	list     []byte
	entries  map[string][]byte
	describe func(name string) []byte
	metrics  func(name string, n int) string
	scrapes  map[string]int
}

func newHostileWorkspace(endpoints []map[string]any) *hostileWorkspace {
	h := &hostileWorkspace{entries: map[string][]byte{}, scrapes: map[string]int{}}
	h.setList(endpoints)
	return h
}

func (h *hostileWorkspace) setList(endpoints []map[string]any) {
	list, _ := json.Marshal(map[string]any{"endpoints": endpoints})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.list = list
	for _, ep := range endpoints {
		h.entries[ep["name"].(string)], _ = json.Marshal(ep)
	}
}

func (h *hostileWorkspace) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const prefix = "/api/2.0/serving-endpoints"
	path := strings.TrimPrefix(r.URL.Path, prefix)
	h.mu.Lock()
	defer h.mu.Unlock()
	switch name, metrics := strings.CutSuffix(strings.TrimPrefix(path, "/"), "/metrics"); {
	case path == "":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(h.list)
	case metrics:
		n := h.scrapes[name]
		h.scrapes[name]++
		if h.metrics == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", textFormat)
		_, _ = w.Write([]byte(h.metrics(name, n)))
	default:
		w.Header().Set("Content-Type", "application/json")
		if h.describe != nil {
			_, _ = w.Write(h.describe(name))
			return
		}
		_, _ = w.Write(h.entries[name])
	}
}

// gaugeLines is a body of n gauge samples whose label values start with prefix, stamped bodyTimestamp.
func gaugeLines(prefix string, n int) string { return gaugeLinesAt(prefix, n, bodyTimestamp, true) }

// gaugeLinesAt is gaugeLines stamped ts, with or without the TYPE line.
func gaugeLinesAt(prefix string, n int, ts int64, typed bool) string {
	var b strings.Builder
	if typed {
		b.WriteString("# TYPE churn_gauge gauge\n")
	}
	for i := range n {
		fmt.Fprintf(&b, "churn_gauge{i=\"%s%d\"} 1 %d\n", prefix, i, ts)
	}
	return b.String()
}

// Found: a body over max_samples was parsed whole before the limit refused it (a 16 MiB body parsed to 562,943
// samples). The parser must stop at max_samples+1 as it goes: a body whose lines after that are not even
// samples fails on max_samples (error.type=limit), because they are never read; parsing them would fail it
// with error.type=parse.
func TestParsingStopsAtMaxSamples(t *testing.T) {
	s := newTestScraper(t, "http://127.0.0.1:1")
	limit := s.cfg.Limits.MaxSamples
	body := []byte(gaugeLines("b", limit+1) + strings.Repeat("this { is not a sample\n", 2*limit))
	ep := newEndpointState(endpointDescription("e"), s.newResources(endpointDescription("e")), false)
	c := newConverter(ep, s.cfg, "test", pmetric.NewMetrics().ResourceMetrics(), s.now())
	err := s.convertBody(context.Background(), ep, c, body, textFormat, s.now())
	require.Error(t, err)
	assert.Equal(t, errorTypeLimit, classifyError(err), "%v", err)
	assert.Contains(t, err.Error(), "limits.max_samples")
	assert.Empty(t, ep.series, "nothing of a body over a limit is kept")
}

// Found: max_body_bytes was 16 MiB, thousands of times a real body (a few KB). A body of 2 MiB is refused by
// the default.
func TestDefaultMaxBodyBytesRefusesMegabyteBodies(t *testing.T) {
	ws := newHostileWorkspace([]map[string]any{{"name": "big"}})
	ws.metrics = func(string, int) string {
		return "# " + strings.Repeat("x", 2<<20) + "\n" + gaugeLines("a", 1)
	}
	srv := httptest.NewServer(ws)
	defer srv.Close()
	s := newTestScraper(t, srv.URL)
	assert.LessOrEqual(t, s.cfg.Limits.MaxBodyBytes, int64(1<<20))
	md, _ := scrapeOnce(t, s)
	up, errorType, ok := upOf(md, "big")
	require.True(t, ok)
	assert.Zero(t, up)
	assert.Equal(t, errorTypeLimit, errorType)
}

// Found: the endpoint list had no cap (a 16 MiB list decoded to 888,856 endpoints, each described and scraped).
// Beyond 1000 endpoints (Databricks' maximum) the list is trimmed to the first 1000 by name, whatever their
// order in the answer.
func TestEndpointListIsCappedToTheFirstByName(t *testing.T) {
	var endpoints []map[string]any
	for i := 1499; i >= 0; i-- {
		endpoints = append(endpoints, map[string]any{"name": fmt.Sprintf("ep-%04d", i)})
	}
	srv := httptest.NewServer(newHostileWorkspace(endpoints))
	defer srv.Close()
	s := newTestScraper(t, srv.URL)
	_, _ = scrapeOnce(t, s)
	names := make([]string, 0, len(s.endpoints))
	for name := range s.endpoints {
		names = append(names, name)
	}
	sort.Strings(names)
	require.Equal(t, 1000, len(names))
	assert.Equal(t, "ep-0000", names[0])
	assert.Equal(t, "ep-0999", names[999])
}

// amplifiedEndpoint describes an endpoint with entities served entities and tags tags, one of them with a
// value of 10 KiB.
func amplifiedEndpoint(name string, entities, tags int) map[string]any {
	var served []map[string]any
	for i := range entities {
		served = append(served, map[string]any{"name": fmt.Sprintf("entity-%03d", i), "entity_version": "1"})
	}
	var tagList []map[string]string
	for i := range tags {
		tagList = append(tagList, map[string]string{"key": fmt.Sprintf("k%03d", i), "value": "v"})
	}
	tagList = append(tagList, map[string]string{"key": "long", "value": strings.Repeat("v", 10<<10)})
	return map[string]any{"name": name, "tags": tagList, "config": map[string]any{"served_entities": served}}
}

// Found: describe answers were amplified: every served entity got a resource with every tag (a 41 KiB body
// became 1,001 resources and 1,003,000 attributes). Served entities and tags are capped, and long tags dropped.
func TestDescriptionsCannotAmplifyResources(t *testing.T) {
	srv := httptest.NewServer(newHostileWorkspace([]map[string]any{amplifiedEndpoint("amp", 200, 300)}))
	defer srv.Close()
	s := newTestScraper(t, srv.URL, func(c *Config) { c.ResourceAttributes.DatabricksServingEndpointTags.Enabled = true })
	_, _ = scrapeOnce(t, s)
	ep := s.endpoints["amp"]
	require.NotNil(t, ep)
	assert.LessOrEqual(t, len(ep.resources.entities), 20)
	for _, tmpl := range append(mapValues(ep.resources.entities), ep.resources.endpoint) {
		tags := 0
		for k, v := range tmpl.resource.Attributes().All() {
			if strings.HasPrefix(k, endpointTagAttributePrefix) {
				tags++
				assert.LessOrEqual(t, len(v.Str()), 1024, k)
			}
		}
		require.LessOrEqual(t, tags, 50)
	}
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// sampleSeriesCount counts an endpoint's series of samples (not the metrics the receiver computes).
func sampleSeriesCount(ep *endpointState) int {
	n := 0
	for _, ref := range ep.series {
		if ref.source != ref.key {
			n++
		}
	}
	return n
}

// Found: series accumulated without a cap (10,000 new label sets per scrape, each body within max_samples, kept
// 30 minutes: 199,803 series after 20 scrapes). New series beyond 2000 are refused; the others go on.
func TestSeriesPerEndpointAreCapped(t *testing.T) {
	ws := newHostileWorkspace([]map[string]any{{"name": "churn"}})
	ws.metrics = func(_ string, n int) string { return gaugeLines(fmt.Sprintf("s%d-", n), 1000) }
	srv := httptest.NewServer(ws)
	defer srv.Close()
	s := newTestScraper(t, srv.URL)
	for range 5 {
		_, _ = scrapeOnce(t, s)
	}
	assert.LessOrEqual(t, sampleSeriesCount(s.endpoints["churn"]), 2000)
}

// limitPoints returns the last databricks.serving.limit.exceeded value of each limit on the resource of
// endpoint ("" for the workspace's own resource).
func limitPoints(md pmetric.Metrics, endpoint string) map[string]int64 {
	out := map[string]int64{}
	for _, rm := range md.ResourceMetrics().All() {
		name, _ := rm.Resource().Attributes().Get("databricks.serving.endpoint.name")
		if name.Str() != endpoint {
			continue
		}
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Name() != "databricks.serving.limit.exceeded" {
					continue
				}
				for _, dp := range m.Gauge().DataPoints().All() {
					limit, _ := dp.Attributes().Get("limit")
					out[limit.Str()] = dp.IntValue()
				}
			}
		}
	}
	return out
}

// hasGaugePoint reports whether md holds a churn_gauge point with label i=value.
func hasGaugePoint(md pmetric.Metrics, value string) bool {
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Name() != unmappedNamespace+"churn_gauge" {
					continue
				}
				for _, dp := range m.Gauge().DataPoints().All() {
					if v, _ := dp.Attributes().Get("i"); v.Str() == value {
						return true
					}
				}
			}
		}
	}
	return false
}

// Series over limits.max_series are refused and counted in databricks.serving.limit.exceeded, reported once
// while the condition lasts, and the series held already go on being written.
func TestSeriesOverTheCapAreRefusedCountedAndReportedOnce(t *testing.T) {
	ws := newHostileWorkspace([]map[string]any{{"name": "churn"}})
	window := func(n int) int64 { return bodyTimestamp + int64(n)*time.Minute.Milliseconds() }
	ws.metrics = func(_ string, n int) string {
		// 500 series that stay, and 1000 new ones every scrape.
		return gaugeLinesAt("kept-", 500, window(n), true) + gaugeLinesAt(fmt.Sprintf("new%d-", n), 1000, window(n), false)
	}
	srv := httptest.NewServer(ws)
	defer srv.Close()
	s := newTestScraper(t, srv.URL, func(c *Config) { c.Limits.MaxSeries = 1600 })
	var mds []pmetric.Metrics
	var errs []error
	for n := range 4 {
		s.now = func() time.Time { return time.UnixMilli(window(n)).Add(30 * time.Second) }
		md, err := scrapeOnce(t, s)
		mds, errs = append(mds, md), append(errs, err)
	}
	require.NoError(t, errs[0])
	assert.Empty(t, limitPoints(mds[0], "churn"))
	assert.Equal(t, map[string]int64{"max_endpoints": 0}, limitPoints(mds[0], ""), "the workspace's count is written every cycle")
	require.ErrorContains(t, errs[1], "limits.max_series")
	for _, n := range []int{2, 3} {
		assert.NoError(t, errs[n], "the condition lasts: reported once")
		assert.Equal(t, map[string]int64{"max_series": 1000}, limitPoints(mds[n], "churn"))
		assert.True(t, hasGaugePoint(mds[n], "kept-499"), "a series held goes on")
		assert.False(t, hasGaugePoint(mds[n], fmt.Sprintf("new%d-0", n)), "a new series is refused")
	}
	// The computed series (scrape health, limit.exceeded) are never refused: they may take the total past the cap.
	assert.LessOrEqual(t, sampleSeriesCount(s.endpoints["churn"]), 1600)
}

// The endpoints over limits.max_endpoints are counted on the workspace's resource, and said once in the log.
func TestEndpointsOverTheCapAreCountedOnTheWorkspace(t *testing.T) {
	var endpoints []map[string]any
	for i := range 12 {
		endpoints = append(endpoints, map[string]any{"name": fmt.Sprintf("ep-%02d", 11-i)})
	}
	srv := httptest.NewServer(newHostileWorkspace(endpoints))
	defer srv.Close()
	core, logs := observer.New(zap.InfoLevel)
	s := newTestScraper(t, srv.URL, func(c *Config) {
		c.Limits.MaxEndpoints = 10
		c.Discovery.RefreshInterval = time.Nanosecond // every cycle lists again
	})
	s.logger = zap.New(core)
	s.finder = discovery.New(s.client, s.cfg.Discovery, s.cfg.Shard, nil, s.host, 4, time.Second, s.logger)
	s.finder.SetMaxEndpoints(10)
	for range 3 {
		md, _ := scrapeOnce(t, s)
		assert.Equal(t, map[string]int64{"max_endpoints": 2}, limitPoints(md, ""))
	}
	assert.Len(t, s.endpoints, 10)
	assert.NotContains(t, s.endpoints, "ep-10")
	assert.Equal(t, 1, logs.FilterMessageSnippet("limits.max_endpoints").Len(), "said once while it lasts")
}

// Served entities and tags over their caps are dropped, counted on the endpoint's resource and reported once.
func TestDescriptionTrimsAreCounted(t *testing.T) {
	ws := newHostileWorkspace([]map[string]any{amplifiedEndpoint("amp", 25, 60)})
	ws.metrics = func(string, int) string { return gaugeLines("a", 1) }
	srv := httptest.NewServer(ws)
	defer srv.Close()
	s := newTestScraper(t, srv.URL)
	md, err := scrapeOnce(t, s)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "served entities beyond limits.max_served_entities")
	// 61 tags: the long one is dropped for its value, then 10 of the 60 others for the count.
	assert.Equal(t, map[string]int64{"max_served_entities": 5, "max_tags": 10, "max_tag_value_length": 1}, limitPoints(md, "amp"))
	_, err = scrapeOnce(t, s)
	assert.NoError(t, err, "reported once while it lasts")
}

// Every new limit is validated, and the error names the field.
func TestNewLimitsAreValidated(t *testing.T) {
	for _, field := range []string{
		"max_family_name_length", "max_help_length", "max_series", "max_endpoints", "max_served_entities",
		"max_tags", "max_tag_key_length", "max_tag_value_length",
	} {
		cfg := createDefaultConfig().(*Config)
		cfg.Endpoint = "https://adb-1234567890123456.7.azuredatabricks.net"
		cfg.Token = testToken
		require.NoError(t, cfg.Validate())
		for name, value := range map[string]*int{
			"max_family_name_length": &cfg.Limits.MaxFamilyNameLength, "max_help_length": &cfg.Limits.MaxHelpLength,
			"max_series": &cfg.Limits.MaxSeries, "max_endpoints": &cfg.Limits.MaxEndpoints,
			"max_served_entities": &cfg.Limits.MaxServedEntities, "max_tags": &cfg.Limits.MaxTags,
			"max_tag_key_length": &cfg.Limits.MaxTagKeyLength, "max_tag_value_length": &cfg.Limits.MaxTagValueLength,
		} {
			if name == field {
				*value = 0
			}
		}
		assert.ErrorContains(t, cfg.Validate(), "limits."+field+" must be at least 1", field)
	}
}

// getWithToken fetches url from the simulator and returns its body.
func getWithToken(t *testing.T, url string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, http.NoBody)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return body
}

// The default body limits are sized from real bodies: the simulator's (every endpoint kind, the 4-GPU and the
// multi-entity endpoints included) with at least 64 times headroom for /metrics and descriptions, and 4 times
// for a list entry at limits.max_endpoints endpoints.
func TestDefaultBodyLimitsHaveHeadroomOverRealBodies(t *testing.T) {
	w := newSimulatedWorkspace(t, func(c *simulator.Config) { c.CPU, c.GPU, c.MultiEntity, c.ScaleToZero = 2, 2, 2, 1 })
	list := getWithToken(t, w.srv.URL+"/api/2.0/serving-endpoints")
	var parsed struct{ Endpoints []json.RawMessage }
	require.NoError(t, json.Unmarshal(list, &parsed))
	require.NotEmpty(t, parsed.Endpoints)
	largestMetrics, largestDescription, largestEntry := 0, 0, 0
	for _, raw := range parsed.Endpoints {
		var ep struct{ Name string }
		require.NoError(t, json.Unmarshal(raw, &ep))
		largestEntry = max(largestEntry, len(raw))
		largestDescription = max(largestDescription, len(getWithToken(t, w.srv.URL+"/api/2.0/serving-endpoints/"+ep.Name)))
		largestMetrics = max(largestMetrics, len(getWithToken(t, w.srv.URL+"/api/2.0/serving-endpoints/"+ep.Name+"/metrics")))
	}
	t.Logf("largest /metrics body %d bytes, description %d bytes, list entry %d bytes", largestMetrics, largestDescription, largestEntry)
	assert.GreaterOrEqual(t, int64(defaultMaxBodyBytes), 64*int64(max(largestMetrics, largestDescription)))
	assert.GreaterOrEqual(t, listBytesPerEndpoint, 4*largestEntry)
}

// The series of all endpoints together are capped by limits.max_workspace_series: new ones beyond it are refused
// and counted on the endpoint that brought them.
func TestWorkspaceSeriesAreCapped(t *testing.T) {
	ws := newHostileWorkspace([]map[string]any{{"name": "a"}, {"name": "b"}, {"name": "c"}})
	ws.metrics = func(name string, n int) string { return gaugeLines(fmt.Sprintf("%s%d-", name, n), 1000) }
	srv := httptest.NewServer(ws)
	defer srv.Close()
	s := newTestScraper(t, srv.URL, func(c *Config) { c.Limits.MaxWorkspaceSeries = 2500 })
	var md pmetric.Metrics
	for range 2 {
		md, _ = scrapeOnce(t, s)
	}
	held, refused := 0, int64(0)
	for name, ep := range s.endpoints {
		held += sampleSeriesCount(ep)
		refused += limitPoints(md, name)["max_workspace_series"]
	}
	// The computed series (scrape health) count towards the budget but are never refused.
	assert.LessOrEqual(t, held, 2500)
	assert.Equal(t, int64(3000), refused, "the second cycle's new series are all refused")
}
