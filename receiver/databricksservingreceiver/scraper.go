// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/discovery"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/exposition"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"
)

// idleSeriesLifetime is how long a series that no longer appears in an endpoint's body keeps its cumulative
// state, and how long a removed endpoint is remembered. Long enough to bridge an endpoint scaled to zero or
// missing from the list for a moment, short enough that churn does not grow memory.
const idleSeriesLifetime = 30 * time.Minute

// servingScraper scrapes the serving endpoints of one workspace.
type servingScraper struct {
	cfg      *Config
	settings receiver.Settings
	logger   *zap.Logger
	client   *workspace.Client
	finder   *discovery.Discoverer
	host     string // workspace host, a resource attribute
	// identity is the workspace as its resources describe it; in account mode the account scraper fills it
	// before start (start adds the host).
	identity workspaceIdentity
	// slots, when set, is the request bound the account scraper shares between its workspaces.
	slots chan struct{}
	// stateName names the workspace's storage client when several workspaces share one receiver (and so one
	// storage extension): each saves its state apart, in file_storage a file of its own. "" for one workspace.
	stateName string

	mu sync.Mutex // one cycle at a time; guards everything below
	// endpoints holds the per-endpoint state, by endpoint name.
	endpoints map[string]*endpointState
	// removed keeps the state of endpoints that left the list, for idleSeriesLifetime: one that returns goes on
	// with what it counted and where its streams stopped, so it neither counts a window twice nor writes
	// before its own stale markers.
	removed        map[string]removedEndpoint
	discoveredOnce bool
	// listCondition is the class of the failure listing is in ("" when the last list succeeded): a failure is
	// reported when it starts or changes.
	listCondition string
	// workspace holds the series of the workspace's own health (see workspace_health.go).
	workspace *endpointState
	// store saves the state when `storage:` is set; restored says what it held at start-up (the endpoints it
	// held wait in removed until discovery lists them).
	store    *stateStore
	restored restoredState
	cycle    int
	now      func() time.Time // the clock; tests replace it

	// budget is the cycle's workspace-wide series budget (see seriesBudget), set before the endpoints' scrapes.
	budget *seriesBudget

	bodies  sync.Pool // *bytes.Buffer, reused across endpoints and cycles
	parsers sync.Pool // *exposition.Parser, likewise: the bodies of one workspace have the same shape
}

func newServingScraper(cfg *Config, settings receiver.Settings) *servingScraper {
	return &servingScraper{
		cfg:       cfg,
		settings:  settings,
		logger:    settings.Logger,
		endpoints: map[string]*endpointState{},
		removed:   map[string]removedEndpoint{},
		now:       time.Now,
		bodies:    sync.Pool{New: func() any { return new(bytes.Buffer) }},
		parsers:   sync.Pool{New: func() any { return exposition.NewParser() }},
	}
}

func (s *servingScraper) start(ctx context.Context, host component.Host) error {
	base, err := workspaceURL(s.cfg.ClientConfig.Endpoint)
	if err != nil {
		return err
	}
	if s.cfg.ClientConfig.TLS.InsecureSkipVerify {
		s.logger.Warn("tls.insecure_skip_verify is true: the workspace's certificate is not verified, so anyone in the middle " +
			"can pose as the workspace (or the token endpoint) and receive the token and client secret; configure tls.ca_file instead")
	}
	clientConfig := s.clientConfig()
	httpClient, err := clientConfig.ToClient(ctx, host.GetExtensions(), s.settings.TelemetrySettings)
	if err != nil {
		// A proxy_url that does not parse: the error would quote it, credentials and all.
		return fmt.Errorf("creating the HTTP client: %w", withoutURL(err))
	}
	userAgent := "otelcol-databricks-servingreceiver/" + s.settings.BuildInfo.Version
	s.client = workspace.NewClient(httpClient, base, s.credentials(base.String(), httpClient), userAgent, s.cfg.Limits.MaxBodyBytes)
	s.client.SetLimits(s.descriptionLimits())
	s.client.SetSlots(s.slots)
	// The workspace's identity: its host name, with the port when the URL names one (two workspaces never differ
	// only by port, but two local simulators or proxies do).
	s.host = base.Host
	s.identity.host = s.host
	s.workspace = newWorkspaceState(s.cfg.ResourceAttributes, s.identity, s.cfg.Shard)
	s.finder = discovery.New(s.client, s.cfg.Discovery, s.cfg.Shard, s.cfg.Endpoints, s.shardKey(), s.cfg.MaxConcurrency, s.cfg.CollectionInterval, s.logger)
	s.finder.SetMaxEndpoints(s.cfg.Limits.MaxEndpoints)
	if s.cfg.Storage != nil {
		return s.openState(ctx, host, *s.cfg.Storage)
	}
	return nil
}

