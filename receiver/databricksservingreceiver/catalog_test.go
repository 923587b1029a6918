// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"gopkg.in/yaml.v3"
)

// TestCatalogMatchesMetadata keeps the Go catalog, which says how each family's samples become points, and
// metadata.yaml, which declares each metric's shape (through the MetricsBuilder mdatagen generates from it),
// saying the same thing about every metric: each kind must emit the type, temporality and value type declared.
func TestCatalogMatchesMetadata(t *testing.T) {
	shapes := declaredShapes()
	raw, err := os.ReadFile("metadata.yaml")
	require.NoError(t, err)
	var md struct {
		Metrics map[string]struct {
			Attributes []string `yaml:"attributes"`
		} `yaml:"metrics"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &md))
	require.Len(t, shapes, len(md.Metrics), "recordOneOfEach (shapes.go) must record every metric metadata.yaml declares")

	declared := map[string]bool{}
	defs := map[string]metricDef{}
	for family, def := range knownFamilies {
		defs[family] = def
	}
	for _, def := range computedMetrics {
		defs["(computed) "+def.name] = def
	}
	for family, def := range defs {
		shape, ok := shapes[def.name]
		if def.kind == kindWindowedHistogram {
			assert.False(t, ok, "%s: mdatagen cannot generate histograms; it must not be declared", def.name)
			assert.NotEmpty(t, def.description, "%s: a histogram is described in the catalog", def.name)
			assert.NotEmpty(t, def.unit, "%s: a histogram has its unit in the catalog", def.name)
			continue
		}
		require.True(t, ok, "%s (from %s) is not declared in metadata.yaml", def.name, family)
		require.NotNil(t, def.enabled, "%s must read its enabled switch from the generated config", def.name)
		assert.Empty(t, def.description+def.unit, "%s: its description and unit belong in metadata.yaml alone", def.name)
		declared[def.name] = true
		assert.Equal(t, def.kind.metricType(), shape.Type(), def.name)
		switch def.kind {
		case kindGauge:
			assert.Equal(t, pmetric.NumberDataPointValueTypeDouble, shape.Gauge().DataPoints().At(0).ValueType(), def.name)
		case kindState:
			assert.Equal(t, pmetric.NumberDataPointValueTypeInt, shape.Gauge().DataPoints().At(0).ValueType(), def.name)
		case kindWindowedSum, kindComputedSum:
			assert.True(t, shape.Sum().IsMonotonic(), def.name)
			assert.Equal(t, pmetric.AggregationTemporalityCumulative, shape.Sum().AggregationTemporality(), def.name)
		}
		if def.extraAttribute != nil {
			assert.Contains(t, md.Metrics[def.name].Attributes, def.extraAttribute[0], def.name)
		}
	}
	for name := range shapes {
		assert.True(t, declared[name], "metadata.yaml declares %s but no Databricks family emits it", name)
	}
}

// TestEmittedMetricsCarryTheDeclaredDescriptionAndUnit checks the path from metadata.yaml to a scrape's output.
func TestEmittedMetricsCarryTheDeclaredDescriptionAndUnit(t *testing.T) {
	m := pmetric.NewMetric()
	describe(m, knownFamilies["request_count_total"])
	shape := declaredShapes()["databricks.serving.request.count"]
	assert.Equal(t, "{request}", m.Unit())
	assert.Equal(t, shape.Description(), m.Description())
	assert.Contains(t, m.Description(), "exactly once")
}
