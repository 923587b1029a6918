// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const faultEndpoint = "cpu-endpoint-0"

// patchFault sends PATCH {"fault": fault} (fault is raw JSON) for faultEndpoint and
// requires a 200.
func (ts *testServer) patchFault(t *testing.T, fault string) {
	t.Helper()
	ts.mustControl(t, http.MethodPatch, "/simulator/endpoints/"+faultEndpoint, `{"fault":`+fault+`}`, http.StatusOK)
}

// normalBody is the endpoint's /metrics body without a fault, fetched from
// a fresh server with the same config and clock, so the tested server's
// truth and counters stay untouched.
func normalBody(t *testing.T, ts *testServer, endpoint string) []byte {
	t.Helper()
	fresh := newTestServer(t, ts.sim.cfg)
	fresh.clock.Set(ts.clock.Now())
	return fresh.getMetrics(t, endpoint)
}

// rawClient neither follows redirects nor decompresses: tests see the
// answer as sent.
func rawClient() *http.Client {
	return &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// rawGet fetches /metrics with rawClient and returns the body read so far
// with the read error, which faults make non-nil.
func (ts *testServer) rawGet(t *testing.T, endpoint string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, ts.http.URL+metricsPath(endpoint), http.NoBody)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	client := rawClient()
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func parseError(body []byte) error {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	_, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	return err
}

func TestFaultStatus(t *testing.T) {
	ts := newTestServer(t, testConfig())
	httpDate := time.Now().Add(time.Minute).UTC().Format(http.TimeFormat)
	tests := []struct {
		status     int
		retryAfter string
		code       string
	}{
		{http.StatusUnauthorized, "", "UNAUTHENTICATED"},
		{http.StatusForbidden, "", "PERMISSION_DENIED"},
		{http.StatusNotFound, "", "RESOURCE_DOES_NOT_EXIST"},
		{http.StatusTooManyRequests, "5", "REQUEST_LIMIT_EXCEEDED"},
		{http.StatusInternalServerError, "", "INTERNAL_ERROR"},
		{http.StatusServiceUnavailable, httpDate, "TEMPORARILY_UNAVAILABLE"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			require.NoError(t, ts.sim.SetFault(faultEndpoint, &Fault{Mode: FaultStatus, Status: tt.status, RetryAfter: tt.retryAfter}))
			resp, body := ts.get(t, metricsPath(faultEndpoint), testToken)
			require.Equal(t, tt.status, resp.StatusCode, string(body))
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			assert.Equal(t, tt.retryAfter, resp.Header.Get("Retry-After"))
			_, present := resp.Header["Retry-After"]
			assert.Equal(t, tt.retryAfter != "", present)
			apiErr := decodeAPIError(t, body)
			assert.Equal(t, tt.code, apiErr.ErrorCode)
			assert.NotEmpty(t, apiErr.Message)
		})
	}

	// The other APIs are unaffected.
	assert.Contains(t, ts.listItems(t), faultEndpoint)
	ts.detail(t, faultEndpoint)
	ts.getMetrics(t, "cpu-endpoint-1")

	stats := ts.sim.Stats().Requests
	assert.Equal(t, int64(len(tests)+1), stats.Metrics)
	assert.Equal(t, int64(len(tests)), stats.Faulted)
	assert.Equal(t, int64(1), stats.Unauthorized)
	assert.Equal(t, int64(1), stats.NotFound)
	assert.Equal(t, int64(len(tests)), ts.sim.Requests()[faultEndpoint][testStaticLabel(testToken)])
	assert.NotContains(t, ts.sim.Truth().Endpoints, faultEndpoint)
}

