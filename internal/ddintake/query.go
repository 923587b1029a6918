// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package ddintake

import (
	"math"
	"slices"
	"strings"
)

// Matching rules shared by the query helpers: a series matches when, for every key/value of match, it carries the
// tag "key:value" (an empty value asks for the bare tag "key"). As in Datadog queries, the series host counts as
// the tag "host:<name>" even though the v2 APIs carry it outside the tags. A nil or empty match selects every
// series of the metric.

// hostTagKey is the tag key under which the series host is also visible to queries.
const hostTagKey = "host"

func matches(tags []string, host string, match map[string]string) bool {
	for k, v := range match {
		if k == hostTagKey && v != "" && v == host {
			continue
		}
		want := k
		if v != "" {
			want = k + ":" + v
		}
		if !slices.Contains(tags, want) {
			return false
		}
	}
	return true
}

// SumCount returns the sum of all points of the "count" series of metric that match. Summing is what Datadog
// does with a count metric over a time range, and it is robust to how the exporter splits points in time.
func (s *Server) SumCount(metric string, match map[string]string) float64 {
	var sum float64
	s.eachSeries(metric, "count", match, func(ser *Series) {
		for _, p := range ser.Points {
			sum += p.Value
		}
	})
	return sum
}

// GaugePoints returns the points of the "gauge" series of metric that match, in arrival order.
func (s *Server) GaugePoints(metric string, match map[string]string) []Point {
	return s.SeriesPoints(metric, "gauge", match)
}

// SeriesPoints returns the points of the series of metric and type typ ("count", "gauge", ...) that match, in
// arrival order.
func (s *Server) SeriesPoints(metric, typ string, match map[string]string) []Point {
	var out []Point
	s.eachSeries(metric, typ, match, func(ser *Series) {
		out = append(out, ser.Points...)
	})
	return out
}

// LastGauge returns the most recent value of the "gauge" series of metric that match: the point with the latest
// timestamp, and among equal timestamps the one that arrived last. ok is false when no point matches.
func (s *Server) LastGauge(metric string, match map[string]string) (value float64, ok bool) {
	var lastTS int64
	for _, p := range s.GaugePoints(metric, match) {
		if !ok || p.Timestamp >= lastTS {
			value, lastTS, ok = p.Value, p.Timestamp, true
		}
	}
	return value, ok
}

// SketchQuantile returns the q-quantile (0 <= q <= 1) of the union of all sketch points of metric that match.
// The answer is within the sketch's relative accuracy (about 1 %) of the true quantile of the values the exporter
// put into the sketches. ok is false when no value matches or q is out of range.
func (s *Server) SketchQuantile(metric string, match map[string]string, q float64) (float64, bool) {
	return s.mergeSketches(metric, match, math.MaxInt64).quantile(q)
}

// SketchQuantileUntil is SketchQuantile over the points stamped at or before untilSeconds, so a test can compare
// a time range with a snapshot of what was sent while later points keep arriving.
func (s *Server) SketchQuantileUntil(metric string, match map[string]string, q float64, untilSeconds int64) (float64, bool) {
	return s.mergeSketches(metric, match, untilSeconds).quantile(q)
}

// SketchCountUntil is SketchCount over the points stamped at or before untilSeconds.
func (s *Server) SketchCountUntil(metric string, match map[string]string, untilSeconds int64) int64 {
	return s.mergeSketches(metric, match, untilSeconds).count
}

// SketchWindow is the union of the sketch points of a distribution stamped at one second: for a per-window
// histogram, one window as the exporter sent it.
type SketchWindow struct {
	Count int64
	Sum   float64
	ms    *mergedSketch
}

// Quantile is SketchQuantile over the window's points.
func (w *SketchWindow) Quantile(q float64) (float64, bool) { return w.ms.quantile(q) }

