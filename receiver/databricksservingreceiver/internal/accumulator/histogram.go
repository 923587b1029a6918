// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package accumulator // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/accumulator"

import (
	"fmt"
	"math"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Histogram is one window of an explicit-bucket histogram in OpenTelemetry layout: Bounds are the finite upper
// bounds in ascending order and Counts has one entry per bucket (len(Bounds)+1, the last one for +Inf), each
// the number of observations in that bucket alone (not cumulative as in the Prometheus exposition).
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Sum    float64
	Count  uint64
}

// Validate checks the window is a well-formed histogram.
func (h Histogram) Validate() error {
	if len(h.Counts) != len(h.Bounds)+1 {
		return fmt.Errorf("histogram has %d buckets for %d bounds; want one more bucket than bounds", len(h.Counts), len(h.Bounds))
	}
	for i, b := range h.Bounds {
		if math.IsNaN(b) || math.IsInf(b, 0) {
			return fmt.Errorf("histogram bound %v is not finite", b)
		}
		if i > 0 && !(b > h.Bounds[i-1]) {
			return fmt.Errorf("histogram bounds are not strictly increasing at %v", b)
		}
	}
	var total uint64
	for _, c := range h.Counts {
		total += c
	}
	if total != h.Count {
		return fmt.Errorf("histogram buckets hold %d observations but its count is %d", total, h.Count)
	}
	if math.IsNaN(h.Sum) || math.IsInf(h.Sum, 0) {
		return fmt.Errorf("histogram sum %v is not finite", h.Sum)
	}
	return nil
}

type histogramSeries struct {
	windowLog
	total Histogram
}

// AddHistogram adds one window to the series key and returns what to emit together with the cumulative
// histogram. The returned Histogram shares memory with the accumulator: copy it before the next call.
func (a *Accumulator) AddHistogram(key string, window pcommon.Timestamp, h Histogram, baseline bool) (Emission, Histogram, error) {
	if err := h.Validate(); err != nil {
		return Emission{}, Histogram{}, fmt.Errorf("%w; not added", err)
	}
	s, ok := a.histograms[key]
	if !ok {
		s = &histogramSeries{}
		a.histograms[key] = s
	}
	s.touched = a.now
	if !ok && baseline {
		s.setBaseline(window)
		s.total = Histogram{Bounds: slices.Clone(h.Bounds), Counts: make([]uint64, len(h.Counts))}
		return Emission{}, Histogram{}, nil
	}
	admitted, err := s.admit(window)
	if !admitted {
		return Emission{}, s.total, err
	}
	reopen := false
	if s.total.Counts == nil || !slices.Equal(s.total.Bounds, h.Bounds) {
		// A new bucket layout cannot be added to the old one: the series starts over with it.
		reopen = s.total.Counts != nil && s.start != 0
		s.total = Histogram{Bounds: slices.Clone(h.Bounds), Counts: make([]uint64, len(h.Counts))}
	}
	for i, c := range h.Counts {
		s.total.Counts[i] += c
	}
	s.total.Sum += h.Sum
	s.total.Count += h.Count
	return s.stamp(window, reopen), s.total, nil
}
