// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/accumulator"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/metadata"
)

// converter turns one endpoint's metric families into points of one ScopeMetrics, through the endpoint's
// accumulator. It lives for one scrape of one endpoint.
type converter struct {
	acc            *accumulator.Accumulator
	metricsConfig  metadata.MetricsConfig
	scope          pmetric.ScopeMetrics
	metrics        map[string]pmetric.Metric // emitted metrics by name, created on their first point
	baseline       bool
	fallbackWindow pcommon.Timestamp // for samples without a timestamp (see endpointState.windowForUntimedBody)

	rejected []error // samples that were not added, e.g. a negative count
	late     int     // windows dropped because they arrived too late
	keyBuf   strings.Builder
}

// convertFamilies converts every family; a bad sample is rejected alone and reported in c.rejected.
func (c *converter) convertFamilies(families []*dto.MetricFamily) {
	for _, mf := range families {
		def := definitionFor(mf)
		if def.enabled != nil && !def.enabled(c.metricsConfig) {
			continue
		}
		for _, m := range mf.GetMetric() {
			if err := c.convertSample(def, m); err != nil {
				if errors.Is(err, accumulator.ErrLateWindow) {
					c.late++
					continue
				}
				c.rejected = append(c.rejected, fmt.Errorf("%s%s: %w", mf.GetName(), labelString(m), err))
			}
		}
	}
}

func (c *converter) convertSample(def metricDef, m *dto.Metric) error {
	window := c.fallbackWindow
	if m.TimestampMs != nil {
		window = pcommon.Timestamp(m.GetTimestampMs() * 1e6)
	}
	key := c.seriesKey(def, m)
	switch def.kind {
	case kindGauge:
		if c.acc.NewGaugeSample(key, window) {
			dp := c.metric(def).Gauge().DataPoints().AppendEmpty()
			dp.SetTimestamp(window)
			dp.SetDoubleValue(sampleValue(m))
			c.putAttributes(def, m, dp.Attributes())
		}
	case kindWindowedSum:
		em, total, err := c.acc.AddSum(key, window, sampleValue(m), c.baseline)
		if err != nil || !em.Emit {
			return err
		}
		points := c.metric(def).Sum().DataPoints()
		if em.Opens {
			c.newSumPoint(points, def, m, em.Start, em.Start, 0)
		}
		c.newSumPoint(points, def, m, em.Start, em.Timestamp, total)
	case kindWindowedHistogram:
		h, err := histogramWindow(m.GetHistogram())
		if err != nil {
			return err
		}
		em, total, err := c.acc.AddHistogram(key, window, h, c.baseline)
		if err != nil || !em.Emit {
			return err
		}
		points := c.metric(def).Histogram().DataPoints()
		if em.Opens {
			zero := accumulator.Histogram{Bounds: total.Bounds, Counts: make([]uint64, len(total.Counts))}
			c.newHistogramPoint(points, def, m, em.Start, em.Start, zero)
		}
		c.newHistogramPoint(points, def, m, em.Start, em.Timestamp, total)
	case kindSummary:
		if c.acc.NewGaugeSample(key, window) {
			c.newSummaryPoint(def, m, window)
		}
	}
	return nil
}

// metric returns the emitted metric of def, creating it with the right type on first use.
func (c *converter) metric(def metricDef) pmetric.Metric {
	if m, ok := c.metrics[def.name]; ok {
		return m
	}
	m := c.scope.Metrics().AppendEmpty()
	m.SetName(def.name)
	m.SetDescription(def.description)
	m.SetUnit(def.unit)
	switch def.kind {
	case kindGauge:
		m.SetEmptyGauge()
	case kindWindowedSum:
		sum := m.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	case kindWindowedHistogram:
		m.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	case kindSummary:
		m.SetEmptySummary()
	}
	c.metrics[def.name] = m
	return m
}

func (c *converter) newSumPoint(points pmetric.NumberDataPointSlice, def metricDef, m *dto.Metric, start, ts pcommon.Timestamp, value float64) {
	dp := points.AppendEmpty()
	dp.SetStartTimestamp(start)
	dp.SetTimestamp(ts)
	dp.SetDoubleValue(value)
	c.putAttributes(def, m, dp.Attributes())
}

func (c *converter) newHistogramPoint(points pmetric.HistogramDataPointSlice, def metricDef, m *dto.Metric, start, ts pcommon.Timestamp, h accumulator.Histogram) {
	dp := points.AppendEmpty()
	dp.SetStartTimestamp(start)
	dp.SetTimestamp(ts)
	dp.SetCount(h.Count)
	dp.SetSum(h.Sum)
	dp.ExplicitBounds().FromRaw(h.Bounds)
	dp.BucketCounts().FromRaw(h.Counts)
	c.putAttributes(def, m, dp.Attributes())
}

