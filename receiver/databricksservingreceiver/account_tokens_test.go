// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-databricks/otelcol-databricks/internal/simulator"
)

// TestEachWorkspaceHasItsOwnTokenSource: in account mode every workspace's scraper gets its OAuth token from its
// own workspace's token endpoint (https://<workspace>/oidc/v1/token), once, and uses it for all of that
// workspace's requests. When one workspace's token endpoint fails, that workspace alone is reported, in its
// workspace health and its endpoints' scrape health; the others go on being scraped; and the failure costs one
// token request, not one per request of the cycle, nor one per cycle while its backoff lasts.
func TestEachWorkspaceHasItsOwnTokenSource(t *testing.T) {
	account := newSimulatedAccount(t)
	a := account.addWorkspace(t, "a", 3, true, 1)
	// b's tokens expire soon after the first cycle, so b needs a new one while its token endpoint is down.
	b := account.addWorkspace(t, "b", 3, true, 2, func(c *simulator.Config) { c.TokenLifetime = 2 * time.Second })
	c := account.addWorkspace(t, "c", 3, true, 3)
	all := []*simulator.AccountWorkspace{a, b, c}
	s := account.newScraper(t)

	md, err := scrapeAccount(t, s)
	require.NoError(t, err)
	for _, ws := range all {
		tokens := ws.Server.Stats().TokenRequests
		assert.Equal(t, int64(1), tokens.OAuth, "%s issued one token, for its own scraper", ws.Name)
		assert.Zero(t, tokens.Rejected, ws.Name)
		for _, endpoint := range ws.Server.Endpoints() {
			assert.Equal(t, map[string]int64{"oauth:sp": 1}, ws.Server.Requests()[endpoint], "%s/%s, with %s's own token", ws.Name, endpoint, ws.Name)
			up := findPoints(md, "databricks.serving.scrape.up", map[string]string{"databricks.workspace.id": ws.ID, "databricks.serving.endpoint.name": endpoint})
			require.Len(t, up, 1)
			assert.Equal(t, 1.0, up[0].value)
		}
	}

	// b's token endpoint goes down; b's token expires.
	require.NoError(t, b.Server.SetTokenFault(&simulator.Fault{Mode: simulator.FaultStatus, Status: 503}))
	time.Sleep(2100 * time.Millisecond)
	md, err = scrapeAccount(t, s)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `workspace "b"`)
	assert.NotContains(t, err.Error(), `workspace "a"`)
	assert.NotContains(t, err.Error(), `workspace "c"`)
	health := findPoints(md, "databricks.serving.workspace.up", map[string]string{"databricks.workspace.id": b.ID, "error.type": "server_error"})
	require.NotEmpty(t, health, "b's workspace health names a token service that is down, not refused credentials")
	assert.Equal(t, 0.0, health[len(health)-1].value)
	for _, endpoint := range b.Server.Endpoints() {
		// The series without error.type ends with a stale marker; the one with it starts.
		up, ok := lastValue(findPoints(md, "databricks.serving.scrape.up", map[string]string{
			"databricks.workspace.id": b.ID, "databricks.serving.endpoint.name": endpoint, "error.type": "server_error",
		}))
		require.True(t, ok, endpoint)
		assert.Equal(t, 0.0, up, "b/%s has no token", endpoint)
	}
	assert.Equal(t, int64(1), b.Server.Stats().TokenRequests.Faulted,
		"one token request for b's list and three endpoints: the failure is shared, not retried per request")
	for _, ws := range []*simulator.AccountWorkspace{a, c} {
		for _, endpoint := range ws.Server.Endpoints() {
			up := findPoints(md, "databricks.serving.scrape.up", map[string]string{"databricks.workspace.id": ws.ID, "databricks.serving.endpoint.name": endpoint})
			require.Len(t, up, 1)
			assert.Equal(t, 1.0, up[0].value, "%s/%s is scraped on", ws.Name, endpoint)
		}
		health := findPoints(md, "databricks.serving.workspace.up", map[string]string{"databricks.workspace.id": ws.ID})
		require.NotEmpty(t, health)
		assert.Equal(t, 1.0, health[len(health)-1].value, ws.Name)
	}

	// The next cycles fall within b's backoff (at least 4s): b's token endpoint is not asked again.
	for range 2 {
		md, _ = scrapeAccount(t, s)
		require.NotEmpty(t, findPoints(md, "databricks.serving.workspace.up", map[string]string{"databricks.workspace.id": b.ID, "error.type": "server_error"}))
	}
	assert.Equal(t, int64(1), b.Server.Stats().TokenRequests.Faulted, "b waits out its backoff")
	for _, ws := range []*simulator.AccountWorkspace{a, c} {
		assert.Equal(t, int64(1), ws.Server.Stats().TokenRequests.Total(), "%s's token source is its own: still its first token", ws.Name)
		for _, endpoint := range ws.Server.Endpoints() {
			up := findPoints(md, "databricks.serving.scrape.up", map[string]string{"databricks.workspace.id": ws.ID, "databricks.serving.endpoint.name": endpoint})
			require.Len(t, up, 1)
			assert.Equal(t, 1.0, up[0].value, "%s/%s is scraped on", ws.Name, endpoint)
		}
	}
}