func TestFaultOverHTTPAndClear(t *testing.T) {
	ts := newTestServer(t, testConfig())
	ts.patchFault(t, `{"mode":"status","status":429,"retry_after":"5"}`)
	resp, _ := ts.get(t, metricsPath(faultEndpoint), testToken)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "5", resp.Header.Get("Retry-After"))

	// A PATCH of other fields keeps the fault.
	ts.mustControl(t, http.MethodPatch, "/simulator/endpoints/"+faultEndpoint, `{"ready":"NOT_READY"}`, http.StatusOK)
	resp, _ = ts.get(t, metricsPath(faultEndpoint), testToken)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)

	ts.patchFault(t, `null`)
	require.NoError(t, parseError(ts.getMetrics(t, faultEndpoint)))
	assert.Contains(t, ts.sim.Truth().Endpoints, faultEndpoint)

	ts.patchFault(t, `{"mode":"malformed"}`)
	require.Error(t, parseError(ts.getMetrics(t, faultEndpoint)))
	require.NoError(t, ts.sim.SetFault(faultEndpoint, nil))
	require.NoError(t, parseError(ts.getMetrics(t, faultEndpoint)))
	// Clearing a cleared endpoint is fine.
	require.NoError(t, ts.sim.SetFault(faultEndpoint, nil))
}

func TestFaultSlowHeaders(t *testing.T) {
	ts := newTestServer(t, testConfig())
	const delay = 200 * time.Millisecond
	ts.patchFault(t, `{"mode":"slow_headers","delay":"200ms"}`)
	start := time.Now()
	body := ts.getMetrics(t, faultEndpoint)
	assert.GreaterOrEqual(t, time.Since(start), delay)
	assert.Equal(t, string(normalBody(t, ts, faultEndpoint)), string(body))
	assert.Contains(t, ts.sim.Truth().Endpoints, faultEndpoint, "the normal body was served")
}

func TestFaultSlowHeadersHonoursCancellation(t *testing.T) {
	ts := newTestServer(t, testConfig())
	require.NoError(t, ts.sim.SetFault(faultEndpoint, &Fault{Mode: FaultSlowHeaders, Delay: Duration(time.Minute)}))
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.http.URL+metricsPath(faultEndpoint), http.NoBody)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	start := time.Now()
	client := rawClient()
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if resp != nil {
		_ = resp.Body.Close()
	}
	require.ErrorIs(t, err, context.DeadlineExceeded)
	// httptest.Server.Close in the cleanup waits for the handler: it must
	// see the client go and stop waiting, or the test times out.
	ts.http.Close()
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.NotContains(t, ts.sim.Truth().Endpoints, faultEndpoint)
}

func TestFaultSlowHeadersCutShortByClose(t *testing.T) {
	sim, err := New(testConfig(), WithClock(newFakeClock(testStart).Now))
	require.NoError(t, err)
	addr, err := sim.Start("127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, sim.SetFault(faultEndpoint, &Fault{Mode: FaultSlowHeaders, Delay: Duration(time.Minute)}))

	type answer struct {
		status int
		err    error
	}
	answers := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr.String()+metricsPath(faultEndpoint), http.NoBody)
		req.Header.Set("Authorization", "Bearer "+testToken)
		client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}
		defer client.CloseIdleConnections()
		resp, err := client.Do(req)
		if err != nil {
			answers <- answer{err: err}
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		answers <- answer{status: resp.StatusCode}
	}()
	require.Eventually(t, func() bool { return sim.Stats().Requests.Metrics == 1 }, 5*time.Second, 5*time.Millisecond)

	start := time.Now()
	require.NoError(t, sim.Close())
	assert.Less(t, time.Since(start), 3*time.Second)
	got := <-answers
	require.NoError(t, got.err)
	assert.Equal(t, http.StatusServiceUnavailable, got.status)
}

func TestFaultSlowBody(t *testing.T) {
	ts := newTestServer(t, testConfig())
	const delay = 300 * time.Millisecond
	normal := normalBody(t, ts, faultEndpoint)
	require.NoError(t, ts.sim.SetFault(faultEndpoint, &Fault{Mode: FaultSlowBody, Delay: Duration(delay)}))

	req, err := http.NewRequest(http.MethodGet, ts.http.URL+metricsPath(faultEndpoint), http.NoBody)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	client := rawClient()
	defer client.CloseIdleConnections()
	start := time.Now()
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	assert.Less(t, time.Since(start), delay, "headers come at once")
	assert.Equal(t, int64(len(normal)), resp.ContentLength)

	half := make([]byte, len(normal)/2)
	_, err = io.ReadFull(resp.Body, half)
	require.NoError(t, err)
	assert.Less(t, time.Since(start), delay, "the first half comes at once")
	rest, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), delay)
	assert.Equal(t, string(normal), string(half)+string(rest))
	assert.Contains(t, ts.sim.Truth().Endpoints, faultEndpoint)
}

