// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package accumulator

import (
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// BenchmarkSteadyState measures one scrape's worth of accumulator work for an endpoint like the GPU body of the
// receiver's testdata: 3 windowed sums, 2 latency histograms with 16 finite buckets and 20 gauges (8 GPUs with
// two series each, CPU, memory, concurrency and scrape health). Each iteration is a new minute for every series,
// followed by a re-scrape of that minute, as a 30 s collection interval sees it; every 64 iterations the idle
// eviction runs, which finds nothing to evict.
func BenchmarkSteadyState(b *testing.B) {
	const sums, histograms, gauges = 3, 2, 20
	keys := func(prefix string, n int) []Series {
		out := make([]Series, n)
		for i := range out {
			stream := "\x01resource\xfd" + prefix + "\xffserved_entity_name\xfellama-ft-1\xffgpu\xfegpu" + strconv.Itoa(i)
			out[i] = Series{Source: stream[10:], Stream: stream}
		}
		return out
	}
	sumKeys, histogramKeys, gaugeKeys := keys("request.count", sums), keys("request.latency", histograms), keys("gpu.utilization", gauges)
	bounds := []float64{5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000, 300000, 600000}
	window := Histogram{Bounds: bounds, Counts: make([]uint64, len(bounds)+1)}
	for i := range window.Counts {
		window.Counts[i] = uint64(i % 5)
		window.Count += window.Counts[i]
	}
	window.Sum = 1762

	a := New()
	start := time.UnixMilli(1_788_718_020_000)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now := start.Add(time.Duration(i) * time.Minute)
		ts := pcommon.NewTimestampFromTime(now)
		for range 2 { // the minute, then its re-scrape
			a.BeginScrape(now)
			for _, k := range sumKeys {
				if _, _, err := a.AddSum(k, ts, 37, false); err != nil {
					b.Fatal(err)
				}
			}
			for _, k := range histogramKeys {
				if _, _, err := a.AddHistogram(k, ts, window, false); err != nil {
					b.Fatal(err)
				}
			}
			for _, k := range gaugeKeys {
				a.AddGauge(k, KindGauge, ts)
			}
		}
		if i%64 == 0 {
			a.EvictIdle(now.Add(-30*time.Minute), nil)
		}
	}
	if sources, streams := a.Len(); sources != sums+histograms+gauges || streams != sources {
		b.Fatalf("the accumulator holds %d sources and %d streams, want %d each", sources, streams, sums+histograms+gauges)
	}
}
