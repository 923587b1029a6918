// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

import (
	"cmp"
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
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/exposition"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/metadata"
)

// maxFutureSkew is how far ahead of the collector's clock a sample may be stamped. A little skew between
// Databricks and the collector host is normal; a timestamp far in the future would pin the series there.
const maxFutureSkew = 10 * time.Minute

// maxWindowAge is how far behind the collector's clock a sample may be stamped. Databricks serves the last
// minute; a window an hour old is a stale cache, a clock far off, or a timestamp in seconds read as
// milliseconds (January 1970).
const maxWindowAge = time.Hour

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
	describe(m, def)
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
	stale         *staleWriter
	now           time.Time
	// fallbackWindow stamps samples without a timestamp (see endpointState.windowForUntimedBody).
	fallbackWindow pcommon.Timestamp

	samples  int               // samples in the body
	rejected []error           // samples that were not added, e.g. a negative count
	late     int               // windows dropped because they arrived too late
	newest   pcommon.Timestamp // the newest plausible sample timestamp of the body (0 when none)
	// maxSeries is limits.max_series; refused counts the samples whose new series it refused.
	maxSeries int
	refused   int
	// budget is the workspace's series budget this cycle (nil: none); refusedWorkspace counts the samples whose
	// new series it refused.
	budget           *seriesBudget
	refusedWorkspace int
	// entitiesRefused counts the served entities the body named beyond limits.max_served_entities.
	entitiesRefused int

	// Scratch space reused from sample to sample: the series key, sorted labels, a histogram window.
	keyBuf    []byte
	sortedBuf []exposition.Label
	bounds    []float64
	counts    []uint64
}

