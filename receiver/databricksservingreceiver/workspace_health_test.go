// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/scraper/scrapererror"
)

// workspaceHealth returns the workspace's up value and error.type, and its discovered and selected counts, from
// the non-stale points of one cycle.
func workspaceHealth(t *testing.T, md pmetric.Metrics) (up float64, errorType string, discovered, selected float64) {
	t.Helper()
	found := false
	for _, p := range findAllNumberPoints(md, "databricks.serving.workspace.up") {
		if !p.noValue {
			up, errorType, found = p.value, p.attrs["error.type"], true
		}
	}
	require.True(t, found, "workspace.up is written every cycle")
	for _, p := range findAllNumberPoints(md, "databricks.serving.workspace.endpoints") {
		switch p.attrs["selection"] {
		case "discovered":
			discovered = p.value
		case "selected":
			selected = p.value
		}
	}
	return up, errorType, discovered, selected
}

type numberPoint struct {
	value    float64
	noValue  bool
	attrs    map[string]string
	resource map[string]any
}

func findAllNumberPoints(md pmetric.Metrics, name string) []numberPoint {
	var out []numberPoint
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		ms := rm.ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			if ms.At(j).Name() != name || ms.At(j).Type() != pmetric.MetricTypeGauge {
				continue
			}
			dps := ms.At(j).Gauge().DataPoints()
			for k := 0; k < dps.Len(); k++ {
				attrs := map[string]string{}
				for key, v := range dps.At(k).Attributes().All() {
					attrs[key] = v.AsString()
				}
				out = append(out, numberPoint{
					value: numberValue(dps.At(k)), noValue: dps.At(k).Flags().NoRecordedValue(), attrs: attrs,
					resource: rm.Resource().Attributes().AsRaw(),
				})
			}
		}
	}
	return out
}

func TestCredentialsRefusedFromTheStartAreSeenFromTheFirstCycle(t *testing.T) {
	ws := newFakeWorkspace(t)
	ws.addEndpoint("fraud", "", serve(textFormat, readBody(t, "cpu_endpoint.txt")), "readmission_model-8")
	srv := httptest.NewServer(ws)
	defer srv.Close()
	clock := &fakeClock{t: time.UnixMilli(bodyTimestamp).Add(30 * time.Second)}
	s := newClockedScraper(t, srv.URL, clock, func(c *Config) { c.Token = "dapi-revoked-0000" })
	var reported int
	for cycle := range 3 {
		md, err := scrapeOnce(t, s)
		if err != nil {
			reported++
			assert.Contains(t, err.Error(), "401")
			assert.True(t, scrapererror.IsPartialScrapeError(err), "cycle %d: the scraper controller drops the metrics of a cycle that fails as a whole", cycle)
		}
		up, errorType, _, _ := workspaceHealth(t, md)
		assert.Equal(t, 0.0, up, "cycle %d", cycle)
		assert.Equal(t, errorTypeAuth, errorType)
		points := findAllNumberPoints(md, "databricks.serving.workspace.up")
		require.NotEmpty(t, points)
		assert.NotEmpty(t, points[0].resource["databricks.workspace.host"], "the workspace's own resource")
		assert.Nil(t, points[0].resource["databricks.serving.endpoint.name"])
		assert.Empty(t, findAllNumberPoints(md, "databricks.serving.workspace.endpoints"),
			"no count before the first list: unknown is not zero, and 0 would raise the nothing-selected alert too")
		clock.advance(30 * time.Second)
	}
	assert.Equal(t, 1, reported, "reported once while it lasts")

	// Fixed: up 1 at once, the auth series ends with a stale marker, the endpoints are counted.
	s.cfg.Token = testToken
	s = newClockedScraper(t, srv.URL, clock)
	md, err := scrapeOnce(t, s)
	require.NoError(t, err)
	up, errorType, discovered, selected := workspaceHealth(t, md)
	assert.Equal(t, 1.0, up)
	assert.Empty(t, errorType)
	assert.Equal(t, 1.0, discovered)
	assert.Equal(t, 1.0, selected)
}

func TestAWorkspaceWhoseFiltersSelectNothingSaysSo(t *testing.T) {
	ws := newFakeWorkspace(t)
	for _, name := range []string{"fraud", "churn"} {
		ws.addEndpoint(name, "", serve(textFormat, readBody(t, "cpu_endpoint.txt")), "readmission_model-8")
	}
	ws.addEndpoint("databricks-llama", "FOUNDATION_MODEL_API", serve(textFormat, ""))
	srv := httptest.NewServer(ws)
	defer srv.Close()
	s := newTestScraper(t, srv.URL, func(c *Config) { c.Discovery.Include = []string{"typo-*"} })
	md, err := scrapeOnce(t, s)
	require.NoError(t, err)
	up, _, discovered, selected := workspaceHealth(t, md)
	assert.Equal(t, 1.0, up)
	assert.Equal(t, 3.0, discovered, "every endpoint the workspace lists")
	assert.Equal(t, 0.0, selected, "the alert: nothing is scraped")
}

