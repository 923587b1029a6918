// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package exposition // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/exposition"

import dto "github.com/prometheus/client_model/go"

// Family is one metric family of a body: the data model of expfmt's MetricFamily without its pointers and
// per-field allocations, so a Parser can reuse it from one body to the next.
type Family struct {
	Name string
	Help string
	// Type is the family's "# TYPE" (UNTYPED without one). GAUGE_HISTOGRAM never appears: Parse splits those
	// into gauges.
	Type    dto.MetricType
	Samples []Sample

	typed, helped bool // a TYPE (or a sample) and a HELP line were seen, which a second one may not follow
}

// Label is one label of a sample.
type Label struct {
	Name, Value string
}

// Sample is one series of a family: a number for counters, gauges and untyped families; a histogram or a
// summary (all lines of one label set merged, as in expfmt) for those families.
type Sample struct {
	// Labels are in exposition order, without "le" (histograms) and "quantile" (summaries).
	Labels       []Label
	Value        float64
	TimestampMs  int64
	HasTimestamp bool
	Histogram    Histogram
	Summary      Summary
}

// Histogram is a Prometheus histogram sample: cumulative buckets in exposition order, +Inf included when the
// body has it. Counts are floats, as in the exposition; the receiver checks that they are whole.
type Histogram struct {
	Buckets []Bucket
	Sum     float64
	Count   float64
}

// Bucket is one "le" line of a histogram.
type Bucket struct {
	UpperBound      float64
	CumulativeCount float64
}

// Summary is a Prometheus summary sample.
type Summary struct {
	Quantiles []Quantile
	Sum       float64
	Count     float64
}

// Quantile is one "quantile" line of a summary.
type Quantile struct {
	Quantile, Value float64
}

// SampleLines is how many exposition lines a sample was parsed from, as Prometheus counts samples: a histogram
// is its buckets plus _sum and _count, a summary its quantiles plus _sum and _count.
func (f *Family) SampleLines(s *Sample) int {
	switch f.Type {
	case dto.MetricType_HISTOGRAM:
		return len(s.Histogram.Buckets) + 2
	case dto.MetricType_SUMMARY:
		return len(s.Summary.Quantiles) + 2
	}
	return 1
}

// fromDTO converts expfmt's families (the fallback parser's result) into the model.
func fromDTO(mf *dto.MetricFamily) Family {
	f := Family{Name: mf.GetName(), Help: mf.GetHelp(), Type: mf.GetType(), Samples: make([]Sample, 0, len(mf.GetMetric()))}
	for _, m := range mf.GetMetric() {
		s := Sample{Labels: make([]Label, 0, len(m.GetLabel()))}
		for _, l := range m.GetLabel() {
			s.Labels = append(s.Labels, Label{Name: l.GetName(), Value: l.GetValue()})
		}
		if m.TimestampMs != nil {
			s.TimestampMs, s.HasTimestamp = m.GetTimestampMs(), true
		}
		switch {
		case m.Counter != nil:
			s.Value = m.GetCounter().GetValue()
		case m.Gauge != nil:
			s.Value = m.GetGauge().GetValue()
		case m.Untyped != nil:
			s.Value = m.GetUntyped().GetValue()
		case m.Histogram != nil:
			h := m.GetHistogram()
			s.Histogram = Histogram{Sum: h.GetSampleSum(), Count: float64(h.GetSampleCount())}
			if h.SampleCountFloat != nil {
				s.Histogram.Count = h.GetSampleCountFloat()
			}
			for _, b := range h.GetBucket() {
				count := float64(b.GetCumulativeCount())
				if b.CumulativeCountFloat != nil {
					count = b.GetCumulativeCountFloat()
				}
				s.Histogram.Buckets = append(s.Histogram.Buckets, Bucket{UpperBound: b.GetUpperBound(), CumulativeCount: count})
			}
		case m.Summary != nil:
			sm := m.GetSummary()
			s.Summary = Summary{Sum: sm.GetSampleSum(), Count: float64(sm.GetSampleCount())}
			for _, q := range sm.GetQuantile() {
				s.Summary.Quantiles = append(s.Summary.Quantiles, Quantile{Quantile: q.GetQuantile(), Value: q.GetValue()})
			}
		}
		f.Samples = append(f.Samples, s)
	}
	return f
}
