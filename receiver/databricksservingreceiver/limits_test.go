// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"fmt"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/exposition"
)

// limits.max_series admits series until the endpoint holds exactly that many, and refuses the next.
func TestMaxSeriesAdmitsExactlyItsValue(t *testing.T) {
	ws := newHostileWorkspace([]map[string]any{{"name": "churn"}})
	window := func(n int) int64 { return bodyTimestamp + int64(n)*time.Minute.Milliseconds() }
	ws.metrics = func(_ string, n int) string {
		if n == 0 {
			return gaugeLinesAt("kept-", 5, window(n), true)
		}
		return gaugeLinesAt("kept-", 5, window(n), true) + gaugeLinesAt("new-", 10, window(n), false)
	}
	srv := httptest.NewServer(ws)
	defer srv.Close()
	s := newTestScraper(t, srv.URL)
	s.now = func() time.Time { return time.UnixMilli(window(0)).Add(30 * time.Second) }
	_, err := scrapeOnce(t, s)
	require.NoError(t, err)
	held := len(s.endpoints["churn"].series)
	s.cfg.Limits.MaxSeries = held + 3 // room for three of the ten new series
	s.now = func() time.Time { return time.UnixMilli(window(1)).Add(30 * time.Second) }
	md, err := scrapeOnce(t, s)
	require.ErrorContains(t, err, "limits.max_series")
	assert.Equal(t, map[string]int64{"max_series": 7}, limitPoints(md, "churn"))
	for i := range 10 {
		assert.Equal(t, i < 3, hasGaugePoint(md, fmt.Sprintf("new-%d", i)), "new-%d", i)
	}
}

// The workspace's series budget (limits.max_workspace_series) gives out exactly its limit, counting what is held,
// and a refused series takes nothing from it; a limit of 0 is no limit.
func TestTheWorkspaceSeriesBudgetGivesOutExactlyItsLimit(t *testing.T) {
	b := newSeriesBudget(3, 1)
	assert.True(t, b.take())
	assert.True(t, b.take())
	assert.False(t, b.take(), "1 held and 2 taken: the limit of 3 is reached")
	assert.False(t, b.take())
	assert.Equal(t, int64(3), b.used.Load(), "a refused series takes nothing")
	unlimited := newSeriesBudget(0, 5)
	for range 10 {
		require.True(t, unlimited.take())
	}
	var none *seriesBudget
	assert.True(t, none.take())
}

// The series the receiver holds include the workspace's own health series.
func TestHeldSeriesCountsTheWorkspacesOwn(t *testing.T) {
	ws := newFakeWorkspace(t)
	ws.addEndpoint("fraud", "", serve(textFormat, readBody(t, "cpu_endpoint.txt")), "readmission_model-8")
	srv := httptest.NewServer(ws)
	defer srv.Close()
	s := newTestScraper(t, srv.URL)
	_, err := scrapeOnce(t, s)
	require.NoError(t, err)
	own := len(s.workspace.series)
	require.Positive(t, own)
	assert.Equal(t, len(s.endpoints["fraud"].series)+own, s.heldSeries())
}

func TestObservationCountsAreWholeAndNotNegative(t *testing.T) {
	for v, ok := range map[float64]bool{0: true, 1: true, 1e15: true, -1: false, 1.5: false, math.NaN(): false, math.Inf(1): false, 1e19: false} {
		n, err := observationCount(v)
		if ok {
			require.NoError(t, err, "%v", v)
			assert.Equal(t, uint64(v), n)
		} else {
			assert.Error(t, err, "%v", v)
		}
	}
}

func TestLabelStringRendersLabelsForErrors(t *testing.T) {
	assert.Empty(t, labelString(nil))
	assert.Equal(t, `{a="1",b="x y"}`, labelString([]exposition.Label{{Name: "a", Value: "1"}, {Name: "b", Value: "x y"}}))
}

