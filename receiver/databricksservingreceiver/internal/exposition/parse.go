// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

// Package exposition turns a /metrics response body into Prometheus metric families. It accepts the Prometheus
// text format (what Databricks documents and sends by default) and OpenMetrics text (which the Databricks API
// reference says it may also return), so the rest of the receiver sees one data model.
package exposition // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/exposition"

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"
)

const openMetricsMediaType = "application/openmetrics-text"

// Parser parses /metrics bodies. It keeps its families, samples and strings from one body to the next, so a
// Parser that parses many bodies allocates little; it is not safe for concurrent use (keep one per goroutine,
// e.g. in a sync.Pool).
type Parser struct {
	families []Family // slots; the first n are the current body's
	n        int
	byName   map[string]int // family slot by name, for the current body
	scratch  []Label        // the labels of the line being parsed
	sorted   []Family       // the result: the families with samples, by name
	interned map[string]string
	trimmed  []byte // the body without trailing blanks, when it had some
	limits   Limits
	lines    int   // sample lines of the current body so far
	err      error // the limit the current body broke, which stops fastParse
}

// NewParser returns a Parser.
func NewParser() *Parser {
	return &Parser{byName: map[string]int{}, interned: map[string]string{}}
}

// Parse parses body into metric families sorted by name. contentType is the response's Content-Type header;
// an OpenMetrics body is also recognised by its mandatory trailing "# EOF" line when the header is missing or
// generic, because gateways in front of Databricks are known to rewrite it. The families belong to the parser
// and stay valid until its next Parse; the strings in them are immutable and may be kept.
func (p *Parser) Parse(body []byte, contentType string) ([]Family, error) {
	if isOpenMetrics(body, contentType) {
		normalized, err := openMetricsToText(body)
		if err != nil {
			return nil, err
		}
		body = normalized
	}
	body = p.trimTrailingBlanks(body)
	if p.fastParse(body) {
		return p.result(), nil
	}
	if p.err != nil {
		return nil, p.err // a limit: stopped where it was broken, the rest of the body unread
	}
	if err := p.countSampleLines(body); err != nil {
		return nil, err
	}
	families, err := parseWithExpfmt(body)
	if err != nil {
		return nil, err
	}
	if err := p.checkFamilies(families); err != nil {
		return nil, err
	}
	return families, nil
}

// trimTrailingBlanks returns body without the spaces and tabs that end its lines. Prometheus' own scrape parser
// accepts them after a value or timestamp, expfmt does not, and a proxy or hand-written exporter may add them.
// Label values cannot hold a raw newline, so no value loses a blank. Bodies without any (the usual case) are
// returned as they are, without a copy.
func (p *Parser) trimTrailingBlanks(body []byte) []byte {
	if !bytes.Contains(body, []byte(" \n")) && !bytes.Contains(body, []byte("\t\n")) {
		return body
	}
	out := p.trimmed[:0]
	for len(body) > 0 {
		line, rest, found := bytes.Cut(body, []byte("\n"))
		if found {
			line = bytes.TrimRight(line, " \t")
		}
		out = append(out, line...)
		if found {
			out = append(out, '\n')
		}
		body = rest
	}
	p.trimmed = out
	return out
}

// Parse parses one body with a new Parser (see Parser.Parse).
func Parse(body []byte, contentType string) ([]Family, error) {
	return NewParser().Parse(body, contentType)
}

// result returns the current body's families that have samples (expfmt drops the others), sorted by name. It
// sorts copies, so each family slot keeps its place and the capacities it grew to for the next body.
func (p *Parser) result() []Family {
	p.sorted = p.sorted[:0]
	for _, f := range p.families[:p.n] {
		if len(f.Samples) > 0 {
			p.sorted = append(p.sorted, f)
		}
	}
	slices.SortFunc(p.sorted, func(a, b Family) int { return strings.Compare(a.Name, b.Name) })
	return p.sorted
}

// parseWithExpfmt is the reference parser, for the bodies fastParse leaves to it.
func parseWithExpfmt(body []byte) ([]Family, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parsing exposition: %w", err)
	}
	families := make([]Family, 0, len(byName))
	for _, mf := range byName {
		if mf.GetType() == dto.MetricType_GAUGE_HISTOGRAM {
			for _, split := range splitGaugeHistogram(mf) {
				families = append(families, fromDTO(split))
			}
			continue
		}
		families = append(families, fromDTO(mf))
	}
	slices.SortFunc(families, func(a, b Family) int { return strings.Compare(a.Name, b.Name) })
	return families, nil
}

func isOpenMetrics(body []byte, contentType string) bool {
	// The media type is the header up to its parameters (mime.ParseMediaType would also build a map of them).
	mediaType, _, _ := strings.Cut(contentType, ";")
	if strings.EqualFold(strings.TrimSpace(mediaType), openMetricsMediaType) {
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