// shardKey is what shards split endpoints by, with the endpoint's name: the workspace id when the account listed
// one (a workspace reached under another URL stays in its shard), else the host.
func (s *servingScraper) shardKey() string {
	if s.identity.id != "" {
		return s.identity.id
	}
	return s.host
}

// openState opens the storage extension id and restores the state it holds.
func (s *servingScraper) openState(ctx context.Context, host component.Host, id component.ID) error {
	var err error
	if s.store, err = openStateStore(ctx, host, id, s.settings.ID, s.stateName, s.host, s.cfg.selection(), s.logger); err != nil || s.store == nil {
		return err
	}
	s.restored = s.store.load(ctx, s.now())
	s.fileRestored(s.now())
	return nil
}

// clientConfig is the HTTP client configuration with idle connections for every concurrent request: all
// requests go to one host, and Go's default of two idle connections per host would make most requests of a
// cycle open a new connection (and a new TLS session). Explicit max_idle_conns_per_host and max_idle_conns
// settings are kept, except that max_idle_conns is raised to max_concurrency when it is lower.
func (s *servingScraper) clientConfig() confighttp.ClientConfig {
	cc := s.cfg.ClientConfig
	if cc.MaxIdleConnsPerHost == 0 {
		cc.MaxIdleConnsPerHost = s.cfg.MaxConcurrency
	}
	if cc.MaxIdleConns != 0 && cc.MaxIdleConns < s.cfg.MaxConcurrency {
		cc.MaxIdleConns = s.cfg.MaxConcurrency
	}
	return cc
}

// credentials returns the bearer token source of the configured method, or nil for an auth extension (which
// works inside the HTTP client).
func (s *servingScraper) credentials(workspaceBase string, httpClient *http.Client) workspace.Credentials {
	switch {
	case s.cfg.Token != "":
		return workspace.StaticToken(s.cfg.Token)
	case s.cfg.OAuth != nil:
		o := s.cfg.OAuth
		tokenURL := o.TokenURL
		if tokenURL == "" {
			tokenURL = strings.TrimSuffix(workspaceBase, "/") + "/oidc/v1/token"
		}
		return workspace.NewOAuthClientCredentials(tokenURL, o.ClientID, string(o.ClientSecret), scopesOr(o.Scopes, defaultOAuthScope), true, httpClient)
	case s.cfg.Azure != nil:
		return azureCredentials(s.cfg.Azure, scopesOr(s.cfg.Azure.Scopes, azureDatabricksScope), httpClient)
	}
	return nil
}

func scopesOr(scopes []string, fallback string) []string {
	if len(scopes) == 0 {
		return []string{fallback}
	}
	return scopes
}

func (s *servingScraper) shutdown(ctx context.Context) error {
	if s.store == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The last cycle saved its state already; this saves what changed after it (nothing, usually).
	err := s.store.save(ctx, s.endpoints, s.removed, s.discoveredOnce, s.stateComplete(), s.now())
	return errors.Join(err, s.store.close(ctx))
}