// A sample's timestamp must be a plausible window: at most maxFutureSkew ahead of the collector's clock and
// maxWindowAge behind it; the error says by how much, and recognises seconds written where milliseconds belong.
func TestASampleTimestampMustBeAPlausibleWindow(t *testing.T) {
	now := time.UnixMilli(bodyTimestamp)
	c := &converter{now: now}
	nowMs := now.UnixMilli()
	for ms, want := range map[int64]string{
		nowMs + maxFutureSkew.Milliseconds() + time.Minute.Milliseconds(): "11m0s ahead of the collector's clock",
		nowMs - 2*time.Hour.Milliseconds():                                "2h0m0s behind the collector's clock",
		nowMs / 1000:                                                      fmt.Sprintf("looks like seconds since the epoch: the exposition format stamps samples in milliseconds (%d)", nowMs/1000*1000),
		0:                                                                 "zero or negative",
	} {
		_, err := c.window(&exposition.Sample{TimestampMs: ms, HasTimestamp: true})
		require.ErrorContains(t, err, want, "timestamp %d", ms)
	}
	for _, ms := range []int64{nowMs - maxWindowAge.Milliseconds(), nowMs + maxFutureSkew.Milliseconds(), nowMs} {
		_, err := c.window(&exposition.Sample{TimestampMs: ms, HasTimestamp: true})
		require.NoError(t, err, "timestamp %d is within the bounds", ms)
	}
}

// The list's body is bounded by limits.max_endpoints times listBytesPerEndpoint, not by limits.max_body_bytes: a
// list of exactly that size is read, one byte more is refused, and the error names limits.max_endpoints.
func TestTheListBodyLimitIsMaxEndpointsTimesItsShare(t *testing.T) {
	const maxEndpoints = 4
	listLimit := maxEndpoints * listBytesPerEndpoint
	for _, tc := range []struct {
		name string
		size int
		ok   bool
	}{
		{"at the limit", listLimit, true},
		{"one byte over", listLimit + 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := newHostileWorkspace([]map[string]any{{"name": "listed"}})
			ws.metrics = func(string, int) string { return gaugeLines("a", 1) }
			// The list padded to size by a field the client skips.
			head, tail := `{"endpoints":[{"name":"listed"}],"padding":"`, `"}`
			ws.list = []byte(head + strings.Repeat("x", tc.size-len(head)-len(tail)) + tail)
			require.Len(t, ws.list, tc.size)
			srv := httptest.NewServer(ws)
			defer srv.Close()
			s := newTestScraper(t, srv.URL, func(c *Config) {
				c.Limits.MaxEndpoints = maxEndpoints
				c.Limits.MaxBodyBytes = 1 << 10 // far below the list's: the list is not held to it
			})
			_, err := scrapeOnce(t, s)
			if tc.ok {
				require.NoError(t, err)
				assert.Contains(t, s.endpoints, "listed")
				return
			}
			require.ErrorContains(t, err, "limits.max_endpoints")
			assert.Empty(t, s.endpoints)
		})
	}
}

// databricks.serving.limit.exceeded counts, for max_served_entities, the served entities the description had
// beyond the limit plus those the body named beyond it; for max_tag_value_length, the tags dropped for their
// value plus the other description fields emptied.
func TestLimitExceededAddsUpWhatEachLimitDropped(t *testing.T) {
	var served []map[string]any
	for i := range 5 {
		served = append(served, map[string]any{"name": fmt.Sprintf("entity-%d", i), "entity_version": "1"})
	}
	long := strings.Repeat("v", 65)
	// A field emptied and a tag dropped for max_tag_value_length; two served entities beyond max_served_entities.
	ws := newHostileWorkspace([]map[string]any{{
		"name": "trimmed", "task": long,
		"tags":   []map[string]string{{"key": "kept", "value": "v"}, {"key": "long", "value": long}},
		"config": map[string]any{"served_entities": served},
	}})
	ws.metrics = func(string, int) string {
		// Two entities the description does not have, and no room left for them.
		return "# TYPE g gauge\n" +
			fmt.Sprintf("g{served_entity_name=\"entity-0\"} 1 %d\n", bodyTimestamp) +
			fmt.Sprintf("g{served_entity_name=\"unknown-1\"} 1 %d\n", bodyTimestamp) +
			fmt.Sprintf("g{served_entity_name=\"unknown-2\"} 1 %d\n", bodyTimestamp)
	}
	srv := httptest.NewServer(ws)
	defer srv.Close()
	s := newTestScraper(t, srv.URL, func(c *Config) {
		c.Limits.MaxServedEntities = 3
		c.Limits.MaxTagValueLength = 64
	})
	md, err := scrapeOnce(t, s)
	require.ErrorContains(t, err, "limits.max_served_entities")
	assert.Equal(t, map[string]int64{"max_served_entities": 2 + 2, "max_tag_value_length": 1 + 1}, limitPoints(md, "trimmed"))
}
