// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configtls"

	"github.com/otelcol-databricks/otelcol-databricks/internal/simulator"
)

const (
	azureTestTenant       = "tenant-1"
	azureTestSubscription = "sub-1"
	azureTestRegion       = "westeurope"
)

// newSimulatedAzureAccount is the simulator's account of the Azure flavour: subscription sub-1, listed by its
// Resource Manager endpoint pageSize workspaces a page, for the tenant's principal "sp"; the workspaces serve
// HTTPS on 127.0.0.1 with a self-signed certificate, written to caFile, as Azure workspaces are reached at
// https://<workspaceUrl>.
func newSimulatedAzureAccount(t *testing.T, pageSize int) *simulatedAccount {
	t.Helper()
	acc, err := simulator.NewAccount(simulator.AccountConfig{
		AccountID: "acc-1", AzureTenant: azureTestTenant, AzureClients: map[string]string{"sp": "sp-secret"},
		Subscription: azureTestSubscription, PageSize: pageSize, Region: azureTestRegion, TLS: true,
	})
	require.NoError(t, err)
	addr, err := acc.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = acc.Close() })
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, acc.CertificatePEM(), 0o600))
	return &simulatedAccount{acc: acc, host: "http://" + addr.String(), caFile: caFile}
}

// configureAzure sets account mode with cloud azure on the simulated account: Resource Manager and the tenant's
// token endpoint are the account's (plain HTTP on loopback), the workspaces' certificate is trusted through
// tls.ca_file.
func (a *simulatedAccount) configureAzure(cfg *Config) {
	cfg.Account = &AccountConfig{Cloud: "azure", Subscriptions: []string{azureTestSubscription}, ManagementURL: a.host, RefreshInterval: time.Second}
	cfg.Azure = &AzureConfig{
		TenantID: azureTestTenant, ClientID: "sp", ClientSecret: configopaque.String("sp-secret"),
		TokenURL: a.host + "/" + azureTestTenant + "/oauth2/v2.0/token",
	}
	cfg.ClientConfig.TLS = configtls.ClientConfig{Config: configtls.Config{CAFile: a.caFile}}
}