// SketchRelativeAccuracy is how far (relatively) a bin's value may be from any value the bin holds: √γ-1 for the
// agent's mapping (see keyMapping), so a quantile of a sketch is within it of the value of that rank the
// exporter put in.
func SketchRelativeAccuracy() float64 { return math.Sqrt(agentMapping().gamma) - 1 }

// SketchWindows returns, by timestamp (seconds), the union of the sketch points of metric that match stamped at
// that second, so a test can check a distribution window by window rather than only its sum over time.
func (s *Server) SketchWindows(metric string, match map[string]string) map[int64]*SketchWindow {
	out := map[int64]*SketchWindow{}
	s.eachSketchPoint(metric, match, func(p SketchPoint) {
		w := out[p.Timestamp]
		if w == nil {
			w = &SketchWindow{ms: &mergedSketch{}}
			out[p.Timestamp] = w
		}
		w.ms.add(p)
		w.Count, w.Sum = w.ms.count, w.ms.sum
	})
	return out
}

// SketchCount returns the number of values in all sketch points of metric that match.
func (s *Server) SketchCount(metric string, match map[string]string) int64 {
	return s.mergeSketches(metric, match, math.MaxInt64).count
}

// SketchSum returns the sum of the values in all sketch points of metric that match.
func (s *Server) SketchSum(metric string, match map[string]string) float64 {
	return s.mergeSketches(metric, match, math.MaxInt64).sum
}

// TagValues returns the sorted, distinct values of tag key tagKey over all series and sketches of metric. The
// value of "host" includes the series hosts, as in matching.
func (s *Server) TagValues(metric, tagKey string) []string {
	prefix := tagKey + ":"
	var values []string
	collect := func(tags []string, host string) {
		for _, t := range tags {
			if v, found := strings.CutPrefix(t, prefix); found {
				values = append(values, v)
			}
		}
		if tagKey == hostTagKey && host != "" {
			values = append(values, host)
		}
	}

	s.store.mu.Lock()
	for i := range s.store.series {
		if ser := &s.store.series[i]; ser.Metric == metric {
			collect(ser.Tags, ser.Host)
		}
	}
	for i := range s.store.sketches {
		if sk := &s.store.sketches[i]; sk.Metric == metric {
			collect(sk.Tags, sk.Host)
		}
	}
	s.store.mu.Unlock()

	return sortedUnique(values)
}

// MetricNames returns the sorted, distinct names of all series and sketches received.
func (s *Server) MetricNames() []string {
	s.store.mu.Lock()
	names := make([]string, 0, len(s.store.series)+len(s.store.sketches))
	for i := range s.store.series {
		names = append(names, s.store.series[i].Metric)
	}
	for i := range s.store.sketches {
		names = append(names, s.store.sketches[i].Metric)
	}
	s.store.mu.Unlock()

	return sortedUnique(names)
}

// eachSeries calls fn, under the store lock, for every series of metric and type typ that matches.
func (s *Server) eachSeries(metric, typ string, match map[string]string, fn func(*Series)) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	for i := range s.store.series {
		ser := &s.store.series[i]
		if ser.Metric == metric && ser.Type == typ && matches(ser.Tags, ser.Host, match) {
			fn(ser)
		}
	}
}

func (s *Server) mergeSketches(metric string, match map[string]string, untilSeconds int64) *mergedSketch {
	ms := &mergedSketch{}
	s.eachSketchPoint(metric, match, func(p SketchPoint) {
		if p.Timestamp <= untilSeconds {
			ms.add(p)
		}
	})
	return ms
}

// eachSketchPoint calls fn, under the store's lock, for every point of the sketches of metric that match.
func (s *Server) eachSketchPoint(metric string, match map[string]string, fn func(SketchPoint)) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	for i := range s.store.sketches {
		sk := &s.store.sketches[i]
		if sk.Metric != metric || !matches(sk.Tags, sk.Host, match) {
			continue
		}
		for _, p := range sk.Points {
			fn(p)
		}
	}
}

func sortedUnique(values []string) []string {
	slices.Sort(values)
	return slices.Compact(values)
}
