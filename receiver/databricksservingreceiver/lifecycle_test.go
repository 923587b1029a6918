// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// lifecycleHarness is a workspace of one endpoint, "scorer", whose description, served entities and body a test
// changes while the receiver scrapes it every 30 s on a fake clock. The body serves the window of the clock's
// minute, as Databricks does, and the harness keeps the truth: every window it answered with, per entity.
type lifecycleHarness struct {
	t     *testing.T
	ws    *fakeWorkspace
	srv   *httptest.Server
	s     *servingScraper
	start time.Time

	mu      sync.Mutex
	now     time.Time
	inBody  []string                     // the served entities the body has samples of
	status  int                          // the /metrics status
	extra   func(ts int64) string        // more families for the body (nil: none)
	lag     time.Duration                // how long after a minute ends the body serves it (0: at once)
	served  map[string]map[int64]float64 // entity → window (ms) → requests, for 200 answers
	outputs []pmetric.Metrics
}

const lifecycleEndpoint = "scorer"

func newLifecycleHarness(t *testing.T, mutate ...func(*Config)) *lifecycleHarness {
	h := &lifecycleHarness{
		t: t, ws: newFakeWorkspace(t), start: time.UnixMilli(bodyTimestamp).Add(30 * time.Second),
		inBody: []string{"champion"}, status: http.StatusOK, served: map[string]map[int64]float64{},
	}
	h.now = h.start
	h.ws.addEndpoint(lifecycleEndpoint, "", h.respond, "champion")
	h.setEntities(entitySpec{name: "champion", version: "3", size: "Small"})
	h.srv = httptest.NewServer(h.ws)
	t.Cleanup(h.srv.Close)
	h.s = newTestScraper(t, h.srv.URL, append([]func(*Config){func(c *Config) {
		c.Discovery.RefreshInterval = time.Minute
		c.CollectionInterval = 30 * time.Second
	}}, mutate...)...)
	h.s.now = h.clock
	return h
}

// advance moves the harness' clock on without a scrape.
func (h *lifecycleHarness) advance(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = h.now.Add(d)
}