func TestFaultSlowBodyHonoursCancellation(t *testing.T) {
	ts := newTestServer(t, testConfig())
	require.NoError(t, ts.sim.SetFault(faultEndpoint, &Fault{Mode: FaultSlowBody, Delay: Duration(time.Minute)}))
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.http.URL+metricsPath(faultEndpoint), http.NoBody)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	client := rawClient()
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	require.NoError(t, err)
	_, err = resp.Body.Read(make([]byte, 16))
	require.NoError(t, err)
	cancel()
	_, err = io.ReadAll(resp.Body)
	require.Error(t, err)
	_ = resp.Body.Close()
	start := time.Now()
	ts.http.Close() // waits for the handler
	assert.Less(t, time.Since(start), 10*time.Second)
}

func TestFaultTruncated(t *testing.T) {
	ts := newTestServer(t, testConfig())
	normal := normalBody(t, ts, faultEndpoint)
	ts.patchFault(t, `{"mode":"truncated"}`)
	resp, body, err := ts.rawGet(t, faultEndpoint)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, int64(len(normal)), resp.ContentLength)
	assert.Equal(t, string(normal[:len(normal)/2]), string(body))
	assert.NotContains(t, ts.sim.Truth().Endpoints, faultEndpoint)
}

func TestFaultMalformed(t *testing.T) {
	ts := newTestServer(t, testConfig())
	normal := normalBody(t, ts, faultEndpoint)
	ts.patchFault(t, `{"mode":"malformed"}`)
	body := ts.getMetrics(t, faultEndpoint)
	require.Error(t, parseError(body))
	text := string(body)
	assert.Contains(t, text, `{served_entity_name="malformed" 1 `, "unbalanced brace")
	assert.Contains(t, text, `{served_entity_name="malformed"} abc `)
	assert.Contains(t, text, "\n# TYPE x nonsense\n")

	var kept []string
	for line := range strings.Lines(text) {
		if !strings.Contains(line, "malformed") && line != "# TYPE x nonsense\n" {
			kept = append(kept, line)
		}
	}
	assert.Equal(t, string(normal), strings.Join(kept, ""), "the rest is the normal body")
}

func TestFaultDuplicateSeries(t *testing.T) {
	ts := newTestServer(t, testConfig())
	normal := normalBody(t, ts, faultEndpoint)
	start, end := firstSampleLine(normal)
	line := string(normal[start:end])
	require.True(t, strings.HasPrefix(line, metricCPUUsage+`{served_entity_name="`), line)

	ts.patchFault(t, `{"mode":"duplicate_series"}`)
	body := string(ts.getMetrics(t, faultEndpoint))
	assert.Equal(t, 2, strings.Count(body, line))
	assert.Equal(t, string(normal[:end])+line+string(normal[end:]), body)
	assert.Contains(t, ts.sim.Truth().Endpoints, faultEndpoint)
}

func TestFaultNaNInf(t *testing.T) {
	ts := newTestServer(t, testConfig())
	const name = "multi-entity-endpoint-0"
	require.NoError(t, ts.sim.SetFault(name, &Fault{Mode: FaultNaNInf}))
	families := parseExposition(t, ts.getMetrics(t, name))
	normal := parseExposition(t, normalBody(t, ts, name))

	for family, check := range map[string]func(float64) bool{
		metricCPUUsage:     math.IsNaN,
		metricMemUsage:     func(v float64) bool { return math.IsInf(v, 1) },
		metricRequestCount: func(v float64) bool { return math.IsInf(v, -1) },
	} {
		values := gaugeValues(families, family)
		require.Len(t, values, 2, family)
		for entity, v := range values {
			assert.True(t, check(v), "%s %s = %v", family, entity, v)
		}
	}
	assert.Equal(t, gaugeValues(normal, metricRequest4xxCount), gaugeValues(families, metricRequest4xxCount), "other families unchanged")
	assert.Equal(t, len(normal), len(families))
	assert.Contains(t, ts.sim.Truth().Endpoints, name)
}

