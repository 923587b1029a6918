// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-databricks/otelcol-databricks/internal/simulator"
)

func noEnv(string) string { return "" }

func TestParseFlagsDefaults(t *testing.T) {
	opts, err := parseFlags(nil, noEnv, io.Discard)
	require.NoError(t, err)
	want := simulator.DefaultConfig()
	want.TokenLifetime = time.Hour
	assert.Equal(t, "127.0.0.1:18080", opts.listen)
	assert.Equal(t, want, opts.cfg)
}

func TestParseFlags(t *testing.T) {
	opts, err := parseFlags([]string{
		"-listen", "127.0.0.1:0", "-token", "tok", "-window", "2s", "-seed", "7",
		"-cpu", "3", "-gpu", "0", "-multi-entity", "0", "-scale-to-zero", "0", "-fmapi", "2", "-gpus", "8",
		"-oauth-client", "sp-1:secret-1", "-oauth-client", "sp-2:secret:with:colons",
		"-azure-tenant", "tenant-1", "-azure-client", "app-1:azure-secret",
		"-token-lifetime", "8s",
	}, noEnv, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:0", opts.listen)
	assert.Equal(t, simulator.Config{
		Seed: 7, Window: 2 * time.Second, Token: "tok",
		CPU: 3, FoundationModel: 2, GPUsPerEndpoint: 8,
		OAuthClients:  map[string]string{"sp-1": "secret-1", "sp-2": "secret:with:colons"},
		AzureTenant:   "tenant-1",
		AzureClients:  map[string]string{"app-1": "azure-secret"},
		TokenLifetime: 8 * time.Second,
	}, opts.cfg)
}

func TestParseFlagsTokenFromEnvironment(t *testing.T) {
	env := func(name string) string { return map[string]string{tokenEnv: "from-env"}[name] }
	opts, err := parseFlags(nil, env, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "from-env", opts.cfg.Token)

	opts, err = parseFlags([]string{"-token", "from-flag"}, env, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "from-flag", opts.cfg.Token, "the flag wins")
}

func TestParseFlagsRejectsBadClients(t *testing.T) {
	for _, args := range [][]string{
		{"-oauth-client", "no-colon"},
		{"-oauth-client", ":secret"},
		{"-oauth-client", "id:"},
		{"-oauth-client", "id:a", "-oauth-client", "id:b"},
		{"-azure-client", "no-colon"},
		{"-token-lifetime", "soon"},
		{"extra-argument"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			_, err := parseFlags(args, noEnv, &stderr)
			require.ErrorIs(t, err, errUsage)
			assert.NotEmpty(t, stderr.String())
		})
	}
}

func TestHelpShowsNoSecrets(t *testing.T) {
	var stderr bytes.Buffer
	_, err := parseFlags([]string{"-oauth-client", "sp-1:very-secret", "-h"}, noEnv, &stderr)
	require.ErrorIs(t, err, flag.ErrHelp)
	assert.Contains(t, stderr.String(), "-oauth-client")
	assert.Contains(t, stderr.String(), "-token-lifetime")
	assert.NotContains(t, stderr.String(), "very-secret")

	clients := map[string]string{"b": "s1", "a": "s2"}
	assert.Equal(t, "a,b", (&clientsFlag{clients: &clients}).String())
}

func TestRunRejectsInvalidConfig(t *testing.T) {
	err := run(t.Context(), []string{"-listen", "127.0.0.1:0", "-token-lifetime", "10ms"}, noEnv, io.Discard, io.Discard)
	require.Error(t, err)
	assert.NotErrorIs(t, err, errUsage)
	assert.Contains(t, err.Error(), "TokenLifetime")
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of run and
// reads of the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var listeningLine = regexp.MustCompile(`listening on (http://\S+) `)

func TestRunServesTheConfiguredCredentials(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{
			"-listen", "127.0.0.1:0", "-token", "static-tok",
			"-oauth-client", "sp-1:secret-1", "-azure-tenant", "tenant-1", "-azure-client", "app-1:azure-secret",
			"-token-lifetime", "8s",
		}, noEnv, &stdout, io.Discard)
	}()
	var base string
	require.Eventually(t, func() bool {
		match := listeningLine.FindStringSubmatch(stdout.String())
		if match != nil {
			base = match[1]
		}
		return match != nil
	}, 10*time.Second, 10*time.Millisecond)

	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	token := func(path string, form url.Values, id, secret string) map[string]any {
		req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if id != "" {
			req.SetBasicAuth(id, secret)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer func() { _ = resp.Body.Close() }()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var answer map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&answer))
		return answer
	}
	m2m := token("/oidc/v1/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"all-apis"}}, "sp-1", "secret-1")
	assert.Equal(t, 8.0, m2m["expires_in"])
	azure := token("/tenant-1/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"app-1"}, "client_secret": {"azure-secret"},
		"scope": {"2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"},
	}, "", "")

	for _, bearer := range []any{"static-tok", m2m["access_token"], azure["access_token"]} {
		req, err := http.NewRequest(http.MethodGet, base+"/api/2.0/serving-endpoints", http.NoBody)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+bearer.(string))
		resp, err := client.Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

