// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package accumulator // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/accumulator"

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

type gaugeSeries struct {
	lastEmitted pcommon.Timestamp
	touched     time.Time
}

// NewGaugeSample reports whether a gauge sample at window is newer than the last one emitted for key, and
// records it. Re-scraping a minute returns the same sample; emitting it once keeps one point per window.
func (a *Accumulator) NewGaugeSample(key string, window pcommon.Timestamp) bool {
	g, ok := a.gauges[key]
	if !ok {
		g = &gaugeSeries{}
		a.gauges[key] = g
	}
	g.touched = a.now
	if window <= g.lastEmitted {
		return false
	}
	g.lastEmitted = window
	return true
}
