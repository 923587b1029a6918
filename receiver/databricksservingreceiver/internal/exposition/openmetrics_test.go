// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package exposition

import (
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const openMetrics = "application/openmetrics-text; version=1.0.0"

// A blank first line changes nothing: the families, their types (learnt before the samples) and their samples are
// those of the body without it.
func TestAnOpenMetricsBodyMayStartWithABlankLine(t *testing.T) {
	body := "# TYPE q gaugehistogram\nq_bucket{le=\"1\"} 2\nq_bucket{le=\"+Inf\"} 3\nq_gcount 3\nq_gsum 4\n# TYPE c counter\nc_total 1\n# EOF\n"
	want, err := Parse([]byte(body), openMetrics)
	require.NoError(t, err)
	got, err := Parse([]byte("\n"+body), openMetrics)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Len(t, got, 4, "the gauge histogram is three gauge families, the counter one")
}

// A gauge histogram becomes the gauges Prometheus stores: every bucket with its "le" as Prometheus writes it, the
// count and the sum.
func TestAGaugeHistogramBecomesGauges(t *testing.T) {
	body := "# TYPE q gaugehistogram\nq_bucket{le=\"0.25\"} 2\nq_bucket{le=\"1e+06\"} 5\nq_bucket{le=\"+Inf\"} 7\nq_gcount 7\nq_gsum 9.5\n# EOF\n"
	families, err := Parse([]byte(body), openMetrics)
	require.NoError(t, err)
	fams := byName(t, families)
	buckets := fams["q_bucket"]
	assert.Equal(t, dto.MetricType_GAUGE, buckets.Type)
	require.Len(t, buckets.Samples, 3)
	for i, want := range []struct {
		le    string
		value float64
	}{{"0.25", 2}, {"1e+06", 5}, {"+Inf", 7}} {
		s := buckets.Samples[i]
		require.Len(t, s.Labels, 1)
		assert.Equal(t, Label{Name: "le", Value: want.le}, s.Labels[0])
		assert.Equal(t, want.value, s.Value, "bucket le=%s", want.le)
	}
	require.Len(t, fams["q_gcount"].Samples, 1)
	assert.Equal(t, 7.0, fams["q_gcount"].Samples[0].Value)
	require.Len(t, fams["q_gsum"].Samples, 1)
	assert.Equal(t, 9.5, fams["q_gsum"].Samples[0].Value)
}

// Only a gauge histogram's "_gcount" and "_gsum" are its count and sum: families of other types that end so keep
// their names.
func TestOnlyAGaugeHistogramOwnsGcountAndGsum(t *testing.T) {
	body := "# TYPE q gauge\nq 1\n# TYPE q_gcount gauge\nq_gcount 2\n# TYPE q_gsum gauge\nq_gsum 3\n# EOF\n"
	families, err := Parse([]byte(body), openMetrics)
	require.NoError(t, err)
	fams := byName(t, families)
	for name, want := range map[string]float64{"q": 1, "q_gcount": 2, "q_gsum": 3} {
		require.Len(t, fams[name].Samples, 1, name)
		assert.Equal(t, want, fams[name].Samples[0].Value, name)
	}
}

// A quoted metric name (OpenMetrics 2.0 and Prometheus 3 allow any UTF-8 name) starts the line with "{".
func TestAnOpenMetricsQuotedNameIsASampleName(t *testing.T) {
	families, err := Parse([]byte("{\"a.b\",x=\"1\"} 2\n# EOF\n"), openMetrics)
	require.NoError(t, err)
	fams := byName(t, families)
	require.Len(t, fams["a.b"].Samples, 1)
	assert.Equal(t, 2.0, fams["a.b"].Samples[0].Value)
}
