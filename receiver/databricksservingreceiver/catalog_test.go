// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestCatalogMatchesMetadata keeps the Go catalog, which builds the points, and metadata.yaml, which drives the
// generated config and documentation, saying the same thing about every metric.
func TestCatalogMatchesMetadata(t *testing.T) {
	raw, err := os.ReadFile("metadata.yaml")
	require.NoError(t, err)
	var md struct {
		Metrics map[string]struct {
			Description string   `yaml:"description"`
			Unit        string   `yaml:"unit"`
			Attributes  []string `yaml:"attributes"`
			Gauge       *struct {
				ValueType string `yaml:"value_type"`
			} `yaml:"gauge"`
			Sum *struct {
				Monotonic   bool   `yaml:"monotonic"`
				Temporality string `yaml:"aggregation_temporality"`
			} `yaml:"sum"`
		} `yaml:"metrics"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &md))

	declared := map[string]bool{}
	defs := map[string]metricDef{}
	for family, def := range knownFamilies {
		defs[family] = def
	}
	for _, def := range computedMetrics {
		defs["(computed) "+def.name] = def
	}
	for family, def := range defs {
		meta, ok := md.Metrics[def.name]
		if def.kind == kindWindowedHistogram {
			assert.False(t, ok, "%s: mdatagen cannot generate histograms; it must not be declared", def.name)
			continue
		}
		require.True(t, ok, "%s (from %s) is not declared in metadata.yaml", def.name, family)
		require.NotNil(t, def.enabled, "%s must read its enabled switch from the generated config", def.name)
		declared[def.name] = true
		assert.Equal(t, meta.Description, def.description, def.name)
		assert.Equal(t, meta.Unit, def.unit, def.name)
		switch def.kind {
		case kindGauge:
			require.NotNil(t, meta.Gauge, "%s is a gauge", def.name)
			assert.Equal(t, "double", meta.Gauge.ValueType, def.name)
		case kindState:
			require.NotNil(t, meta.Gauge, "%s is a gauge", def.name)
			assert.Equal(t, "int", meta.Gauge.ValueType, def.name)
		case kindWindowedSum:
			require.NotNil(t, meta.Sum, "%s is a sum", def.name)
			assert.True(t, meta.Sum.Monotonic, def.name)
			assert.Equal(t, "cumulative", meta.Sum.Temporality, def.name)
		}
		if def.extraAttribute != nil {
			assert.Contains(t, meta.Attributes, def.extraAttribute[0], def.name)
		}
	}
	for name := range md.Metrics {
		assert.True(t, declared[name], "metadata.yaml declares %s but no Databricks family emits it", name)
	}
}