func TestFaultHugeBody(t *testing.T) {
	ts := newTestServer(t, testConfig())
	normal := normalBody(t, ts, faultEndpoint)
	for _, size := range []int{1, 2, 3, 127, 128, 129, 1 << 20, 1<<20 + 77} {
		require.NoError(t, ts.sim.SetFault(faultEndpoint, &Fault{Mode: FaultHugeBody, Size: size}))
		body := ts.getMetrics(t, faultEndpoint)
		require.Len(t, body, len(normal)+size, "size %d", size)
		assert.Equal(t, string(normal), string(body[:len(normal)]))
		assert.Equal(t,
			observedFromFamilies(t, parseExposition(t, normal)),
			observedFromFamilies(t, parseExposition(t, body)), "padding is only comments, size %d", size)
	}
	assert.Contains(t, ts.sim.Truth().Endpoints, faultEndpoint)

	const series = 5000
	ts.patchFault(t, `{"mode":"huge_body","size":5000,"padding_series":true}`)
	families := parseExposition(t, ts.getMetrics(t, faultEndpoint))
	filler := families[fillerGaugeName].GetMetric()
	require.Len(t, filler, series)
	seen := make(map[string]bool)
	for _, m := range filler {
		require.Len(t, m.GetLabel(), 1)
		seen[m.GetLabel()[0].GetValue()] = true
		assert.Equal(t, 1.0, m.GetGauge().GetValue())
		assert.Equal(t, testWindowEndMillis, m.GetTimestampMs())
	}
	assert.Len(t, seen, series, "distinct series")
}

func TestFaultGzipBomb(t *testing.T) {
	ts := newTestServer(t, testConfig())
	const size = 16 << 20
	ts.patchFault(t, `{"mode":"gzip_bomb","size":16777216}`)
	resp, wire, err := ts.rawGet(t, faultEndpoint)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
	assert.Equal(t, int64(len(wire)), resp.ContentLength)
	assert.Less(t, len(wire), size/900, "tiny on the wire: %d bytes", len(wire))

	zr, err := gzip.NewReader(bytes.NewReader(wire))
	require.NoError(t, err)
	var head bytes.Buffer
	inflated, err := io.Copy(io.MultiWriter(&limitedWriter{w: &head, n: 256}, io.Discard), zr)
	require.NoError(t, err)
	assert.Equal(t, int64(size), inflated)
	assert.True(t, strings.HasPrefix(head.String(), "# "), head.String())

	_, again, err := ts.rawGet(t, faultEndpoint)
	require.NoError(t, err)
	assert.Equal(t, wire, again, "generated once")
	assert.NotContains(t, ts.sim.Truth().Endpoints, faultEndpoint)

	// A default client inflates it transparently.
	resp, body := ts.get(t, metricsPath(faultEndpoint), testToken)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Len(t, body, size)
}

// limitedWriter keeps the first n bytes written and accepts the rest.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		keep := min(l.n, len(p))
		_, _ = l.w.Write(p[:keep])
		l.n -= keep
	}
	return len(p), nil
}

func TestFaultInvalidUTF8(t *testing.T) {
	ts := newTestServer(t, testConfig())
	ts.patchFault(t, `{"mode":"invalid_utf8"}`)
	body := ts.getMetrics(t, faultEndpoint)
	assert.False(t, utf8.Valid(body))
	assert.Contains(t, string(body), "-model-1\xff\xfe\"}")
	assert.Error(t, parseError(body), "a UTF-8 validating parser rejects it")
	assert.NotContains(t, ts.sim.Truth().Endpoints, faultEndpoint)
}

func TestFaultHTMLLogin(t *testing.T) {
	ts := newTestServer(t, testConfig())
	ts.patchFault(t, `{"mode":"html_login"}`)
	resp, body := ts.get(t, metricsPath(faultEndpoint), testToken)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.True(t, strings.HasPrefix(string(body), "<!DOCTYPE html>"))
	assert.Contains(t, string(body), "Sign in")
	assert.NotContains(t, ts.sim.Truth().Endpoints, faultEndpoint)
}

