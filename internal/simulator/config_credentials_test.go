// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewDefaultsTokenLifetime(t *testing.T) {
	sim, err := New(Config{Token: "t"})
	require.NoError(t, err)
	assert.Equal(t, time.Hour, sim.cfg.TokenLifetime)
	assert.Equal(t, DefaultTokenLifetime, sim.cfg.TokenLifetime)
}

func TestNewRejectsInvalidCredentialsConfig(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(*Config)
		wantField string
	}{
		{"sub-second lifetime", func(c *Config) { c.TokenLifetime = 500 * time.Millisecond }, "TokenLifetime"},
		{"negative lifetime", func(c *Config) { c.TokenLifetime = -time.Hour }, "TokenLifetime"},
		{"empty oauth id", func(c *Config) { c.OAuthClients = map[string]string{"": "s"} }, "OAuthClients"},
		{"oauth id with colon", func(c *Config) { c.OAuthClients = map[string]string{"a:b": "s"} }, "OAuthClients"},
		{"empty oauth secret", func(c *Config) { c.OAuthClients = map[string]string{"a": ""} }, "OAuthClients"},
		{"empty azure secret", func(c *Config) { c.AzureTenant, c.AzureClients = "t", map[string]string{"a": ""} }, "AzureClients"},
		{"azure clients without tenant", func(c *Config) { c.AzureClients = map[string]string{"a": "s"} }, "AzureTenant"},
		{"tenant with slash", func(c *Config) { c.AzureTenant = "a/b" }, "AzureTenant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mutate(&cfg)
			_, err := New(cfg)
			require.Error(t, err)
			assert.Regexp(t, "invalid "+tt.wantField+"[ :]", err.Error())
		})
	}
}

func TestNewCopiesClientMaps(t *testing.T) {
	cfg := authConfig()
	ts := newTestServer(t, cfg)
	cfg.OAuthClients[testClientID] = "changed-later"
	resp, body := ts.postForm(t, oauthTokenPath, m2mForm("all-apis"), testClientID, testClientSecret)
	assert.Equal(t, http.StatusOK, resp.StatusCode, string(body))
}
