// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// staleWriter writes stale markers: points without a value (the NoRecordedValue flag), which the remote-write
// exporter turns into Prometheus stale markers. They go into ResourceMetrics of their own, apart from the points
// of the same scrape: a stream that ends because its family changed type shares its metric name with the stream
// that replaces it, and one OpenTelemetry metric cannot hold both types.
type staleWriter struct {
	scopeVersion string
	out          pmetric.ResourceMetricsSlice
	groups       map[*resourceTemplate]*outputGroup
}

func newStaleWriter(scopeVersion string, out pmetric.ResourceMetricsSlice) *staleWriter {
	return &staleWriter{scopeVersion: scopeVersion, out: out, groups: map[*resourceTemplate]*outputGroup{}}
}

// write adds a stale marker of ref's stream at ts.
func (w *staleWriter) write(ref *seriesRef, ts pcommon.Timestamp) {
	g := w.groups[ref.resource]
	if g == nil {
		g = newOutputGroup(ref.resource, w.scopeVersion, w.out)
		w.groups[ref.resource] = g
	}
	m, err := g.metric(ref.def)
	if err != nil {
		// Two streams of one resource and name but different types ended in the same scrape: the second
		// marker goes to a group of its own.
		g = newOutputGroup(ref.resource, w.scopeVersion, w.out)
		w.groups[ref.resource] = g
		if m, err = g.metric(ref.def); err != nil {
			return
		}
	}
	noValue := pmetric.DefaultDataPointFlags.WithNoRecordedValue(true)
	switch ref.def.kind.metricType() {
	case pmetric.MetricTypeGauge:
		dp := m.Gauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetFlags(noValue)
		ref.putAttributes(dp.Attributes())
	case pmetric.MetricTypeSum:
		dp := m.Sum().DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetFlags(noValue)
		ref.putAttributes(dp.Attributes())
	case pmetric.MetricTypeHistogram:
		dp := m.Histogram().DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetFlags(noValue)
		dp.ExplicitBounds().FromRaw(ref.bounds)
		dp.BucketCounts().FromRaw(make([]uint64, len(ref.bounds)+1))
		ref.putAttributes(dp.Attributes())
	case pmetric.MetricTypeSummary:
		dp := m.Summary().DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetFlags(noValue)
		ref.putAttributes(dp.Attributes())
	}
}
