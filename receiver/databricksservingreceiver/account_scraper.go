// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/account"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"
)

// Design: the account scraper (account: or workspaces:) is a set of today's per-workspace scrapers, one per
// listed workspace, each made from a Config derived from the receiver's (workspaceConfig) and told who its
// workspace is (its resources carry the workspace's id, name, cloud and region). The account is listed again
// every account.refresh_interval: a new workspace gets a scraper, one that left the list (deleted, or no longer
// RUNNING / Succeeded) gets stale markers for every series, as an endpoint that leaves a workspace's list does,
// and its scraper is dropped. A workspace where the principal is not assigned fails in its own scraper (no
// token, or a refused list): workspace.up says error.type=auth, and the others go on. Every cycle runs the
// workspaces' cycles at once; their requests share one bound, max_concurrency, through the slots each workspace
// client takes.

// accountScraper scrapes every workspace of an account or of a static list.
type accountScraper struct {
	cfg      *Config
	settings receiver.Settings
	logger   *zap.Logger
	host     component.Host // for the scrapers of workspaces found after start
	lister   account.Lister
	filter   account.Filter
	interval time.Duration // how often the list is refreshed
	slots    chan struct{}
	now      func() time.Time // the clock; tests replace it

	mu sync.Mutex // one cycle at a time; guards everything below
	// workspaces are the listed workspaces' scrapers, by workspaceKey.
	workspaces  map[string]*accountWorkspace
	listedOnce  bool
	refreshedAt time.Time
	// listFailures counts consecutive failed lists; the list is not asked again before retryAt.
	listFailures int
	retryAt      time.Time
	// health is the state of the account's own health metrics (nil for a static list); listErr is the outcome of
	// the last attempt to list, counts what the last good list held (see account_health.go).
	health  *endpointState
	listErr error
	counts  accountCounts
}

// accountWorkspace is a listed workspace and its scraper.
type accountWorkspace struct {
	ws      account.Workspace
	scraper *servingScraper
}

func newAccountScraper(cfg *Config, settings receiver.Settings) *accountScraper {
	interval := defaultAccountRefreshInterval
	var filter account.Filter
	if cfg.Account != nil {
		interval, filter = cfg.Account.refreshInterval(), cfg.Account.filter()
	}
	return &accountScraper{
		cfg: cfg, settings: settings, logger: settings.Logger, filter: filter, interval: interval,
		slots: make(chan struct{}, cfg.MaxConcurrency), now: time.Now, workspaces: map[string]*accountWorkspace{},
		health: newAccountState(cfg),
	}
}

func (a *accountScraper) start(ctx context.Context, host component.Host) error {
	a.host = host
	if a.lister != nil { // set by a test
		return nil
	}
	lister, err := a.newLister(ctx, host)
	if err != nil {
		return err
	}
	a.lister = lister
	return nil
}

// newLister builds the lister of the configuration: the Accounts API (aws, gcp), Azure Resource Manager (azure)
// or the static list. The account's requests take the shared slots too.
func (a *accountScraper) newLister(ctx context.Context, host component.Host) (account.Lister, error) {
	if a.cfg.Account == nil {
		static := make(account.Static, 0, len(a.cfg.Workspaces))
		for _, raw := range a.cfg.Workspaces {
			static = append(static, account.Workspace{URL: raw})
		}
		return static, nil
	}
	acc := a.cfg.Account
	httpClient, err := a.cfg.ClientConfig.ToClient(ctx, host.GetExtensions(), a.settings.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("creating the HTTP client: %w", withoutURL(err))
	}
	var base string
	var credentials workspace.Credentials
	if acc.Cloud == account.CloudAzure {
		base, credentials = acc.managementURL(), azureCredentials(a.cfg.Azure, []string{armScope}, httpClient)
	} else {
		o := a.cfg.OAuth
		base = acc.host()
		credentials = workspace.NewOAuthClientCredentials(account.AccountTokenURL(base, acc.AccountID), o.ClientID, string(o.ClientSecret),
			scopesOr(o.Scopes, defaultOAuthScope), true, httpClient)
	}
	baseURL, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("account: %w", err)
	}
	client := workspace.NewClient(httpClient, baseURL, credentials, "otelcol-databricks-servingreceiver/"+a.settings.BuildInfo.Version, a.cfg.Limits.MaxBodyBytes)
	client.SetSlots(a.slots)
	if acc.Cloud == account.CloudAzure {
		return account.NewARM(client, acc.Subscriptions), nil
	}
	return account.NewAccountsAPI(client, acc.AccountID, acc.Cloud, acc.workspaceURL()), nil
}

