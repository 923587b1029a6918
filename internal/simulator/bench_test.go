// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkMetricsHandler measures one /metrics request in a workspace of a
// thousand endpoints, mostly served from the body cache as under load.
func BenchmarkMetricsHandler(b *testing.B) {
	cfg := testConfig()
	cfg.CPU, cfg.GPU, cfg.MultiEntity, cfg.ScaleToZero = 700, 100, 100, 100
	clock := newFakeClock(testStart)
	sim, err := New(cfg, WithClock(clock.Now))
	if err != nil {
		b.Fatal(err)
	}
	handler := sim.Handler()
	names := metricEndpoints(sim)
	requests := make([]*http.Request, len(names))
	for i, name := range names {
		requests[i] = httptest.NewRequest(http.MethodGet, metricsPath(name), http.NoBody)
		requests[i].Header.Set("Authorization", "Bearer "+testToken)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, requests[i%len(requests)])
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// BenchmarkRenderWindow measures a cache miss: computing and rendering one
// window of a GPU endpoint.
func BenchmarkRenderWindow(b *testing.B) {
	sim, err := New(testConfig())
	if err != nil {
		b.Fatal(err)
	}
	ep, _ := sim.catalog.lookup("gpu-endpoint-0")
	b.ReportAllocs()
	for i := int64(0); b.Loop(); i++ {
		renderExposition(generateWindowTruth(1, ep, windowAt(i, 2000)))
	}
}
