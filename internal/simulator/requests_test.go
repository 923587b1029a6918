// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func (ts *testServer) getRequests(t *testing.T, query string) RequestCounts {
	t.Helper()
	resp, body := ts.get(t, "/simulator/requests"+query, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var counts RequestCounts
	require.NoError(t, json.Unmarshal(body, &counts))
	return counts
}

func TestRequestsPerEndpointAndCredential(t *testing.T) {
	ts := newTestServer(t, authConfig())
	ts.mustControl(t, http.MethodPut, "/simulator/tokens", `{"tokens":["shard-a","shard-b"]}`, http.StatusNoContent)
	resp, body := ts.postForm(t, oauthTokenPath, m2mForm("all-apis"), testClientID, testClientSecret)
	oauthToken := decodeTokenAnswer(t, resp, body).AccessToken

	scrape := func(endpoint, token string, times int) {
		for range times {
			ts.get(t, metricsPath(endpoint), token)
		}
	}
	scrape("cpu-endpoint-0", "shard-a", 3)
	scrape("cpu-endpoint-1", "shard-b", 2)
	scrape("gpu-endpoint-0", oauthToken, 1)
	scrape("databricks-fmapi-endpoint-0", "shard-a", 1) // a 404 is a request too
	scrape("cpu-endpoint-0", "wrong-token", 5)          // rejected: no credential to count
	ts.get(t, listPath, "shard-a")                      // only /metrics is counted
	ts.get(t, "/api/2.0/serving-endpoints/cpu-endpoint-0", "shard-b")

	want := RequestCounts{
		"cpu-endpoint-0":              {testStaticLabel("shard-a"): 3},
		"cpu-endpoint-1":              {testStaticLabel("shard-b"): 2},
		"gpu-endpoint-0":              {"oauth:" + testClientID: 1},
		"databricks-fmapi-endpoint-0": {testStaticLabel("shard-a"): 1},
	}
	assert.Equal(t, want, ts.getRequests(t, ""))
	assert.Equal(t, want, ts.sim.Requests())
	_, raw := ts.get(t, "/simulator/requests", "")
	assert.NotContains(t, string(raw), "shard-a", "secrets are never echoed")
	assert.Contains(t, string(raw), `"`+testStaticLabel("shard-a")+`":3`)

	assert.Equal(t, want, ts.getRequests(t, "?reset=1"), "reset answers the counts it zeroes")
	assert.Empty(t, ts.getRequests(t, ""))

	scrape("cpu-endpoint-0", "shard-b", 1)
	assert.Equal(t, RequestCounts{"cpu-endpoint-0": {testStaticLabel("shard-b"): 1}}, ts.getRequests(t, "?reset=0"))
	ts.mustControl(t, http.MethodDelete, "/simulator/requests", "", http.StatusNoContent)
	assert.Empty(t, ts.getRequests(t, ""))

	resp, _ = ts.get(t, "/simulator/requests?reset=yes", "")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestRequestsOfDeletedEndpointsStayCounted(t *testing.T) {
	ts := newTestServer(t, testConfig())
	ts.getMetrics(t, "cpu-endpoint-1")
	ts.mustControl(t, http.MethodDelete, "/simulator/endpoints/cpu-endpoint-1", "", http.StatusNoContent)
	resp, _ := ts.get(t, metricsPath("cpu-endpoint-1"), testToken)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, RequestCounts{"cpu-endpoint-1": {testStaticLabel(testToken): 2}}, ts.getRequests(t, ""),
		"tests of forgetting deleted endpoints see the requests that still come")
}

func TestStaticLabel(t *testing.T) {
	// echo -n test-token | sha256sum
	assert.Equal(t, "static:4c5dc9b7", staticLabel("test-token"))
	assert.Equal(t, testStaticLabel("test-token"), staticLabel("test-token"))
}