// workspaceConfig is the Config of one listed workspace's scraper: the receiver's, for the workspace at url.
// OAuth tokens come from the workspace's own token endpoint; Entra ID tokens from the configured tenant, for
// the AzureDatabricks application.
func (cfg *Config) workspaceConfig(workspaceURL string) *Config {
	derived := *cfg
	derived.Account, derived.Workspaces = nil, nil
	derived.ClientConfig.Endpoint = workspaceURL
	if cfg.OAuth != nil {
		o := *cfg.OAuth
		o.TokenURL = ""
		derived.OAuth = &o
	}
	return &derived
}

// workspaceKey identifies a listed workspace: its id, or the host of a static list's URL.
func workspaceKey(ws account.Workspace) string {
	if ws.ID != "" {
		return ws.ID
	}
	if u, err := url.Parse(ws.URL); err == nil {
		return u.Host
	}
	return ws.URL
}

func (a *accountScraper) shutdown(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	for _, w := range a.workspaces {
		errs = append(errs, w.scraper.shutdown(ctx))
	}
	return errors.Join(errs...)
}

// scrape runs one cycle: the account's list when it is due, then every workspace's cycle at once, merged. A
// failed list is a partial error, never the cycle's: the account's health says so in the same cycle (a failed
// cycle's metrics would be dropped), and the workspaces of the last good list are scraped meanwhile. A
// workspace's failure is a partial error of its own.
func (a *accountScraper) scrape(ctx context.Context) (pmetric.Metrics, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	md := pmetric.NewMetrics()
	var errs scrapererror.ScrapeErrors
	if err := a.refresh(ctx, now, md.ResourceMetrics()); err != nil {
		errs.AddPartial(1, err)
	}
	a.recordAccountHealth(now, md.ResourceMetrics())
	keys := make([]string, 0, len(a.workspaces))
	for key := range a.workspaces {
		keys = append(keys, key)
	}
	sort.Strings(keys) // a stable order of resources and errors
	results := make([]pmetric.Metrics, len(keys))
	failures := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], failures[i] = a.workspaces[key].scraper.scrape(ctx)
		}()
	}
	wg.Wait()
	for i, key := range keys {
		results[i].ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
		if failures[i] != nil {
			errs.AddPartial(failedCount(failures[i]), fmt.Errorf("workspace %s: %w", a.workspaces[key].describe(), failures[i]))
		}
	}
	return md, errs.Combine()
}

// failedCount is how many points a workspace's error says failed (1 when it does not say).
func failedCount(err error) int {
	var partial scrapererror.PartialScrapeError
	if errors.As(err, &partial) && partial.Failed > 0 {
		return partial.Failed
	}
	return 1
}

func (w *accountWorkspace) describe() string {
	if w.ws.Name != "" {
		return fmt.Sprintf("%q (%s)", w.ws.Name, w.scraper.cfg.ClientConfig.Endpoint)
	}
	return w.scraper.cfg.ClientConfig.Endpoint
}

// refresh lists the workspaces when the refresh interval has passed (and at the first cycle), unless a failed
// list is being backed off, and applies the list: new workspaces get a scraper, those gone stale markers.
func (a *accountScraper) refresh(ctx context.Context, now time.Time, out pmetric.ResourceMetricsSlice) error {
	if a.listedOnce && now.Sub(a.refreshedAt) < a.interval || now.Before(a.retryAt) {
		return nil
	}
	listed, err := a.lister.List(ctx)
	var skipped *account.SkippedError
	unusable := 0 // listed, but with no URL the receiver may use
	switch {
	case errors.As(err, &skipped):
		a.logger.Warn("Some of the account's workspaces cannot be scraped", zap.Error(err))
		unusable = len(skipped.Names)
	case err != nil:
		a.listFailures++
		a.retryAt = now.Add(a.listBackoff(err))
		a.listErr = err
		return err
	}
	a.listFailures, a.retryAt, a.listErr = 0, time.Time{}, nil
	refused := a.apply(ctx, a.filter.Apply(listed), now, out)
	// The unusable ones count as refused whatever the filters say: the list named them, and their names are not
	// trusted enough to match filters against.
	a.counts = accountCounts{discovered: len(listed) + unusable, selected: len(a.workspaces), refused: refused + unusable}
	a.listedOnce, a.refreshedAt = true, now
	return nil
}

