// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import "time"

// window identifies one metrics window: [index·w, (index+1)·w).
type window struct {
	index int64
	// endMillis stamps every sample of the window, like the real API does
	// with the minute the values describe.
	endMillis int64
}

// lastCompletedWindow returns the window served at wall time now: the last
// one that has fully elapsed, index floor(now/w) − 1.
func lastCompletedWindow(now time.Time, length time.Duration) window {
	lengthMillis := length.Milliseconds()
	index := floorDiv(now.UnixMilli(), lengthMillis) - 1
	return windowAt(index, lengthMillis)
}

func windowAt(index, lengthMillis int64) window {
	return window{index: index, endMillis: (index + 1) * lengthMillis}
}

// floorDiv rounds towards negative infinity, unlike Go's "/", so that
// windows stay contiguous for clocks before the Unix epoch too.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