func newConverter(ep *endpointState, cfg *Config, scopeVersion string, out pmetric.ResourceMetricsSlice, now time.Time) *converter {
	return &converter{
		ep:            ep,
		metricsConfig: cfg.Metrics,
		scopeVersion:  scopeVersion,
		out:           out,
		groups:        map[*resourceTemplate]*outputGroup{},
		stale:         newStaleWriter(scopeVersion, out),
		now:           now,
		maxSeries:     cfg.Limits.MaxSeries,
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
func (c *converter) convertFamilies(families []exposition.Family) {
	for i := range families {
		f := &families[i]
		def := definitionFor(f)
		if def.enabled != nil && !def.enabled(c.metricsConfig) {
			continue
		}
		for j := range f.Samples {
			s := &f.Samples[j]
			if err := c.convertSample(def, f.Type, s); err != nil {
				if errors.Is(err, accumulator.ErrLateWindow) {
					c.late++
					continue
				}
				if errors.Is(err, errSeriesLimit) {
					c.refused++
					continue
				}
				if errors.Is(err, errWorkspaceSeriesLimit) {
					continue // counted by sampleSeries
				}
				c.rejected = append(c.rejected, fmt.Errorf("%s%s: %w", f.Name, labelString(s.Labels), err))
			}
		}
	}
}

func (c *converter) convertSample(def metricDef, typ dto.MetricType, s *exposition.Sample) error {
	window, err := c.window(s)
	if err != nil {
		return err
	}
	tmpl, matchedKey := c.ep.resources.forSample(s.Labels, c.ep.entityLabel)
	if matchedKey != "" {
		c.ep.entityLabel = matchedKey
	}
	refusedBefore := c.refusedWorkspace
	ref := c.sampleSeries(tmpl, def, s.Labels)
	switch {
	case ref == nil && c.refusedWorkspace > refusedBefore:
		return errWorkspaceSeriesLimit
	case ref == nil:
		return errSeriesLimit
	}
	switch def.kind {
	case kindGauge:
		value, ok := sampleValue(typ, s)
		if !ok {
			return errNotANumber
		}
		if window <= c.ep.gaugeFloor {
			return nil
		}
		em := c.ep.acc.AddGauge(ref.series(), accumulator.KindGauge, window)
		c.endStream(em)
		if !em.Emit {
			return nil
		}
		return c.appendNumber(ref, 0, em.Timestamp, value)
	case kindWindowedSum:
		value, ok := sampleValue(typ, s)
		if !ok {
			return errNotANumber
		}
		em, total, err := c.ep.acc.AddSum(ref.series(), window, value, c.ep.baseline)
		c.endStream(em)
		if werr := c.writeSum(ref, em, total); werr != nil {
			return werr
		}
		return err
	case kindWindowedHistogram:
		return c.convertHistogram(ref, typ, window, s)
	case kindSummary:
		if typ != dto.MetricType_SUMMARY {
			return errors.New("summary sample has no quantiles, sum or count")
		}
		if window <= c.ep.gaugeFloor {
			return nil
		}
		em := c.ep.acc.AddGauge(ref.series(), accumulator.KindSummary, window)
		c.endStream(em)
		if !em.Emit {
			return nil
		}
		return c.appendSummary(ref, em.Timestamp, &s.Summary)
	}
	return nil
}

func (c *converter) convertHistogram(ref *seriesRef, typ dto.MetricType, window pcommon.Timestamp, s *exposition.Sample) error {
	if typ != dto.MetricType_HISTOGRAM {
		return errors.New("histogram sample has no buckets, sum or count")
	}
	h, err := c.histogramWindow(&s.Histogram)
	if err != nil {
		return err
	}
	em, total, err := c.ep.acc.AddHistogram(ref.series(), window, h, c.ep.baseline)
	c.endStream(em)
	if em.Resumed {
		if appendErr := c.appendHistogram(ref, em.Start, em.ResumedAt, em.ResumedHistogram); appendErr != nil {
			return appendErr
		}
	}
	if err != nil || !em.Emit {
		return err
	}
	if em.Opens {
		zero := accumulator.Histogram{Bounds: total.Bounds, Counts: make([]uint64, len(total.Counts))}
		if err := c.appendHistogram(ref, em.Start, em.Start, zero); err != nil {
			return err
		}
	}
	return c.appendHistogram(ref, em.Start, em.Timestamp, total)
}

// writeSum writes what an observation of a cumulative sum emits: the saved total of a resumed stream, the zero
// point of a stream that opens, and the new total.
func (c *converter) writeSum(ref *seriesRef, em accumulator.Emission, total float64) error {
	if em.Resumed {
		if err := c.appendNumber(ref, em.Start, em.ResumedAt, em.ResumedSum); err != nil {
			return err
		}
	}
	if !em.Emit {
		return nil
	}
	if em.Opens {
		if err := c.appendNumber(ref, em.Start, em.Start, 0); err != nil {
			return err
		}
	}
	return c.appendNumber(ref, em.Start, em.Timestamp, total)
}

// endStream writes the stale marker of the stream an observation moved its source away from.
func (c *converter) endStream(em accumulator.Emission) {
	if em.Ended == "" {
		return
	}
	if ref, ok := c.ep.series[em.Ended]; ok {
		c.stale.write(ref, em.EndedAt)
	}
}

// window returns the window a sample belongs to: its timestamp, which must be plausible, or the body's fallback
// window when it has none.
func (c *converter) window(s *exposition.Sample) (pcommon.Timestamp, error) {
	if !s.HasTimestamp {
		return c.fallbackWindow, nil
	}
	ms, nowMs := s.TimestampMs, c.now.UnixMilli()
	switch {
	case ms <= 0:
		return 0, fmt.Errorf("timestamp %d ms is not a plausible window: zero or negative", ms)
	case ms > nowMs+maxFutureSkew.Milliseconds():
		return 0, fmt.Errorf("timestamp %d ms is %s ahead of the collector's clock, more than the %s allowed: check the clocks of the collector's host and of whatever serves the metrics",
			ms, time.Duration(ms-nowMs)*time.Millisecond, maxFutureSkew)
	case ms < nowMs-maxWindowAge.Milliseconds():
		if ms < math.MaxInt64/1000 && ms*1000 > nowMs-maxWindowAge.Milliseconds() && ms*1000 < nowMs+maxFutureSkew.Milliseconds() {
			return 0, fmt.Errorf("timestamp %d looks like seconds since the epoch: the exposition format stamps samples in milliseconds (%d)", ms, ms*1000)
		}
		return 0, fmt.Errorf("timestamp %d ms is %s behind the collector's clock, more than the %s allowed: Databricks serves the last minute, so the body is stale or a clock is wrong",
			ms, time.Duration(nowMs-ms)*time.Millisecond, maxWindowAge)
	}
	window := pcommon.Timestamp(ms) * pcommon.Timestamp(time.Millisecond)
	c.newest = max(c.newest, window)
	return window, nil
}

var errNotANumber = errors.New("the sample is not a number (a histogram or summary where a gauge or count was expected)")

// errSeriesLimit refuses a sample whose series would be new while the endpoint holds limits.max_series.
var errSeriesLimit = errors.New("new series refused: the endpoint holds limits.max_series series")

// errWorkspaceSeriesLimit refuses a sample whose series would be new while the workspace's endpoints hold
// limits.max_workspace_series series together.
var errWorkspaceSeriesLimit = errors.New("new series refused: the workspace holds limits.max_workspace_series series")

// sampleSeries returns the stream record of a sample, creating it with its attributes on first sight: the
// attribute set of a stream is built once, not for every point. It returns nil for a new series while the
// endpoint holds limits.max_series series: series live idleSeriesLifetime after their last sample, so label sets
// that change on every scrape would otherwise pile up without bound. The series already held go on. The
// receiver's computed series count towards the cap but are never refused (scrape health must always be
// written); there are a few per endpoint and served entity, so they take the total past it by little.
func (c *converter) sampleSeries(tmpl *resourceTemplate, def metricDef, labels []exposition.Label) *seriesRef {
	b := c.streamKeyPrefix(tmpl, def)
	pairsAt := len(b)
	if def.extraAttribute != nil {
		b = appendPair(b, def.extraAttribute[0], def.extraAttribute[1])
	}
	sorted := labels
	if !slices.IsSortedFunc(labels, compareLabels) {
		c.sortedBuf = append(c.sortedBuf[:0], labels...)
		slices.SortFunc(c.sortedBuf, compareLabels)
		sorted = c.sortedBuf
	}
	for _, l := range sorted {
		b = appendPair(b, l.Name, l.Value)
	}
	c.keyBuf = b
	if _, known := c.ep.series[string(b)]; !known {
		if c.maxSeries > 0 && len(c.ep.series) >= c.maxSeries {
			return nil
		}
		if !c.budget.take() {
			c.refusedWorkspace++
			return nil
		}
	}
	return c.series(b, tmpl, def, false, func(key string) []exposition.Label {
		// A copy: the parser reuses the sample's label slice for the next body.
		attrs := labelsFromKey(key[pairsAt:], labels)
		if def.extraAttribute != nil {
			attrs = append(attrs, exposition.Label{Name: def.extraAttribute[0], Value: def.extraAttribute[1]})
		}
		return attrs
	})
}

// labelsFromKey returns labels, in their order, with names and values that are substrings of pairs, the label
// pairs of a stream key (see appendPair), which hold them all: a series keeps its label bytes once, in its key,
// rather than once more in the parser's strings, which is up to half of what a series of long labels costs (see
// docs/reliability.md). A label missing from pairs, which cannot happen, is copied as it is.
func labelsFromKey(pairs string, labels []exposition.Label) []exposition.Label {
	attrs := make([]exposition.Label, len(labels), len(labels)+1)
	copy(attrs, labels)
	// Each pair starts with \xff and separates name from value with \xfe: bytes that UTF-8 never holds.
	for len(pairs) > 1 && pairs[0] == '\xff' {
		rest := pairs[1:]
		end := strings.IndexByte(rest, '\xff')
		if end < 0 {
			end = len(rest)
		}
		name, value, _ := strings.Cut(rest[:end], "\xfe")
		pairs = rest[end:]
		for i := range attrs {
			if attrs[i].Name == name && attrs[i].Value == value {
				attrs[i] = exposition.Label{Name: name, Value: value}
				break
			}
		}
	}
	return attrs
}

// sourceOffset is where the source key starts in a stream key: after the kind and the resource's key.
const sourceOffset = 1 + resourceKeyLength + 1

// streamKeyPrefix starts a stream key in the converter's key buffer: the kind (streams of different types never
// share a key), the resource's key, then the source key, which begins with the emitted name; the attributes
// follow in name order (appendPair). The source key (from sourceOffset on) is what identifies the series in
// Databricks: it does not depend on the resource.
func (c *converter) streamKeyPrefix(tmpl *resourceTemplate, def metricDef) []byte {
	b := c.keyBuf[:0]
	b = append(b, byte(def.kind))
	b = append(b, tmpl.key...)
	b = append(b, '\xfd')
	return append(b, def.name...)
}

// series looks up the stream record of key, creating it (with the attributes that attributes returns) when the
// endpoint has none. The lookup does not allocate; only a new stream does. computed streams (the metrics the
// receiver computes per resource) are their own source.
func (c *converter) series(key []byte, tmpl *resourceTemplate, def metricDef, computed bool, attributes func(key string) []exposition.Label) *seriesRef {
	ref, ok := c.ep.series[string(key)]
	if !ok {
		k := string(key)
		ref = &seriesRef{key: k, resource: tmpl, def: def, attrs: attributes(k), computed: computed}
		ref.source = ref.key[sourceOffset:]
		if computed {
			ref.source = ref.key
		}
		c.ep.series[ref.key] = ref
	}
	ref.touched = c.now
	return ref
}

func (c *converter) appendNumber(ref *seriesRef, start, ts pcommon.Timestamp, value float64) error {
	metric, err := c.group(ref.resource).metric(ref.def)
	if err != nil {
		return err
	}
	var dp pmetric.NumberDataPoint
	if ref.def.kind.metricType() == pmetric.MetricTypeSum {
		dp = metric.Sum().DataPoints().AppendEmpty()
	} else {
		dp = metric.Gauge().DataPoints().AppendEmpty()
	}
	dp.SetStartTimestamp(start)
	dp.SetTimestamp(ts)
	if ref.def.kind == kindState || ref.def.kind == kindComputedSum {
		dp.SetIntValue(int64(value))
	} else {
		dp.SetDoubleValue(value)
	}
	ref.putAttributes(dp.Attributes())
	return nil
}

func (c *converter) appendHistogram(ref *seriesRef, start, ts pcommon.Timestamp, h accumulator.Histogram) error {
	metric, err := c.group(ref.resource).metric(ref.def)
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
	ref.putAttributes(dp.Attributes())
	// The accumulator's bounds: it replaces them on a layout change rather than changing them.
	ref.bounds = h.Bounds
	return nil
}

func (c *converter) appendSummary(ref *seriesRef, ts pcommon.Timestamp, s *exposition.Summary) error {
	metric, err := c.group(ref.resource).metric(ref.def)
	if err != nil {
		return err
	}
	dp := metric.Summary().DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	dp.SetCount(uint64(s.Count))
	dp.SetSum(s.Sum)
	dp.QuantileValues().EnsureCapacity(len(s.Quantiles))
	for _, q := range s.Quantiles {
		qv := dp.QuantileValues().AppendEmpty()
		qv.SetQuantile(q.Quantile)
		qv.SetValue(q.Value)
	}
	ref.putAttributes(dp.Attributes())
	return nil
}

func appendPair(b []byte, name, value string) []byte {
	b = append(b, '\xff')
	b = append(b, name...)
	b = append(b, '\xfe')
	return append(b, value...)
}

func compareLabels(a, b exposition.Label) int { return strings.Compare(a.Name, b.Name) }

func compareBuckets(a, b exposition.Bucket) int { return cmp.Compare(a.UpperBound, b.UpperBound) }

// sampleValue reads a number sample whatever its declared type: Databricks' own guidance disagrees on whether the
// "_total" families are counters or gauges, and the meaning does not depend on it.
func sampleValue(typ dto.MetricType, s *exposition.Sample) (float64, bool) {
	switch typ {
	case dto.MetricType_HISTOGRAM, dto.MetricType_SUMMARY:
		return 0, false
	}
	return s.Value, true
}

// histogramWindow converts a Prometheus histogram (buckets cumulative in "le", +Inf optional) into the
// accumulator's per-bucket layout, in the converter's scratch slices (the accumulator copies what it keeps).
func (c *converter) histogramWindow(h *exposition.Histogram) (accumulator.Histogram, error) {
	count, err := observationCount(h.Count)
	if err != nil {
		return accumulator.Histogram{}, fmt.Errorf("count: %w", err)
	}
	out := accumulator.Histogram{Bounds: c.bounds[:0], Counts: c.counts[:0], Sum: h.Sum, Count: count}
	// Buckets may be listed in any order (Prometheus accepts that too); the walk below needs them ascending.
	// The parser's slice is sorted in place: it is this sample's alone.
	if !slices.IsSortedFunc(h.Buckets, compareBuckets) {
		slices.SortStableFunc(h.Buckets, compareBuckets)
	}
	var previous uint64
	for _, b := range h.Buckets {
		cumulative, err := observationCount(b.CumulativeCount)
		if err != nil {
			return accumulator.Histogram{}, fmt.Errorf("bucket le=%v: %w", b.UpperBound, err)
		}
		if cumulative < previous {
			return accumulator.Histogram{}, fmt.Errorf("bucket le=%v holds %d observations, fewer than the bucket below it (%d)", b.UpperBound, cumulative, previous)
		}
		if math.IsInf(b.UpperBound, +1) {
			if cumulative != count {
				return accumulator.Histogram{}, fmt.Errorf("bucket le=+Inf holds %d observations but the count is %d", cumulative, count)
			}
			continue
		}
		out.Bounds = append(out.Bounds, b.UpperBound)
		out.Counts = append(out.Counts, cumulative-previous)
		previous = cumulative
	}
	if count < previous {
		return accumulator.Histogram{}, fmt.Errorf("count %d is smaller than the finite buckets' %d observations", count, previous)
	}
	out.Counts = append(out.Counts, count-previous) // the +Inf bucket
	c.bounds, c.counts = out.Bounds, out.Counts
	return out, nil
}

// observationCount reads a count of observations, which must be whole and not negative.
func observationCount(v float64) (uint64, error) {
	if math.IsNaN(v) || v < 0 || v > math.MaxInt64 || v != math.Trunc(v) {
		return 0, fmt.Errorf("%v is not a whole number of observations", v)
	}
	return uint64(v), nil
}

// labelString renders a sample's labels for error messages.
func labelString(labels []exposition.Label) string {
	if len(labels) == 0 {
		return ""
	}
	parts := make([]string, 0, len(labels))
	for _, l := range labels {
		parts = append(parts, fmt.Sprintf("%s=%q", l.Name, l.Value))
	}
	return "{" + strings.Join(parts, ",") + "}"
}
