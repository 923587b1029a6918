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

// AddHistogram adds one window to a cumulative histogram and returns what to write with the stream's total.
// The returned Histogram shares memory with the accumulator: copy it before the next call.
func (a *Accumulator) AddHistogram(s Series, window pcommon.Timestamp, h Histogram, baseline bool) (Emission, Histogram, error) {
	if err := h.Validate(); err != nil {
		return Emission{}, Histogram{}, fmt.Errorf("%w; not added", err)
	}
	src, st, fresh, em := a.observe(s, KindHistogram)
	a.resume(st, 0, &em)
	if fresh && baseline {
		src.windows.setBaseline(window)
		a.dirty = true
		return em, Histogram{}, nil
	}
	admitted, err := src.windows.admit(window)
	if !admitted {
		return em, st.histogram, err
	}
	reopen := false
	if !st.open || !slices.Equal(st.histogram.Bounds, h.Bounds) {
		// A new bucket layout cannot be added to the old one: the stream starts over with it.
		reopen = st.open
		st.histogram = Histogram{Bounds: slices.Clone(h.Bounds), Counts: make([]uint64, len(h.Counts))}
	}
	for i, c := range h.Counts {
		st.histogram.Counts[i] += c
	}
	st.histogram.Sum += h.Sum
	st.histogram.Count += h.Count
	st.stamp(window, reopen, &em)
	a.dirty = true
	return em, st.histogram, nil
}