func (h *lifecycleHarness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

// window is the window served at the harness' time: the minute that ended last (lag ago), in ms.
func (h *lifecycleHarness) window() int64 {
	elapsed := h.now.Add(-h.lag).Sub(time.UnixMilli(bodyTimestamp))
	return bodyTimestamp + int64(elapsed/time.Minute)*60_000
}

// requests is what an entity served in a window: deterministic, different for every entity and window.
func requests(entity string, window int64) float64 {
	return float64(10 + (window/60_000)%17 + int64(len(entity))*3)
}

func (h *lifecycleHarness) respond(int) (int, string, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.status != http.StatusOK {
		return h.status, "application/json", `{"error_code":"TEMPORARILY_UNAVAILABLE","message":"try later"}`
	}
	ts := h.window()
	var b strings.Builder
	b.WriteString("# TYPE request_count_total gauge\n")
	for _, e := range h.inBody {
		fmt.Fprintf(&b, "request_count_total{served_entity_name=%q} %g %d\n", e, requests(e, ts), ts)
	}
	b.WriteString("# TYPE request_latency_ms histogram\n")
	for _, e := range h.inBody {
		n := requests(e, ts)
		fmt.Fprintf(&b, "request_latency_ms_bucket{served_entity_name=%q,le=\"10.0\"} %g %d\n", e, n-5, ts)
		fmt.Fprintf(&b, "request_latency_ms_bucket{served_entity_name=%q,le=\"+Inf\"} %g %d\n", e, n, ts)
		fmt.Fprintf(&b, "request_latency_ms_sum{served_entity_name=%q} %g %d\n", e, n*7, ts)
		fmt.Fprintf(&b, "request_latency_ms_count{served_entity_name=%q} %g %d\n", e, n, ts)
	}
	b.WriteString("# TYPE cpu_usage_percentage gauge\n")
	for _, e := range h.inBody {
		fmt.Fprintf(&b, "cpu_usage_percentage{served_entity_name=%q} 12.5 %d\n", e, ts)
	}
	if h.extra != nil {
		b.WriteString(h.extra(ts))
	}
	for _, e := range h.inBody {
		if h.served[e] == nil {
			h.served[e] = map[int64]float64{}
		}
		h.served[e][ts] = requests(e, ts)
	}
	return http.StatusOK, textFormat, b.String()
}

type entitySpec struct{ name, version, size string }

// setEntities replaces the served entities of the endpoint's description (list and GET).
func (h *lifecycleHarness) setEntities(entities ...entitySpec) {
	var served []map[string]any
	for _, e := range entities {
		served = append(served, map[string]any{
			"name": e.name, "entity_name": "main.models.scorer", "entity_version": e.version,
			"workload_type": "CPU", "workload_size": e.size, "scale_to_zero_enabled": false,
			"state": map[string]string{"deployment": "DEPLOYMENT_READY"},
		})
	}
	h.describe(func(ep map[string]any) { ep["config"] = map[string]any{"served_entities": served} })
}

// describe changes the endpoint's description.
func (h *lifecycleHarness) describe(change func(map[string]any)) {
	h.ws.mu.Lock()
	defer h.ws.mu.Unlock()
	for _, ep := range h.ws.endpoints {
		if ep["name"] == lifecycleEndpoint {
			change(ep)
		}
	}
}

func (h *lifecycleHarness) setBody(entities ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.inBody = entities
}

// scrape runs one cycle, keeps its output and moves the clock on by 30 s.
func (h *lifecycleHarness) scrape() pmetric.Metrics {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md, err := h.s.scrape(ctx)
	require.NoError(h.t, err)
	h.mu.Lock()
	h.outputs = append(h.outputs, md)
	h.now = h.now.Add(30 * time.Second)
	h.mu.Unlock()
	return md
}

func (h *lifecycleHarness) scrapeFor(minutes int) {
	for range 2 * minutes {
		h.scrape()
	}
}

// truth is what an entity served, less the baseline window (the first one served: the endpoint existed when
// the receiver started) when baselined.
func (h *lifecycleHarness) truth(entity string, baselined bool) float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	windows := make([]int64, 0, len(h.served[entity]))
	for ts := range h.served[entity] {
		windows = append(windows, ts)
	}
	sort.Slice(windows, func(i, j int) bool { return windows[i] < windows[j] })
	total := 0.0
	for i, ts := range windows {
		if i == 0 && baselined {
			continue
		}
		total += h.served[entity][ts]
	}
	return total
}

// unservedWindows counts the windows between an entity's first and last served window that it never served.
func (h *lifecycleHarness) unservedWindows(entity string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	first, last := int64(0), int64(0)
	for ts := range h.served[entity] {
		if first == 0 || ts < first {
			first = ts
		}
		last = max(last, ts)
	}
	return int((last-first)/60_000) + 1 - len(h.served[entity])
}

// streamPoint is one point of an output stream as a backend receives it.
type streamPoint struct {
	stream  string // resource attributes, metric name and point attributes
	ts      pcommon.Timestamp
	value   float64
	noValue bool
	// resource is the point's resource attributes.
	resource map[string]any
}

// pointsOf lists every point of metric (sums and gauges by value, histograms by count) in the order written.
func pointsOf(outputs []pmetric.Metrics, metric string) []streamPoint {
	var out []streamPoint
	for _, md := range outputs {
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			rm := md.ResourceMetrics().At(i)
			res := rm.Resource().Attributes().AsRaw()
			ms := rm.ScopeMetrics().At(0).Metrics()
			for j := 0; j < ms.Len(); j++ {
				m := ms.At(j)
				if m.Name() != metric {
					continue
				}
				add := func(attrs pcommon.Map, ts pcommon.Timestamp, value float64, flags pmetric.DataPointFlags) {
					out = append(out, streamPoint{
						stream: fmt.Sprint(res, m.Name(), m.Type(), attrs.AsRaw()), ts: ts, value: value,
						noValue: flags.NoRecordedValue(), resource: res,
					})
				}
				switch m.Type() {
				case pmetric.MetricTypeSum:
					for k := 0; k < m.Sum().DataPoints().Len(); k++ {
						dp := m.Sum().DataPoints().At(k)
						add(dp.Attributes(), dp.Timestamp(), numberValue(dp), dp.Flags())
					}
				case pmetric.MetricTypeGauge:
					for k := 0; k < m.Gauge().DataPoints().Len(); k++ {
						dp := m.Gauge().DataPoints().At(k)
						add(dp.Attributes(), dp.Timestamp(), numberValue(dp), dp.Flags())
					}
				case pmetric.MetricTypeHistogram:
					for k := 0; k < m.Histogram().DataPoints().Len(); k++ {
						dp := m.Histogram().DataPoints().At(k)
						add(dp.Attributes(), dp.Timestamp(), float64(dp.Count()), dp.Flags())
					}
				}
			}
		}
	}
	return out
}

