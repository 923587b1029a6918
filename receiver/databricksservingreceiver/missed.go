// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// databricksWindow is the length of Databricks' metric windows.
const databricksWindow = pcommon.Timestamp(time.Minute)

// windowTracker counts the windows an endpoint served that the receiver never saw. Databricks serves only the
// last minute, so a minute during which every scrape failed, or that backoff or a restart skipped, is gone for
// good and every total lacks it; databricks.serving.windows.missed says so.
//
// The newest window of each body is compared with the newest of the body before: n windows apart means n-1
// were missed. The window length is Databricks' minute, or the smallest gap seen when windows come closer
// together (the workspace simulator's short windows); a shorter window learned late only means that gaps before
// it were under-counted, never over-counted. Bodies without timestamps have no windows to count. The first body
// after a start without saved state, or after the endpoint returns to the workspace's list, has nothing to
// compare with: what happened while nobody watched the endpoint is not counted. With saved state the tracker is
// restored, so the minutes while no collector ran are.
type windowTracker struct {
	newest pcommon.Timestamp // the newest window seen (0: none since the tracker was reset)
	length pcommon.Timestamp // the window length (0: Databricks' minute)
}

// observe records the newest window of a body (0 when it had none) and returns how many windows before it were
// never seen.
func (w *windowTracker) observe(newest pcommon.Timestamp) int {
	if newest == 0 {
		return 0
	}
	if w.newest == 0 || newest <= w.newest {
		w.newest = max(w.newest, newest)
		return 0
	}
	gap := newest - w.newest
	w.newest = newest
	if w.length == 0 {
		w.length = databricksWindow
	}
	w.length = min(w.length, gap)
	// Rounded, so that timestamps a little off the window grid neither invent nor hide a window.
	windows := (gap + w.length/2) / w.length
	return int(windows) - 1
}

// forget drops the newest window, so that the next body starts counting afresh.
func (w *windowTracker) forget() { w.newest = 0 }
