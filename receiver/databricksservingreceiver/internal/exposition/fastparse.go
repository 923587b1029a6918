// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package exposition // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/exposition"

import (
	"bytes"
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"

	dto "github.com/prometheus/client_model/go"
)

// maxInterned bounds a Parser's string table; it is cleared when full. Bodies of one workspace share most of
// their names, label values and HELP texts, so a few thousand entries serve many endpoints.
const maxInterned = 4096

// fastParse parses the Prometheus text format the way expfmt's TextParser does, for the lines that Databricks
// and well-behaved exporters write: names and labels without quoting or escapes, HELP without escapes, the five
// classic types. It reuses the parser's families, samples and strings from one body to the next, which is where
// expfmt spends most of its time (an object and a string per token). Whatever it does not handle, or handles
// differently from expfmt, makes it report false, and the caller parses the body with expfmt instead. A
// differential fuzz test holds it to expfmt's results on every body it accepts.
func (p *Parser) fastParse(body []byte) bool {
	p.reset()
	for pos := 0; pos < len(body); {
		end := bytes.IndexByte(body[pos:], '\n')
		if end < 0 {
			return false // expfmt rejects a body whose last line has no newline
		}
		line := body[pos : pos+end]
		pos += end + 1
		line = line[skipBlankIndex(line, 0):]
		switch {
		case len(line) == 0:
			continue
		case line[0] == '#':
			if !p.comment(line) {
				return false
			}
		default:
			if !p.sample(line) {
				return false
			}
		}
	}
	return true
}

func (p *Parser) reset() {
	clear(p.byName)
	p.n = 0
	p.lines, p.err = 0, nil
}

// comment handles a "#" line: HELP and TYPE lines, other comments are skipped.
func (p *Parser) comment(line []byte) bool {
	i := skipBlankIndex(line, 1)
	if i == len(line) {
		return true
	}
	keywordEnd := tokenEnd(line, i)
	keyword := line[i:keywordEnd]
	isHelp, isType := string(keyword) == "HELP", string(keyword) == "TYPE"
	if !isHelp && !isType {
		return true
	}
	i = skipBlankIndex(line, keywordEnd)
	nameEnd := metricNameEnd(line, i)
	if nameEnd == i || nameEnd == len(line) || !isBlank(line[nameEnd]) {
		return false // no name, quoted name, or a name alone: leave the edge cases to expfmt
	}
	if !p.checkName(line[i:nameEnd]) {
		return false
	}
	f, _, _ := p.family(line[i:nameEnd])
	text := line[skipBlankIndex(line, nameEnd):]
	if len(text) == 0 {
		return false
	}
	if isHelp {
		if !p.checkHelp(f.Name, text) {
			return false
		}
		if f.helped || bytes.IndexByte(text, '\\') >= 0 {
			return false // a second HELP is an error; escapes are expfmt's to decode
		}
		f.Help, f.helped = p.str(text), true
		return true
	}
	typ, ok := parseType(text)
	if !ok || f.typed {
		return false // unknown types, gauge histograms and a TYPE after samples or another TYPE go to expfmt
	}
	f.Type, f.typed = typ, true
	return true
}

func parseType(text []byte) (dto.MetricType, bool) {
	switch {
	case bytes.EqualFold(text, []byte("counter")):
		return dto.MetricType_COUNTER, true
	case bytes.EqualFold(text, []byte("gauge")):
		return dto.MetricType_GAUGE, true
	case bytes.EqualFold(text, []byte("histogram")):
		return dto.MetricType_HISTOGRAM, true
	case bytes.EqualFold(text, []byte("summary")):
		return dto.MetricType_SUMMARY, true
	case bytes.EqualFold(text, []byte("untyped")):
		return dto.MetricType_UNTYPED, true
	}
	return 0, false
}

