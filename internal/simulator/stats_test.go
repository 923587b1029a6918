// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStatsCountRequests(t *testing.T) {
	ts := newTestServer(t, testConfig())
	ts.get(t, "/api/2.0/serving-endpoints", testToken)
	ts.get(t, "/api/2.0/serving-endpoints/cpu-endpoint-0", testToken)
	ts.get(t, "/api/2.0/serving-endpoints/no-such-endpoint", testToken)
	ts.get(t, metricsPath("cpu-endpoint-0"), testToken)
	ts.get(t, metricsPath("databricks-fmapi-endpoint-0"), testToken)
	ts.get(t, metricsPath("cpu-endpoint-0"), "")
	ts.get(t, "/api/2.0/serving-endpoints", "wrong")
	ts.get(t, "/simulator/truth", "")

	resp, body := ts.get(t, "/simulator/stats", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var stats Stats
	require.NoError(t, json.Unmarshal(body, &stats))
	assert.Equal(t, RequestStats{List: 1, Get: 2, Metrics: 2, Unauthorized: 2, NotFound: 2}, stats.Requests)
	assert.Equal(t, int64(1), stats.MaxInFlight)
	assert.Equal(t, stats, ts.sim.Stats())

	assert.JSONEq(t,
		`{"requests":{"list":1,"get":2,"metrics":2,"unauthorized":2,"not_found":2,"faulted":0},"max_in_flight":1,`+
			`"token_requests":{"oauth":0,"azure":0,"rejected":0,"faulted":0},"expired_token_rejections":0}`,
		string(body))
}

func TestResponseDelayAndMaxInFlight(t *testing.T) {
	cfg := testConfig()
	cfg.ResponseDelay = 300 * time.Millisecond
	ts := newTestServer(t, cfg)

	const concurrent = 5
	start := time.Now()
	var wg sync.WaitGroup
	for range concurrent {
		wg.Go(func() {
			resp, _ := ts.get(t, metricsPath("cpu-endpoint-0"), testToken)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
		})
	}
	wg.Wait()
	assert.GreaterOrEqual(t, time.Since(start), cfg.ResponseDelay)

	stats := ts.sim.Stats()
	assert.Equal(t, int64(concurrent), stats.Requests.Metrics)
	// Five requests sleeping 300 ms each overlap unless the machine stalls.
	assert.GreaterOrEqual(t, stats.MaxInFlight, int64(2))
	assert.LessOrEqual(t, stats.MaxInFlight, int64(concurrent))
}
