// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// putWorkspaceFault sends PUT /simulator/faults/{call} {"fault": fault}
// (fault is raw JSON) and requires a 204.
func (ts *testServer) putWorkspaceFault(t *testing.T, call, fault string) {
	t.Helper()
	ts.mustControl(t, http.MethodPut, "/simulator/faults/"+call, `{"fault":`+fault+`}`, http.StatusNoContent)
}

// requireStatusFault checks an answer of a status fault: the status, a
// JSON body and the Retry-After header exactly when one was asked for.
func requireStatusFault(t *testing.T, resp *http.Response, body []byte, status int, retryAfter string) {
	t.Helper()
	require.Equal(t, status, resp.StatusCode, string(body))
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	_, present := resp.Header["Retry-After"]
	assert.Equal(t, retryAfter != "", present, "Retry-After present")
	assert.Equal(t, retryAfter, resp.Header.Get("Retry-After"))
}

func TestAPIFaultStatus(t *testing.T) {
	httpDate := time.Now().Add(time.Minute).UTC().Format(http.TimeFormat)
	getPath := listPath + "/" + faultEndpoint
	tests := []struct {
		name       string
		call, path string
		status     int
		retryAfter string
		wantCode   string
		wantMsg    string
	}{
		{"list 429", "list", listPath, http.StatusTooManyRequests, "5", "REQUEST_LIMIT_EXCEEDED", ""},
		{"list 503 with date", "list", listPath, http.StatusServiceUnavailable, httpDate, "TEMPORARILY_UNAVAILABLE", ""},
		{"list 404", "list", listPath, http.StatusNotFound, "", "ENDPOINT_NOT_FOUND", "No API found for 'GET " + listPath + "'"},
		{"get 503", "get", getPath, http.StatusServiceUnavailable, "2", "TEMPORARILY_UNAVAILABLE", ""},
		{"get unknown endpoint", "get", listPath + "/no-such-endpoint", http.StatusInternalServerError, "", "INTERNAL_ERROR", ""},
		{"get 404", "get", getPath, http.StatusNotFound, "", "RESOURCE_DOES_NOT_EXIST", endpointNotFoundMessage(faultEndpoint)},
		{"get 401", "get", getPath, http.StatusUnauthorized, "", "UNAUTHENTICATED", invalidTokenMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, testConfig())
			require.NoError(t, ts.sim.SetAPIFault(tt.call, &Fault{Mode: FaultStatus, Status: tt.status, RetryAfter: tt.retryAfter}))
			resp, body := ts.get(t, tt.path, testToken)
			requireStatusFault(t, resp, body, tt.status, tt.retryAfter)
			apiErr := decodeAPIError(t, body)
			assert.Equal(t, tt.wantCode, apiErr.ErrorCode)
			assert.NotEmpty(t, apiErr.Message)
			if tt.wantMsg != "" {
				assert.Equal(t, tt.wantMsg, apiErr.Message)
			}
			if tt.status == http.StatusUnauthorized {
				assert.Equal(t, "Bearer", resp.Header.Get("WWW-Authenticate"))
			}

			// The other call and /metrics are unaffected.
			if tt.call == "list" {
				ts.detail(t, faultEndpoint)
			} else {
				assert.Contains(t, ts.listItems(t), faultEndpoint)
			}
			ts.getMetrics(t, faultEndpoint)

			require.NoError(t, ts.sim.SetAPIFault(tt.call, nil))
			resp, body = ts.get(t, getPath, testToken)
			assert.Equal(t, http.StatusOK, resp.StatusCode, string(body))
			assert.Contains(t, ts.listItems(t), faultEndpoint)
		})
	}
}

func TestAPIFaultAfterTokenCheck(t *testing.T) {
	ts := newTestServer(t, testConfig())
	require.NoError(t, ts.sim.SetAPIFault("list", &Fault{Mode: FaultStatus, Status: http.StatusServiceUnavailable}))
	require.NoError(t, ts.sim.SetAPIFault("get", &Fault{Mode: FaultStatus, Status: http.StatusServiceUnavailable}))
	for _, path := range []string{listPath, listPath + "/" + faultEndpoint} {
		for _, token := range []string{"", "wrong"} {
			resp, body := ts.get(t, path, token)
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, string(body))
			assert.Equal(t, apiError{ErrorCode: "UNAUTHENTICATED", Message: invalidTokenMessage}, decodeAPIError(t, body))
		}
	}
	stats := ts.sim.Stats().Requests
	assert.Zero(t, stats.List, "unauthenticated requests are not list requests")
	assert.Zero(t, stats.Get)
	assert.Equal(t, int64(4), stats.Unauthorized)
}

