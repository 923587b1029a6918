// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package accumulator // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/accumulator"

import (
	"fmt"
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// AddSum adds one window's count to a cumulative sum and returns what to write with the stream's total.
// baseline marks the receiver's first observation of the endpoint (see the package documentation).
func (a *Accumulator) AddSum(s Series, window pcommon.Timestamp, value float64, baseline bool) (Emission, float64, error) {
	if math.IsNaN(value) || math.IsInf(value, 0) || value < 0 {
		return Emission{}, 0, fmt.Errorf("window value %v is not a count (finite and not negative); not added", value)
	}
	src, st, fresh, em := a.observe(s, KindSum)
	a.resume(st, 0, &em)
	if fresh && baseline {
		src.windows.setBaseline(window)
		a.dirty = true
		return em, st.sum, nil
	}
	admitted, err := src.windows.admit(window)
	if !admitted {
		return em, st.sum, err
	}
	st.sum += value
	st.stamp(window, false, &em)
	a.dirty = true
	return em, st.sum, nil
}

// AddComputedSum adds delta to a cumulative sum the receiver computes itself, such as its count of missed
// windows. There are no windows: every call counts and writes a point, at ts or just after the stream's last
// point.
func (a *Accumulator) AddComputedSum(s Series, ts pcommon.Timestamp, delta float64) (Emission, float64) {
	_, st, _, em := a.observe(s, KindSum)
	// Its points are stamped with the scrape's time, and a save skips the scrapes that added nothing, so the
	// saved last timestamp may be older than the last point: resume just before this scrape instead.
	a.resume(st, ts-oneMillisecond, &em)
	st.sum += delta
	st.stamp(ts, false, &em)
	if delta != 0 || em.Opens {
		a.dirty = true
	}
	return em, st.sum
}
