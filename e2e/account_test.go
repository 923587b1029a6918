// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-databricks/otelcol-databricks/internal/simulator"
)

const (
	accountID = "e2e-account-7d1f"
	// accountPrincipal is the service principal of the collector whose output the backends receive; the three
	// shard collectors each have their own, so the workspaces can tell who asked for what.
	accountPrincipal, accountSecret = "e2e-account-sp", "e2e-account-secret-5be0c1a2d3"
	accountRegion                   = "us-west-2"
)

// shardPrincipals are the service principals of the three shard collectors.
var shardPrincipals = []string{"e2e-shard-0", "e2e-shard-1", "e2e-shard-2"}

func shardSecret(principal string) string { return principal + "-secret-94f1d2" }

// simulatedAccount is the simulator's account, served in process on 127.0.0.1.
type simulatedAccount struct {
	*simulator.Account
	host string
}

func startSimulatedAccount(t *testing.T) *simulatedAccount {
	t.Helper()
	principals := map[string]string{accountPrincipal: accountSecret}
	for _, p := range shardPrincipals {
		principals[p] = shardSecret(p)
	}
	acc, err := simulator.NewAccount(simulator.AccountConfig{AccountID: accountID, OAuthClients: principals, Region: accountRegion})
	require.NoError(t, err)
	addr, err := acc.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = acc.Close() })
	return &simulatedAccount{Account: acc, host: "http://" + addr.String()}
}

// add creates a workspace with two CPU endpoints and a multi-entity one; assigned says whether the principals
// may get its tokens (the unassigned workspace refuses them all).
func (a *simulatedAccount) add(t *testing.T, name string, assigned bool, seed int64) *simulator.AccountWorkspace {
	t.Helper()
	cfg := simulator.DefaultConfig()
	cfg.Seed, cfg.Window, cfg.Token = seed, windowLength, simulatorToken // the static token is never used here
	cfg.CPU, cfg.GPU, cfg.MultiEntity, cfg.ScaleToZero, cfg.FoundationModel = 2, 0, 1, 0, 0
	if assigned {
		cfg.OAuthClients = map[string]string{accountPrincipal: accountSecret}
		for _, p := range shardPrincipals {
			cfg.OAuthClients[p] = shardSecret(p)
		}
	}
	ws, err := a.AddWorkspace(name, cfg)
	require.NoError(t, err)
	return ws
}

// env is the collector's environment for the account as principal.
func (a *simulatedAccount) env(principal, secret string) []string {
	return []string{"ACCOUNT_ID=" + accountID, "ACCOUNT_HOST=" + a.host, "OAUTH_CLIENT_ID=" + principal, "OAUTH_CLIENT_SECRET=" + secret}
}