func TestAPIFaultOverHTTPAndClear(t *testing.T) {
	ts := newTestServer(t, testConfig())
	getPath := listPath + "/" + faultEndpoint
	ts.putWorkspaceFault(t, "list", `{"mode":"status","status":503,"retry_after":"7"}`)
	ts.putWorkspaceFault(t, "get", `{"mode":"status","status":429}`)

	resp, body := ts.get(t, listPath, testToken)
	requireStatusFault(t, resp, body, http.StatusServiceUnavailable, "7")
	assert.Equal(t, errorCodeUnavailable, decodeAPIError(t, body).ErrorCode)
	resp, body = ts.get(t, getPath, testToken)
	requireStatusFault(t, resp, body, http.StatusTooManyRequests, "")

	// Setting again replaces the fault.
	ts.putWorkspaceFault(t, "list", `{"mode":"status","status":500}`)
	resp, body = ts.get(t, listPath, testToken)
	requireStatusFault(t, resp, body, http.StatusInternalServerError, "")

	// Clearing one call leaves the other failing.
	ts.putWorkspaceFault(t, "list", `null`)
	assert.Contains(t, ts.listItems(t), faultEndpoint)
	resp, _ = ts.get(t, getPath, testToken)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)

	ts.putWorkspaceFault(t, "get", `null`)
	ts.detail(t, faultEndpoint)
	// Clearing a cleared call is fine, in both forms.
	ts.putWorkspaceFault(t, "get", `null`)
	require.NoError(t, ts.sim.SetAPIFault("get", nil))
	require.NoError(t, ts.sim.SetTokenFault(nil))
}

func TestAPIFaultSlowHeaders(t *testing.T) {
	const delay = 200 * time.Millisecond
	for _, tt := range []struct{ call, path string }{
		{"list", listPath},
		{"get", listPath + "/" + faultEndpoint},
	} {
		t.Run(tt.call, func(t *testing.T) {
			ts := newTestServer(t, testConfig())
			_, normal := ts.get(t, tt.path, testToken)
			ts.putWorkspaceFault(t, tt.call, `{"mode":"slow_headers","delay":"200ms"}`)
			start := time.Now()
			resp, body := ts.get(t, tt.path, testToken)
			assert.GreaterOrEqual(t, time.Since(start), delay)
			require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
			assert.JSONEq(t, string(normal), string(body), "a slow answer is the normal one")
		})
	}
}

func TestAPIFaultSlowHeadersCutShortByClose(t *testing.T) {
	ts := newTestServer(t, testConfig())
	require.NoError(t, ts.sim.SetAPIFault("list", &Fault{Mode: FaultSlowHeaders, Delay: Duration(time.Minute)}))
	// The request runs in its own goroutine, where require must not be
	// used: it reports its outcome instead.
	statuses := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, ts.http.URL+listPath, http.NoBody)
		req.Header.Set("Authorization", "Bearer "+testToken)
		client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}
		defer client.CloseIdleConnections()
		resp, err := client.Do(req)
		if err != nil {
			statuses <- 0
			return
		}
		_ = resp.Body.Close()
		statuses <- resp.StatusCode
	}()
	require.Eventually(t, func() bool { return ts.sim.Stats().Requests.List == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, ts.sim.Close())
	select {
	case status := <-statuses:
		assert.Equal(t, http.StatusServiceUnavailable, status)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not cut the delay short")
	}
}