// sample handles a sample line: name, optional labels, value, optional timestamp.
func (p *Parser) sample(line []byte) bool {
	nameEnd := metricNameEnd(line, 0)
	if nameEnd == 0 || nameEnd == len(line) || (line[nameEnd] != '{' && !isBlank(line[nameEnd])) {
		return false
	}
	// The limits, as the line is read: a body over one stops here, the rest of it unread.
	if !p.countSample() || !p.checkName(line[:nameEnd]) {
		return false
	}
	f, isCount, isSum := p.family(line[:nameEnd])
	if !f.typed {
		f.Type, f.typed = dto.MetricType_UNTYPED, true
	}
	i := skipBlankIndex(line, nameEnd)
	p.scratch = p.scratch[:0]
	bound, quantile := math.NaN(), math.NaN()
	hasBound, hasQuantile := false, false
	if i < len(line) && line[i] == '{' {
		var ok bool
		if i, ok = p.labels(line, i+1, f.Type, &bound, &hasBound, &quantile, &hasQuantile); !ok {
			return false
		}
		i = skipBlankIndex(line, i)
	}
	valueEnd := tokenEnd(line, i)
	value, ok := parseValue(line[i:valueEnd])
	if !ok {
		return false
	}
	var ts int64
	hasTimestamp := false
	if valueEnd < len(line) {
		i = skipBlankIndex(line, valueEnd)
		tsEnd := tokenEnd(line, i)
		if tsEnd == i || tsEnd != len(line) {
			return false // trailing blanks, or something after the timestamp: expfmt's error to report
		}
		if ts, ok = parseTimestamp(line[i:tsEnd]); !ok {
			return false
		}
		hasTimestamp = true
	}

	var s *Sample
	switch f.Type {
	case dto.MetricType_HISTOGRAM:
		if hasQuantile || (isCount || isSum) == hasBound || value < 0 {
			return false // a bucket needs "le" and _sum/_count must not have one; negative counts are errors
		}
		s = p.mergedSample(f)
		switch {
		case isCount:
			s.Histogram.Count = value
		case isSum:
			s.Histogram.Sum = value
		default:
			s.Histogram.Buckets = append(s.Histogram.Buckets, Bucket{UpperBound: bound, CumulativeCount: value})
		}
	case dto.MetricType_SUMMARY:
		if hasBound || (isCount || isSum) == hasQuantile {
			return false
		}
		s = p.mergedSample(f)
		switch {
		case isCount:
			// expfmt stores a summary's count as an integer; only whole counts convert the same way everywhere.
			if !(value >= 0 && value < 1<<63 && value == math.Trunc(value)) {
				return false
			}
			s.Summary.Count = value
		case isSum:
			s.Summary.Sum = value
		default:
			s.Summary.Quantiles = append(s.Summary.Quantiles, Quantile{Quantile: quantile, Value: value})
		}
	default:
		if hasBound || hasQuantile {
			return false
		}
		s = p.newSample(f)
		s.Value = value
	}
	if hasTimestamp {
		s.TimestampMs, s.HasTimestamp = ts, true
	}
	return true
}

