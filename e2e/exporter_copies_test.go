// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestCopiesOfShippedExportersMatch keeps the copies of shipped exporters equal to them: the suite's second
// remote-write exporter (testdata/e2e/prometheus3-remote-write.yaml), which stands for "the shipped config pointed
// at Prometheus 3", and the "alone" examples of docs/configuration.md, which replace otlp.yaml and
// prometheus-scrape.yaml. A shipped setting changed without its copies would leave the test checking something
// users do not run, or the documentation recommending something else than the shipped file.
func TestCopiesOfShippedExportersMatch(t *testing.T) {
	shipped := func(file, id string) map[string]any {
		return exporterOf(t, filepath.Join(*repoRoot, "cmd", "otelcol-databricks", file), id)
	}
	remoteWrite := shipped("config.yaml", "prometheus_remote_write")
	copied := exporterOf(t, filepath.Join(*repoRoot, "testdata", "e2e", "prometheus3-remote-write.yaml"), "prometheus_remote_write/prometheus3")
	delete(remoteWrite, "endpoint") // the one setting that differs: where to
	delete(copied, "endpoint")
	assert.Equal(t, remoteWrite, copied, "testdata/e2e/prometheus3-remote-write.yaml")

	want := map[string]map[string]any{"otlphttp": shipped("otlp.yaml", "otlphttp"), "prometheus": shipped("prometheus-scrape.yaml", "prometheus")}
	found := map[string]bool{}
	for _, block := range fencedBlocks(t, "docs/configuration.md") {
		var doc struct {
			Exporters map[string]map[string]any `yaml:"exporters"`
		}
		if block.Lang != "yaml" || yaml.Unmarshal([]byte(block.Text), &doc) != nil {
			continue
		}
		for id, settings := range doc.Exporters {
			if w, ok := want[id]; ok {
				found[id] = true
				assert.Equal(t, w, settings, "%s: exporter %s", block.where(), id)
			}
		}
	}
	assert.Len(t, found, len(want), "docs/configuration.md has an example of each exporter alone")
}

// exporterOf returns the settings of exporter id in a collector configuration file.
func exporterOf(t *testing.T, path, id string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var config struct {
		Exporters map[string]map[string]any `yaml:"exporters"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &config))
	settings, ok := config.Exporters[id]
	require.True(t, ok, "%s has no exporter %s", path, id)
	return settings
}
