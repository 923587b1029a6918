// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-databricks/otelcol-databricks/internal/simulator"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/metadata"
)

// simulatedAccount is the simulator's account with the service principal "sp", and a receiver config for it.
type simulatedAccount struct {
	acc  *simulator.Account
	host string // http://127.0.0.1:PORT of the account APIs
	// caFile is, for an Azure account, the PEM file of the certificate its workspaces serve HTTPS with; empty
	// for the others, whose workspaces serve plain HTTP.
	caFile string
}

func newSimulatedAccount(t *testing.T) *simulatedAccount {
	t.Helper()
	acc, err := simulator.NewAccount(simulator.AccountConfig{AccountID: "acc-1", OAuthClients: map[string]string{"sp": "sp-secret"}})
	require.NoError(t, err)
	addr, err := acc.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = acc.Close() })
	return &simulatedAccount{acc: acc, host: "http://" + addr.String()}
}

// addWorkspace adds a workspace of cpu CPU endpoints; assigned says whether the principal may get its tokens.
// mutate changes the workspace's simulator config last.
func (a *simulatedAccount) addWorkspace(t *testing.T, name string, cpu int, assigned bool, seed int64, mutate ...func(*simulator.Config)) *simulator.AccountWorkspace {
	t.Helper()
	cfg := simulator.DefaultConfig()
	cfg.Token, cfg.Seed, cfg.Window = testToken, seed, 2*time.Second
	cfg.CPU, cfg.GPU, cfg.MultiEntity, cfg.ScaleToZero, cfg.FoundationModel = cpu, 0, 0, 0, 0
	if assigned {
		cfg.OAuthClients = map[string]string{"sp": "sp-secret"}
		if a.caFile != "" {
			// On Azure, "sp" is the tenant's principal; the workspace accepts the tenant's tokens for it.
			cfg.AzureTenant, cfg.AzureClients = azureTestTenant, map[string]string{"sp": "sp-secret"}
		}
	}
	for _, m := range mutate {
		m(&cfg)
	}
	ws, err := a.acc.AddWorkspace(name, cfg)
	require.NoError(t, err)
	return ws
}

// newAccountTestScraper starts an account scraper on the simulated account, on the wall clock (the simulator
// stamps samples with it).
func (a *simulatedAccount) newScraper(t *testing.T, mutate ...func(*Config)) *accountScraper {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	if a.caFile != "" {
		a.configureAzure(cfg)
	} else {
		cfg.Account = &AccountConfig{Cloud: "aws", AccountID: "acc-1", Host: a.host, WorkspaceURL: "http://{deployment_name}", RefreshInterval: time.Second}
		cfg.OAuth = &OAuthConfig{ClientID: "sp", ClientSecret: configopaque.String("sp-secret")}
	}
	cfg.SpreadRequests = false
	cfg.Discovery.RefreshInterval = time.Second
	for _, m := range mutate {
		m(cfg)
	}
	require.NoError(t, cfg.Validate())
	s := newAccountScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { _ = s.shutdown(context.Background()) })
	return s
}

func scrapeAccount(t *testing.T, s *accountScraper) (pmetric.Metrics, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.scrape(ctx)
}

// windowsTotal is the simulator's truth: the request count of an endpoint's windows after the first (the
// receiver's baseline).
func windowsTotal(t *testing.T, ws *simulator.AccountWorkspace, endpoint string) float64 {
	t.Helper()
	windows := ws.Server.Truth().Endpoints[endpoint].Windows
	require.NotEmpty(t, windows)
	total := 0.0
	for _, w := range windows[1:] {
		for _, series := range w.Series {
			if series.Name == "request_count_total" {
				total += *series.Value
			}
		}
	}
	return total
}

// lastValue is the value of the newest point that has one.
func lastValue(points []foundPoint) (float64, bool) {
	for i := len(points) - 1; i >= 0; i-- {
		if !points[i].noValue {
			return points[i].value, true
		}
	}
	return 0, false
}

