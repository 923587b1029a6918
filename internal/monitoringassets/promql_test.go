// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package monitoringassets

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPromQLReferences(t *testing.T) {
	for _, tc := range []struct {
		expr            string
		metrics, labels []string
	}{
		{
			expr:    `sum(rate(databricks_serving_request_count_total{databricks_serving_endpoint_name=~".*", x="a}b"}[1m])) or vector(0)`,
			metrics: []string{"databricks_serving_request_count_total"}, labels: []string{"databricks_serving_endpoint_name", "x"},
		},
		{
			expr:    `histogram_quantile(0.99, sum by (host, le) (rate(lat_bucket{ep!=""}[5m] offset 1m)))`,
			metrics: []string{"lat_bucket"}, labels: []string{"ep", "host", "le"},
		},
		{
			expr:    "a{error_type!=''} / ignoring (error_type) group_left sum without(gpu) (b) > bool 1e-3 and {__name__=\"c\", job=`j`}",
			metrics: []string{"a", "b", "c"}, labels: []string{"error_type", "gpu", "job"},
		},
		{expr: `max_over_time(up[5m:1m]) == Inf`, metrics: []string{"up"}, labels: []string{}},
	} {
		metrics, labels, err := PromQLReferences(tc.expr)
		require.NoError(t, err, tc.expr)
		assert.Equal(t, tc.metrics, metrics, tc.expr)
		assert.Equal(t, tc.labels, labels, tc.expr)
	}
	for _, bad := range []string{`a{b="c"`, `a{b="c}`, `rate(a[5m)`, `sum by (a b`} {
		_, _, err := PromQLReferences(bad)
		assert.Error(t, err, bad)
	}
}
