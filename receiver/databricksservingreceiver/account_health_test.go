// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/scraper/scrapererror"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/account"
)

// accountHealth returns the account's up value and error.type, and its counts by selection, from the points of
// one cycle that have a value.
func accountHealth(t *testing.T, md pmetric.Metrics) (up float64, errorType string, counts map[string]float64) {
	t.Helper()
	found := false
	for _, p := range findAllNumberPoints(md, "databricks.serving.account.up") {
		if !p.noValue {
			up, errorType, found = p.value, p.attrs["error.type"], true
		}
	}
	require.True(t, found, "account.up is written every cycle")
	counts = map[string]float64{}
	for _, p := range findAllNumberPoints(md, "databricks.serving.account.workspaces") {
		counts[p.attrs["selection"]] = p.value
	}
	return up, errorType, counts
}

func TestAnAccountWhoseCredentialsAreRefusedIsSeenFromTheFirstCycle(t *testing.T) {
	acc := newSimulatedAccount(t)
	acc.addWorkspace(t, "prod", 1, true, 1)
	s := acc.newScraper(t, func(c *Config) { c.OAuth.ClientSecret = configopaque.String("revoked") })

	md, err := scrapeAccount(t, s)
	require.Error(t, err)
	assert.True(t, scrapererror.IsPartialScrapeError(err), "partial, so that the cycle's account health is not dropped")
	assert.NotContains(t, err.Error(), "revoked")
	up, errorType, counts := accountHealth(t, md)
	assert.Equal(t, 0.0, up)
	assert.Equal(t, errorTypeAuth, errorType)
	assert.Empty(t, counts, "no count before the first list: unknown is not zero")
	points := findAllNumberPoints(md, "databricks.serving.account.up")
	require.Len(t, points, 1)
	u, _ := url.Parse(acc.host)
	assert.Equal(t, map[string]any{"databricks.account.id": "acc-1", "databricks.account.host": u.Host}, points[0].resource,
		"a resource of the account alone")
	assert.Empty(t, findAllNumberPoints(md, "databricks.serving.workspace.up"), "no workspace is known")

	// The next cycles, while the list is backed off, say so again.
	md, _ = scrapeAccount(t, s)
	up, errorType, _ = accountHealth(t, md)
	assert.Equal(t, 0.0, up)
	assert.Equal(t, errorTypeAuth, errorType)
}

// flakyAccountsHost answers the account's list with 429 and Retry-After: 1 while throttled is set; the rest, and
// everything once it is not, passes to the simulated account.
func flakyAccountsHost(t *testing.T, acc *simulatedAccount, throttled *atomic.Bool) string {
	t.Helper()
	target, err := url.Parse(acc.host)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if throttled.Load() && r.Method == http.MethodGet {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"error_code":"REQUEST_LIMIT_EXCEEDED"}`, http.StatusTooManyRequests)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestAccountHealthRecoversWhenTheAccountsHostStopsThrottling(t *testing.T) {
	acc := newSimulatedAccount(t)
	acc.addWorkspace(t, "prod", 1, true, 1)
	acc.addWorkspace(t, "staging", 1, true, 2)
	var throttled atomic.Bool
	throttled.Store(true)
	proxy := flakyAccountsHost(t, acc, &throttled)
	s := acc.newScraper(t, func(c *Config) { c.Account.Host = proxy })

	md, _ := scrapeAccount(t, s)
	up, errorType, counts := accountHealth(t, md)
	assert.Equal(t, 0.0, up)
	assert.Equal(t, errorTypeRateLimited, errorType)
	assert.Empty(t, counts)

	throttled.Store(false)
	time.Sleep(1100 * time.Millisecond) // the Retry-After
	md, err := scrapeAccount(t, s)
	require.NoError(t, err)
	up, errorType, counts = accountHealth(t, md)
	assert.Equal(t, 1.0, up)
	assert.Empty(t, errorType)
	assert.Equal(t, map[string]float64{"discovered": 2, "selected": 2, "refused": 0}, counts)
	ended := findPoints(md, "databricks.serving.account.up", map[string]string{"error.type": errorTypeRateLimited})
	require.Len(t, ended, 1, "the failure's series ends at once, so its alert resolves with this cycle")
	assert.True(t, ended[0].noValue)
	assert.Len(t, findPoints(md, "databricks.serving.workspace.up", nil), 2, "and the workspaces are scraped")
}

// listerFunc lists what a test says.
type listerFunc func(context.Context) ([]account.Workspace, error)

func (f listerFunc) List(ctx context.Context) ([]account.Workspace, error) { return f(ctx) }

func TestListedWorkspacesWhoseURLIsRefusedAreCounted(t *testing.T) {
	acc := newSimulatedAccount(t)
	prod := acc.addWorkspace(t, "prod", 1, true, 1)
	s := acc.newScraper(t, func(c *Config) { c.Account.Exclude = []string{"sandbox"} })
	s.lister = listerFunc(func(context.Context) ([]account.Workspace, error) {
		return []account.Workspace{
			{ID: prod.ID, Name: "prod", URL: "http://" + prod.Addr, Cloud: "aws"},
			// Credentials would cross the network in clear text: never scraped.
			{ID: "2", Name: "plain-http", URL: "http://dbc-2.cloud.databricks.com", Cloud: "aws"},
			{ID: "3", Name: "sandbox", URL: "http://dbc-3.cloud.databricks.com", Cloud: "aws"}, // excluded, not refused
		}, &account.SkippedError{Reason: "their deployment_name is not a host name label", Names: []string{`"evil"`}}
	})

	md, err := scrapeAccount(t, s)
	require.NoError(t, err)
	up, errorType, counts := accountHealth(t, md)
	assert.Equal(t, 1.0, up, "the list itself succeeded")
	assert.Empty(t, errorType)
	assert.Equal(t, map[string]float64{"discovered": 4, "selected": 1, "refused": 2}, counts,
		"plain-http and the unusable deployment name are refused; sandbox is filtered out")
	require.Len(t, s.workspaces, 1)
}

func TestAStaticListWritesNoAccountHealth(t *testing.T) {
	acc := newSimulatedAccount(t)
	prod := acc.addWorkspace(t, "prod", 1, true, 1)
	s := acc.newScraper(t, func(c *Config) {
		c.Account, c.Workspaces = nil, []string{"http://" + prod.Addr}
	})
	md, err := scrapeAccount(t, s)
	require.NoError(t, err)
	assert.Empty(t, findAllNumberPoints(md, "databricks.serving.account.up"), "a static list has no list that can fail")
	assert.Empty(t, findAllNumberPoints(md, "databricks.serving.account.workspaces"))
	assert.NotEmpty(t, findAllNumberPoints(md, "databricks.serving.workspace.up"))
}