func numberValue(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

// countedTotal is what a backend counts for metric over every stream whose points match entity: the sum of each
// stream's increases, a drop being a reset (Prometheus' increase(), and the Datadog exporter's deltas).
func countedTotal(outputs []pmetric.Metrics, metric, entity string) float64 {
	return countedTotalWhere(outputs, metric, func(stream string) bool {
		return strings.Contains(stream, "served_entity_name:"+entity+"]")
	})
}

// countedTotalWhere is countedTotal over the streams that match selects.
func countedTotalWhere(outputs []pmetric.Metrics, metric string, selects func(stream string) bool) float64 {
	last := map[string]float64{}
	total := 0.0
	for _, p := range pointsOf(outputs, metric) {
		if !selects(p.stream) {
			continue
		}
		if p.noValue {
			last[p.stream] = 0
			continue
		}
		if p.value >= last[p.stream] {
			total += p.value - last[p.stream]
		} else {
			total += p.value
		}
		last[p.stream] = p.value
	}
	return total
}

// requireStreamsAscend checks that across every scrape, the points of each output stream (stale markers
// included) carry strictly increasing timestamps: a backend rejects a point at or before one it has.
func requireStreamsAscend(t *testing.T, outputs []pmetric.Metrics, metrics ...string) {
	t.Helper()
	for _, metric := range metrics {
		last := map[string]pcommon.Timestamp{}
		for _, p := range pointsOf(outputs, metric) {
			require.Greater(t, p.ts, last[p.stream], "%s: a point at or before the last one written", p.stream)
			last[p.stream] = p.ts
		}
	}
}

// requireExactTotals checks, for each entity, that the request counter and the latency histogram's count summed
// over all their streams equal what the entity served.
func (h *lifecycleHarness) requireExactTotals(baselined map[string]bool) {
	h.t.Helper()
	requireStreamsAscend(h.t, h.outputs, "databricks.serving.request.count", "databricks.serving.request.latency", "databricks.serving.cpu.utilization")
	for entity := range h.served {
		want := h.truth(entity, baselined[entity])
		assert.Equal(h.t, want, countedTotal(h.outputs, "databricks.serving.request.count", entity), "%s: requests over all streams", entity)
		assert.Equal(h.t, want, countedTotal(h.outputs, "databricks.serving.request.latency", entity), "%s: latency observations over all streams", entity)
	}
}

func TestLifecycleEventsNeverCountAWindowTwice(t *testing.T) {
	tests := []struct {
		name   string
		config func(*Config)
		event  func(h *lifecycleHarness)
		check  func(t *testing.T, h *lifecycleHarness)
	}{
		{
			name: "a second served entity takes part of the traffic",
			// Between two refreshes: the body names the entity before discovery describes it again.
			config: func(c *Config) { c.Discovery.RefreshInterval = 5 * time.Minute },
			event: func(h *lifecycleHarness) {
				h.setEntities(entitySpec{"champion", "3", "Small"}, entitySpec{"challenger", "4", "Small"})
				h.setBody("champion", "challenger")
			},
			check: func(t *testing.T, h *lifecycleHarness) {
				points := pointsOf(h.outputs, "databricks.serving.request.count")
				for _, p := range points {
					if strings.Contains(p.stream, "challenger") {
						assert.Equal(t, "challenger", p.resource["databricks.serving.served_entity.name"], "attributed to its entity from its first window")
						assert.Equal(t, "4", p.resource["databricks.serving.served_entity.entity_version"])
					}
				}
			},
		},
		{
			name:  "the served entity's version changes",
			event: func(h *lifecycleHarness) { h.setEntities(entitySpec{"champion", "4", "Small"}) },
			check: func(t *testing.T, h *lifecycleHarness) { requireVersions(t, h, "3", "4") },
		},
		{
			name:  "the workload size changes",
			event: func(h *lifecycleHarness) { h.setEntities(entitySpec{"champion", "3", "Large"}) },
		},
		{
			name:   "the endpoint's tags change",
			config: func(c *Config) { c.ResourceAttributes.DatabricksServingEndpointTags.Enabled = true },
			event: func(h *lifecycleHarness) {
				h.describe(func(ep map[string]any) { ep["tags"] = []map[string]string{{"key": "team", "value": "risk"}} })
			},
		},
		{
			name: "the endpoint is recreated under its name with a new id between two refreshes",
			event: func(h *lifecycleHarness) {
				h.describe(func(ep map[string]any) { ep["id"] = "7d1e0c5b9a8f4e3d2c1b0a9f8e7d6c5b" })
			},
		},
		{
			name: "a served entity is removed",
			event: func(h *lifecycleHarness) {
				h.setEntities(entitySpec{"champion", "3", "Small"}, entitySpec{"challenger", "4", "Small"})
				h.setBody("champion", "challenger")
				h.scrapeFor(2)
				h.setEntities(entitySpec{"champion", "3", "Small"})
				h.setBody("champion")
			},
			check: func(t *testing.T, h *lifecycleHarness) {
				points := pointsOf(h.outputs, "databricks.serving.request.count")
				require.NotEmpty(t, points)
				var last streamPoint
				for _, p := range points {
					if strings.Contains(p.stream, "challenger") {
						last = p
					}
				}
				assert.True(t, last.noValue, "the removed entity's series ends with a stale marker")
			},
		},
		{
			name: "the endpoint scales to zero and back",
			event: func(h *lifecycleHarness) {
				h.setBody() // no samples at all while scaled to zero
				h.scrapeFor(3)
				h.setBody("champion")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mutate []func(*Config)
			if tt.config != nil {
				mutate = append(mutate, tt.config)
			}
			h := newLifecycleHarness(t, mutate...)
			h.scrapeFor(3)
			tt.event(h)
			h.scrapeFor(6)
			h.requireExactTotals(map[string]bool{"champion": true})
			if tt.check != nil {
				tt.check(t, h)
			}
		})
	}
}

// A body naming an entity the description lacks makes the scrape describe the endpoint again, but not while that
// endpoint's describe backs off: a describe answering 500 is asked on the backoff's schedule (collection interval
// 30 s doubling up to the 5-minute refresh interval, ±20 %: at most 8 times in 20 minutes instead of the 20 and
// more that asking once a minute makes), the entity stays on its provisional resource meanwhile, and the first
// describe that succeeds gives it its full resource.
func TestARedescribeWaitsOutTheDescribeBackoff(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		min, max int // describes in the 20 failing minutes
	}{
		{"500", http.StatusInternalServerError, 5, 8},
		{"429 without Retry-After", http.StatusTooManyRequests, 5, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newLifecycleHarness(t, func(c *Config) { c.Discovery.RefreshInterval = 5 * time.Minute })
			h.scrapeFor(1)
			gets := h.ws.requestsFor("get " + lifecycleEndpoint)
			h.ws.failCalls(0, tc.status, "")
			h.setBody("champion", "challenger")
			h.scrapeFor(20)
			asked := h.ws.requestsFor("get "+lifecycleEndpoint) - gets
			assert.GreaterOrEqual(t, asked, tc.min, "still asked: a backoff is not a stop")
			assert.LessOrEqual(t, asked, tc.max, "asked on the backoff's schedule, not once a minute")
			provisional := 0
			for _, p := range pointsOf(h.outputs, "databricks.serving.request.count") {
				if strings.Contains(p.stream, "challenger") {
					provisional++
					assert.Nil(t, p.resource["databricks.serving.served_entity.entity_version"], "provisional meanwhile: only the name is known")
				}
			}
			assert.Positive(t, provisional, "its samples are written meanwhile")

			// Recovered: described within the last wait (at most 6 minutes), under the full resource from then on.
			h.ws.failCalls(0, 0, "")
			h.setEntities(entitySpec{"champion", "3", "Small"}, entitySpec{"challenger", "4", "Small"})
			h.scrapeFor(7)
			described := findPoints(h.outputs[len(h.outputs)-1], "databricks.serving.request.count", map[string]string{
				"served_entity_name": "challenger", "databricks.serving.served_entity.entity_version": "4",
			})
			assert.NotEmpty(t, described, "described once the describe succeeds")
			h.requireExactTotals(map[string]bool{"champion": true})
		})
	}
}

