// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func (ts *testServer) getTimeline(t *testing.T, endpoint string) EndpointTimeline {
	t.Helper()
	resp, body := ts.get(t, "/simulator/timeline?endpoint="+endpoint, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var timeline EndpointTimeline
	require.NoError(t, json.Unmarshal(body, &timeline))
	return timeline
}

func TestTimelineRecordsArrivals(t *testing.T) {
	ts := newTestServer(t, testConfig())
	const name = "cpu-endpoint-0"
	const gap = 50 * time.Millisecond
	assert.Empty(t, ts.sim.Timeline(name))
	assert.Equal(t, EndpointTimeline{Endpoint: name, ArrivalsMillis: []int64{}}, ts.getTimeline(t, name))
	_, body := ts.get(t, "/simulator/timeline?endpoint="+name, "")
	assert.JSONEq(t, `{"endpoint":"cpu-endpoint-0","arrivals_ms":[]}`, string(body))

	before := time.Now()
	ts.getMetrics(t, name)
	time.Sleep(gap)
	require.NoError(t, ts.sim.SetFault(name, &Fault{Mode: FaultStatus, Status: http.StatusTooManyRequests, RetryAfter: "1"}))
	ts.get(t, metricsPath(name), testToken) // faulted answers count
	time.Sleep(gap)
	ts.get(t, metricsPath(name), "wrong-token") // rejected: not a request of the endpoint
	ts.get(t, "/api/2.0/serving-endpoints/"+name, testToken)
	require.NoError(t, ts.sim.SetFault(name, nil))
	ts.getMetrics(t, name)
	after := time.Now()

	arrivals := ts.sim.Timeline(name)
	require.Len(t, arrivals, 3)
	assert.False(t, arrivals[0].Before(before))
	assert.False(t, arrivals[2].After(after))
	assert.GreaterOrEqual(t, arrivals[1].Sub(arrivals[0]), gap)
	assert.GreaterOrEqual(t, arrivals[2].Sub(arrivals[1]), gap)

	timeline := ts.getTimeline(t, name)
	assert.Equal(t, name, timeline.Endpoint)
	want := make([]int64, len(arrivals))
	for i, at := range arrivals {
		want[i] = at.UnixMilli()
	}
	assert.Equal(t, want, timeline.ArrivalsMillis)
	assert.Empty(t, ts.sim.Timeline("cpu-endpoint-1"), "per endpoint")
}

func TestTimelineUsesTheWallClock(t *testing.T) {
	ts := newTestServer(t, testConfig()) // the fake clock is in 2026
	ts.clock.Set(time.UnixMilli(0))
	start := time.Now()
	ts.get(t, metricsPath("cpu-endpoint-0"), testToken)
	arrivals := ts.sim.Timeline("cpu-endpoint-0")
	require.Len(t, arrivals, 1)
	assert.WithinDuration(t, start, arrivals[0], 10*time.Second)
}

func TestTimelineOfUnknownAndDeletedEndpoints(t *testing.T) {
	ts := newTestServer(t, testConfig())
	resp, body := ts.get(t, "/simulator/timeline?endpoint=no-such-endpoint", "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, string(body))
	assert.Equal(t, errorCodeNotFound, decodeAPIError(t, body).ErrorCode)

	resp, body = ts.get(t, "/simulator/timeline", "")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, string(body))
	assert.Contains(t, decodeAPIError(t, body).Message, "endpoint")

	// Requests to an endpoint that is gone, or never existed, still arrive.
	ts.get(t, metricsPath("cpu-endpoint-1"), testToken)
	ts.mustControl(t, http.MethodDelete, "/simulator/endpoints/cpu-endpoint-1", "", http.StatusNoContent)
	ts.get(t, metricsPath("cpu-endpoint-1"), testToken)
	assert.Len(t, ts.getTimeline(t, "cpu-endpoint-1").ArrivalsMillis, 2)
	ts.get(t, metricsPath("ghost"), testToken)
	assert.Len(t, ts.getTimeline(t, "ghost").ArrivalsMillis, 1)
}

func TestTimelineKeepsTheLastThousand(t *testing.T) {
	timeline := newArrivalTimeline()
	for range timelineCapacity {
		timeline.record("a")
	}
	full, ok := timeline.arrivals("a")
	require.True(t, ok)
	require.Len(t, full, timelineCapacity)

	const more = 5
	for range more {
		timeline.record("a")
	}
	wrapped, _ := timeline.arrivals("a")
	require.Len(t, wrapped, timelineCapacity)
	assert.Equal(t, full[more:], wrapped[:timelineCapacity-more], "the oldest are dropped")
	assert.True(t, slices.IsSortedFunc(wrapped, time.Time.Compare), "oldest first")
	assert.False(t, wrapped[timelineCapacity-1].Before(full[timelineCapacity-1]))

	wrapped[0] = time.Time{}
	again, _ := timeline.arrivals("a")
	assert.NotEqual(t, time.Time{}, again[0], "arrivals returns a copy")

	_, ok = timeline.arrivals("b")
	assert.False(t, ok)
}
