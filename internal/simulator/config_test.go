// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultConfig(t *testing.T) {
	cfg := DefaultConfig()
	assert.Equal(t, Config{
		Seed:            1,
		Window:          time.Minute,
		Token:           "dapi-simulator-token",
		CPU:             2,
		GPU:             1,
		MultiEntity:     1,
		ScaleToZero:     1,
		FoundationModel: 1,
		GPUsPerEndpoint: 4,
	}, cfg)

	sim, err := New(cfg)
	require.NoError(t, err)
	assert.Equal(t, []string{
		"cpu-endpoint-0",
		"cpu-endpoint-1",
		"gpu-endpoint-0",
		"multi-entity-endpoint-0",
		"scale-to-zero-endpoint-0",
		"databricks-fmapi-endpoint-0",
	}, sim.Endpoints())
}

func TestNewAppliesDefaultsForZeroFields(t *testing.T) {
	sim, err := New(Config{Token: "t", GPU: 1})
	require.NoError(t, err)
	assert.Equal(t, time.Minute, sim.cfg.Window)
	assert.Equal(t, 4, sim.cfg.GPUsPerEndpoint)
	assert.Equal(t, []string{"gpu-endpoint-0"}, sim.Endpoints())
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(*Config)
		wantField string
	}{
		{"negative window", func(c *Config) { c.Window = -time.Second }, "Window"},
		{"sub-millisecond window", func(c *Config) { c.Window = 1500 * time.Microsecond }, "Window"},
		{"empty token", func(c *Config) { c.Token = "" }, "Token"},
		{"negative cpu", func(c *Config) { c.CPU = -1 }, "CPU"},
		{"negative gpu", func(c *Config) { c.GPU = -1 }, "GPU"},
		{"negative multi-entity", func(c *Config) { c.MultiEntity = -1 }, "MultiEntity"},
		{"negative scale-to-zero", func(c *Config) { c.ScaleToZero = -1 }, "ScaleToZero"},
		{"negative foundation model", func(c *Config) { c.FoundationModel = -1 }, "FoundationModel"},
		{"negative gpus", func(c *Config) { c.GPUsPerEndpoint = -1 }, "GPUsPerEndpoint"},
		{"too many gpus", func(c *Config) { c.GPUsPerEndpoint = 9 }, "GPUsPerEndpoint"},
		{"negative delay", func(c *Config) { c.ResponseDelay = -time.Millisecond }, "ResponseDelay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mutate(&cfg)
			_, err := New(cfg)
			require.Error(t, err)
			// "[ :]" keeps "GPU" from matching "GPUsPerEndpoint".
			assert.Regexp(t, "invalid "+tt.wantField+"[ :]", err.Error())
		})
	}
}

func TestNewReportsEveryInvalidField(t *testing.T) {
	_, err := New(Config{Token: "", CPU: -1, Window: -1})
	require.Error(t, err)
	for _, field := range []string{"Token", "CPU", "Window"} {
		assert.Contains(t, err.Error(), "invalid "+field)
	}
}

func TestEndpointNamesPerKind(t *testing.T) {
	sim, err := New(Config{Token: "t", CPU: 2, GPU: 2, MultiEntity: 2, ScaleToZero: 2, FoundationModel: 2})
	require.NoError(t, err)
	assert.Equal(t, []string{
		"cpu-endpoint-0", "cpu-endpoint-1",
		"gpu-endpoint-0", "gpu-endpoint-1",
		"multi-entity-endpoint-0", "multi-entity-endpoint-1",
		"scale-to-zero-endpoint-0", "scale-to-zero-endpoint-1",
		"databricks-fmapi-endpoint-0", "databricks-fmapi-endpoint-1",
	}, sim.Endpoints())
}
