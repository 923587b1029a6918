// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package exposition

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func gauges(n int, labels string) string {
	var b strings.Builder
	b.WriteString("# TYPE g gauge\n")
	for i := range n {
		fmt.Fprintf(&b, "g{i=\"%d\"%s} 1\n", i, labels)
	}
	return b.String()
}

// Each limit is enforced by both parsers (the fast one, and expfmt for the bodies it leaves to it: an escape in
// a HELP sends the body there), exactly at its value, and the fast parser stops at the line that breaks it.
func TestLimitsAreEnforcedWhileParsing(t *testing.T) {
	limits := Limits{MaxSamples: 5, MaxLabels: 2, MaxLabelNameLength: 4, MaxLabelValueLength: 6, MaxNameLength: 8, MaxHelpLength: 10}
	for _, tc := range []struct {
		name, body, limit string
	}{
		{"samples at the limit", gauges(5, ""), ""},
		{"samples over", gauges(6, ""), "max_samples"},
		{"labels at the limit", gauges(1, `,j="x"`), ""},
		{"labels over", gauges(1, `,j="x",k="y"`), "max_labels"},
		{"label name at the limit", gauges(1, `,abcd="x"`), ""},
		{"label name over", gauges(1, `,abcde="x"`), "max_label_name_length"},
		{"label value at the limit", gauges(1, `,j="123456"`), ""},
		{"label value over", gauges(1, `,j="1234567"`), "max_label_value_length"},
		{"name at the limit", "g2345678 1\n", ""},
		{"name over", "g23456789 1\n", "max_family_name_length"},
		{"help at the limit", "# HELP g 1234567890\ng 1\n", ""},
		{"help over", "# HELP g 12345678901\ng 1\n", "max_help_length"},
	} {
		for _, parser := range []string{"fast", "expfmt"} {
			t.Run(tc.name+"/"+parser, func(t *testing.T) {
				body := tc.body
				if parser == "expfmt" {
					body = "# HELP z a\\\\b\nz 1\n" + body // one sample more: the limits below allow it
				}
				p := NewParser()
				l := limits
				if parser == "expfmt" {
					l.MaxSamples++
				}
				p.SetLimits(l)
				_, err := p.Parse([]byte(body), "text/plain")
				if tc.limit == "" {
					require.NoError(t, err)
					return
				}
				var limitErr *LimitError
				require.True(t, errors.As(err, &limitErr), "%v", err)
				assert.Equal(t, tc.limit, limitErr.Limit)
				assert.Contains(t, err.Error(), "limits."+tc.limit)
			})
		}
	}
}

// The fast parser stops at the sample that breaks max_samples: the rest of the body is not read, so it may
// even be malformed.
func TestParsingStopsAtTheFirstSampleOverTheLimit(t *testing.T) {
	p := NewParser()
	p.SetLimits(Limits{MaxSamples: 3})
	_, err := p.Parse([]byte(gauges(4, "")+"this is { not a sample\n"), "text/plain")
	var limitErr *LimitError
	require.True(t, errors.As(err, &limitErr), "%v", err)
	assert.Contains(t, err.Error(), "stopped at sample 4")
	assert.Equal(t, 4, p.lines, "the parser went past the sample that broke the limit")
}