// requireVersions checks that the request counter was written under each version, in this order.
func requireVersions(t *testing.T, h *lifecycleHarness, versions ...string) {
	var seen []string
	for _, p := range pointsOf(h.outputs, "databricks.serving.request.count") {
		v, _ := p.resource["databricks.serving.served_entity.entity_version"].(string)
		if len(seen) == 0 || seen[len(seen)-1] != v {
			seen = append(seen, v)
		}
	}
	assert.Equal(t, versions, seen)
}

func TestANewServedEntityIsDescribedBeforeItsFirstWindowIsWritten(t *testing.T) {
	h := newLifecycleHarness(t, func(c *Config) { c.Discovery.RefreshInterval = time.Hour })
	h.scrapeFor(2)
	gets := h.ws.requestsFor("get " + lifecycleEndpoint)
	h.setEntities(entitySpec{"champion", "3", "Small"}, entitySpec{"challenger", "4", "Medium"})
	h.setBody("champion", "challenger")
	md := h.scrape()
	assert.Equal(t, gets+1, h.ws.requestsFor("get "+lifecycleEndpoint), "one GET when the body names an entity the description lacks")
	first := findPoints(md, "databricks.serving.request.count", map[string]string{"served_entity_name": "challenger"})
	require.Len(t, first, 2, "zero point and the first window, at once")
	got := findPoints(md, "databricks.serving.request.count", map[string]string{
		"served_entity_name": "challenger", "databricks.serving.served_entity.workload_size": "Medium",
	})
	assert.Len(t, got, 2, "under the entity's full resource")
	h.scrapeFor(3)
	assert.Equal(t, gets+1, h.ws.requestsFor("get "+lifecycleEndpoint), "described once: the entity is known now")
	h.requireExactTotals(map[string]bool{"champion": true})
}