// TestAnAccountOfWorkspaces runs an account of four workspaces through the scraper: two assigned from the start,
// one where the principal is not assigned, one added mid-run; then one assigned workspace is removed.
func TestAnAccountOfWorkspaces(t *testing.T) {
	account := newSimulatedAccount(t)
	prod := account.addWorkspace(t, "prod", 2, true, 1)
	staging := account.addWorkspace(t, "staging", 1, true, 2)
	finance := account.addWorkspace(t, "finance", 1, false, 3)
	s := account.newScraper(t)

	md, err := scrapeAccount(t, s)
	require.Error(t, err, "the unassigned workspace is reported")
	assert.Contains(t, err.Error(), `workspace "finance"`)
	assert.NotContains(t, err.Error(), "sp-secret")
	require.Len(t, s.workspaces, 3, "every RUNNING workspace has a scraper")
	for _, ws := range []*simulator.AccountWorkspace{prod, staging} {
		for _, endpoint := range ws.Server.Endpoints() {
			up := findPoints(md, "databricks.serving.scrape.up", map[string]string{
				"databricks.serving.endpoint.name": endpoint, "databricks.workspace.id": ws.ID, "databricks.workspace.name": ws.Name,
				"databricks.workspace.host": ws.Addr, "cloud.provider": "aws", "cloud.region": "us-west-2",
			})
			require.Len(t, up, 1, "%s/%s is scraped with its workspace's attributes", ws.Name, endpoint)
			assert.Equal(t, 1.0, up[0].value)
		}
	}
	health := findPoints(md, "databricks.serving.workspace.up", map[string]string{"databricks.workspace.name": "finance", "error.type": "auth"})
	require.NotEmpty(t, health, "the unassigned workspace is an auth failure in workspace health")
	assert.Equal(t, 0.0, health[len(health)-1].value, "workspace.up is 0, with error.type=auth")
	assert.Empty(t, findPoints(md, "databricks.serving.scrape.up", map[string]string{"databricks.workspace.id": finance.ID}), "and skipped")

	// A workspace added mid-run is picked up at the next refresh; the next window is counted.
	marketing := account.addWorkspace(t, "marketing", 1, true, 4)
	time.Sleep(2100 * time.Millisecond)
	md, err = scrapeAccount(t, s)
	require.NoError(t, err, "a failure is reported when it starts or changes, not every cycle")
	health = findPoints(md, "databricks.serving.workspace.up", map[string]string{"databricks.workspace.name": "finance", "error.type": "auth"})
	require.NotEmpty(t, health, "workspace health says it every cycle")
	up := findPoints(md, "databricks.serving.scrape.up", map[string]string{"databricks.workspace.name": "marketing"})
	require.Len(t, up, 1)
	for _, endpoint := range prod.Server.Endpoints() {
		counts := findPoints(md, "databricks.serving.request.count", map[string]string{"databricks.workspace.id": prod.ID, "databricks.serving.endpoint.name": endpoint})
		got, ok := lastValue(counts)
		require.True(t, ok, endpoint)
		assert.Equal(t, windowsTotal(t, prod, endpoint), got, "prod/%s counts what the simulator served", endpoint)
	}

	// A workspace removed from the account: every series of it goes stale, and its state is dropped.
	require.NoError(t, account.acc.RemoveWorkspace(staging.ID))
	time.Sleep(1100 * time.Millisecond)
	md, _ = scrapeAccount(t, s)
	assert.NotContains(t, s.workspaces, staging.ID)
	require.Len(t, s.workspaces, 3)
	stale := findPoints(md, "databricks.serving.scrape.up", map[string]string{"databricks.workspace.id": staging.ID})
	require.NotEmpty(t, stale)
	for _, p := range stale {
		assert.True(t, p.noValue, "only stale markers for the removed workspace")
	}
	wsStale := findPoints(md, "databricks.serving.workspace.up", map[string]string{"databricks.workspace.id": staging.ID})
	require.NotEmpty(t, wsStale)
	for _, p := range wsStale {
		assert.True(t, p.noValue, "its workspace health ends too")
	}
	counts := findPoints(md, "databricks.serving.request.count", map[string]string{"databricks.workspace.id": staging.ID})
	require.NotEmpty(t, counts)
	for _, p := range counts {
		assert.True(t, p.noValue)
	}
	up = findPoints(md, "databricks.serving.scrape.up", map[string]string{"databricks.workspace.id": marketing.ID})
	require.Len(t, up, 1)
	assert.Equal(t, 1.0, up[0].value)
}

func TestAWorkspaceThatStopsRunningGoesStale(t *testing.T) {
	account := newSimulatedAccount(t)
	prod := account.addWorkspace(t, "prod", 1, true, 1)
	other := account.addWorkspace(t, "other", 1, true, 2)
	s := account.newScraper(t, func(c *Config) { c.Account.Exclude = []string{"ignored-*"} })
	account.addWorkspace(t, "ignored-sandbox", 1, true, 3)
	_, err := scrapeAccount(t, s)
	require.NoError(t, err)

	require.NoError(t, account.acc.SetWorkspaceStatus(other.ID, simulator.WorkspaceCancelling))
	time.Sleep(1100 * time.Millisecond)
	md, err := scrapeAccount(t, s)
	require.NoError(t, err)
	require.Len(t, s.workspaces, 1)
	assert.Contains(t, s.workspaces, prod.ID)
	stale := findPoints(md, "databricks.serving.scrape.up", map[string]string{"databricks.workspace.id": other.ID})
	require.Len(t, stale, 1)
	assert.True(t, stale[0].noValue)
	assert.Empty(t, findPoints(md, "databricks.serving.scrape.up", map[string]string{"databricks.workspace.name": "ignored-sandbox"}), "excluded by account.exclude")
}