func TestFaultRedirect(t *testing.T) {
	target := newTestServer(t, testConfig())
	ts := newTestServer(t, testConfig())
	location := target.http.URL + metricsPath("cpu-endpoint-1")
	require.NoError(t, ts.sim.SetFault(faultEndpoint, &Fault{Mode: FaultRedirect, Location: location}))

	resp, _, err := ts.rawGet(t, faultEndpoint)
	require.NoError(t, err)
	assert.Equal(t, http.StatusFound, resp.StatusCode)
	assert.Equal(t, location, resp.Header.Get("Location"))
	assert.NotContains(t, ts.sim.Truth().Endpoints, faultEndpoint)

	// A client that follows it reaches the other server (Go keeps the
	// Authorization header on a same-host redirect).
	resp, _ = ts.get(t, metricsPath(faultEndpoint), testToken)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, target.sim.Truth().Endpoints, "cpu-endpoint-1")
}

func TestFaultManyLabels(t *testing.T) {
	ts := newTestServer(t, testConfig())
	normal := parseExposition(t, normalBody(t, ts, faultEndpoint))
	require.NoError(t, ts.sim.SetFault(faultEndpoint, &Fault{Mode: FaultManyLabels, Labels: 200, LabelValueLength: 10000}))
	families := parseExposition(t, ts.getMetrics(t, faultEndpoint))
	assert.Len(t, families, len(normal)+2)

	many := families[manyLabelsGauge].GetMetric()
	require.Len(t, many, 1)
	assert.Len(t, many[0].GetLabel(), 200)
	long := families[longLabelGauge].GetMetric()
	require.Len(t, long, 1)
	require.Len(t, long[0].GetLabel(), 1)
	assert.Equal(t, longLabelValueName, long[0].GetLabel()[0].GetName())
	assert.Len(t, long[0].GetLabel()[0].GetValue(), 10000)
	assert.Contains(t, ts.sim.Truth().Endpoints, faultEndpoint)

	ts.patchFault(t, `{"mode":"many_labels","labels":3}`)
	families = parseExposition(t, ts.getMetrics(t, faultEndpoint))
	assert.Len(t, families[manyLabelsGauge].GetMetric()[0].GetLabel(), 3)
	assert.NotContains(t, families, longLabelGauge)
}

// TestFaultTruth checks which modes put the window in the truth: those
// whose answer carries the window's normal samples.
func TestFaultTruth(t *testing.T) {
	ts := newTestServer(t, testConfig())
	faults := map[*Fault]bool{
		{Mode: FaultStatus, Status: 500}:                 false,
		{Mode: FaultTruncated}:                           false,
		{Mode: FaultHTMLLogin}:                           false,
		{Mode: FaultRedirect, Location: "http://x.test"}: false,
		{Mode: FaultMalformed}:                           false,
		{Mode: FaultGzipBomb, Size: 1 << 16}:             false,
		{Mode: FaultInvalidUTF8}:                         false,
		{Mode: FaultSlowHeaders, Delay: 1}:               true,
		{Mode: FaultSlowBody, Delay: 1}:                  true,
		{Mode: FaultDuplicateSeries}:                     true,
		{Mode: FaultNaNInf}:                              true,
		{Mode: FaultHugeBody, Size: 1000}:                true,
		{Mode: FaultManyLabels, Labels: 5}:               true,
		{Mode: FaultSeriesChurn, Labels: 5}:              true,
		{Mode: FaultEchoRequest, Status: 400}:            false,
	}
	require.Len(t, faults, len(faultModes)-len(callOnlyModes), "every mode of /metrics")
	for fault, recorded := range faults {
		name := "fault-" + strings.ReplaceAll(string(fault.Mode), "_", "-")
		ts.mustControl(t, http.MethodPost, "/simulator/endpoints", `{"name":"`+name+`","kind":"cpu"}`, http.StatusCreated)
		require.NoError(t, ts.sim.SetFault(name, fault))
		_, _, _ = ts.rawGet(t, name)
		if recorded {
			assert.Contains(t, ts.sim.Truth().Endpoints, name, fault.Mode)
		} else {
			assert.NotContains(t, ts.sim.Truth().Endpoints, name, fault.Mode)
		}
	}
	assert.Equal(t, int64(len(faults)), ts.sim.Stats().Requests.Faulted)
}