func TestWorkspaceFaultValidation(t *testing.T) {
	ts := newTestServer(t, authConfig())
	ts.putWorkspaceFault(t, "list", `{"mode":"status","status":503}`)
	ts.putWorkspaceFault(t, "token", `{"mode":"status","status":503}`)
	tests := map[string]struct{ call, body, mentions string }{
		"unknown call":          {"lists", `{"fault":{"mode":"status","status":503}}`, `unknown fault call "lists": want list, get or token`},
		"metrics is not a call": {"metrics", `{"fault":null}`, "unknown fault call"},
		"body mode for list":    {"list", `{"fault":{"mode":"truncated"}}`, "mode truncated is not supported for the list call: want status, slow_headers, echo_request or huge_list"},
		"body mode for get":     {"get", `{"fault":{"mode":"html_login"}}`, "mode html_login is not supported for the get call"},
		"body mode for token":   {"token", `{"fault":{"mode":"redirect","location":"http://x"}}`, "mode redirect is not supported for the token call"},
		"unknown mode":          {"list", `{"fault":{"mode":"explode"}}`, "fault.mode"},
		"missing mode":          {"list", `{"fault":{}}`, "fault.mode is required"},
		"status not an error":   {"token", `{"fault":{"mode":"status","status":200}}`, "fault.status"},
		"missing status":        {"get", `{"fault":{"mode":"status"}}`, "fault.status is required"},
		"missing delay":         {"token", `{"fault":{"mode":"slow_headers"}}`, "fault.delay is required"},
		"field of other mode":   {"list", `{"fault":{"mode":"status","status":503,"delay":"1s"}}`, "fault.delay does not apply"},
		"unknown fault field":   {"list", `{"fault":{"mode":"status","status":503,"bogus":1}}`, "bogus"},
		"missing fault":         {"list", `{}`, "fault is required"},
		"unknown field":         {"get", `{"fault":null,"extra":1}`, "extra"},
		"trailing data":         {"get", `{"fault":null} {}`, "trailing data"},
		"empty body":            {"get", ``, "invalid JSON body"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			resp, body := ts.control(t, http.MethodPut, "/simulator/faults/"+tt.call, tt.body)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(body))
			apiErr := decodeAPIError(t, body)
			assert.Equal(t, errorCodeInvalidParameter, apiErr.ErrorCode)
			assert.Contains(t, apiErr.Message, tt.mentions)
		})
	}
	resp, _ := ts.get(t, listPath, testToken)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "a rejected PUT keeps the fault")
	resp, _ = ts.postForm(t, oauthTokenPath, m2mForm("all-apis"), testClientID, testClientSecret)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "a rejected PUT keeps the token fault")

	err := ts.sim.SetAPIFault("token", &Fault{Mode: FaultStatus, Status: 503})
	assert.ErrorContains(t, err, "SetTokenFault")
	assert.ErrorContains(t, ts.sim.SetAPIFault("metrics", nil), `unknown call "metrics"`)
	assert.ErrorContains(t, ts.sim.SetAPIFault("list", &Fault{Mode: FaultMalformed}), "not supported for the list call")
	assert.ErrorContains(t, ts.sim.SetAPIFault("list", &Fault{Mode: FaultStatus}), "fault.status")
	assert.ErrorContains(t, ts.sim.SetTokenFault(&Fault{Mode: FaultSlowBody, Delay: Duration(time.Second)}), "not supported for the token call")
	resp, _ = ts.get(t, listPath, testToken)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "a rejected SetAPIFault keeps the fault")
}

func TestAPIFaultIsCopied(t *testing.T) {
	ts := newTestServer(t, testConfig())
	f := &Fault{Mode: FaultStatus, Status: http.StatusInternalServerError}
	require.NoError(t, ts.sim.SetAPIFault("list", f))
	f.Status = http.StatusOK
	resp, _ := ts.get(t, listPath, testToken)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
}

// tokenRequest is one way of asking a token endpoint for a token.
type tokenRequest struct {
	name       string
	path       string
	form       url.Values
	id, secret string
}

func tokenRequests() []tokenRequest {
	return []tokenRequest{
		{"oauth", oauthTokenPath, m2mForm("all-apis"), testClientID, testClientSecret},
		{"azure", azureTokenPath(testTenant), azureForm(testAzureID, testAzureSecret, azureDatabricksScope), "", ""},
	}
}

func TestTokenFault(t *testing.T) {
	for _, tr := range tokenRequests() {
		t.Run(tr.name, func(t *testing.T) {
			ts := newTestServer(t, authConfig())
			ts.putWorkspaceFault(t, "token", `{"mode":"status","status":503,"retry_after":"3"}`)
			resp, body := ts.postForm(t, tr.path, tr.form, tr.id, tr.secret)
			requireStatusFault(t, resp, body, http.StatusServiceUnavailable, "3")
			assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
			e := decodeOAuthError(t, body)
			assert.Equal(t, "temporarily_unavailable", e.Error)
			assert.NotEmpty(t, e.Description)

			// The fault comes before the request is checked.
			resp, body = ts.postForm(t, tr.path, url.Values{}, "", "")
			requireStatusFault(t, resp, body, http.StatusServiceUnavailable, "3")

			require.NoError(t, ts.sim.SetTokenFault(&Fault{Mode: FaultStatus, Status: http.StatusTooManyRequests}))
			resp, body = ts.postForm(t, tr.path, tr.form, tr.id, tr.secret)
			requireStatusFault(t, resp, body, http.StatusTooManyRequests, "")
			assert.Equal(t, "temporarily_unavailable", decodeOAuthError(t, body).Error)

			// The API stays up: only the token endpoints fail.
			requireAccepted(t, ts, testToken)

			ts.putWorkspaceFault(t, "token", `null`)
			resp, body = ts.postForm(t, tr.path, tr.form, tr.id, tr.secret)
			requireAccepted(t, ts, decodeTokenAnswer(t, resp, body).AccessToken)

			stats := ts.sim.Stats().TokenRequests
			assert.Equal(t, int64(3), stats.Rejected)
			assert.Equal(t, int64(3), stats.Faulted)
			assert.Equal(t, int64(1), stats.OAuth+stats.Azure)
			assert.Equal(t, int64(4), stats.Total())
		})
	}
}