// retire ends every series of the workspace with stale markers, as if each of its endpoints had left the list,
// its workspace health included, and drops its state, the saved state included: the workspace left the
// account's list. (Were it to come back, what it had counted would be older than its stale markers.)
func (s *servingScraper) retire(ctx context.Context, now time.Time, out pmetric.ResourceMetricsSlice) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.workspace == nil { // never started
		return
	}
	s.syncEndpoints(nil, now, out)
	s.workspace.acc.BeginScrape(now)
	s.workspace.endStreams(newStaleWriter(s.settings.BuildInfo.Version, out), func(*seriesRef) bool { return true })
	s.endpoints, s.removed = map[string]*endpointState{}, map[string]removedEndpoint{}
	if s.store != nil {
		s.store.discard(ctx, slices.Collect(maps.Keys(s.store.saved)))
		_ = s.store.close(ctx)
		s.store = nil // shutdown saves nothing more
	}
}

// endpointResult is what one endpoint's scrape produced.
type endpointResult struct {
	metrics  pmetric.Metrics
	rejected []error // samples rejected; their text comes from the body (see redactedErrors)
	err      error
	trims    []limitCount // what limits trimmed without failing the scrape
}

// scrape runs one collection cycle: discover endpoints, scrape them concurrently, merge the results, and save the
// state when storage is configured. An endpoint that fails is reported in a PartialScrapeError and never holds
// back the others.
func (s *servingScraper) scrape(ctx context.Context) (pmetric.Metrics, error) {
	// The cycle may not outlive the interval; each request also has its own timeout.
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CollectionInterval)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()

	now := s.now()
	md, errs, ok := s.collect(ctx, now)
	if !ok {
		return md, errs.Combine()
	}
	// Saved before the cycle's metrics go down the pipeline: a crash in between loses them, never counts twice.
	if s.store != nil {
		if err := s.store.save(ctx, s.endpoints, s.removed, s.discoveredOnce, s.stateComplete(), now); err != nil {
			errs.AddPartial(0, err)
		}
	}
	return md, errs.Combine()
}

// collect is a cycle without the save: discovery, the endpoints' scrapes and their merge. s.mu must be held. ok
// is false when the cycle failed as a whole (no endpoint list yet).
func (s *servingScraper) collect(ctx context.Context, now time.Time) (md pmetric.Metrics, errs scrapererror.ScrapeErrors, ok bool) {
	md = pmetric.NewMetrics()
	descriptions, refreshed, err := s.finder.Endpoints(ctx, now)
	if refreshed {
		s.syncEndpoints(descriptions, now, md.ResourceMetrics())
	}
	s.recordWorkspaceHealth(now, err, md.ResourceMetrics())
	if err != nil {
		// Reported when it starts or changes, like an endpoint's failure; workspace.up carries it every cycle.
		// Always as a partial error, also before the first list: the scraper controller drops the metrics of a
		// cycle that fails as a whole, and this cycle's workspace.up is what says why nothing else is scraped.
		if condition := classifyError(err); condition != s.listCondition {
			s.listCondition = condition
			errs.AddPartial(1, err)
		}
		if !s.discoveredOnce {
			return md, errs, false
		}
	} else if refreshed {
		s.listCondition = ""
	}
	targets, waiting := s.dueEndpoints(now)
	results := s.scrapeEndpoints(ctx, targets, now)
	for i, ep := range targets {
		s.report(ep, results[i], &errs)
		results[i].metrics.ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
	}
	for _, ep := range waiting {
		s.recordWaiting(ep, now, md.ResourceMetrics())
	}
	return md, errs, true
}

// recordWaiting writes the scrape health of an endpoint that waits out Retry-After or a backoff this cycle (see
// converter.recordSkipped), and its states.
func (s *servingScraper) recordWaiting(ep *endpointState, now time.Time, out pmetric.ResourceMetricsSlice) {
	ep.acc.BeginScrape(now)
	c := newConverter(ep, s.cfg, s.settings.BuildInfo.Version, out, now)
	c.recordSkipped(now)
	c.recordStates(now)
}

