// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// expositionContentType is the Prometheus text format, version 0.0.4.
const expositionContentType = "text/plain; version=0.0.4; charset=utf-8"

// renderExposition writes wt in the Prometheus text format. Every sample
// carries the window end as its timestamp. Histograms are written bucket by
// bucket, then _sum and _count, the layout expfmt parsers expect.
func renderExposition(wt WindowTruth) []byte {
	// The text format forbids splitting a family, so group by name while
	// keeping the order in which families first appear.
	var order []string
	byName := make(map[string][]*SeriesTruth)
	for i := range wt.Series {
		s := &wt.Series[i]
		if _, seen := byName[s.Name]; !seen {
			order = append(order, s.Name)
		}
		byName[s.Name] = append(byName[s.Name], s)
	}

	timestamp := strconv.FormatInt(wt.TimestampMillis, 10)
	buf := make([]byte, 0, 256*len(wt.Series))
	for _, name := range order {
		family := byName[name]
		metricType := family[0].Type
		switch {
		case metricType != "":
		case family[0].Histogram != nil:
			metricType = typeHistogram
		default:
			metricType = typeGauge
		}
		buf = append(buf, "# HELP "...)
		buf = append(buf, name...)
		buf = append(buf, ' ')
		buf = append(buf, escapeHelp(familyHelp[name])...)
		buf = append(buf, "\n# TYPE "...)
		buf = append(buf, name...)
		buf = append(buf, ' ')
		buf = append(buf, metricType...)
		buf = append(buf, '\n')
		for _, s := range family {
			labels := formatLabels(s.Labels)
			if s.Histogram == nil {
				buf = appendSample(buf, name, labels, "", *s.Value, timestamp)
				continue
			}
			h := s.Histogram
			for i, count := range h.CumulativeCounts {
				le := "+Inf"
				if i < len(h.Bounds) {
					le = formatFloat(h.Bounds[i])
				}
				buf = appendSample(buf, name+"_bucket", labels, `le="`+le+`"`, float64(count), timestamp)
			}
			buf = appendSample(buf, name+"_sum", labels, "", h.Sum, timestamp)
			buf = appendSample(buf, name+"_count", labels, "", float64(h.Count), timestamp)
		}
	}
	return buf
}

// appendSample writes `name{labels,extra} value timestamp`.
func appendSample(buf []byte, name, labels, extraLabel string, value float64, timestamp string) []byte {
	buf = append(buf, name...)
	if labels != "" || extraLabel != "" {
		buf = append(buf, '{')
		buf = append(buf, labels...)
		if labels != "" && extraLabel != "" {
			buf = append(buf, ',')
		}
		buf = append(buf, extraLabel...)
		buf = append(buf, '}')
	}
	buf = append(buf, ' ')
	buf = append(buf, formatFloat(value)...)
	buf = append(buf, ' ')
	buf = append(buf, timestamp...)
	return append(buf, '\n')
}

// formatLabels renders served_entity_name first, then the other labels by
// name, so bodies are byte-for-byte reproducible despite Go's random map
// order.
func formatLabels(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for name := range labels {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == labelServedEntityName:
			return -1
		case b == labelServedEntityName:
			return 1
		}
		return strings.Compare(a, b)
	})
	var sb strings.Builder
	for i, name := range names {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(name)
		sb.WriteString(`="`)
		sb.WriteString(labelValueEscaper.Replace(labels[name]))
		sb.WriteByte('"')
	}
	return sb.String()
}

// formatFloat prints the shortest decimal that parses back to v, without an
// exponent: counts print as "37", sums as "1762.5".
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

var (
	labelValueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	helpEscaper       = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeHelp(help string) string {
	return helpEscaper.Replace(help)
}
