// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/exposition"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"
)

// FuzzParseAndConvert feeds arbitrary bodies through parsing, the limits and conversion, twice with the same
// endpoint state (a re-scrape), with no recover() in the way: any panic is a bug. It also checks what a body can
// never be allowed to produce: series whose timestamps do not ascend, or negative or shrinking totals.
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
		ep := newEndpointState(desc, newEndpointResources(cfg.ResourceAttributes, "fuzz.test", desc), false)
		totals := map[string]float64{}
		for scrape := range 2 {
			md := pmetric.NewMetrics()
			c := newConverter(ep, cfg, "fuzz", md.ResourceMetrics(), now)
			if stats.untimed {
				c.fallbackWindow = ep.windowForUntimedBody(body, now)
			}
			c.convertFamilies(families)
			checkFuzzedOutput(t, md, totals, scrape)
		}
	})
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