// scrapeEndpoints scrapes targets with max_concurrency workers (a goroutine per endpoint would cost a stack
// each), in scrapeOrder, and returns their results in the order of targets.
func (s *servingScraper) scrapeEndpoints(ctx context.Context, targets []*endpointState, now time.Time) []endpointResult {
	results := make([]endpointResult, len(targets))
	order := s.scrapeOrder(targets)
	s.budget = newSeriesBudget(s.cfg.Limits.MaxWorkspaceSeries, s.heldSeries())
	s.cycle++
	cycleStart := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(s.cfg.MaxConcurrency, len(targets)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := int(next.Add(1) - 1)
				if n >= len(order) {
					return
				}
				i := order[n]
				if !s.waitForOffset(ctx, cycleStart, targets[i].name) {
					results[i] = endpointResult{metrics: pmetric.NewMetrics(), err: ctx.Err()}
					continue
				}
				results[i] = s.scrapeEndpoint(ctx, targets[i], newScrapeTiming(now, cycleStart))
			}
		}()
	}
	wg.Wait()
	return results
}

// report adds an endpoint's failure to the cycle's errors when it starts or changes, not on every cycle while it
// lasts (the scraper controller logs what is reported; databricks.serving.scrape.up carries it every cycle).
func (s *servingScraper) report(ep *endpointState, r endpointResult, errs *scrapererror.ScrapeErrors) {
	condition := conditionOf(r)
	if condition == ep.condition {
		if condition != "" {
			s.logger.Debug("Serving endpoint still failing", zap.String("endpoint", ep.name), zap.String("condition", condition),
				zap.Strings("rejected", s.redactedErrors(r.rejected)))
		}
		return
	}
	switch {
	case r.err != nil:
		errs.AddPartial(1, fmt.Errorf("endpoint %q: %w", ep.name, r.err))
	case len(r.rejected) > 0:
		// Reported once per condition, like a failure; which samples (at most maxLoggedRejections) is in the
		// Debug line above while the condition lasts.
		errs.AddPartial(len(r.rejected), fmt.Errorf("endpoint %q: %d samples rejected, the first: %s", ep.name, len(r.rejected), s.client.Redact(r.rejected[0].Error())))
	case ep.condition != "" && len(r.trims) == 0:
		s.logger.Info("Serving endpoint scraped successfully again", zap.String("endpoint", ep.name), zap.String("after", ep.condition))
	}
	if len(r.trims) > 0 {
		// Within the limits the endpoint is scraped; what they dropped is said once, and counted every scrape
		// by databricks.serving.limit.exceeded.
		errs.AddPartial(r.trims[0].n, fmt.Errorf("endpoint %q: %s", ep.name, describeTrims(r.trims)))
	}
	ep.condition = condition
}

// maxLoggedRejections bounds how many rejected samples a log line lists.
const maxLoggedRejections = 10

// redactedErrors is the text of at most maxLoggedRejections errors, each through the client's Redact.
func (s *servingScraper) redactedErrors(errs []error) []string {
	if len(errs) == 0 {
		return nil
	}
	out := make([]string, 0, min(len(errs), maxLoggedRejections))
	for _, err := range errs[:min(len(errs), maxLoggedRejections)] {
		out = append(out, s.client.Redact(err.Error()))
	}
	return out
}

// conditionOf names an endpoint result's failure for log deduplication: "" when it succeeded. It is the error's
// class, not its text: the text of a lasting condition varies (timeouts, the next attempt's time).
func conditionOf(r endpointResult) string {
	condition := ""
	switch {
	case r.err != nil:
		condition = classifyError(r.err)
	case len(r.rejected) > 0:
		condition = "rejected samples"
	}
	if len(r.trims) > 0 {
		condition += "; limits " + trimsCondition(r.trims)
	}
	return condition
}

// scrapeOrder returns the order in which the cycle scrapes targets (indices into it). With spread_requests, it
// is the order of the endpoints' start offsets, so that no worker waits for a late offset while an earlier one
// is due. Without, all are due at once, and the cycle starts from a different endpoint each time, so that when a
// slow workspace makes the cycle run out of time it is not always the same endpoints that miss it.
func (s *servingScraper) scrapeOrder(targets []*endpointState) []int {
	order := make([]int, len(targets))
	if s.spreadWindow() > 0 {
		offsets := make([]time.Duration, len(targets))
		for i, ep := range targets {
			order[i], offsets[i] = i, s.startOffset(ep.name)
		}
		sort.SliceStable(order, func(a, b int) bool { return offsets[order[a]] < offsets[order[b]] })
		return order
	}
	rotation := 0
	if len(targets) > 0 {
		rotation = s.cycle % len(targets)
	}
	for n := range order {
		order[n] = (n + rotation) % len(targets)
	}
	return order
}