// labels parses the label pairs after "{" into p.scratch, taking "le" of histograms and "quantile" of summaries
// out as numbers, and returns the index after "}".
func (p *Parser) labels(line []byte, i int, typ dto.MetricType, bound *float64, hasBound *bool, quantile *float64, hasQuantile *bool) (int, bool) {
	for {
		i = skipBlankIndex(line, i)
		if i == len(line) {
			return 0, false
		}
		if line[i] == '}' {
			return i + 1, true
		}
		nameEnd := labelNameEnd(line, i)
		if nameEnd == i {
			return 0, false // quoted names and garbage go to expfmt
		}
		name := line[i:nameEnd]
		i = skipBlankIndex(line, nameEnd)
		if i == len(line) || line[i] != '=' {
			return 0, false
		}
		i = skipBlankIndex(line, i+1)
		if i == len(line) || line[i] != '"' {
			return 0, false
		}
		valueEnd := bytes.IndexByte(line[i+1:], '"')
		if valueEnd < 0 {
			return 0, false
		}
		value := line[i+1 : i+1+valueEnd]
		if bytes.IndexByte(value, '\\') >= 0 || !utf8.Valid(value) || string(name) == "__name__" {
			return 0, false
		}
		i += valueEnd + 2
		switch {
		case typ == dto.MetricType_HISTOGRAM && string(name) == "le":
			v, ok := parseValue(value)
			if !ok || *hasBound {
				return 0, false
			}
			*bound, *hasBound = v, true
		case typ == dto.MetricType_SUMMARY && string(name) == "quantile":
			v, ok := parseValue(value)
			if !ok || *hasQuantile {
				return 0, false
			}
			*quantile, *hasQuantile = v, true
		default:
			if !p.checkLabel(name, value, len(p.scratch)+1) {
				return 0, false
			}
			for _, l := range p.scratch {
				if l.Name == string(name) {
					return 0, false // duplicate label names are an error
				}
			}
			p.scratch = append(p.scratch, Label{Name: p.str(name), Value: p.str(value)})
		}
		i = skipBlankIndex(line, i)
		if i == len(line) {
			return 0, false
		}
		switch line[i] {
		case ',':
			i++
		case '}':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// family resolves a sample or comment name to its family the way expfmt does: the exact name, then the name
// without _count/_sum for a summary, then without _count/_sum/_bucket for a histogram, else a new family.
func (p *Parser) family(name []byte) (f *Family, isCount, isSum bool) {
	if idx, ok := p.byName[string(name)]; ok {
		return &p.families[idx], false, false
	}
	// expfmt looks up the name without _count/_sum as a summary, then without _count/_sum/_bucket as a histogram:
	// the same base name, looked up once here.
	count, sum, bucket := hasSuffix(name, "_count"), hasSuffix(name, "_sum"), hasSuffix(name, "_bucket")
	var base []byte
	switch {
	case count:
		base = name[:len(name)-len("_count")]
	case sum:
		base = name[:len(name)-len("_sum")]
	case bucket:
		base = name[:len(name)-len("_bucket")]
	default:
		return p.newFamily(name), false, false
	}
	if idx, ok := p.byName[string(base)]; ok {
		switch typ := p.families[idx].Type; {
		case typ == dto.MetricType_SUMMARY && !bucket, typ == dto.MetricType_HISTOGRAM:
			return &p.families[idx], count, sum
		}
	}
	return p.newFamily(name), false, false
}

// newFamily takes the next family slot, keeping the capacity a previous body gave its samples.
func (p *Parser) newFamily(name []byte) *Family {
	if p.n == len(p.families) {
		p.families = append(p.families, Family{})
	}
	f := &p.families[p.n]
	*f = Family{Name: p.str(name), Type: dto.MetricType_UNTYPED, Samples: f.Samples[:0]}
	p.byName[f.Name] = p.n
	p.n++
	return f
}

// newSample appends a sample with p.scratch's labels to f, reusing the slot's slices.
func (p *Parser) newSample(f *Family) *Sample {
	n := len(f.Samples)
	if n < cap(f.Samples) {
		f.Samples = f.Samples[:n+1]
	} else {
		f.Samples = append(f.Samples, Sample{})
	}
	s := &f.Samples[n]
	*s = Sample{
		Labels:    append(s.Labels[:0], p.scratch...),
		Histogram: Histogram{Buckets: s.Histogram.Buckets[:0]},
		Summary:   Summary{Quantiles: s.Summary.Quantiles[:0]},
	}
	return s
}

// mergedSample returns the sample of f whose labels equal p.scratch's as a set, as expfmt merges the lines of a
// histogram or summary by label signature; a new one when there is none.
func (p *Parser) mergedSample(f *Family) *Sample {
	for i := len(f.Samples) - 1; i >= 0; i-- {
		if sameLabelSet(f.Samples[i].Labels, p.scratch) {
			return &f.Samples[i]
		}
	}
	return p.newSample(f)
}

func sameLabelSet(a, b []Label) bool {
	if len(a) != len(b) {
		return false
	}
outer:
	for _, la := range a {
		for _, lb := range b {
			if la == lb {
				continue outer
			}
		}
		return false
	}
	return true
}

// str returns b as an interned string: no allocation for a string the parser has seen.
func (p *Parser) str(b []byte) string {
	if s, ok := p.interned[string(b)]; ok {
		return s
	}
	if len(p.interned) >= maxInterned {
		clear(p.interned)
	}
	s := string(b)
	p.interned[s] = s
	return s
}

// parseValue parses a float as expfmt does: strconv.ParseFloat without hexadecimal floats or underscores.
func parseValue(b []byte) (float64, bool) {
	if len(b) == 0 || bytes.ContainsAny(b, "pP_") {
		return 0, false
	}
	v, err := strconv.ParseFloat(transient(b), 64)
	return v, err == nil
}

func parseTimestamp(b []byte) (int64, bool) {
	v, err := strconv.ParseInt(transient(b), 10, 64)
	return v, err == nil
}

// transient views b as a string without copying it, for strconv calls that only read it. strconv keeps the
// string only in its error, which the callers drop, so nothing outlives b. This saves an allocation per value
// and timestamp: two per sample line.
func transient(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b)) //nolint:gosec // G103: audited, see above: the string does not outlive b
}

func hasSuffix(name []byte, suffix string) bool {
	return len(name) > len(suffix) && string(name[len(name)-len(suffix):]) == suffix
}

func isBlank(b byte) bool { return b == ' ' || b == '\t' }

func skipBlankIndex(line []byte, i int) int {
	for i < len(line) && isBlank(line[i]) {
		i++
	}
	return i
}

// tokenEnd returns the index of the first blank at or after i, or len(line).
func tokenEnd(line []byte, i int) int {
	for i < len(line) && !isBlank(line[i]) {
		i++
	}
	return i
}

// metricNameEnd returns the end of an unquoted metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) starting at i; i when
// there is none.
func metricNameEnd(line []byte, i int) int {
	start := i
	for i < len(line) {
		c := line[i]
		if c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > start && c >= '0' && c <= '9') {
			i++
			continue
		}
		break
	}
	return i
}

// labelNameEnd returns the end of an unquoted label name ([a-zA-Z_][a-zA-Z0-9_]*) starting at i; i when there
// is none.
func labelNameEnd(line []byte, i int) int {
	start := i
	for i < len(line) {
		c := line[i]
		if c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > start && c >= '0' && c <= '9') {
			i++
			continue
		}
		break
	}
	return i
}
