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
	t.Run("oauth service principal, discovery filters and a shard", func(t *testing.T) {
		cfg := loadConfig(t, "oauth")
		require.NoError(t, confmap.Validate(cfg))
		assert.Equal(t, "6a1d3c4e-0000-4b5c-9d8e-1234567890ab", cfg.OAuth.ClientID)
		assert.Equal(t, []string{"model-serving"}, cfg.OAuth.Scopes)
		assert.Equal(t, 2*time.Minute, cfg.Discovery.RefreshInterval)
		assert.Equal(t, []string{"fraud-*", "llm-?"}, cfg.Discovery.Include)
		assert.Equal(t, map[string]string{"team": "ml"}, cfg.Discovery.IncludeTags)
		assert.Equal(t, 3, cfg.Shard.Count)
		assert.Equal(t, 2, cfg.Shard.Index)
	})
	t.Run("azure service principal", func(t *testing.T) {
		cfg := loadConfig(t, "azure")
		require.NoError(t, confmap.Validate(cfg))
		assert.Equal(t, "72f988bf-86f1-41af-91ab-2d7cd011db47", cfg.Azure.TenantID)
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
		{"no_credentials", "no credentials: set one of token (a personal access token), auth"},
		{"two_credentials", "token, auth are all set: set exactly one way to authenticate"},
		{"token_and_oauth", "token, oauth are all set: set exactly one way to authenticate"},
		{"oauth_incomplete", "oauth.client_id must be set"},
		{"oauth_incomplete", "oauth.client_secret must be set"},
		{"azure_incomplete", "azure.tenant_id must be set"},
		{"azure_incomplete", "azure.client_secret must be set"},
		{"oauth_plain_http_token_url", `oauth.token_url "http://login.example.com/token" uses http:// with the non-loopback host`},
		{"bad_glob", `discovery.include: "fraud-[a" is not a valid glob`},
		{"zero_refresh", "discovery.refresh_interval must be positive"},
		{"shard_out_of_range", "shard.index must be between 0 and shard.count-1 (2), got 3"},
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

func TestConfigNeverPrintsASecret(t *testing.T) {
	for name, secret := range map[string]string{"": "dapi-0123456789abcdef", "oauth": "dose0123456789abcdef", "azure": "azure-secret-value"} {
		cfg := loadConfig(t, name)
		for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprint(cfg.OAuth), fmt.Sprint(cfg.Azure)} {
			assert.NotContains(t, s, secret)
		}
	}
}
