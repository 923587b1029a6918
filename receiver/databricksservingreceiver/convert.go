// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/accumulator"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/metadata"
)

// maxFutureSkew is how far ahead of the collector's clock a sample may be stamped. A little skew between
// Databricks and the collector host is normal; a timestamp far in the future would pin the series there.
const maxFutureSkew = 10 * time.Minute

// outputGroup is one resource's ResourceMetrics under construction.
type outputGroup struct {
	resource *resourceTemplate
	scope    pmetric.ScopeMetrics
	metrics  map[string]pmetric.Metric // by name, created on their first point
}

func newOutputGroup(tmpl *resourceTemplate, scopeVersion string, out pmetric.ResourceMetricsSlice) *outputGroup {
	rm := out.AppendEmpty()
	tmpl.resource.CopyTo(rm.Resource())
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(metadata.ScopeName)
	sm.Scope().SetVersion(scopeVersion)
	return &outputGroup{resource: tmpl, scope: sm, metrics: map[string]pmetric.Metric{}}
}

// metric returns the group's metric of def, creating it with the right type on first use. Two definitions that
// share a name must share a type; a sample of another type is refused rather than written into the wrong one.
func (g *outputGroup) metric(def metricDef) (pmetric.Metric, error) {
	if m, ok := g.metrics[def.name]; ok {
		if m.Type() != def.kind.metricType() {
			return pmetric.Metric{}, fmt.Errorf("%s is already a %s in this scrape; a %s sample cannot join it", def.name, m.Type(), def.kind.metricType())
		}
		return m, nil
	}
	m := g.scope.Metrics().AppendEmpty()
	m.SetName(def.name)
	m.SetDescription(def.description)
	m.SetUnit(def.unit)
	switch def.kind.metricType() {
	case pmetric.MetricTypeGauge:
		m.SetEmptyGauge()
	case pmetric.MetricTypeSum:
		sum := m.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	case pmetric.MetricTypeHistogram:
		m.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	case pmetric.MetricTypeSummary:
		m.SetEmptySummary()
	}
	g.metrics[def.name] = m
	return m, nil
}

// converter turns one endpoint's metric families into points, through the endpoint's accumulator. It lives for
// one scrape of one endpoint.
type converter struct {
	ep            *endpointState
	metricsConfig metadata.MetricsConfig
	scopeVersion  string
	out           pmetric.ResourceMetricsSlice
	groups        map[*resourceTemplate]*outputGroup
	now           time.Time
	// fallbackWindow stamps samples without a timestamp (see endpointState.windowForUntimedBody).
	fallbackWindow pcommon.Timestamp

	samples  int     // samples in the body
	rejected []error // samples that were not added, e.g. a negative count
	late     int     // windows dropped because they arrived too late
	keyBuf   []byte
}

func newConverter(ep *endpointState, cfg *Config, scopeVersion string, out pmetric.ResourceMetricsSlice, now time.Time) *converter {
	return &converter{
		ep:            ep,
		metricsConfig: cfg.Metrics,
		scopeVersion:  scopeVersion,
		out:           out,
		groups:        map[*resourceTemplate]*outputGroup{},
		now:           now,
	}
}

func (c *converter) group(tmpl *resourceTemplate) *outputGroup {
	g := c.groups[tmpl]
	if g == nil {
		g = newOutputGroup(tmpl, c.scopeVersion, c.out)
		c.groups[tmpl] = g
	}
	return g
}