// spreadWindow is the part of the interval over which requests are spread: the first half with
// spread_requests, none without.
func (s *servingScraper) spreadWindow() time.Duration {
	if !s.cfg.SpreadRequests {
		return 0
	}
	return s.cfg.CollectionInterval / 2
}

// startOffset is an endpoint's start offset in every cycle: a stable hash of the endpoint over the spread window,
// so requests are spread evenly and each endpoint is scraped at the same point of every cycle (evenly spaced,
// like Prometheus).
func (s *servingScraper) startOffset(endpoint string) time.Duration {
	window := s.spreadWindow()
	if window <= 0 {
		return 0
	}
	return time.Duration(discovery.StableHash(s.host, endpoint) % uint64(window))
}

// waitForOffset waits until the endpoint's start offset in this cycle, and reports false if the cycle ended
// first.
func (s *servingScraper) waitForOffset(ctx context.Context, cycleStart time.Time, endpoint string) bool {
	if ctx.Err() != nil {
		return false
	}
	wait := time.Until(cycleStart.Add(s.startOffset(endpoint)))
	if wait <= 0 {
		return true
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// removedEndpoint is the state of an endpoint that left the list, and when it left. listed marks an endpoint
// restored from saved state that was in the list when the state was saved (at is then when it was restored).
type removedEndpoint struct {
	state  *endpointState
	at     time.Time
	listed bool
}

// newResources builds the resources of an endpoint description.
func (s *servingScraper) newResources(desc workspace.Endpoint) endpointResources {
	return newEndpointResources(s.cfg.ResourceAttributes, s.identity, desc)
}

// syncEndpoints applies a new endpoint list: new endpoints get state, known ones their new description (streams
// of resources that changed end with stale markers), and endpoints gone from the list get stale markers for every
// stream; their state is kept for idleSeriesLifetime in case they return.
func (s *servingScraper) syncEndpoints(descriptions []workspace.Endpoint, now time.Time, out pmetric.ResourceMetricsSlice) {
	stale := newStaleWriter(s.settings.BuildInfo.Version, out)
	listed := make(map[string]bool, len(descriptions))
	for _, desc := range descriptions {
		listed[desc.Name] = true
		if ep, ok := s.endpoints[desc.Name]; ok {
			ep.acc.BeginScrape(now)
			ep.setDescription(desc, s.newResources(desc), stale)
			continue
		}
		if gone, ok := s.removed[desc.Name]; ok {
			delete(s.removed, desc.Name)
			ep := gone.state
			ep.acc.BeginScrape(now)
			ep.setDescription(desc, s.newResources(desc), stale)
			if gone.listed {
				// Restored from saved state, listed when it was saved: it goes on where the last collector
				// stopped, and the minutes while no collector ran are missed windows.
				s.endpoints[desc.Name] = ep
				continue
			}
			// The endpoint was not watched while it was away: its absence is not counted as missed windows.
			ep.windows.forget()
			s.endpoints[desc.Name] = ep
			s.logger.Info("Serving endpoint is back in the workspace's list", zap.String("endpoint", desc.Name))
			continue
		}
		// At the first discovery every endpoint may have been counted by an earlier collector, unless valid
		// saved state says which were: then one it does not hold never was.
		counted := !s.restored.valid || s.restored.discarded[desc.Name]
		s.endpoints[desc.Name] = newEndpointState(desc, s.newResources(desc), !s.discoveredOnce && counted)
	}

	for name, ep := range s.endpoints {
		if listed[name] {
			continue
		}
		ep.acc.BeginScrape(now)
		ep.endStreams(stale, func(*seriesRef) bool { return true })
		delete(s.endpoints, name)
		s.removed[name] = removedEndpoint{state: ep, at: now}
		s.logger.Info("Serving endpoint left the workspace's list; its series are marked stale", zap.String("endpoint", name))
	}
	for name, gone := range s.removed {
		if gone.listed {
			// Restored as listed, but not in this list: it left while no collector ran.
			gone.listed, gone.at = false, now
			s.removed[name] = gone
		}
		if now.Sub(gone.at) > idleSeriesLifetime {
			delete(s.removed, name)
		}
	}
	s.discoveredOnce = true
}

// stateComplete says whether the state holds every endpoint whose minutes were counted (see stateMeta).
func (s *servingScraper) stateComplete() bool { return s.discoveredOnce || s.restored.valid }

// fileRestored files the endpoints of restored state with the removed ones, where they wait for discovery to
// list them: those listed when the state was saved since start-up, those that had left the list since they
// left. Until then they are saved again as they are, so a collector that stops before its first discovery keeps
// them for the next.
func (s *servingScraper) fileRestored(now time.Time) {
	for name, ep := range s.restored.endpoints {
		at, removed := s.restored.removedAt[name]
		if !removed {
			at = now
		}
		s.removed[name] = removedEndpoint{state: ep, at: at, listed: !removed}
	}
	s.restored.endpoints, s.restored.removedAt = nil, nil
}

// dueEndpoints returns the endpoints to scrape this cycle, and those waiting out Retry-After or a backoff (after a
// 404, 429 or 503), each in name order.
func (s *servingScraper) dueEndpoints(now time.Time) (due, waiting []*endpointState) {
	due = make([]*endpointState, 0, len(s.endpoints))
	for _, ep := range s.endpoints {
		if ep.retryAt.After(now) {
			waiting = append(waiting, ep)
		} else {
			due = append(due, ep)
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].name < due[j].name })
	sort.Slice(waiting, func(i, j int) bool { return waiting[i].name < waiting[j].name })
	return due, waiting
}

// scrapeTiming is when an endpoint's scrape happens: now is the cycle's time (the scraper's clock, which tests
// replace), started when the endpoint's request began (for its duration), and stamp the time its scrape health
// carries: the cycle's time plus how long into the cycle the endpoint was scraped.
type scrapeTiming struct {
	now, started, stamp time.Time
}

func newScrapeTiming(now, cycleStart time.Time) scrapeTiming {
	started := time.Now()
	return scrapeTiming{now: now, started: started, stamp: now.Add(started.Sub(cycleStart))}
}

// scrapeEndpoint fetches, parses and converts one endpoint, and records its scrape health and state.
func (s *servingScraper) scrapeEndpoint(ctx context.Context, ep *endpointState, at scrapeTiming) (result endpointResult) {
	now := at.now
	// A bug that an endpoint's answer or state triggers must fail that endpoint, never the collector, and must
	// not leave it failing: its state is reset, and the next cycle scrapes it again from clean state.
	defer func() {
		if r := recover(); r != nil {
			s.logger.Error("Scraping a serving endpoint panicked; its scrape is dropped and its state reset",
				zap.String("endpoint", ep.name), zap.Any("panic", r), zap.Stack("stack"))
			result = s.recoverEndpoint(ep, at, r)
		}
	}()
	result = endpointResult{metrics: pmetric.NewMetrics()}
	body := s.bodies.Get().(*bytes.Buffer)
	defer s.bodies.Put(body)
	contentType, err := s.client.FetchMetrics(ctx, ep.name, body)
	c := newConverter(ep, s.cfg, s.settings.BuildInfo.Version, result.metrics.ResourceMetrics(), now)
	c.budget = s.budget
	err = s.processScrape(ctx, ep, c, body.Bytes(), contentType, err, at)

	var apiErr *workspace.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound:
		// An endpoint without metrics: skipped quietly, asked again with backoff instead of failing every cycle.
		if backoff := ep.backOff(now, s.cfg.CollectionInterval, maxNotFoundBackoff, 0, false); ep.failures == 1 {
			s.logger.Info("Serving endpoint has no metrics (HTTP 404); asking again with backoff",
				zap.String("endpoint", ep.name), zap.Duration("retry_in", backoff))
		}
	case errors.As(err, &apiErr) && (apiErr.StatusCode == http.StatusTooManyRequests || apiErr.StatusCode == http.StatusServiceUnavailable):
		// Databricks asks for patience: not before Retry-After, or with exponential backoff and jitter when it
		// names no time. The endpoint is not asked again in the meantime; the others go on.
		backoff := ep.backOff(now, s.cfg.CollectionInterval, maxThrottleBackoff, apiErr.RetryAfter, true)
		result.err = fmt.Errorf("%w; next attempt in %s", err, backoff.Round(time.Millisecond))
	case err != nil:
		result.err = err
	default:
		ep.failures = 0
	}
	if c.late > 0 {
		s.logger.Debug("Dropped windows that arrived after newer ones were counted",
			zap.String("endpoint", ep.name), zap.Int("windows", c.late))
	}
	// Rejected samples and trims are reported by report, once per condition rather than on every scrape.
	result.rejected = c.rejected
	result.trims = c.trims()
	return result
}