func TestParseFlagsLifecycle(t *testing.T) {
	opts, err := parseFlags([]string{
		"-lifecycle", "20s=cpu-endpoint-0:add_entity?traffic_percentage=30,90s=cpu-endpoint-1:recreate?gap=5s",
		"-lifecycle", "1m=multi-entity-endpoint-0:remove_entity?entity=multi-entity-endpoint-0-champion-1",
		"-lifecycle-repeat",
	}, noEnv, io.Discard)
	require.NoError(t, err)
	assert.True(t, opts.repeatSchedule)
	assert.Equal(t, []simulator.ScheduledEvent{
		{After: 20 * time.Second, Endpoint: "cpu-endpoint-0", Event: simulator.Event{Name: simulator.EventAddEntity, TrafficPercentage: 30}},
		{After: 90 * time.Second, Endpoint: "cpu-endpoint-1", Event: simulator.Event{Name: simulator.EventRecreate, Gap: simulator.Duration(5 * time.Second)}},
		{After: time.Minute, Endpoint: "multi-entity-endpoint-0", Event: simulator.Event{Name: simulator.EventRemoveEntity, Entity: "multi-entity-endpoint-0-champion-1"}},
	}, opts.schedule, "the entries of repeated flags add up")

	opts, err = parseFlags(nil, noEnv, io.Discard)
	require.NoError(t, err)
	assert.Empty(t, opts.schedule)
	assert.False(t, opts.repeatSchedule)
}

func TestParseFlagsRejectsBadLifecycle(t *testing.T) {
	tests := map[string]struct {
		args    []string
		message string
	}{
		"syntax":              {[]string{"-lifecycle", "20s=cpu-endpoint-0:add_entity,cpu-endpoint-1"}, `lifecycle entry 2 "cpu-endpoint-1"`},
		"unknown event":       {[]string{"-lifecycle", "20s=cpu-endpoint-0:explode"}, `unknown event "explode"`},
		"bad parameter":       {[]string{"-lifecycle", "20s=cpu-endpoint-0:hide?gap=later"}, `invalid gap "later"`},
		"repeat alone":        {[]string{"-lifecycle-repeat"}, "-lifecycle-repeat needs a -lifecycle schedule"},
		"repeat without time": {[]string{"-lifecycle", "0s=cpu-endpoint-0:retag", "-lifecycle-repeat"}, "needs an event after 0s"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			_, err := parseFlags(tt.args, noEnv, &stderr)
			require.ErrorIs(t, err, errUsage)
			assert.Contains(t, stderr.String(), tt.message)
		})
	}
}

func TestHelpDocumentsLifecycle(t *testing.T) {
	var stderr bytes.Buffer
	_, err := parseFlags([]string{"-h"}, noEnv, &stderr)
	require.ErrorIs(t, err, flag.ErrHelp)
	for _, want := range []string{"-lifecycle schedule", "offset=endpoint:event[?key=value&key=value]", "-lifecycle-repeat", "scale_to_zero"} {
		assert.Contains(t, stderr.String(), want)
	}
}

// startRun runs the command with args and returns its base URL and its
// stderr; stop ends it and returns run's error.
func startRun(t *testing.T, args ...string) (base string, stderr *syncBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var stdout syncBuffer
	stderr = &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-listen", "127.0.0.1:0", "-token", "tok"}, args...), noEnv, &stdout, stderr)
	}()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return errors.New("run did not return after cancel")
		}
	}
	t.Cleanup(func() { _ = stop() })
	require.Eventually(t, func() bool {
		match := listeningLine.FindStringSubmatch(stdout.String())
		if match != nil {
			base = match[1]
		}
		return match != nil
	}, 10*time.Second, 10*time.Millisecond)
	return base, stderr, stop
}

func TestRunAppliesTheLifecycleSchedule(t *testing.T) {
	base, stderr, stop := startRun(t, "-lifecycle", "0s=cpu-endpoint-0:retag,0s=created-later:retag,30ms=cpu-endpoint-0:retag", "-lifecycle-repeat")
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	rollout := func() int {
		req, err := http.NewRequest(http.MethodGet, base+"/api/2.0/serving-endpoints/cpu-endpoint-0", http.NoBody)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer func() { _ = resp.Body.Close() }()
		var detail struct {
			Tags []struct{ Key, Value string } `json:"tags"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&detail))
		for _, tag := range detail.Tags {
			if tag.Key == "rollout" {
				n, err := strconv.Atoi(strings.TrimPrefix(tag.Value, "r"))
				require.NoError(t, err)
				return n
			}
		}
		return 0
	}
	require.Eventually(t, func() bool { return rollout() >= 4 }, 10*time.Second, 10*time.Millisecond, "the schedule repeats")
	assert.Contains(t, stderr.String(), "workspace-simulator: lifecycle event 0s=created-later:retag: simulator: apply retag to created-later: endpoint not found",
		"an unknown endpoint is reported when its event is due, and the schedule goes on")
	require.NoError(t, stop())
}
