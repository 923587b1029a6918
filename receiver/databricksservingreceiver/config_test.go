// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/metadata"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	id := component.NewID(metadata.Type)
	if name != "" {
		id = component.NewIDWithName(metadata.Type, name)
	}
	sub, err := cm.Sub(id.String())
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestLoadValidConfig(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		cfg := loadConfig(t, "")
		require.NoError(t, confmap.Validate(cfg))
		assert.Equal(t, 30*time.Second, cfg.CollectionInterval)
		assert.Equal(t, 10*time.Second, cfg.ClientConfig.Timeout)
		assert.Equal(t, 32, cfg.MaxConcurrency)
		assert.Empty(t, cfg.Endpoints, "no list means every endpoint of the workspace")
		assert.Equal(t, configopaque.String("dapi-0123456789abcdef"), cfg.Token)
		assert.True(t, cfg.Metrics.DatabricksServingRequestCount.Enabled)
	})
	t.Run("custom", func(t *testing.T) {
		cfg := loadConfig(t, "custom")
		require.NoError(t, confmap.Validate(cfg))
		assert.Equal(t, 15*time.Second, cfg.CollectionInterval)
		assert.Equal(t, 5*time.Second, cfg.ClientConfig.Timeout)
		assert.Equal(t, 8, cfg.MaxConcurrency)
		assert.Equal(t, []string{"readmission-model", "llama_ft-gpu"}, cfg.Endpoints)
		assert.False(t, cfg.Metrics.DatabricksServingGpuMemoryUtilization.Enabled)
		assert.False(t, cfg.ResourceAttributes.DatabricksWorkspaceHost.Enabled)
	})
	t.Run("auth extension instead of a token", func(t *testing.T) {
		cfg := loadConfig(t, "extension_auth")
		require.NoError(t, confmap.Validate(cfg))
		assert.True(t, cfg.ClientConfig.Auth.HasValue())
	})
	t.Run("plain http to a loopback simulator", func(t *testing.T) {
		require.NoError(t, confmap.Validate(loadConfig(t, "local_simulator")))
	})
}

func TestInvalidConfigNamesTheField(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string
	}{
		{"missing_endpoint", "endpoint must be set to the workspace URL"},
		{"not_a_url", `endpoint "adb-1234567890123456.7.azuredatabricks.net" is not a workspace URL`},
		{"with_path", "must be the workspace URL alone, without path or query"},
		{"plain_http", `uses http:// with the non-loopback host "adb-1234567890123456.7.azuredatabricks.net"`},
		{"credentials_in_url", "endpoint must not carry credentials in the URL"},
		{"no_credentials", "no credentials: set token"},
		{"two_credentials", "token and auth are both set"},
		{"bad_endpoint_name", `endpoints: "-starts-with-dash" is not a serving endpoint name`},
		{"duplicate_endpoint", `endpoints: "readmission" is listed twice`},
		{"zero_concurrency", "max_concurrency must be at least 1, got 0"},
		{"interval_too_long", "collection_interval 5m0s is longer than Databricks' one-minute window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := confmap.Validate(loadConfig(t, tt.name))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestConfigNeverPrintsTheToken(t *testing.T) {
	cfg := loadConfig(t, "")
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg)} {
		assert.NotContains(t, s, "dapi-0123456789abcdef")
	}
}
