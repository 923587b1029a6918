// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

// Package exposition turns a /metrics response body into Prometheus metric families. It accepts the Prometheus
// text format (what Databricks documents and sends by default) and OpenMetrics text (which the Databricks API
// reference says it may also return), so the rest of the receiver sees one data model.
package exposition // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/exposition"

import (
	"bytes"
	"fmt"
	"mime"
	"slices"
	"sort"
	"strconv"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"
)

const openMetricsMediaType = "application/openmetrics-text"

// Parse parses body into metric families sorted by name. contentType is the response's Content-Type header;
// an OpenMetrics body is also recognised by its mandatory trailing "# EOF" line when the header is missing or
// generic, because gateways in front of Databricks are known to rewrite it.
func Parse(body []byte, contentType string) ([]*dto.MetricFamily, error) {
	if isOpenMetrics(body, contentType) {
		normalized, err := openMetricsToText(body)
		if err != nil {
			return nil, err
		}
		body = normalized
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parsing exposition: %w", err)
	}
	families := make([]*dto.MetricFamily, 0, len(byName))
	for _, mf := range byName {
		if mf.GetType() == dto.MetricType_GAUGE_HISTOGRAM {
			families = append(families, splitGaugeHistogram(mf)...)
			continue
		}
		families = append(families, mf)
	}
	sort.Slice(families, func(i, j int) bool { return families[i].GetName() < families[j].GetName() })
	return families, nil
}

func isOpenMetrics(body []byte, contentType string) bool {
	if mediaType, _, err := mime.ParseMediaType(contentType); err == nil && mediaType == openMetricsMediaType {
		return true
	}
	trimmed := bytes.TrimRight(body, "\n")
	return bytes.HasSuffix(trimmed, []byte("# EOF"))
}

// splitGaugeHistogram turns a gauge histogram, a distribution as it is now rather than a count of events, into
// the gauges Prometheus itself would store: <name>_bucket{le=...}, <name>_gcount and <name>_gsum. Accumulating it
// like Databricks' per-minute histograms would be wrong.
func splitGaugeHistogram(mf *dto.MetricFamily) []*dto.MetricFamily {
	gauge := dto.MetricType_GAUGE.Enum()
	buckets := &dto.MetricFamily{Name: proto.String(mf.GetName() + "_bucket"), Help: mf.Help, Type: gauge}
	counts := &dto.MetricFamily{Name: proto.String(mf.GetName() + "_gcount"), Help: mf.Help, Type: gauge}
	sums := &dto.MetricFamily{Name: proto.String(mf.GetName() + "_gsum"), Help: mf.Help, Type: gauge}
	for _, m := range mf.GetMetric() {
		h := m.GetHistogram()
		for _, b := range h.GetBucket() {
			count := float64(b.GetCumulativeCount())
			if b.CumulativeCountFloat != nil {
				count = b.GetCumulativeCountFloat()
			}
			labels := append(slices.Clone(m.GetLabel()), &dto.LabelPair{
				Name: proto.String("le"), Value: proto.String(strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)),
			})
			buckets.Metric = append(buckets.Metric, gaugeSample(labels, count, m.TimestampMs))
		}
		count := float64(h.GetSampleCount())
		if h.SampleCountFloat != nil {
			count = h.GetSampleCountFloat()
		}
		counts.Metric = append(counts.Metric, gaugeSample(m.GetLabel(), count, m.TimestampMs))
		sums.Metric = append(sums.Metric, gaugeSample(m.GetLabel(), h.GetSampleSum(), m.TimestampMs))
	}
	return []*dto.MetricFamily{buckets, counts, sums}
}

func gaugeSample(labels []*dto.LabelPair, value float64, timestampMs *int64) *dto.Metric {
	return &dto.Metric{Label: labels, Gauge: &dto.Gauge{Value: proto.Float64(value)}, TimestampMs: timestampMs}
}