func TestAServedEntityTheDescriptionLacksIsProvisionalUntilDescribed(t *testing.T) {
	h := newLifecycleHarness(t, func(c *Config) { c.Discovery.RefreshInterval = 3 * time.Minute })
	h.scrapeFor(1)
	gets := h.ws.requestsFor("get " + lifecycleEndpoint)
	// The metrics show the new entity before any description does (a rollout still in progress).
	h.setBody("champion", "challenger")
	h.scrapeFor(2)
	assert.LessOrEqual(t, h.ws.requestsFor("get "+lifecycleEndpoint)-gets, 3, "described again at most once a minute (and by the refresh)")
	for _, p := range pointsOf(h.outputs, "databricks.serving.request.count") {
		if strings.Contains(p.stream, "challenger") {
			assert.Equal(t, "challenger", p.resource["databricks.serving.served_entity.name"], "never under the endpoint's own resource")
			assert.Nil(t, p.resource["databricks.serving.served_entity.entity_version"], "provisional: only the name is known")
		}
	}
	h.setEntities(entitySpec{"champion", "3", "Small"}, entitySpec{"challenger", "4", "Small"})
	h.scrapeFor(4)
	described := findPoints(h.outputs[len(h.outputs)-1], "databricks.serving.request.count", map[string]string{
		"served_entity_name": "challenger", "databricks.serving.served_entity.entity_version": "4",
	})
	assert.NotEmpty(t, described, "once described, under the full resource")
	h.requireExactTotals(map[string]bool{"champion": true})
}

func TestTheEntitiesOfAConfigurationUpdateInProgressAreDescribed(t *testing.T) {
	h := newLifecycleHarness(t, func(c *Config) { c.Discovery.RefreshInterval = time.Hour })
	h.scrapeFor(1)
	h.describe(func(ep map[string]any) {
		ep["pending_config"] = map[string]any{"served_entities": []map[string]any{{
			"name": "challenger", "entity_name": "main.models.scorer", "entity_version": "5", "workload_size": "Small",
		}}}
	})
	h.setBody("champion", "challenger")
	md := h.scrape()
	assert.NotEmpty(t, findPoints(md, "databricks.serving.request.count", map[string]string{
		"served_entity_name": "challenger", "databricks.serving.served_entity.entity_version": "5",
	}))
}