// TestAccount runs one collector in account mode over a simulated account of four workspaces: prod and staging
// assigned from the start, finance where the principal is not assigned, marketing added mid-run; staging is then
// removed. Three more collectors, sharded, run over the same account meanwhile. One run feeds every check.
func TestAccount(t *testing.T) {
	requireLoopbackOnly(t)
	rows := readMetricsTable(t)
	acc := startSimulatedAccount(t)
	prod := acc.add(t, "prod", true, 11)
	staging := acc.add(t, "staging", true, 12)
	finance := acc.add(t, "finance", false, 13)

	// The stack's own workspace simulator is left idle: account.yaml points the receiver at the account.
	s := startStack(t, stackOptions{
		overlays: []string{"account.yaml"}, noCollector: true,
		simulatorArgs: []string{"-cpu", "1", "-gpu", "0", "-multi-entity", "0", "-scale-to-zero", "0", "-fmapi", "0"},
	})
	stateDir := t.TempDir()
	s.collector = startCollector(t, "otelcol-databricks", s.configs,
		append(append(slices.Clone(s.env), acc.env(accountPrincipal, accountSecret)...), "STATE_DIR="+stateDir))
	shardConfigs := append(slices.Clone(s.configs), "--config", filepath.Join(*repoRoot, "testdata", "e2e", "account-shard.yaml"))
	shards := make([]*process, len(shardPrincipals))
	for i, p := range shardPrincipals {
		env := append(append(slices.Clone(s.env), acc.env(p, shardSecret(p))...), "SHARD_INDEX="+strconv.Itoa(i))
		shards[i] = startCollector(t, fmt.Sprintf("otelcol-databricks-shard-%d", i), shardConfigs, env)
	}

	time.Sleep(3 * windowLength)
	marketing := acc.add(t, "marketing", true, 14)
	time.Sleep(3 * windowLength)
	require.NoError(t, acc.RemoveWorkspace(staging.ID))
	time.Sleep(3 * windowLength)

	assigned := []*simulator.AccountWorkspace{prod, marketing}
	truths := map[string]simulator.Truth{}
	for _, ws := range assigned {
		truths[ws.ID] = ws.Server.Truth()
		waitForWindows(t, s.forWorkspace(ws.Addr), rows, truths[ws.ID], nil, 30*time.Second)
	}

	t.Run("every endpoint of every assigned workspace reaches both backends with the workspace's identity", func(t *testing.T) {
		for _, ws := range []*simulator.AccountWorkspace{prod, marketing, staging} {
			checkWorkspaceIdentity(t, s, rows, ws)
		}
	})

	t.Run("counters equal the simulator's truth in both backends", func(t *testing.T) {
		for _, ws := range assigned {
			for name, ep := range truths[ws.ID].Endpoints {
				t.Run(ws.Name+"/"+name, func(t *testing.T) {
					view := s.forWorkspace(ws.Addr)
					checkEndpoint(t, view, rows, name, fromFirstSight(t, view, rows, name, ep.Windows), true)
				})
			}
		}
	})

	t.Run("the removed workspace's series are marked stale", func(t *testing.T) {
		removed := map[string]string{"databricks_workspace_host": staging.Addr}
		for _, name := range []string{rows["request_count_total"].PromName, "databricks_serving_scrape_up", "databricks_serving_workspace_up"} {
			before, err := s.prometheus.rawSamples(selector(name, removed))
			require.NoError(t, err)
			require.NotEmpty(t, before, "%s: staging had data before it was removed", name)
			// Without a stale marker Prometheus would keep answering with the last sample for 5 minutes.
			now, err := s.prometheus.instant(selector(name, removed), time.Now().UnixMilli())
			require.NoError(t, err)
			assert.Empty(t, now, "%s: stale once the account no longer lists staging", name)
		}
	})

	t.Run("the unassigned workspace is an auth failure in workspace health and on the shipped alert", func(t *testing.T) {
		s.waitForAlert(t, "DatabricksCredentialsRefused", failureTimeout, []string{"databricks_workspace_host=" + finance.Addr}, "databricks_workspace_host")
		health := onlySeries(t, s.prometheus, selector("databricks_serving_workspace_up", map[string]string{"databricks_workspace_id": finance.ID, "error_type": "auth"}))
		require.NotEmpty(t, health)
		assert.Equal(t, 0.0, health[len(health)-1].Value)
		s.waitForDatadogGauge(t, "databricks.serving.workspace.up", map[string]string{"databricks.workspace.id": finance.ID, "error.type": "auth"}, 0)
		series, err := s.prometheus.rawSamples(selector("databricks_serving_scrape_up", map[string]string{"databricks_workspace_id": finance.ID}))
		require.NoError(t, err)
		assert.Empty(t, series, "and skipped")
	})

	t.Run("the account's health: listed, every running workspace counted, no account alert", func(t *testing.T) {
		checkAccountHealth(t, s, acc)
	})

	t.Run("three sharded collectors scrape each endpoint of the account exactly once", func(t *testing.T) {
		for _, ws := range []*simulator.AccountWorkspace{prod, marketing, staging} {
			checkShardedOnce(t, ws)
		}
	})

	t.Run("each workspace saves its state in a file of its own", func(t *testing.T) {
		for _, ws := range assigned {
			files, err := filepath.Glob(filepath.Join(stateDir, "*workspace_"+ws.ID))
			require.NoError(t, err)
			assert.Len(t, files, 1, "%s's state file in %s", ws.Name, stateDir)
		}
	})

	t.Run("no secret in the collectors' output", func(t *testing.T) {
		for _, p := range append([]*process{s.collector}, shards...) {
			out := p.out.String()
			for _, secret := range []string{accountSecret, shardSecret(shardPrincipals[0]), datadogAPIKey} {
				assert.NotContains(t, out, secret)
			}
		}
	})
}

// fromFirstSight returns the windows from the one this collector saw first, its baseline. The simulator's truth
// starts with the first window any collector asked for, and the shard collectors list the account on their own
// schedule: one may see a new workspace a window before this one. The receiver must pick a workspace up within
// its refresh interval (2 s here), so its baseline is one of the first windows; every window after it must then
// arrive exactly.
func fromFirstSight(t *testing.T, s *stack, rows map[string]metricRow, endpoint string, windows []simulator.WindowTruth) []simulator.WindowTruth {
	t.Helper()
	match, _ := s.matches(endpoint)
	series, err := s.prometheus.rawSamples(selector(rows["request_count_total"].PromName, match))
	require.NoError(t, err)
	require.NotEmpty(t, series, endpoint)
	first := int64(-1)
	for _, ser := range series {
		if len(ser.Samples) > 0 && (first < 0 || ser.Samples[0].TimestampMs < first) {
			first = ser.Samples[0].TimestampMs
		}
	}
	// A counter's first sample is its zero point, 1 ms before the first counted window; the baseline is the
	// window before that.
	baseline := first + 1 - windowLength.Milliseconds()
	i := slices.IndexFunc(windows, func(w simulator.WindowTruth) bool { return w.TimestampMillis == baseline })
	require.GreaterOrEqual(t, i, 0, "%s: the first counted window %d is not a window of the truth", endpoint, first+1)
	require.LessOrEqual(t, i, 2, "%s: picked up %d windows after another collector saw it", endpoint, i)
	return windows[i:]
}