// recoverEndpoint is what a scrape that panicked yields: the endpoint's state is reset (see endpointState.reset)
// and its scrape health says error.type=internal. Whatever the scrape had produced is dropped: it may be wrong.
func (s *servingScraper) recoverEndpoint(ep *endpointState, at scrapeTiming, panicked any) endpointResult {
	ep.reset(s.newResources(ep.description))
	err := &internalError{err: fmt.Errorf("scraping the endpoint panicked: %v", panicked)}
	result := endpointResult{metrics: pmetric.NewMetrics(), err: err}
	func() {
		// Reporting must not fail the cycle either.
		defer func() { _ = recover() }()
		ep.acc.BeginScrape(at.now)
		c := newConverter(ep, s.cfg, s.settings.BuildInfo.Version, result.metrics.ResourceMetrics(), at.now)
		c.recordScrapeHealth(at.stamp, time.Since(at.started), err)
	}()
	return result
}

// processScrape is everything of an endpoint's scrape after the response: parsing and converting the body
// (when the fetch succeeded), scrape health, states and the eviction of idle series. It returns the scrape's error.
func (s *servingScraper) processScrape(ctx context.Context, ep *endpointState, c *converter, body []byte, contentType string, fetchErr error, at scrapeTiming) error {
	now := at.now
	ep.acc.BeginScrape(now)
	err := fetchErr
	if err == nil {
		err = s.convertBody(ctx, ep, c, body, contentType, now)
		if err == nil {
			ep.missedPending += ep.windows.observe(c.newest)
		}
	}
	c.recordScrapeHealth(at.stamp, time.Since(at.started), err)
	c.recordStates(now)
	ep.evictIdle(now, now.Add(-idleSeriesLifetime))
	return err
}