func TestAnEndpointThatLeavesAndReturnsNeverWritesBeforeItsStaleMarkers(t *testing.T) {
	h := newLifecycleHarness(t, func(c *Config) { c.Discovery.RefreshInterval = 20 * time.Second })
	h.scrapeFor(3)
	// It leaves the list for one cycle and is back within the same minute: the body still serves the window
	// whose gauges were written before the stale markers.
	listed := h.ws.endpoint(lifecycleEndpoint)
	h.ws.removeEndpoint(lifecycleEndpoint)
	md := h.scrape()
	require.NotEmpty(t, findPoints(md, "databricks.serving.cpu.utilization", map[string]string{"databricks.serving.endpoint.name": lifecycleEndpoint}))
	h.ws.mu.Lock()
	h.ws.endpoints = append(h.ws.endpoints, listed)
	h.ws.respond[lifecycleEndpoint] = h.respond
	h.ws.mu.Unlock()
	h.scrapeFor(3)
	requireStreamsAscend(t, h.outputs, "databricks.serving.scrape.up", "databricks.serving.endpoint.state", "databricks.serving.windows.missed")
	h.requireExactTotals(map[string]bool{"champion": true})
}

func TestARecreatedEndpointCountsFromItsFirstWindow(t *testing.T) {
	h := newLifecycleHarness(t)
	h.scrapeFor(2)
	listed := h.ws.endpoint(lifecycleEndpoint)
	h.ws.removeEndpoint(lifecycleEndpoint)
	h.scrapeFor(2)
	// Created again: a new id, and windows the receiver has never seen. Its first one counts.
	recreated := map[string]any{}
	for k, v := range listed {
		recreated[k] = v
	}
	recreated["id"] = "7d1e0c5b9a8f4e3d2c1b0a9f8e7d6c5b"
	h.mu.Lock()
	h.served = map[string]map[int64]float64{} // the truth of the new endpoint alone
	h.mu.Unlock()
	h.ws.mu.Lock()
	h.ws.endpoints = append(h.ws.endpoints, recreated)
	h.ws.respond[lifecycleEndpoint] = h.respond
	h.ws.mu.Unlock()
	before := len(h.outputs)
	h.scrapeFor(3)
	after := h.outputs[before:]
	assert.Equal(t, h.truth("champion", false), countedTotal(after, "databricks.serving.request.count", "champion"))
	requireStreamsAscend(t, h.outputs, "databricks.serving.request.count", "databricks.serving.cpu.utilization")
}

func TestAFamilyThatChangesTypeEndsItsSeriesAndNeverPanics(t *testing.T) {
	h := newLifecycleHarness(t)
	typ := "gauge"
	h.extra = func(ts int64) string {
		switch typ {
		case "histogram":
			return fmt.Sprintf("# TYPE custom_score histogram\ncustom_score_bucket{le=\"1.0\"} 2 %d\ncustom_score_bucket{le=\"+Inf\"} 3 %d\ncustom_score_sum 2.5 %d\ncustom_score_count 3 %d\n", ts, ts, ts, ts)
		default:
			return fmt.Sprintf("# TYPE custom_score %s\ncustom_score 1000 %d\n", typ, ts)
		}
	}
	name := unmappedNamespace + "custom_score"
	for _, next := range []string{"gauge", "counter", "histogram", "counter", "gauge"} {
		typ = next
		for range 4 {
			md := h.scrape()
			up, _, ok := upOf(md, lifecycleEndpoint)
			require.True(t, ok, "%s: scrape health is written", next)
			require.Equal(t, 1.0, up, "%s: the endpoint is scraped", next)
		}
	}
	var types []pmetric.MetricType
	for _, md := range h.outputs {
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			ms := md.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
			for j := 0; j < ms.Len(); j++ {
				m := ms.At(j)
				if m.Name() != name {
					continue
				}
				if len(types) == 0 || types[len(types)-1] != m.Type() {
					types = append(types, m.Type())
				}
				if m.Type() == pmetric.MetricTypeSum {
					for k := 0; k < m.Sum().DataPoints().Len(); k++ {
						v := m.Sum().DataPoints().At(k).DoubleValue()
						assert.Zero(t, int(v)%1000, "a counter holds whole windows of 1000, never a gauge's value")
					}
				}
			}
		}
	}
	require.Contains(t, types, pmetric.MetricTypeSum, "a counter family is written as a cumulative sum")
	require.Contains(t, types, pmetric.MetricTypeHistogram)
	// Every type change leaves a stale marker on the old stream.
	staleByType := map[pmetric.MetricType]int{}
	for _, md := range h.outputs {
		for _, p := range findAllPoints(md, name) {
			if p.noValue {
				staleByType[p.typ]++
			}
		}
	}
	assert.Equal(t, 2, staleByType[pmetric.MetricTypeSum], "two counter streams ended")
	assert.Equal(t, 1, staleByType[pmetric.MetricTypeGauge], "the first gauge stream ended")
	assert.Equal(t, 1, staleByType[pmetric.MetricTypeHistogram])
}