func TestTokenFaultSlowHeaders(t *testing.T) {
	const delay = 200 * time.Millisecond
	for _, tr := range tokenRequests() {
		t.Run(tr.name, func(t *testing.T) {
			ts := newTestServer(t, authConfig())
			require.NoError(t, ts.sim.SetTokenFault(&Fault{Mode: FaultSlowHeaders, Delay: Duration(delay)}))
			start := time.Now()
			resp, body := ts.postForm(t, tr.path, tr.form, tr.id, tr.secret)
			assert.GreaterOrEqual(t, time.Since(start), delay)
			requireAccepted(t, ts, decodeTokenAnswer(t, resp, body).AccessToken)

			stats := ts.sim.Stats().TokenRequests
			assert.Equal(t, int64(1), stats.Faulted)
			assert.Zero(t, stats.Rejected)
			assert.Equal(t, int64(1), stats.Total())
		})
	}
}

func TestWorkspaceFaultCounters(t *testing.T) {
	ts := newTestServer(t, authConfig())
	require.NoError(t, ts.sim.SetAPIFault("list", &Fault{Mode: FaultStatus, Status: http.StatusServiceUnavailable, RetryAfter: "1"}))
	require.NoError(t, ts.sim.SetAPIFault("get", &Fault{Mode: FaultStatus, Status: http.StatusNotFound}))
	require.NoError(t, ts.sim.SetTokenFault(&Fault{Mode: FaultStatus, Status: http.StatusServiceUnavailable}))
	for range 3 {
		ts.get(t, listPath, testToken)
	}
	ts.get(t, listPath+"/"+faultEndpoint, testToken)
	ts.get(t, listPath+"/no-such-endpoint", testToken)
	for _, tr := range tokenRequests() {
		ts.postForm(t, tr.path, tr.form, tr.id, tr.secret)
	}

	resp, body := ts.get(t, "/simulator/stats", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var stats Stats
	require.NoError(t, json.Unmarshal(body, &stats))
	assert.Equal(t, RequestStats{List: 3, Get: 2, NotFound: 2}, stats.Requests)
	assert.Equal(t, TokenRequestStats{Rejected: 2, Faulted: 2}, stats.TokenRequests)
	assert.Equal(t, int64(2), stats.TokenRequests.Total())
	assert.JSONEq(t,
		`{"requests":{"list":3,"get":2,"metrics":0,"unauthorized":0,"not_found":2,"faulted":0},"max_in_flight":1,`+
			`"token_requests":{"oauth":0,"azure":0,"rejected":2,"faulted":2},"expired_token_rejections":0}`,
		string(body))
}

func TestWorkspaceFaultsSwitchDuringRequests(t *testing.T) {
	ts := newTestServer(t, authConfig())
	faults := []*Fault{
		nil,
		{Mode: FaultStatus, Status: http.StatusServiceUnavailable},
		{Mode: FaultSlowHeaders, Delay: Duration(time.Millisecond)},
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			f := faults[i%len(faults)]
			assert.NoError(t, ts.sim.SetAPIFault("list", f))
			assert.NoError(t, ts.sim.SetAPIFault("get", f))
			assert.NoError(t, ts.sim.SetTokenFault(f))
			time.Sleep(time.Millisecond)
		}
	})
	for range 2 {
		wg.Go(func() {
			for range 20 {
				resp, _ := ts.get(t, listPath, testToken)
				assert.Contains(t, []int{http.StatusOK, http.StatusServiceUnavailable}, resp.StatusCode)
				resp, _ = ts.get(t, listPath+"/"+faultEndpoint, testToken)
				assert.Contains(t, []int{http.StatusOK, http.StatusServiceUnavailable}, resp.StatusCode)
				resp, _ = ts.postForm(t, oauthTokenPath, m2mForm("all-apis"), testClientID, testClientSecret)
				assert.Contains(t, []int{http.StatusOK, http.StatusServiceUnavailable}, resp.StatusCode)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	assert.Equal(t, int64(40), ts.sim.Stats().TokenRequests.Total())
}
