// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package accumulator // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/accumulator"

import (
	"fmt"
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

type sumSeries struct {
	windowLog
	total float64
}

// AddSum adds one window's count to the series key and returns what to emit; the cumulative value is Total.
// baseline marks the receiver's first observation of the endpoint (see the package documentation).
func (a *Accumulator) AddSum(key string, window pcommon.Timestamp, value float64, baseline bool) (Emission, float64, error) {
	if math.IsNaN(value) || math.IsInf(value, 0) || value < 0 {
		return Emission{}, 0, fmt.Errorf("window value %v is not a count (finite and not negative); not added", value)
	}
	s, ok := a.sums[key]
	if !ok {
		s = &sumSeries{}
		a.sums[key] = s
	}
	s.touched = a.now
	if !ok && baseline {
		s.setBaseline(window)
		return Emission{}, 0, nil
	}
	admitted, err := s.admit(window)
	if !admitted {
		return Emission{}, s.total, err
	}
	s.total += value
	return s.stamp(window, false), s.total, nil
}