func TestFaultOnEndpointWithoutMetrics(t *testing.T) {
	ts := newTestServer(t, testConfig())
	const fmapi = "databricks-fmapi-endpoint-0"
	require.NoError(t, ts.sim.SetFault(fmapi, &Fault{Mode: FaultStatus, Status: 429, RetryAfter: "1"}))
	resp, _ := ts.get(t, metricsPath(fmapi), testToken)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "a replacing fault applies")

	require.NoError(t, ts.sim.SetFault(fmapi, &Fault{Mode: FaultMalformed}))
	resp, body := ts.get(t, metricsPath(fmapi), testToken)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "no body to alter: the normal 404")
	assert.Contains(t, decodeAPIError(t, body).Message, "pay-per-token")

	ts.mustControl(t, http.MethodPatch, "/simulator/endpoints/"+faultEndpoint, `{"metrics_status":404,"fault":{"mode":"slow_headers","delay":"1m"}}`, http.StatusOK)
	start := time.Now()
	resp, _ = ts.get(t, metricsPath(faultEndpoint), testToken)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Less(t, time.Since(start), 10*time.Second)
}

func TestFaultValidation(t *testing.T) {
	ts := newTestServer(t, testConfig())
	ts.patchFault(t, `{"mode":"status","status":503}`)
	tests := map[string]struct{ body, mentions string }{
		"missing mode":         {`{}`, "fault.mode"},
		"unknown mode":         {`{"mode":"explode"}`, "fault.mode"},
		"missing status":       {`{"mode":"status"}`, "fault.status"},
		"status not an error":  {`{"mode":"status","status":200}`, "fault.status"},
		"retry_after newline":  {`{"mode":"status","status":429,"retry_after":"5\r\nX-Evil: 1"}`, "fault.retry_after"},
		"missing delay":        {`{"mode":"slow_headers"}`, "fault.delay"},
		"delay not a duration": {`{"mode":"slow_body","delay":"soon"}`, "duration"},
		"delay a number":       {`{"mode":"slow_body","delay":200}`, "duration"},
		"negative delay":       {`{"mode":"slow_body","delay":"-1s"}`, "fault.delay"},
		"missing size":         {`{"mode":"huge_body"}`, "fault.size"},
		"negative size":        {`{"mode":"huge_body","size":-1}`, "fault.size"},
		"too many series":      {`{"mode":"huge_body","size":100000000,"padding_series":true}`, "fault.size"},
		"bomb too large":       {`{"mode":"gzip_bomb","size":99999999999}`, "fault.size"},
		"missing location":     {`{"mode":"redirect"}`, "fault.location"},
		"relative location":    {`{"mode":"redirect","location":"/elsewhere"}`, "fault.location"},
		"no label counts":      {`{"mode":"many_labels"}`, "fault.labels"},
		"negative labels":      {`{"mode":"many_labels","labels":-1,"label_value_length":5}`, "fault.labels"},
		"field of other mode":  {`{"mode":"malformed","delay":"1s"}`, "fault.delay"},
		"unknown field":        {`{"mode":"status","status":429,"bogus":1}`, "bogus"},
		"not an object":        {`"status"`, "fault"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			resp, body := ts.control(t, http.MethodPatch, "/simulator/endpoints/"+faultEndpoint, `{"fault":`+tt.body+`}`)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(body))
			apiErr := decodeAPIError(t, body)
			assert.Equal(t, errorCodeInvalidParameter, apiErr.ErrorCode)
			assert.Contains(t, apiErr.Message, tt.mentions)
		})
	}
	resp, _ := ts.get(t, metricsPath(faultEndpoint), testToken)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "a rejected PATCH keeps the fault")

	resp, body := ts.control(t, http.MethodPatch, "/simulator/endpoints/no-such-endpoint", `{"fault":{"mode":"malformed"}}`)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, string(body))

	err := ts.sim.SetFault("no-such-endpoint", &Fault{Mode: FaultMalformed})
	assert.ErrorIs(t, err, errEndpointNotFound)
	err = ts.sim.SetFault(faultEndpoint, &Fault{Mode: FaultSlowBody})
	require.ErrorIs(t, err, errInvalidPatch)
	assert.Contains(t, err.Error(), "fault.delay")
	err = ts.sim.SetFault(faultEndpoint, &Fault{Mode: "bogus"})
	assert.ErrorContains(t, err, "fault.mode")
	resp, _ = ts.get(t, metricsPath(faultEndpoint), testToken)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "a rejected SetFault keeps the fault")
}