// TestShardsSplitAWholeAccount: three collectors with shard.count 3 over one account scrape every endpoint of
// every workspace exactly once.
func TestShardsSplitAWholeAccount(t *testing.T) {
	account := newSimulatedAccount(t)
	var all []string
	for i, name := range []string{"a", "b", "c"} {
		ws := account.addWorkspace(t, name, 6, true, int64(i+1))
		for _, endpoint := range ws.Server.Endpoints() {
			all = append(all, ws.ID+"/"+endpoint)
		}
	}
	seen := map[string]int{}
	for index := range 3 {
		s := account.newScraper(t, func(c *Config) { c.Shard.Count, c.Shard.Index = 3, index })
		md, err := scrapeAccount(t, s)
		require.NoError(t, err)
		points := 0
		for _, key := range all {
			var id, endpoint string
			_, _ = fmt.Sscanf(key, "%16s/%s", &id, &endpoint)
			if len(findPoints(md, "databricks.serving.scrape.up", map[string]string{"databricks.workspace.id": id, "databricks.serving.endpoint.name": endpoint})) > 0 {
				seen[key]++
				points++
			}
		}
		assert.Positive(t, points, "shard %d scrapes some endpoints", index)
	}
	for _, key := range all {
		assert.Equal(t, 1, seen[key], "%s is scraped by exactly one shard", key)
	}
}

// TestAStaticListOfWorkspaces scrapes a fixed list of workspace URLs under one service principal.
func TestAStaticListOfWorkspaces(t *testing.T) {
	account := newSimulatedAccount(t)
	one := account.addWorkspace(t, "one", 1, true, 1)
	two := account.addWorkspace(t, "two", 1, true, 2)
	cfg := createDefaultConfig().(*Config)
	cfg.Workspaces = []string{"http://" + one.Addr, "http://" + two.Addr}
	cfg.OAuth = &OAuthConfig{ClientID: "sp", ClientSecret: configopaque.String("sp-secret")}
	cfg.SpreadRequests = false
	require.NoError(t, cfg.Validate())
	s := newAccountScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
	defer func() { _ = s.shutdown(context.Background()) }()
	md, err := scrapeAccount(t, s)
	require.NoError(t, err)
	for _, ws := range []*simulator.AccountWorkspace{one, two} {
		up := findPoints(md, "databricks.serving.scrape.up", map[string]string{"databricks.workspace.host": ws.Addr})
		require.Len(t, up, 1)
		assert.Equal(t, 1.0, up[0].value)
	}
}

// TestAccountListFailuresAreNeverFatalOnceListed: the account's list refused (the account's token) before any
// list fails the cycle; after one, the last list goes on being scraped.
func TestAccountListFailuresAreNeverFatalOnceListed(t *testing.T) {
	account := newSimulatedAccount(t)
	account.addWorkspace(t, "prod", 1, true, 1)
	wrong := account.newScraper(t, func(c *Config) { c.OAuth.ClientSecret = "wrong" })
	_, err := scrapeAccount(t, wrong)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "listing the account's workspaces")
	assert.NotContains(t, err.Error(), "wrong")

	s := account.newScraper(t, func(c *Config) { c.Account.AccountID = "acc-1" })
	_, err = scrapeAccount(t, s)
	require.NoError(t, err)
	s.cfg.Account.AccountID = "elsewhere"
	s.lister = nil
	require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
	time.Sleep(1100 * time.Millisecond)
	md, err := scrapeAccount(t, s)
	require.Error(t, err, "the refused list is reported")
	assert.Len(t, findPoints(md, "databricks.serving.scrape.up", map[string]string{"databricks.workspace.name": "prod"}), 1, "the last list is still scraped")
}

// TestTheFactoryBuildsTheAccountReceiver: a receiver with account: starts, scrapes the account, and stops.
func TestTheFactoryBuildsTheAccountReceiver(t *testing.T) {
	account := newSimulatedAccount(t)
	ws := account.addWorkspace(t, "prod", 1, true, 1)
	cfg := createDefaultConfig().(*Config)
	cfg.Account = &AccountConfig{Cloud: "aws", AccountID: "acc-1", Host: account.host, WorkspaceURL: "http://{deployment_name}"}
	cfg.OAuth = &OAuthConfig{ClientID: "sp", ClientSecret: "sp-secret"}
	cfg.CollectionInterval, cfg.InitialDelay = time.Second, 0
	require.NoError(t, cfg.Validate())
	sink := new(consumertest.MetricsSink)
	rcv, err := NewFactory().CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, rcv.Shutdown(context.Background())) }()
	require.Eventually(t, func() bool {
		for _, md := range sink.AllMetrics() {
			if len(findPoints(md, "databricks.serving.scrape.up", map[string]string{"databricks.workspace.id": ws.ID})) > 0 {
				return true
			}
		}
		return false
	}, 10*time.Second, 50*time.Millisecond)
}
