// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package accumulator // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/accumulator"

import "go.opentelemetry.io/collector/pdata/pcommon"

// AddGauge reports whether a gauge (or summary) sample at window is newer than every sample of its source, and
// records it. Re-scraping a minute returns the same sample; writing it once keeps one point per window, also
// when the source moved to another stream in between. kind is KindGauge or KindSummary. The point's timestamp is
// the window's, or just after the stream's last point when that is later (after a stale marker).
func (a *Accumulator) AddGauge(s Series, kind Kind, window pcommon.Timestamp) Emission {
	src, st, _, em := a.observe(s, kind)
	if window <= src.windows.floor {
		return em
	}
	src.windows.floor = window // a gauge's floor is its newest window
	em.Emit = true
	em.Timestamp = window
	if st.lastWritten != 0 {
		em.Timestamp = max(window, st.lastWritten+oneMillisecond)
	}
	st.open = true
	st.lastWritten = em.Timestamp
	return em
}