func TestFaultIsCopied(t *testing.T) {
	ts := newTestServer(t, testConfig())
	f := &Fault{Mode: FaultStatus, Status: 500}
	require.NoError(t, ts.sim.SetFault(faultEndpoint, f))
	f.Status = 200
	resp, _ := ts.get(t, metricsPath(faultEndpoint), testToken)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
}

func TestFaultJSON(t *testing.T) {
	f := Fault{Mode: FaultSlowBody, Delay: Duration(1500 * time.Millisecond)}
	data, err := json.Marshal(f)
	require.NoError(t, err)
	assert.JSONEq(t, `{"mode":"slow_body","delay":"1.5s"}`, string(data))

	var change faultChange
	require.NoError(t, change.UnmarshalJSON(data))
	assert.Equal(t, &f, change.fault)
}

func TestFaultsSwitchDuringScrapes(t *testing.T) {
	ts := newTestServer(t, testConfig())
	faults := []*Fault{
		nil,
		{Mode: FaultStatus, Status: 429, RetryAfter: "1"},
		{Mode: FaultTruncated},
		{Mode: FaultMalformed},
		{Mode: FaultDuplicateSeries},
		{Mode: FaultNaNInf},
		{Mode: FaultHugeBody, Size: 4096},
		{Mode: FaultInvalidUTF8},
		{Mode: FaultManyLabels, Labels: 10},
		{Mode: FaultHTMLLogin},
		{Mode: FaultSeriesChurn, Labels: 10},
		{Mode: FaultEchoRequest, Status: 400},
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			client := rawClient()
			defer client.CloseIdleConnections()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, ts.http.URL+metricsPath(faultEndpoint), http.NoBody)
				req.Header.Set("Authorization", "Bearer "+testToken)
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
		})
	}
	for i := range 100 {
		require.NoError(t, ts.sim.SetFault(faultEndpoint, faults[i%len(faults)]))
		if i%10 == 0 {
			ts.clock.Advance(testWindow)
		}
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	require.NoError(t, ts.sim.SetFault(faultEndpoint, nil))
	require.NoError(t, parseError(ts.getMetrics(t, faultEndpoint)))
}

func TestPaddingIsExact(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 128, 129, 64 << 10, 64<<10 + 1, 64<<10 + 2, 200000} {
		buf := appendPadding(nil, n)
		require.Len(t, buf, n)
		var long bytes.Buffer
		require.NoError(t, writeBombPadding(&long, n))
		require.Equal(t, n, long.Len())
		for _, padding := range []string{string(buf), long.String()} {
			for line := range strings.Lines(padding) {
				require.True(t, line == "\n" || strings.HasPrefix(line, "#"), "%q", line)
				require.True(t, strings.HasSuffix(line, "\n"), "%q", line)
			}
		}
	}
}

func TestFaultErrorBodies(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 409, 418, 429, 500, 501, 502, 503, 504, 599} {
		e := faultError(status, "ep")
		assert.NotEmpty(t, e.ErrorCode, status)
		assert.NotEmpty(t, e.Message, status)
	}
	assert.Equal(t, "BAD_REQUEST", faultError(418, "ep").ErrorCode)
	assert.Equal(t, errorCodeInternal, faultError(502, "ep").ErrorCode)
	assert.Equal(t, endpointNotFoundMessage("ep"), faultError(404, "ep").Message)
}
