// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

const (
	// defaultWindow is the granularity of the real metrics API.
	defaultWindow          = time.Minute
	defaultGPUsPerEndpoint = 4
	// maxGPUsPerEndpoint matches the largest real GPU workload types (8 GPUs);
	// it also catches typos that would multiply the size of every body.
	maxGPUsPerEndpoint = 8
)

// DefaultTokenLifetime is the lifetime of issued OAuth tokens when
// Config.TokenLifetime is zero: one hour, as Databricks and Entra ID issue.
const DefaultTokenLifetime = time.Hour

// Config describes the simulated workspace.
type Config struct {
	// Seed makes every generated value reproducible: the same seed, endpoint
	// and window always produce the same body.
	Seed int64
	// Window is the length of one metrics window. Zero means 60s, the real
	// granularity; tests use a few seconds. Must be a whole number of
	// milliseconds because samples are stamped in milliseconds.
	Window time.Duration
	// Token is the static bearer token (personal access token) /api/
	// requests may present. PUT /simulator/tokens replaces it at run time.
	Token string

	// OAuthClients are the service principals, client id to secret, that
	// may get tokens from the Databricks OAuth M2M endpoint
	// (POST /oidc/v1/token).
	OAuthClients map[string]string
	// AzureTenant is the Entra ID tenant whose token endpoint
	// (POST /{tenant}/oauth2/v2.0/token) the simulator serves, and
	// AzureClients its service principals, client id to secret.
	AzureTenant  string
	AzureClients map[string]string
	// TokenLifetime is how long issued tokens are accepted. Zero means
	// DefaultTokenLifetime; tests use a few seconds to see renewals.
	TokenLifetime time.Duration

	// CPU, GPU, MultiEntity, ScaleToZero and FoundationModel are the number
	// of endpoints of each kind.
	CPU             int
	GPU             int
	MultiEntity     int
	ScaleToZero     int
	FoundationModel int

	// GPUsPerEndpoint is the number of GPUs, hence of per-GPU series, of each
	// GPU endpoint. Zero means 4.
	GPUsPerEndpoint int
	// ResponseDelay is added to every /metrics request, to emulate a slow
	// control plane in load tests.
	ResponseDelay time.Duration
}

// DefaultConfig returns a small workspace with one endpoint of every kind
// (two CPU endpoints), as used by `make run`.
func DefaultConfig() Config {
	return Config{
		Seed:            1,
		Window:          defaultWindow,
		Token:           "dapi-simulator-token",
		CPU:             2,
		GPU:             1,
		MultiEntity:     1,
		ScaleToZero:     1,
		FoundationModel: 1,
		GPUsPerEndpoint: defaultGPUsPerEndpoint,
	}
}

// withDefaults fills the fields whose zero value means "use the default".
func (cfg Config) withDefaults() Config {
	if cfg.Window == 0 {
		cfg.Window = defaultWindow
	}
	if cfg.GPUsPerEndpoint == 0 {
		cfg.GPUsPerEndpoint = defaultGPUsPerEndpoint
	}
	if cfg.TokenLifetime == 0 {
		cfg.TokenLifetime = DefaultTokenLifetime
	}
	// The server keeps the maps: copies keep later changes by the caller
	// from racing with requests.
	cfg.OAuthClients = maps.Clone(cfg.OAuthClients)
	cfg.AzureClients = maps.Clone(cfg.AzureClients)
	return cfg
}

func (cfg Config) validate() error {
	var errs []error
	if cfg.Window < time.Millisecond || cfg.Window%time.Millisecond != 0 {
		errs = append(errs, fmt.Errorf("invalid Window %s: must be a positive whole number of milliseconds", cfg.Window))
	}
	if cfg.Token == "" {
		errs = append(errs, errors.New("invalid Token: must not be empty"))
	}
	counts := []struct {
		field string
		value int
	}{
		{"CPU", cfg.CPU},
		{"GPU", cfg.GPU},
		{"MultiEntity", cfg.MultiEntity},
		{"ScaleToZero", cfg.ScaleToZero},
		{"FoundationModel", cfg.FoundationModel},
	}
	for _, count := range counts {
		if count.value < 0 {
			errs = append(errs, fmt.Errorf("invalid %s %d: must not be negative", count.field, count.value))
		}
	}
	if cfg.GPUsPerEndpoint < 1 || cfg.GPUsPerEndpoint > maxGPUsPerEndpoint {
		errs = append(errs, fmt.Errorf("invalid GPUsPerEndpoint %d: must be between 1 and %d", cfg.GPUsPerEndpoint, maxGPUsPerEndpoint))
	}
	if cfg.ResponseDelay < 0 {
		errs = append(errs, fmt.Errorf("invalid ResponseDelay %s: must not be negative", cfg.ResponseDelay))
	}
	// expires_in is in whole seconds: a shorter lifetime would announce 0.
	if cfg.TokenLifetime < time.Second {
		errs = append(errs, fmt.Errorf("invalid TokenLifetime %s: must be at least 1s", cfg.TokenLifetime))
	}
	errs = append(errs, validateClients("OAuthClients", cfg.OAuthClients)...)
	errs = append(errs, validateClients("AzureClients", cfg.AzureClients)...)
	if strings.Contains(cfg.AzureTenant, "/") {
		errs = append(errs, fmt.Errorf("invalid AzureTenant %q: must be one path segment", cfg.AzureTenant))
	}
	if len(cfg.AzureClients) > 0 && cfg.AzureTenant == "" {
		errs = append(errs, errors.New("invalid AzureTenant: must be set when AzureClients are"))
	}
	return errors.Join(errs...)
}

// validateClients checks client id to secret maps. HTTP Basic
// authentication splits on the first colon, so ids cannot contain one.
func validateClients(field string, clients map[string]string) []error {
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(clients)) {
		switch {
		case id == "" || strings.Contains(id, ":"):
			errs = append(errs, fmt.Errorf("invalid %s: client id %q must be non-empty and contain no colon", field, id))
		case clients[id] == "":
			errs = append(errs, fmt.Errorf("invalid %s: client %q has an empty secret", field, id))
		}
	}
	return errs
}
