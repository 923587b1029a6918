// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestAccessLogHasALinePerMetricsRequest(t *testing.T) {
	var log bytes.Buffer
	sim, err := New(testConfig(), WithAccessLog(&log))
	if err != nil {
		t.Fatal(err)
	}
	names := metricEndpoints(sim)
	handler := sim.Handler()
	for _, path := range []string{metricsPath(names[0]), metricsPath("no-such-endpoint"), "/api/2.0/serving-endpoints"} {
		req := httptest.NewRequest(http.MethodGet, path, http.NoBody)
		req.Header.Set("Authorization", "Bearer "+testToken)
		handler.ServeHTTP(httptest.NewRecorder(), req)
	}
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("access log has %d lines, want one per /metrics request (2):\n%s", len(lines), log.String())
	}
	for i, want := range []struct {
		status   int
		endpoint string
	}{{http.StatusOK, names[0]}, {http.StatusNotFound, "no-such-endpoint"}} {
		fields := strings.Fields(lines[i])
		if len(fields) != 4 {
			t.Fatalf("line %q: want 4 fields", lines[i])
		}
		arrival, err1 := strconv.ParseInt(fields[0], 10, 64)
		done, err2 := strconv.ParseInt(fields[1], 10, 64)
		if err1 != nil || err2 != nil || done < arrival || arrival <= 0 {
			t.Errorf("line %q: want arrival <= response time, both Unix nanoseconds", lines[i])
		}
		if fields[2] != strconv.Itoa(want.status) || fields[3] != want.endpoint {
			t.Errorf("line %q: want status %d for %s", lines[i], want.status, want.endpoint)
		}
	}
}
