// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-databricks/otelcol-databricks/internal/ddintake"
)

// datadogSerializerGate is the datadog exporter's feature gate for its serializer path. The distribution turns it
// off by default (cmd/otelcol-databricks/featuregates.go), so the suite, like users, runs the native path without
// a --feature-gates flag: only there do failed sends reach the exporter's retry and sending queue
// (docs/reliability.md), which the outage scenarios depend on.
const datadogSerializerGate = "exporter.datadogexporter.metricexportserializerclient"

// serializerPathLog is what the datadog exporter logs when it creates its metrics exporter on the serializer path.
const serializerPathLog = "Using Datadog serializerexporter for metric export"

// TestDatadogNativePathIsTheDefault checks that the distribution turns the serializer gate off by itself, and that
// a user's --feature-gates still turns it back on (the flag is applied after the distribution's default).
func TestDatadogNativePathIsTheDefault(t *testing.T) {
	requireLoopbackOnly(t)
	t.Parallel()
	collector := filepath.Join(*repoRoot, "bin", "otelcol-databricks")

	t.Run("featuregate lists the serializer gate as disabled", func(t *testing.T) {
		out, err := runExampleCommand(t, nil, collector, "featuregate", datadogSerializerGate)
		require.NoError(t, err, out)
		assert.Contains(t, out, "Feature: "+datadogSerializerGate+"\n", out)
		assert.Contains(t, out, "Enabled: false\n", out)
	})

	// A collector with the shipped configuration and Datadog, started with and without the flag: the exporter
	// says which path it takes when it is created, before the health check answers.
	intake := ddintake.New(datadogAPIKey)
	require.NoError(t, intake.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = intake.Close() })
	distribution := filepath.Join(*repoRoot, "cmd", "otelcol-databricks")
	configs := []string{
		"--config", filepath.Join(distribution, "config.yaml"),
		"--config", filepath.Join(distribution, "datadog.yaml"),
		"--config", filepath.Join(*repoRoot, "testdata", "e2e", "datadog-intake.yaml"),
	}
	env := []string{
		// Nothing listens there: the collector starts all the same and its scrapes and writes fail.
		"DATABRICKS_HOST=" + localURL(freePort(t), ""),
		"DATABRICKS_TOKEN=" + simulatorToken,
		"PROMETHEUS_REMOTE_WRITE_ENDPOINT=" + localURL(freePort(t), "/api/v1/write"),
		"DD_API_KEY=" + datadogAPIKey,
		"DD_INTAKE_URL=" + intake.URL(),
	}
	for _, c := range []struct {
		name       string
		args       []string
		serializer bool
	}{
		{"without a flag the exporter takes the native path", nil, false},
		{"--feature-gates turns the serializer path back on", []string{"--feature-gates=" + datadogSerializerGate}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := startCollector(t, "otelcol-databricks", append(append([]string{}, configs...), c.args...), env)
			logged := strings.Contains(p.out.String(), serializerPathLog)
			assert.Equal(t, c.serializer, logged, "%q in the collector's log", serializerPathLog)
			if !c.serializer {
				assert.NotContains(t, fmt.Sprint(p.cmd.Args), "feature-gates", "the default needs no flag")
			}
		})
	}
}
