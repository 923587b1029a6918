// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package exposition // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/exposition"

import (
	"bytes"
	"fmt"
)

// Limits bound what Parse accepts from one body. They are checked while the body is parsed, line by line, so a
// hostile body costs at most what MaxSamples samples cost, never what the whole body would: a 1 MiB body can
// hold over 30,000 sample lines. A zero field is no limit.
type Limits struct {
	MaxSamples          int // sample lines, as Prometheus counts them (a histogram bucket is one)
	MaxLabels           int // labels of one sample, without "le" and "quantile"
	MaxLabelNameLength  int
	MaxLabelValueLength int
	MaxNameLength       int // metric family (and sample) names
	MaxHelpLength       int // HELP texts
}

// LimitError reports a body over one of the Limits. Limit is the name of the broken limit as the receiver's
// configuration spells it (max_samples, max_labels...).
type LimitError struct {
	Limit string
	msg   string
}

func (e *LimitError) Error() string { return e.msg }

func newLimitError(limit string, format string, args ...any) *LimitError {
	return &LimitError{Limit: limit, msg: fmt.Sprintf(format, args...)}
}

// SetLimits sets the limits of the following Parse calls.
func (p *Parser) SetLimits(l Limits) { p.limits = l }

// over reports whether n breaks a limit (0 is none).
func over(n, limit int) bool { return limit > 0 && n > limit }

// countSample counts one more sample line and fails the parse once there are more than MaxSamples.
func (p *Parser) countSample() bool {
	p.lines++
	if over(p.lines, p.limits.MaxSamples) {
		p.err = newLimitError("max_samples", "more than limits.max_samples (%d) samples; parsing stopped at sample %d", p.limits.MaxSamples, p.lines)
		return false
	}
	return true
}

// checkName fails the parse for a metric name longer than MaxNameLength.
func (p *Parser) checkName(name []byte) bool {
	if over(len(name), p.limits.MaxNameLength) {
		p.err = newLimitError("max_family_name_length", "a metric name of %d bytes is longer than limits.max_family_name_length (%d)", len(name), p.limits.MaxNameLength)
		return false
	}
	return true
}

// checkHelp fails the parse for a HELP text longer than MaxHelpLength.
func (p *Parser) checkHelp(name string, help []byte) bool {
	if over(len(help), p.limits.MaxHelpLength) {
		p.err = newLimitError("max_help_length", "%.64s has a HELP of %d bytes, longer than limits.max_help_length (%d)", name, len(help), p.limits.MaxHelpLength)
		return false
	}
	return true
}

// checkLabel fails the parse for a label that breaks a label limit; count is the sample's labels with this one.
func (p *Parser) checkLabel(name, value []byte, count int) bool {
	switch {
	case over(count, p.limits.MaxLabels):
		p.err = newLimitError("max_labels", "a sample has more than limits.max_labels (%d) labels", p.limits.MaxLabels)
	case over(len(name), p.limits.MaxLabelNameLength):
		p.err = newLimitError("max_label_name_length", "a label name of %d bytes is longer than limits.max_label_name_length (%d)", len(name), p.limits.MaxLabelNameLength)
	case over(len(value), p.limits.MaxLabelValueLength):
		p.err = newLimitError("max_label_value_length", "label %.64q has a value of %d bytes, longer than limits.max_label_value_length (%d)", name, len(value), p.limits.MaxLabelValueLength)
	default:
		return true
	}
	return false
}

// countSampleLines counts a body's sample lines (neither blank nor comments), stopping at MaxSamples+1. The
// reference parser builds every sample before it returns; this refuses a body over the limit before it starts.
func (p *Parser) countSampleLines(body []byte) error {
	if p.limits.MaxSamples <= 0 {
		return nil
	}
	lines := 0
	for len(body) > 0 {
		line, rest, _ := bytes.Cut(body, []byte("\n"))
		body = rest
		if line = bytes.TrimLeft(line, " \t"); len(line) == 0 || line[0] == '#' {
			continue
		}
		if lines++; lines > p.limits.MaxSamples {
			return newLimitError("max_samples", "more than limits.max_samples (%d) samples; not parsed", p.limits.MaxSamples)
		}
	}
	return nil
}

// checkFamilies applies the limits to the reference parser's result, which a body within max_body_bytes and
// max_samples bounds already: the label, name and HELP limits mean the same whichever parser read the body.
func (p *Parser) checkFamilies(families []Family) error {
	for i := range families {
		f := &families[i]
		if !p.checkName([]byte(f.Name)) || !p.checkHelp(f.Name, []byte(f.Help)) {
			return p.err
		}
		for j := range f.Samples {
			labels := f.Samples[j].Labels
			for k, l := range labels {
				if !p.checkLabel([]byte(l.Name), []byte(l.Value), k+1) {
					return p.err
				}
			}
		}
	}
	return nil
}
