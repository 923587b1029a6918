// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-databricks/otelcol-databricks/internal/simulator"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/metadata"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"
)

// The benchmarks of the hot path. `make test` runs each once (-benchtime=1x) so they keep compiling and working;
// docs/performance.md has their figures and how to compare them with benchstat.

// windowedBody is an exposition body whose sample timestamps can be moved to another window in place, so that
// every benchmark iteration sees a new minute, as a running receiver does, without re-rendering the body.
type windowedBody struct {
	body    []byte
	offsets []int // where each 13-digit millisecond timestamp starts
}

func loadWindowedBody(b *testing.B, name string) *windowedBody {
	raw, err := os.ReadFile(filepath.Join("testdata", "scraper", name))
	if err != nil {
		b.Fatal(err)
	}
	stamp := []byte(" " + strconv.FormatInt(bodyTimestamp, 10))
	wb := &windowedBody{body: raw}
	for from := 0; ; {
		i := bytes.Index(raw[from:], stamp)
		if i < 0 {
			break
		}
		wb.offsets = append(wb.offsets, from+i+1)
		from += i + len(stamp)
	}
	if len(wb.offsets) == 0 {
		b.Fatalf("%s has no sample stamped %d", name, bodyTimestamp)
	}
	return wb
}

// setWindow stamps every sample with the window minutes after the body's own.
func (wb *windowedBody) setWindow(minutes int) {
	stamp := strconv.AppendInt(make([]byte, 0, 13), bodyTimestamp+int64(minutes)*60_000, 10)
	for _, at := range wb.offsets {
		copy(wb.body[at:], stamp)
	}
}

// BenchmarkParseAndConvert measures what one endpoint scrape costs after the body has arrived: parsing, the
// limits, conversion through the accumulator into pdata, scrape health and states. Every iteration is a new
// minute of the same endpoint, so every sum and histogram is added and emitted (the most expensive steady state;
// a re-scrape of a minute emits only gauges of scrape health).
func BenchmarkParseAndConvert(b *testing.B) {
	for _, tc := range []struct{ name, file, entity string }{
		{name: "cpu_endpoint", file: "cpu_endpoint.txt", entity: "readmission_model-8"},
		{name: "gpu_endpoint_8_gpus", file: "gpu_endpoint.txt", entity: "llama-ft-1"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			wb := loadWindowedBody(b, tc.file)
			cfg := createDefaultConfig().(*Config)
			s := newServingScraper(cfg, receivertest.NewNopSettings(metadata.Type))
			desc := workspace.Endpoint{Name: "bench", ID: "0123456789abcdef"}
			desc.Config.ServedEntities = []workspace.ServedEntity{{Name: tc.entity, EntityName: "main.models.bench", EntityVersion: "8"}}
			ep := newEndpointState(desc, newEndpointResources(cfg.ResourceAttributes, workspaceIdentity{host: "bench.cloud.databricks.com"}, desc), false)
			start := time.UnixMilli(bodyTimestamp)
			b.SetBytes(int64(len(wb.body)))
			b.ReportAllocs()
			points := 0
			for i := 0; b.Loop(); i++ {
				wb.setWindow(i)
				now := start.Add(time.Duration(i)*time.Minute + 20*time.Second)
				md := pmetric.NewMetrics()
				c := newConverter(ep, cfg, "bench", md.ResourceMetrics(), now)
				if err := s.processScrape(context.Background(), ep, c, wb.body, textFormat, nil, newScrapeTiming(now, time.Now())); err != nil {
					b.Fatal(err)
				}
				points = md.DataPointCount()
			}
			if points == 0 {
				b.Fatal("the last scrape emitted no points")
			}
			b.ReportMetric(float64(points), "points/scrape")
		})
	}
}

// BenchmarkScrapeCycle measures one collection cycle over a simulated workspace of 1000 endpoints served
// in-process over loopback HTTP: discovery, 1000 requests (32 at a time), parsing, conversion and the merge of the
// results. The simulator and the scraper share a clock that moves one minute per cycle, so every cycle brings a
// new window for every endpoint. The simulator's own work (rendering bodies, serving HTTP) is part of the figure;
// BenchmarkMetricsHandler in internal/simulator measures it alone.
func BenchmarkScrapeCycle(b *testing.B) {
	clock := &fakeClock{t: time.Unix(1_788_718_020, 0)}
	simCfg := simulator.DefaultConfig()
	simCfg.Token = testToken
	simCfg.CPU, simCfg.GPU, simCfg.MultiEntity, simCfg.ScaleToZero, simCfg.FoundationModel = 700, 100, 100, 100, 0
	sim, err := simulator.New(simCfg, simulator.WithClock(clock.now))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	b.Cleanup(func() { srv.Close(); _ = sim.Close() })
	s := newTestScraper(b, srv.URL)
	withClock(clock)(s)

	// Two cycles before measuring: the baseline (not counted) and the first counted window.
	for range 2 {
		clock.advance(time.Minute)
		if _, err := s.scrape(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	points := 0
	for b.Loop() {
		clock.advance(time.Minute)
		md, err := s.scrape(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		points = md.DataPointCount()
	}
	if got := len(sim.Endpoints()); got != 1000 {
		b.Fatalf("the simulated workspace has %d endpoints, want 1000", got)
	}
	b.ReportMetric(float64(points), "points/cycle")
}