// checkWorkspaceIdentity checks that every endpoint of ws has its request counter in Prometheus and Datadog,
// labelled and tagged with the workspace's id, name, cloud and region next to its host.
func checkWorkspaceIdentity(t *testing.T, s *stack, rows map[string]metricRow, ws *simulator.AccountWorkspace) {
	t.Helper()
	identity := []struct{ label, tag, value string }{
		{"databricks_workspace_host", "databricks.workspace.host", ws.Addr},
		{"databricks_workspace_id", "databricks.workspace.id", ws.ID},
		{"databricks_workspace_name", "databricks.workspace.name", ws.Name},
		{"cloud_provider", "cloud.provider", "aws"},
		{"cloud_region", "cloud.region", accountRegion},
	}
	for _, endpoint := range ws.Server.Endpoints() {
		match := map[string]string{endpointLabel: endpoint}
		for _, id := range identity {
			match[id.label] = id.value
		}
		series, err := s.prometheus.rawSamples(selector(rows["request_count_total"].PromName, match))
		require.NoError(t, err)
		assert.NotEmpty(t, series, "prometheus: %s/%s with its workspace's labels", ws.Name, endpoint)

		var tags []string
		for _, ser := range s.intake.Series() {
			if ser.Metric == rows["request_count_total"].DDName && slices.Contains(ser.Tags, endpointTag+":"+endpoint) &&
				slices.Contains(ser.Tags, "databricks.workspace.id:"+ws.ID) {
				tags = append(tags, ser.Tags...)
			}
		}
		require.NotEmpty(t, tags, "datadog: %s/%s", ws.Name, endpoint)
		for _, id := range identity {
			assert.Contains(t, tags, id.tag+":"+id.value, "datadog: %s/%s", ws.Name, endpoint)
		}
	}
}

// checkAccountHealth checks the account's own health in both backends, and that the shipped account alerts and
// the Datadog assets' account metrics and tags read series that exist (the other suites run no account).
func checkAccountHealth(t *testing.T, s *stack, acc *simulatedAccount) {
	t.Helper()
	accountHost := strings.TrimPrefix(acc.host, "http://")
	account := map[string]string{"databricks_account_id": accountID, "databricks_account_host": accountHost}
	up, err := s.prometheus.instant(selector("databricks_serving_account_up", account), time.Now().UnixMilli())
	require.NoError(t, err)
	assert.Equal(t, []float64{1}, up, "the account was listed")
	for selection, want := range map[string]float64{"discovered": 3, "selected": 3, "refused": 0} {
		match := map[string]string{"selection": selection}
		for k, v := range account {
			match[k] = v
		}
		eventually(t, 10*time.Second, "account.workspaces "+selection, func() error {
			got, err := s.prometheus.instant(selector("databricks_serving_account_workspaces", match), time.Now().UnixMilli())
			if err != nil || !slices.Equal(got, []float64{want}) {
				return fmt.Errorf("databricks_serving_account_workspaces{selection=%q} is %v (%v), want %v", selection, got, err, want)
			}
			return nil
		})
	}
	for alert, expr := range alertExpressions(t) {
		if !strings.Contains(expr, "databricks_serving_account_") {
			continue
		}
		got, err := s.alertResult(t, alert, 0, "databricks_account_id")
		require.NoError(t, err, alert)
		assert.Empty(t, got, "%s must not fire for a healthy account", alert)
	}
	for _, metric := range accountOnlyPrometheus {
		names, err := s.prometheus.labelNames(metric)
		require.NoError(t, err)
		for _, label := range []string{"databricks_account_id", "databricks_account_host"} {
			assert.Contains(t, names, label, "the account alerts group %s by it", metric)
		}
	}
	sent := s.intake.MetricNames()
	for _, m := range accountOnlyDatadog {
		assert.Contains(t, sent, m)
	}
	seenTags := sentTagKeys(s.intake)
	for _, key := range accountOnlyTagKeys {
		assert.Contains(t, seenTags, key)
	}
	value, ok := s.intake.LastGauge("databricks.serving.account.up", map[string]string{"databricks.account.id": accountID, "databricks.account.host": accountHost})
	require.True(t, ok)
	assert.Equal(t, 1.0, value)
}

// checkShardedOnce checks that each endpoint of ws was asked for its metrics by exactly one of the shard
// collectors (each has its own principal), and by the unsharded collector.
func checkShardedOnce(t *testing.T, ws *simulator.AccountWorkspace) {
	t.Helper()
	requests := ws.Server.Requests()
	for _, endpoint := range ws.Server.Endpoints() {
		var shards []string
		for credential := range requests[endpoint] {
			if principal, ok := strings.CutPrefix(credential, "oauth:"); ok && slices.Contains(shardPrincipals, principal) {
				shards = append(shards, principal)
			}
		}
		assert.Len(t, shards, 1, "%s/%s was scraped by the shards %v", ws.Name, endpoint, shards)
		assert.Positive(t, requests[endpoint]["oauth:"+accountPrincipal], "%s/%s: the unsharded collector scraped it too", ws.Name, endpoint)
	}
}