type typedPoint struct {
	typ     pmetric.MetricType
	noValue bool
}

func findAllPoints(md pmetric.Metrics, name string) []typedPoint {
	var out []typedPoint
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		ms := md.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			if m.Name() != name {
				continue
			}
			switch m.Type() {
			case pmetric.MetricTypeGauge:
				for k := 0; k < m.Gauge().DataPoints().Len(); k++ {
					out = append(out, typedPoint{m.Type(), m.Gauge().DataPoints().At(k).Flags().NoRecordedValue()})
				}
			case pmetric.MetricTypeSum:
				for k := 0; k < m.Sum().DataPoints().Len(); k++ {
					out = append(out, typedPoint{m.Type(), m.Sum().DataPoints().At(k).Flags().NoRecordedValue()})
				}
			case pmetric.MetricTypeHistogram:
				for k := 0; k < m.Histogram().DataPoints().Len(); k++ {
					out = append(out, typedPoint{m.Type(), m.Histogram().DataPoints().At(k).Flags().NoRecordedValue()})
				}
			}
		}
	}
	return out
}

func TestImplausibleTimestampsAreRejectedWithAReason(t *testing.T) {
	now := time.UnixMilli(bodyTimestamp).Add(30 * time.Second)
	tests := []struct {
		name, timestamp, want string
	}{
		{"seconds instead of milliseconds", fmt.Sprint(bodyTimestamp / 1000), "looks like seconds since the epoch"},
		{"an hour and more behind", fmt.Sprint(bodyTimestamp - 2*3600_000), "behind the collector's clock"},
		{"far ahead", fmt.Sprint(bodyTimestamp + 3600_000), "ahead of the collector's clock"},
		{"so large it would overflow", "9223372036854775807", "ahead of the collector's clock"},
		{"negative", "-60000", "zero or negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := "# TYPE request_count_total gauge\nrequest_count_total{served_entity_name=\"champion\"} 5 " + tt.timestamp + "\n"
			ws := newFakeWorkspace(t)
			ws.addEndpoint(lifecycleEndpoint, "", serve(textFormat, body), "champion")
			srv := httptest.NewServer(ws)
			defer srv.Close()
			s := newTestScraper(t, srv.URL)
			s.now = func() time.Time { return now }
			md, err := scrapeOnce(t, s)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Empty(t, findPoints(md, "databricks.serving.request.count", nil))
		})
	}
}

func TestMissedWindowsAreCounted(t *testing.T) {
	h := newLifecycleHarness(t)
	missed := func() float64 {
		points := pointsOf(h.outputs[len(h.outputs)-1:], "databricks.serving.windows.missed")
		require.NotEmpty(t, points, "written on every scrape")
		return points[len(points)-1].value
	}
	h.scrapeFor(2)
	assert.Zero(t, missed())
	h.mu.Lock()
	h.status = http.StatusInternalServerError
	h.mu.Unlock()
	for range 6 { // three minutes of failed scrapes (the failure is reported once, when it starts)
		md, _ := h.s.scrape(context.Background())
		up, _, ok := upOf(md, lifecycleEndpoint)
		require.True(t, ok)
		require.Zero(t, up)
		h.mu.Lock()
		h.outputs = append(h.outputs, md)
		h.now = h.now.Add(30 * time.Second)
		h.mu.Unlock()
		assert.Zero(t, missed(), "a minute is missed only once a newer one shows it was")
	}
	h.mu.Lock()
	h.status = http.StatusOK
	h.mu.Unlock()
	h.scrapeFor(2)
	// Failures from 2.5 to 5 minutes after the start: minutes 3 and 4 were never served; 2 and 5 were.
	assert.Equal(t, 2.0, float64(h.unservedWindows("champion")), "the harness' truth")
	assert.Equal(t, 2.0, missed(), "the windows never seen are counted")
	h.requireExactTotals(map[string]bool{"champion": true})
}