func (c *converter) newSummaryPoint(def metricDef, m *dto.Metric, ts pcommon.Timestamp) {
	s := m.GetSummary()
	dp := c.metric(def).Summary().DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	dp.SetCount(s.GetSampleCount())
	dp.SetSum(s.GetSampleSum())
	for _, q := range s.GetQuantile() {
		qv := dp.QuantileValues().AppendEmpty()
		qv.SetQuantile(q.GetQuantile())
		qv.SetValue(q.GetValue())
	}
	c.putAttributes(def, m, dp.Attributes())
}

// putAttributes passes every exposition label through as a data point attribute.
func (c *converter) putAttributes(def metricDef, m *dto.Metric, attrs pcommon.Map) {
	attrs.EnsureCapacity(len(m.GetLabel()) + 1)
	for _, l := range m.GetLabel() {
		attrs.PutStr(l.GetName(), l.GetValue())
	}
	if def.extraAttribute != nil {
		attrs.PutStr(def.extraAttribute[0], def.extraAttribute[1])
	}
}

// seriesKey identifies a series within the endpoint: emitted name, extra attribute and labels in name order.
func (c *converter) seriesKey(def metricDef, m *dto.Metric) string {
	c.keyBuf.Reset()
	c.keyBuf.WriteString(def.name)
	if def.extraAttribute != nil {
		c.keyBuf.WriteString("\xff" + def.extraAttribute[0] + "\xfe" + def.extraAttribute[1])
	}
	labels := m.GetLabel()
	if !slices.IsSortedFunc(labels, compareLabels) {
		labels = slices.SortedFunc(slices.Values(labels), compareLabels)
	}
	for _, l := range labels {
		c.keyBuf.WriteString("\xff" + l.GetName() + "\xfe" + l.GetValue())
	}
	return c.keyBuf.String()
}

func compareLabels(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) }

// sampleValue reads a sample whatever its declared type: Databricks' own guidance disagrees on whether the
// "_total" families are counters or gauges, and the meaning does not depend on it.
func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	default:
		return m.GetUntyped().GetValue()
	}
}

// histogramWindow converts a Prometheus histogram (buckets cumulative in "le", +Inf optional) into the
// accumulator's per-bucket layout.
func histogramWindow(h *dto.Histogram) (accumulator.Histogram, error) {
	if h == nil {
		return accumulator.Histogram{}, errors.New("histogram sample has no buckets, sum or count")
	}
	count, err := observationCount(h.GetSampleCount(), h.GetSampleCountFloat(), h.SampleCountFloat != nil)
	if err != nil {
		return accumulator.Histogram{}, fmt.Errorf("count: %w", err)
	}
	buckets := h.GetBucket()
	out := accumulator.Histogram{
		Bounds: make([]float64, 0, len(buckets)),
		Counts: make([]uint64, 0, len(buckets)+1),
		Sum:    h.GetSampleSum(),
		Count:  count,
	}
	var previous uint64
	for _, b := range buckets {
		cumulative, err := observationCount(b.GetCumulativeCount(), b.GetCumulativeCountFloat(), b.CumulativeCountFloat != nil)
		if err != nil {
			return accumulator.Histogram{}, fmt.Errorf("bucket le=%v: %w", b.GetUpperBound(), err)
		}
		if cumulative < previous {
			return accumulator.Histogram{}, fmt.Errorf("bucket le=%v holds %d observations, fewer than the bucket below it (%d)", b.GetUpperBound(), cumulative, previous)
		}
		if math.IsInf(b.GetUpperBound(), +1) {
			if cumulative != count {
				return accumulator.Histogram{}, fmt.Errorf("bucket le=+Inf holds %d observations but the count is %d", cumulative, count)
			}
			continue
		}
		out.Bounds = append(out.Bounds, b.GetUpperBound())
		out.Counts = append(out.Counts, cumulative-previous)
		previous = cumulative
	}
	if count < previous {
		return accumulator.Histogram{}, fmt.Errorf("count %d is smaller than the finite buckets' %d observations", count, previous)
	}
	out.Counts = append(out.Counts, count-previous) // the +Inf bucket
	return out, nil
}

// observationCount reads a histogram count that expfmt stores as an integer or, when any count of the
// histogram has a fraction, as a float. Counts of observations must be whole and not negative.
func observationCount(integer uint64, float float64, isFloat bool) (uint64, error) {
	if !isFloat {
		return integer, nil
	}
	if math.IsNaN(float) || float < 0 || float > math.MaxInt64 || float != math.Trunc(float) {
		return 0, fmt.Errorf("%v is not a whole number of observations", float)
	}
	return uint64(float), nil
}

// labelString renders a sample's labels for error messages.
func labelString(m *dto.Metric) string {
	if len(m.GetLabel()) == 0 {
		return ""
	}
	parts := make([]string, 0, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	return "{" + strings.Join(parts, ",") + "}"
}
