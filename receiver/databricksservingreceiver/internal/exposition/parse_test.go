// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package exposition

import (
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func byName(t *testing.T, families []Family) map[string]Family {
	t.Helper()
	out := map[string]Family{}
	for _, mf := range families {
		out[mf.Name] = mf
	}
	return out
}

func TestParseTextFormat(t *testing.T) {
	body := "# TYPE b gauge\nb{x=\"1\"} 2 1788718020000\n# TYPE a gauge\na 1\n"
	families, err := Parse([]byte(body), "text/plain; version=0.0.4")
	require.NoError(t, err)
	require.Len(t, families, 2)
	assert.Equal(t, "a", families[0].Name, "families come sorted by name")
	assert.False(t, families[0].Samples[0].HasTimestamp)
	assert.Equal(t, int64(1788718020000), families[1].Samples[0].TimestampMs)
}

func TestParseOpenMetrics(t *testing.T) {
	body := `# HELP requests Number of requests.
# TYPE requests counter
# UNIT requests requests
requests_total{path="/a # b",q="say \"hi\" } # {x}"} 37 1788718020.123 # {trace_id="abc"} 1.0 1788718019.9
requests_created{path="/a # b",q="say \"hi\" } # {x}"} 1788717960.0
# TYPE latency histogram
latency_bucket{le="5"} 1 1788718020
latency_bucket{le="+Inf"} 3 1788718020
latency_sum 12.5 1788718020
latency_count 3 1788718020
latency_created 1788717960
# TYPE build info
build_info{version="1.2"} 1
# TYPE unknown_thing unknown
unknown_thing 7
# HELP LP Last price.
# TYPE LP counter
LP_total 2
# TYPE queue gaugehistogram
queue_bucket{le="1"} 4 1788718020
queue_bucket{le="+Inf"} 6 1788718020
queue_gcount 6 1788718020
queue_gsum 9.5 1788718020
# EOF
`
	families, err := Parse([]byte(body), "application/openmetrics-text; version=1.0.0; charset=utf-8")
	require.NoError(t, err)
	fams := byName(t, families)

	requests := fams["requests_total"]
	require.Contains(t, fams, "requests_total", "an OpenMetrics counter family keeps its _total samples")
	assert.Equal(t, dto.MetricType_COUNTER, requests.Type)
	assert.Equal(t, "Number of requests.", requests.Help)
	require.Len(t, requests.Samples, 1)
	m := requests.Samples[0]
	assert.Equal(t, 37.0, m.Value)
	assert.Equal(t, int64(1788718020123), m.TimestampMs, "float seconds become milliseconds")
	assert.Equal(t, "/a # b", m.Labels[0].Value, "a '#' inside a label value is not an exemplar")
	assert.Equal(t, `say "hi" } # {x}`, m.Labels[1].Value)

	latency := fams["latency"]
	require.Len(t, latency.Samples, 1)
	assert.Equal(t, 3.0, latency.Samples[0].Histogram.Count)
	assert.Equal(t, int64(1788718020000), latency.Samples[0].TimestampMs)

	assert.Equal(t, "Last price.", fams["LP_total"].Help, "the help text survives the rename of a counter family")

	// A gauge histogram is a distribution as it is now: kept as gauges, not accumulated.
	require.NotContains(t, fams, "queue")
	assert.Equal(t, dto.MetricType_GAUGE, fams["queue_bucket"].Type)
	require.Len(t, fams["queue_bucket"].Samples, 2)
	assert.Equal(t, 6.0, fams["queue_gcount"].Samples[0].Value)
	assert.Equal(t, 9.5, fams["queue_gsum"].Samples[0].Value)
	assert.Equal(t, int64(1788718020000), fams["queue_gsum"].Samples[0].TimestampMs)

	assert.Equal(t, dto.MetricType_GAUGE, fams["build_info"].Type)
	assert.Equal(t, dto.MetricType_UNTYPED, fams["unknown_thing"].Type)
	for name := range fams {
		assert.NotContains(t, name, "_created", "creation times are not samples of a window")
	}
}

func TestOpenMetricsRecognisedByItsEOFWhenTheContentTypeIsGeneric(t *testing.T) {
	body := "# TYPE g gauge\ng 1 1788718020.5\n# EOF\n"
	families, err := Parse([]byte(body), "text/plain")
	require.NoError(t, err)
	assert.Equal(t, int64(1788718020500), families[0].Samples[0].TimestampMs)
}

func TestParseErrorsSayWhere(t *testing.T) {
	for name, tc := range map[string]struct{ body, contentType, want string }{
		"broken label set":            {"a{x=\"1\" 1\n", "text/plain", "parsing exposition"},
		"OpenMetrics bad timestamp":   {"# TYPE g gauge\ng 1 yesterday\n# EOF\n", "application/openmetrics-text", "OpenMetrics line 2: invalid timestamp"},
		"OpenMetrics unterminated":    {"g{x=\"1 1\n# EOF\n", "application/openmetrics-text", "OpenMetrics line 1: unterminated label set"},
		"OpenMetrics too many fields": {"g 1 2 3\n# EOF\n", "application/openmetrics-text", "expected a value and an optional timestamp"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.body), tc.contentType)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestTrailingBlanksAreAcceptedAsPrometheusDoes(t *testing.T) {
	clean := "# HELP request_count_total Requests.\n# TYPE request_count_total gauge\nrequest_count_total{served_entity_name=\"a\"} 37 1788718020000\nrequest_count_total{served_entity_name=\"b\"} 5\n"
	blanks := "# HELP request_count_total Requests. \n# TYPE request_count_total gauge\t\nrequest_count_total{served_entity_name=\"a\"} 37 1788718020000 \nrequest_count_total{served_entity_name=\"b\"} 5\t \n"
	want, err := Parse([]byte(clean), "text/plain")
	require.NoError(t, err)
	got, err := Parse([]byte(blanks), "text/plain")
	require.NoError(t, err, "a blank after a value or timestamp is not an error")
	assert.Equal(t, want, got)
}
