// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-databricks/otelcol-databricks/internal/simulator"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/metadata"
)

// newStoringAccountScraper starts an account scraper on the simulated account that saves its state in store.
func (a *simulatedAccount) newStoringAccountScraper(t *testing.T, store *memStorage) *accountScraper {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.Account = &AccountConfig{Cloud: "aws", AccountID: "acc-1", Host: a.host, WorkspaceURL: "http://{deployment_name}", RefreshInterval: time.Second}
	cfg.OAuth = &OAuthConfig{ClientID: "sp", ClientSecret: configopaque.String("sp-secret")}
	cfg.SpreadRequests = false
	cfg.Storage = &stateStorageID
	require.NoError(t, cfg.Validate())
	s := newAccountScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	require.NoError(t, s.start(context.Background(), storageHost{ext: store}))
	return s
}

// TestWorkspacesOfAnAccountRestoreTheirOwnStateAfterARestart: two workspaces of one account share one storage
// extension, each under a client of its own. After a restart each goes on with what it had counted: its totals
// equal its own simulator's truth (a workspace restored from the other's state, or not restored at all, would
// not). A workspace that leaves the account has its saved state dropped.
func TestWorkspacesOfAnAccountRestoreTheirOwnStateAfterARestart(t *testing.T) {
	account := newSimulatedAccount(t)
	prod := account.addWorkspace(t, "prod", 1, true, 1)
	staging := account.addWorkspace(t, "staging", 1, true, 2)
	store := newMemStorage()

	s := account.newStoringAccountScraper(t, store)
	for range 2 { // a baseline window, then one counted
		_, err := scrapeAccount(t, s)
		require.NoError(t, err)
		time.Sleep(2100 * time.Millisecond)
	}
	require.NoError(t, s.shutdown(context.Background()))
	for _, ws := range []*simulator.AccountWorkspace{prod, staging} {
		var meta stateMeta
		require.NoError(t, json.Unmarshal(store.data["workspace_"+ws.ID+"|"+stateMetaKey], &meta), "%s has state of its own", ws.Name)
		assert.Equal(t, ws.Addr, meta.WorkspaceHost)
	}

	s = account.newStoringAccountScraper(t, store)
	t.Cleanup(func() { _ = s.shutdown(context.Background()) })
	time.Sleep(2100 * time.Millisecond)
	md, err := scrapeAccount(t, s)
	require.NoError(t, err)
	for _, ws := range []*simulator.AccountWorkspace{prod, staging} {
		for _, endpoint := range ws.Server.Endpoints() {
			counts := findPoints(md, "databricks.serving.request.count", map[string]string{"databricks.workspace.id": ws.ID, "databricks.serving.endpoint.name": endpoint})
			got, ok := lastValue(counts)
			require.True(t, ok, "%s/%s", ws.Name, endpoint)
			assert.Equal(t, windowsTotal(t, ws, endpoint), got, "%s/%s counts on from its own saved state", ws.Name, endpoint)
		}
	}

	require.NoError(t, account.acc.RemoveWorkspace(staging.ID))
	time.Sleep(1100 * time.Millisecond)
	_, _ = scrapeAccount(t, s)
	assert.Nil(t, store.data["workspace_"+staging.ID+"|"+stateMetaKey], "the removed workspace's state is dropped")
	assert.NotNil(t, store.data["workspace_"+prod.ID+"|"+stateMetaKey])
}