// convertFamilies converts every family; a bad sample is rejected alone and reported in c.rejected.
func (c *converter) convertFamilies(families []*dto.MetricFamily) {
	for _, mf := range families {
		def := definitionFor(mf)
		for _, m := range mf.GetMetric() {
			c.samples += sampleCount(m)
			if def.enabled != nil && !def.enabled(c.metricsConfig) {
				continue
			}
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
		if m.GetTimestampMs() <= 0 || window.AsTime().After(c.now.Add(maxFutureSkew)) {
			return fmt.Errorf("timestamp %d ms is not a plausible window (zero, negative or more than %s ahead of the collector's clock)", m.GetTimestampMs(), maxFutureSkew)
		}
	}
	tmpl := c.ep.resources.forSample(m)
	key := c.seriesKey(tmpl, def, m)
	switch def.kind {
	case kindGauge:
		value, ok := sampleValue(m)
		if !ok {
			return errNotANumber
		}
		if !c.ep.acc.NewGaugeSample(key, window) {
			return nil
		}
		return c.appendNumber(tmpl, key, def, m, 0, window, value)
	case kindWindowedSum:
		value, ok := sampleValue(m)
		if !ok {
			return errNotANumber
		}
		em, total, err := c.ep.acc.AddSum(key, window, value, c.ep.baseline)
		if err != nil || !em.Emit {
			return err
		}
		if em.Opens {
			if err := c.appendNumber(tmpl, key, def, m, em.Start, em.Start, 0); err != nil {
				return err
			}
		}
		return c.appendNumber(tmpl, key, def, m, em.Start, em.Timestamp, total)
	case kindWindowedHistogram:
		h, err := histogramWindow(m.GetHistogram())
		if err != nil {
			return err
		}
		em, total, err := c.ep.acc.AddHistogram(key, window, h, c.ep.baseline)
		if err != nil || !em.Emit {
			return err
		}
		if em.Opens {
			zero := accumulator.Histogram{Bounds: total.Bounds, Counts: make([]uint64, len(total.Counts))}
			if err := c.appendHistogram(tmpl, key, def, m, em.Start, em.Start, zero); err != nil {
				return err
			}
		}
		return c.appendHistogram(tmpl, key, def, m, em.Start, em.Timestamp, total)
	case kindSummary:
		if m.GetSummary() == nil {
			return errors.New("summary sample has no quantiles, sum or count")
		}
		if !c.ep.acc.NewGaugeSample(key, window) {
			return nil
		}
		return c.appendSummary(tmpl, key, def, m, window)
	}
	return nil
}

// sampleCount is how many exposition lines a sample was parsed from, as Prometheus counts samples: a histogram is
// its buckets plus _sum and _count, a summary its quantiles plus _sum and _count.
func sampleCount(m *dto.Metric) int {
	switch {
	case m.Histogram != nil:
		return len(m.GetHistogram().GetBucket()) + 2
	case m.Summary != nil:
		return len(m.GetSummary().GetQuantile()) + 2
	}
	return 1
}

var errNotANumber = errors.New("the sample is not a number (a histogram or summary where a gauge or count was expected)")

// track remembers how a series was emitted, for its stale marker when the endpoint goes away.
func (c *converter) track(key string, tmpl *resourceTemplate, def metricDef, attrs pcommon.Map, bounds []float64) {
	if _, ok := c.ep.series[key]; ok {
		return
	}
	ref := &seriesRef{resource: tmpl, def: def, attrs: pcommon.NewMap(), bounds: bounds}
	attrs.CopyTo(ref.attrs)
	c.ep.series[key] = ref
}

func (c *converter) appendNumber(tmpl *resourceTemplate, key string, def metricDef, m *dto.Metric, start, ts pcommon.Timestamp, value float64) error {
	metric, err := c.group(tmpl).metric(def)
	if err != nil {
		return err
	}
	var dp pmetric.NumberDataPoint
	if def.kind == kindWindowedSum {
		dp = metric.Sum().DataPoints().AppendEmpty()
	} else {
		dp = metric.Gauge().DataPoints().AppendEmpty()
	}
	dp.SetStartTimestamp(start)
	dp.SetTimestamp(ts)
	dp.SetDoubleValue(value)
	putAttributes(def, m, dp.Attributes())
	c.track(key, tmpl, def, dp.Attributes(), nil)
	return nil
}

func (c *converter) appendHistogram(tmpl *resourceTemplate, key string, def metricDef, m *dto.Metric, start, ts pcommon.Timestamp, h accumulator.Histogram) error {
	metric, err := c.group(tmpl).metric(def)
	if err != nil {
		return err
	}
	dp := metric.Histogram().DataPoints().AppendEmpty()
	dp.SetStartTimestamp(start)
	dp.SetTimestamp(ts)
	dp.SetCount(h.Count)
	dp.SetSum(h.Sum)
	dp.ExplicitBounds().FromRaw(h.Bounds)
	dp.BucketCounts().FromRaw(h.Counts)
	putAttributes(def, m, dp.Attributes())
	c.track(key, tmpl, def, dp.Attributes(), h.Bounds)
	return nil
}

func (c *converter) appendSummary(tmpl *resourceTemplate, key string, def metricDef, m *dto.Metric, ts pcommon.Timestamp) error {
	metric, err := c.group(tmpl).metric(def)
	if err != nil {
		return err
	}
	s := m.GetSummary()
	dp := metric.Summary().DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	dp.SetCount(s.GetSampleCount())
	dp.SetSum(s.GetSampleSum())
	for _, q := range s.GetQuantile() {
		qv := dp.QuantileValues().AppendEmpty()
		qv.SetQuantile(q.GetQuantile())
		qv.SetValue(q.GetValue())
	}
	putAttributes(def, m, dp.Attributes())
	c.track(key, tmpl, def, dp.Attributes(), nil)
	return nil
}

// putAttributes passes every exposition label through as a data point attribute.
func putAttributes(def metricDef, m *dto.Metric, attrs pcommon.Map) {
	attrs.EnsureCapacity(len(m.GetLabel()) + 1)
	for _, l := range m.GetLabel() {
		attrs.PutStr(l.GetName(), l.GetValue())
	}
	if def.extraAttribute != nil {
		attrs.PutStr(def.extraAttribute[0], def.extraAttribute[1])
	}
}

// seriesKey identifies a series within the endpoint: resource, emitted name, extra attribute and labels in name
// order. The separators cannot occur in names or values (expfmt requires valid UTF-8).
func (c *converter) seriesKey(tmpl *resourceTemplate, def metricDef, m *dto.Metric) string {
	b := append(c.keyBuf[:0], tmpl.key...)
	b = append(b, '\xfd')
	b = append(b, def.name...)
	if def.extraAttribute != nil {
		b = appendPair(b, def.extraAttribute[0], def.extraAttribute[1])
	}
	labels := m.GetLabel()
	if !slices.IsSortedFunc(labels, compareLabels) {
		labels = slices.SortedFunc(slices.Values(labels), compareLabels)
	}
	for _, l := range labels {
		b = appendPair(b, l.GetName(), l.GetValue())
	}
	c.keyBuf = b
	return string(b)
}

func appendPair(b []byte, name, value string) []byte {
	b = append(b, '\xff')
	b = append(b, name...)
	b = append(b, '\xfe')
	return append(b, value...)
}

func compareLabels(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) }

// sampleValue reads a number sample whatever its declared type: Databricks' own guidance disagrees on whether the
// "_total" families are counters or gauges, and the meaning does not depend on it.
func sampleValue(m *dto.Metric) (float64, bool) {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue(), true
	case m.Counter != nil:
		return m.GetCounter().GetValue(), true
	case m.Untyped != nil:
		return m.GetUntyped().GetValue(), true
	}
	return 0, false
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
