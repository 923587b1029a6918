// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/accumulator"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/exposition"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"
)

// FuzzParseAndConvert feeds arbitrary bodies through parsing, the limits and conversion, twice with the same
// endpoint state (a re-scrape), with no recover() in the way: any panic is a bug. It also checks what a body can
// never be allowed to produce: series whose timestamps do not ascend, or negative or shrinking totals. And the
// property every windowed total rests on: the re-scrape of a body already counted writes no point and leaves every
// total as it was (a re-counted window would inflate every rate and increase() downstream).
func FuzzParseAndConvert(f *testing.F) {
	bodies, _ := filepath.Glob(filepath.Join("testdata", "scraper", "*.txt"))
	for _, path := range bodies {
		body, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body, "text/plain; version=0.0.4")
		f.Add(body, "application/openmetrics-text; version=1.0.0")
	}
	for _, body := range fuzzSeedBodies() {
		f.Add([]byte(body), "text/plain; version=0.0.4")
	}
	cfg := createDefaultConfig().(*Config)
	now := time.UnixMilli(bodyTimestamp).Add(time.Minute)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		families, err := exposition.Parse(body, contentType)
		if err != nil {
			return
		}
		stats, err := checkLimits(families, cfg.Limits)
		if err != nil {
			return
		}
		desc := workspace.Endpoint{Name: "fuzz", Config: struct {
			ServedEntities []workspace.ServedEntity `json:"served_entities"`
		}{ServedEntities: []workspace.ServedEntity{{Name: "readmission_model-8"}}}}
		ep := newEndpointState(desc, newEndpointResources(cfg.ResourceAttributes, workspaceIdentity{host: "fuzz.test"}, desc), false)
		totals := map[string]float64{}
		var counted []byte
		for scrape := range 2 {
			if scrape > 0 {
				// Parsed again: conversion sorts a histogram's buckets in place, and a re-scrape reads a fresh body.
				families, _ = exposition.Parse(body, contentType)
			}
			md := pmetric.NewMetrics()
			c := newConverter(ep, cfg, "fuzz", md.ResourceMetrics(), now)
			if stats.untimed {
				c.fallbackWindow = ep.windowForUntimedBody(body, now)
			}
			c.convertFamilies(families)
			checkFuzzedOutput(t, md, totals, scrape)
			state := ep.acc.AppendState(nil)
			if scrape > 0 {
				if n := md.DataPointCount(); n != 0 {
					t.Fatalf("the re-scrape of the same body wrote %d points; want none", n)
				}
				if !bytes.Equal(state, counted) {
					t.Fatal("the re-scrape of the same body changed the cumulative state (a total, a window or a timestamp)")
				}
			}
			counted = state
		}
	})
}

// fuzzSeedBodies are the histogram shapes the fuzzer should start from: observations above the last finite
// bound (the +Inf bucket differs from the last finite one), buckets listed out of order, and one series with
// more windows in one body than the accumulator remembers, followed by a late one.
func fuzzSeedBodies() []string {
	const overflow = `# TYPE request_latency_ms histogram
request_latency_ms_bucket{served_entity_name="readmission_model-8",le="5.0"} 1 1788718020000
request_latency_ms_bucket{served_entity_name="readmission_model-8",le="600000.0"} 3 1788718020000
request_latency_ms_bucket{served_entity_name="readmission_model-8",le="+Inf"} 5 1788718020000
request_latency_ms_sum{served_entity_name="readmission_model-8"} 1900002.5 1788718020000
request_latency_ms_count{served_entity_name="readmission_model-8"} 5 1788718020000
`
	const outOfOrder = `# TYPE request_latency_ms histogram
request_latency_ms_bucket{served_entity_name="readmission_model-8",le="+Inf"} 7 1788718020000
request_latency_ms_bucket{served_entity_name="readmission_model-8",le="100.0"} 4 1788718020000
request_latency_ms_bucket{served_entity_name="readmission_model-8",le="10.0"} 2 1788718020000
request_latency_ms_count{served_entity_name="readmission_model-8"} 7 1788718020000
request_latency_ms_sum{served_entity_name="readmission_model-8"} 700000.5 1788718020000
`
	late := "# TYPE request_count_total gauge\n"
	for i := range accumulator.RememberedWindows + 2 {
		late += fmt.Sprintf("request_count_total{served_entity_name=\"readmission_model-8\"} %d %d\n", i+1, bodyTimestamp+int64(i)*60000)
	}
	late += fmt.Sprintf("request_count_total{served_entity_name=\"readmission_model-8\"} 99 %d\n", bodyTimestamp-60000)
	return []string{overflow, outOfOrder, late}
}

func checkFuzzedOutput(t *testing.T, md pmetric.Metrics, totals map[string]float64, scrape int) {
	last := map[string]pcommon.Timestamp{}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		ms := md.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			if m.Type() != pmetric.MetricTypeSum {
				continue
			}
			for k := 0; k < m.Sum().DataPoints().Len(); k++ {
				dp := m.Sum().DataPoints().At(k)
				key := m.Name() + "/" + fingerprint(dp.Attributes())
				if dp.Timestamp() <= last[key] || dp.StartTimestamp() > dp.Timestamp() {
					t.Fatalf("scrape %d: %s: timestamps do not ascend (%d after %d, start %d)", scrape, key, dp.Timestamp(), last[key], dp.StartTimestamp())
				}
				last[key] = dp.Timestamp()
				if dp.DoubleValue() < 0 || (dp.DoubleValue() < totals[key] && dp.StartTimestamp() != dp.Timestamp()) {
					t.Fatalf("scrape %d: %s: total %v is negative or below the previous %v", scrape, key, dp.DoubleValue(), totals[key])
				}
				if dp.StartTimestamp() != dp.Timestamp() {
					totals[key] = dp.DoubleValue()
				}
			}
		}
	}
}