// listBackoff is how long to wait after a failed list: the Retry-After the answer named, else the collection
// interval doubling with every consecutive failure up to the refresh interval, ±20 %.
func (a *accountScraper) listBackoff(err error) time.Duration {
	var apiErr *workspace.APIError
	if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 {
		return apiErr.RetryAfter
	}
	wait := a.cfg.CollectionInterval
	for i := 1; i < a.listFailures && wait < a.interval; i++ {
		wait *= 2
	}
	wait = min(wait, max(a.interval, a.cfg.CollectionInterval))
	return time.Duration(float64(wait) * (0.8 + 0.4*rand.Float64())) //nolint:gosec // G404: jitter, not a secret
}

// apply makes the scrapers follow the list: a workspace that changed (another URL, name or region) is retired
// and started again, so its series carry what the account says now. It returns how many listed workspaces have
// no scraper: a URL the receiver refuses, or a scraper that could not start.
func (a *accountScraper) apply(ctx context.Context, listed []account.Workspace, now time.Time, out pmetric.ResourceMetricsSlice) (refused int) {
	current := make(map[string]account.Workspace, len(listed))
	for _, ws := range listed {
		if _, err := workspaceURL(ws.URL); err != nil {
			a.logger.Warn("Skipping a listed workspace whose URL the receiver does not send credentials to",
				zap.String("workspace", ws.Name), zap.String("id", ws.ID), zap.Error(err))
			refused++
			continue
		}
		current[workspaceKey(ws)] = ws
	}
	for key, w := range a.workspaces {
		if ws, ok := current[key]; ok && ws == w.ws {
			continue
		}
		w.scraper.retire(ctx, now, out)
		_ = w.scraper.shutdown(ctx)
		delete(a.workspaces, key)
		a.logger.Info("Workspace left the account's list; its series are marked stale", zap.String("workspace", w.describe()))
	}
	for key, ws := range current {
		if _, ok := a.workspaces[key]; ok {
			continue
		}
		sc, err := a.newWorkspaceScraper(ctx, ws)
		if err != nil {
			a.logger.Warn("Cannot scrape a listed workspace", zap.String("workspace", ws.Name), zap.String("url", ws.URL), zap.Error(err))
			refused++
			continue
		}
		a.workspaces[key] = &accountWorkspace{ws: ws, scraper: sc}
	}
	return refused
}

// newWorkspaceScraper starts the scraper of one listed workspace.
func (a *accountScraper) newWorkspaceScraper(ctx context.Context, ws account.Workspace) (*servingScraper, error) {
	sc := newServingScraper(a.cfg.workspaceConfig(ws.URL), a.settings)
	sc.identity = workspaceIdentity{id: ws.ID, name: ws.Name, cloud: ws.Cloud, region: ws.Region}
	sc.slots = a.slots
	sc.now = a.now
	sc.stateName = "workspace_" + workspaceKey(ws)
	if err := sc.start(ctx, a.host); err != nil {
		return nil, err
	}
	return sc, nil
}

// azureCredentials is an Entra ID client-credentials token source for scopes.
func azureCredentials(az *AzureConfig, scopes []string, httpClient *http.Client) *workspace.OAuthClientCredentials {
	tokenURL := az.TokenURL
	if tokenURL == "" {
		tokenURL = "https://login.microsoftonline.com/" + az.TenantID + "/oauth2/v2.0/token"
	}
	return workspace.NewOAuthClientCredentials(tokenURL, az.ClientID, string(az.ClientSecret), scopes, false, httpClient)
}