func TestBucketsListedOutOfOrderAreSortedAsPrometheusDoes(t *testing.T) {
	ts := int64(bodyTimestamp)
	body := func(ts int64) string {
		return fmt.Sprintf(`# TYPE request_latency_ms histogram
request_latency_ms_bucket{served_entity_name="champion",le="+Inf"} 9 %[1]d
request_latency_ms_bucket{served_entity_name="champion",le="100.0"} 7 %[1]d
request_latency_ms_bucket{served_entity_name="champion",le="10.0"} 2 %[1]d
request_latency_ms_sum{served_entity_name="champion"} 400 %[1]d
request_latency_ms_count{served_entity_name="champion"} 9 %[1]d
`, ts)
	}
	ws := newFakeWorkspace(t)
	ws.addEndpoint(lifecycleEndpoint, "", serve(textFormat, body(ts-60_000), body(ts)), "champion")
	srv := httptest.NewServer(ws)
	defer srv.Close()
	s := newTestScraper(t, srv.URL)
	_, err := scrapeOnce(t, s)
	require.NoError(t, err)
	md, err := scrapeOnce(t, s)
	require.NoError(t, err)
	var found bool
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		ms := md.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			if ms.At(j).Name() != "databricks.serving.request.latency" {
				continue
			}
			dps := ms.At(j).Histogram().DataPoints()
			dp := dps.At(dps.Len() - 1)
			assert.Equal(t, []float64{10, 100}, dp.ExplicitBounds().AsRaw())
			assert.Equal(t, []uint64{2, 5, 2}, dp.BucketCounts().AsRaw())
			found = true
		}
	}
	assert.True(t, found, "the window is counted")
}

// TestTrailingBlanksAfterSamplesAreCountedExactly: Prometheus' text parser accepts blanks after a sample's value
// or timestamp (and after a comment); a body written that way is every window's body, so every one must be
// counted, and exactly once.
func TestTrailingBlanksAfterSamplesAreCountedExactly(t *testing.T) {
	h := newLifecycleHarness(t)
	var bodies []string
	h.ws.mu.Lock()
	h.ws.respond[lifecycleEndpoint] = func(n int) (int, string, string) {
		status, contentType, body := h.respond(n)
		lines := strings.SplitAfter(body, "\n")
		for i, line := range lines {
			if line == "" {
				continue
			}
			blank := " "
			if i%2 == 1 {
				blank = "\t "
			}
			lines[i] = strings.TrimSuffix(line, "\n") + blank + "\n"
		}
		body = strings.Join(lines, "")
		h.mu.Lock()
		bodies = append(bodies, body)
		h.mu.Unlock()
		return status, contentType, body
	}
	h.ws.mu.Unlock()

	h.scrapeFor(6)

	h.mu.Lock()
	require.NotEmpty(t, bodies)
	for _, body := range bodies {
		require.Regexp(t, `(?m)^request_count_total\{served_entity_name="champion"\} \d+ \d+[ \t]+$`, body,
			"a sample line ends with a blank after its timestamp")
	}
	windows := len(h.served["champion"])
	h.mu.Unlock()
	require.Equal(t, 7, windows, "twelve scrapes 30 s apart from half past the first minute serve minutes 0 to 6")
	want := h.truth("champion", true)
	require.Positive(t, want)
	// requireExactTotals: the request counter and the latency histogram's count equal the windows served after
	// the baseline, each counted once, and every stream ascends.
	h.requireExactTotals(map[string]bool{"champion": true})
	assert.Equal(t, want, countedTotal(h.outputs, "databricks.serving.request.count", "champion"))
	cpu := pointsOf(h.outputs, "databricks.serving.cpu.utilization")
	require.Len(t, cpu, windows, "the gauge of every window")
	for _, p := range cpu {
		assert.Equal(t, 12.5, p.value, "a gauge's value is read without its trailing blank")
	}
}