// TestAnAzureAccountOfWorkspaces runs account mode with cloud azure through the scraper: the subscription is
// listed by Resource Manager (two pages, linked by nextLink) with an Entra ID token for Resource Manager; every
// workspace whose provisioning succeeded is scraped at https://<workspaceUrl>, with an Entra ID token of the same
// tenant for AzureDatabricks; the workspace where the principal is not assigned is an auth failure in its
// workspace health while the others are scraped.
func TestAnAzureAccountOfWorkspaces(t *testing.T) {
	account := newSimulatedAzureAccount(t, 2)
	prod := account.addWorkspace(t, "prod", 2, true, 1)
	staging := account.addWorkspace(t, "staging", 1, true, 2)
	finance := account.addWorkspace(t, "finance", 1, false, 3)
	failed := account.addWorkspace(t, "failed", 1, true, 4)
	require.NoError(t, account.acc.SetWorkspaceStatus(failed.ID, simulator.WorkspaceFailed))
	s := account.newScraper(t)
	management, err := url.Parse(account.host)
	require.NoError(t, err)

	md, err := scrapeAccount(t, s)
	require.Error(t, err, "the unassigned workspace is reported")
	assert.Contains(t, err.Error(), `workspace "finance"`)
	assert.NotContains(t, err.Error(), "sp-secret")
	require.Len(t, s.workspaces, 3, "every workspace of both pages whose provisioning succeeded has a scraper")
	assert.NotContains(t, s.workspaces, failed.ID, "provisioningState Failed is not scraped")
	for _, ws := range []*simulator.AccountWorkspace{prod, staging, finance} {
		require.Contains(t, s.workspaces, ws.ID)
		assert.Equal(t, "https://"+ws.Addr, s.workspaces[ws.ID].scraper.cfg.ClientConfig.Endpoint, "https://<workspaceUrl>")
		assert.Equal(t, ws.URL, s.workspaces[ws.ID].scraper.cfg.ClientConfig.Endpoint)
	}
	for _, ws := range []*simulator.AccountWorkspace{prod, staging} {
		identity := map[string]string{
			"databricks.workspace.id": ws.ID, "databricks.workspace.name": ws.Name, "databricks.workspace.host": ws.Addr,
			"cloud.provider": "azure", "cloud.region": azureTestRegion,
		}
		for _, endpoint := range ws.Server.Endpoints() {
			attrs := map[string]string{"databricks.serving.endpoint.name": endpoint}
			for k, v := range identity {
				attrs[k] = v
			}
			up := findPoints(md, "databricks.serving.scrape.up", attrs)
			require.Len(t, up, 1, "%s/%s is scraped with its workspace's attributes", ws.Name, endpoint)
			assert.Equal(t, 1.0, up[0].value)
			assert.Equal(t, map[string]int64{"azure:sp": 1}, ws.Server.Requests()[endpoint],
				"%s/%s was asked once, with a token of the tenant's principal", ws.Name, endpoint)
		}
		health := findPoints(md, "databricks.serving.workspace.up", identity)
		require.NotEmpty(t, health, ws.Name)
		assert.Equal(t, 1.0, health[len(health)-1].value, ws.Name)
		assert.Zero(t, ws.Server.Stats().TokenRequests.Total(), "Entra ID tokens come from the tenant, not from the workspace")
	}
	health := findPoints(md, "databricks.serving.workspace.up", map[string]string{
		"databricks.workspace.name": "finance", "cloud.provider": "azure", "error.type": "auth",
	})
	require.NotEmpty(t, health, "the unassigned workspace is an auth failure in workspace health")
	assert.Equal(t, 0.0, health[len(health)-1].value)
	assert.Empty(t, findPoints(md, "databricks.serving.scrape.up", map[string]string{"databricks.workspace.id": finance.ID}), "and skipped")
	assert.Positive(t, finance.Server.Stats().Requests.Unauthorized, "finance refused the tenant's token")

	accountUp := findPoints(md, "databricks.serving.account.up", map[string]string{"databricks.account.host": management.Host})
	require.Len(t, accountUp, 1, "account health names the Resource Manager host")
	assert.Equal(t, 1.0, accountUp[0].value)
	for selection, want := range map[string]float64{"discovered": 3, "selected": 3, "refused": 0} {
		got := findPoints(md, "databricks.serving.account.workspaces", map[string]string{"selection": selection})
		require.Len(t, got, 1, selection)
		assert.Equal(t, want, got[0].value, selection)
	}

	// The next window is counted exactly, over TLS.
	time.Sleep(2100 * time.Millisecond)
	md, err = scrapeAccount(t, s)
	require.NoError(t, err, "a failure is reported when it starts or changes, not every cycle")
	require.NotEmpty(t, findPoints(md, "databricks.serving.workspace.up", map[string]string{"databricks.workspace.name": "finance", "error.type": "auth"}))
	for _, endpoint := range prod.Server.Endpoints() {
		counts := findPoints(md, "databricks.serving.request.count", map[string]string{"databricks.workspace.id": prod.ID, "databricks.serving.endpoint.name": endpoint})
		got, ok := lastValue(counts)
		require.True(t, ok, endpoint)
		assert.Equal(t, windowsTotal(t, prod, endpoint), got, "prod/%s counts what the simulator served", endpoint)
	}
}

// TestAnAzureAccountsWorkspacesAreVerifiedTLS: without the certificate in tls.ca_file the account is still listed
// (Resource Manager is the loopback http:// management_url here) but no workspace is scraped: the self-signed
// certificate is refused, and workspace health says so.
func TestAnAzureAccountsWorkspacesAreVerifiedTLS(t *testing.T) {
	account := newSimulatedAzureAccount(t, 100)
	prod := account.addWorkspace(t, "prod", 1, true, 1)
	s := account.newScraper(t, func(c *Config) { c.ClientConfig.TLS = configtls.ClientConfig{} })
	md, err := scrapeAccount(t, s)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certificate")
	require.Contains(t, s.workspaces, prod.ID, "listed")
	health := findPoints(md, "databricks.serving.workspace.up", map[string]string{"databricks.workspace.id": prod.ID})
	require.NotEmpty(t, health)
	assert.Equal(t, 0.0, health[len(health)-1].value)
	assert.Zero(t, prod.Server.Stats().Requests.List, "no request reached the workspace")
}