func (s *servingScraper) convertBody(ctx context.Context, ep *endpointState, c *converter, body []byte, contentType string, now time.Time) error {
	parser := s.parsers.Get().(*exposition.Parser)
	defer s.parsers.Put(parser)
	parser.SetLimits(s.parseLimits())
	families, err := parser.Parse(body, contentType)
	var overLimit *exposition.LimitError
	switch {
	case errors.As(err, &overLimit):
		// The parser stopped where the body broke the limit; the message may quote the body too.
		return &limitError{msg: s.client.Redact(err.Error()), limit: overLimit.Limit}
	case err != nil:
		// The error quotes the body: through Redact, like every error built from an answer.
		return &parseError{err: errors.New(s.client.Redact(err.Error()))}
	}
	stats, err := checkLimits(families, s.cfg.Limits)
	if err != nil {
		return err
	}
	c.samples = stats.samples
	if stats.untimed {
		c.fallbackWindow = ep.windowForUntimedBody(body, now)
	}
	s.attribute(ctx, ep, c, families, now)
	c.convertFamilies(families)
	ep.baseline = false
	return nil
}

// withoutURL drops the URL a *url.Error quotes (e.g. a proxy_url that does not parse): it may carry credentials.
func withoutURL(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return fmt.Errorf("%s: %w", urlErr.Op, urlErr.Err)
	}
	return err
}