func TestAThrottledListIsNotAskedBeforeRetryAfterAndTheLastListIsScraped(t *testing.T) {
	ws := newFakeWorkspace(t)
	ws.addEndpoint("fraud", "", serve(textFormat, readBody(t, "cpu_endpoint.txt")), "readmission_model-8")
	srv := httptest.NewServer(ws)
	defer srv.Close()
	clock := &fakeClock{t: time.UnixMilli(bodyTimestamp).Add(30 * time.Second)}
	s := newClockedScraper(t, srv.URL, clock, func(c *Config) {
		c.Discovery.RefreshInterval = time.Second
		c.CollectionInterval = time.Second
	})
	_, err := scrapeOnce(t, s)
	require.NoError(t, err)
	ws.failCalls(http.StatusTooManyRequests, http.StatusTooManyRequests, "600")
	var reported int
	for range 20 {
		clock.advance(time.Second)
		md, scrapeErr := scrapeOnce(t, s)
		if scrapeErr != nil {
			reported++
		}
		up, errorType, _, selected := workspaceHealth(t, md)
		assert.Equal(t, 0.0, up)
		assert.Equal(t, errorTypeRateLimited, errorType)
		assert.Equal(t, 1.0, selected, "the last good list is kept")
		scraped, _, ok := upOf(md, "fraud")
		require.True(t, ok)
		assert.Equal(t, 1.0, scraped, "its endpoints are scraped meanwhile")
	}
	assert.Equal(t, 2, ws.requestsFor("list"), "asked once after the first: Retry-After is ten minutes")
	assert.Equal(t, 1, reported, "reported once")
	clock.advance(10 * time.Minute)
	ws.failCalls(0, 0, "")
	md, err := scrapeOnce(t, s)
	require.NoError(t, err)
	assert.Equal(t, 3, ws.requestsFor("list"))
	up, _, _, _ := workspaceHealth(t, md)
	assert.Equal(t, 1.0, up)
}

func TestAFailingListBacksOffWithJitterUpToTheRefreshInterval(t *testing.T) {
	ws := newFakeWorkspace(t)
	ws.addEndpoint("fraud", "", serve(textFormat, readBody(t, "cpu_endpoint.txt")), "readmission_model-8")
	srv := httptest.NewServer(ws)
	defer srv.Close()
	clock := &fakeClock{t: time.UnixMilli(bodyTimestamp).Add(30 * time.Second)}
	s := newClockedScraper(t, srv.URL, clock, func(c *Config) {
		c.Discovery.RefreshInterval = time.Minute
		c.CollectionInterval = time.Second
	})
	_, err := scrapeOnce(t, s)
	require.NoError(t, err)
	ws.failCalls(http.StatusInternalServerError, 0, "")
	clock.advance(time.Minute)
	for range 300 { // five minutes of one-second cycles
		_, _ = scrapeOnce(t, s)
		clock.advance(time.Second)
	}
	// 1 s, 2, 4, 8, 16, 32, then every minute (±20 %): about 9 lists in five minutes, not 300.
	asked := ws.requestsFor("list") - 1
	assert.LessOrEqual(t, asked, 12)
	assert.GreaterOrEqual(t, asked, 6)
}

func TestThrottledDescriptionsAreNotAskedBeforeRetryAfter(t *testing.T) {
	ws := newFakeWorkspace(t)
	for _, name := range []string{"a", "b", "c", "d"} {
		ws.addEndpoint(name, "", serve(textFormat, readBody(t, "cpu_endpoint.txt")), "readmission_model-8")
	}
	srv := httptest.NewServer(ws)
	defer srv.Close()
	clock := &fakeClock{t: time.UnixMilli(bodyTimestamp).Add(30 * time.Second)}
	s := newClockedScraper(t, srv.URL, clock, func(c *Config) {
		c.Discovery.RefreshInterval = time.Second
		c.CollectionInterval = time.Second
		c.MaxConcurrency = 1 // describe one endpoint after the other
	})
	_, err := scrapeOnce(t, s)
	require.NoError(t, err)
	ws.failCalls(0, http.StatusTooManyRequests, "120")
	for range 30 {
		clock.advance(time.Second)
		md, _ := scrapeOnce(t, s)
		scraped, _, ok := upOf(md, "a")
		require.True(t, ok)
		assert.Equal(t, 1.0, scraped, "descriptions are enrichment: scraping goes on")
	}
	gets := 0
	for _, name := range []string{"a", "b", "c", "d"} {
		gets += ws.requestsFor("get " + name)
	}
	assert.Equal(t, 4+1, gets, "after the first 429, no description is asked for two minutes")
}

// Every shard lists the workspace and writes its health: the series must differ by shard, or a backend receives
// two collectors' points for one series and rejects them.
func TestShardsWriteWorkspaceHealthOfTheirOwn(t *testing.T) {
	ws := newFakeWorkspace(t)
	for _, name := range []string{"fraud", "churn", "ranking", "search"} {
		ws.addEndpoint(name, "", serve(textFormat, readBody(t, "cpu_endpoint.txt")), "readmission_model-8")
	}
	srv := httptest.NewServer(ws)
	defer srv.Close()
	shardOf := func(count, index int) (any, float64) {
		s := newTestScraper(t, srv.URL, func(c *Config) {
			c.Shard.Count, c.Shard.Index = count, index
		})
		md, err := scrapeOnce(t, s)
		require.NoError(t, err)
		points := findAllNumberPoints(md, "databricks.serving.workspace.up")
		require.Len(t, points, 1)
		_, _, _, selected := workspaceHealth(t, md)
		return points[0].resource["databricks.serving.shard"], selected
	}
	shard0, selected0 := shardOf(2, 0)
	shard1, selected1 := shardOf(2, 1)
	assert.Equal(t, "0", shard0)
	assert.Equal(t, "1", shard1)
	assert.Equal(t, 4.0, selected0+selected1, "the shards split the endpoints")
	alone, _ := shardOf(1, 0)
	assert.Nil(t, alone, "no shard attribute without sharding")
}
