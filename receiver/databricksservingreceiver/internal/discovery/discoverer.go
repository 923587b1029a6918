// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package discovery // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/discovery"

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"
)

// API is the part of the workspace client discovery uses.
type API interface {
	ListEndpoints(ctx context.Context) ([]workspace.Endpoint, error)
	GetEndpoint(ctx context.Context, name string) (workspace.Endpoint, error)
}

// Discoverer keeps the list of endpoints to scrape. Endpoints is called by one goroutine at a time (the
// scraper's cycle); Describe, Remember and Counts are safe to call concurrently with it and each other.
type Discoverer struct {
	api          API
	cfg          Config
	shard        ShardConfig
	static       []string // endpoints named in the receiver's config; no listing when set
	workspaceKey string
	concurrency  int
	logger       *zap.Logger

	refreshedAt time.Time
	mu          sync.Mutex           // guards endpoints and the describe backoffs against the concurrent scrapes
	endpoints   []workspace.Endpoint // selected, in name order, with their detailed description
	listed      int                  // endpoints the last good list had, before any selection

	// retryBase is the first backoff after a failed list (the collection interval); listFailures counts
	// consecutive failures, and the list is not asked again before listRetryAt (Retry-After or backoff).
	retryBase    time.Duration
	listFailures int
	listRetryAt  time.Time
	listErr      error
	// describeRetryAt is when descriptions may be asked for again after Databricks throttled one with a
	// Retry-After; describeBackoffs holds the endpoints whose last description failed, each with its own backoff
	// (only the endpoints of the last refresh: a refresh forgets the others).
	describeRetryAt  time.Time
	describeBackoffs map[string]describeBackoff

	// Input-driven log lines are written once per condition, not on every refresh (the refresh goroutine alone
	// uses these): invalidNames are the invalid names of the last list, each reported once while it stays
	// listed; describeFailing names the endpoints whose description failed at the last refresh.
	invalidNames    map[string]bool
	describeFailing string

	// maxEndpoints caps the endpoints taken from a list (see SetMaxEndpoints); trimmed is how many the last
	// good list had beyond it (guarded by mu).
	maxEndpoints int
	trimmed      int
}

// countedLister is an API that trims the list as it decodes it, and says how many endpoints the list held: the
// workspace client, which never holds more than the cap in memory.
type countedLister interface {
	ListEndpointsCounted(ctx context.Context) ([]workspace.Endpoint, int, error)
}

// SetMaxEndpoints caps the endpoints taken from the workspace's list (limits.max_endpoints): beyond it, the
// first by name, so which endpoints are scraped does not depend on the list's order. Call it before Endpoints.
func (d *Discoverer) SetMaxEndpoints(n int) { d.maxEndpoints = n }

// Trimmed returns how many endpoints the last good list had beyond the cap.
func (d *Discoverer) Trimmed() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.trimmed
}

// list lists the workspace's endpoints, at most maxEndpoints (the first by name), and how many it has.
func (d *Discoverer) list(ctx context.Context) ([]workspace.Endpoint, int, error) {
	if counted, ok := d.api.(countedLister); ok {
		return counted.ListEndpointsCounted(ctx)
	}
	listed, err := d.api.ListEndpoints(ctx)
	if err != nil || d.maxEndpoints <= 0 || len(listed) <= d.maxEndpoints {
		return listed, len(listed), err
	}
	listed = slices.Clone(listed)
	sort.SliceStable(listed, func(i, j int) bool { return listed[i].Name < listed[j].Name })
	return listed[:d.maxEndpoints], len(listed), nil
}

// reportTrimmed logs, once each time it changes, that the list had more endpoints than limits.max_endpoints.
func (d *Discoverer) reportTrimmed(total, kept int) {
	d.mu.Lock()
	previous := d.trimmed
	d.trimmed = total - kept
	d.mu.Unlock()
	if total-kept > 0 && total-kept != previous {
		d.logger.Warn("The workspace lists more serving endpoints than limits.max_endpoints; only the first by name are scraped "+
			"(databricks.serving.limit.exceeded{limit=max_endpoints} counts the others)",
			zap.Int("listed", total), zap.Int("max_endpoints", d.maxEndpoints), zap.Int("not_scraped", total-kept))
	}
}

// maxLoggedItems bounds the names or errors one log line lists; the line gives their count too.
const maxLoggedItems = 10

// describeBackoff is the state of an endpoint whose description failed: how many failed in a row, the last
// failure, and when the endpoint may be described again.
type describeBackoff struct {
	failures int
	err      error
	retryAt  time.Time
}

// ThrottledError is returned while a call waits out the Retry-After or backoff of an earlier failure.
type ThrottledError struct {
	Err     error
	RetryAt time.Time
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%v; not asked again before %s", e.Err, e.RetryAt.UTC().Format(time.RFC3339))
}
func (e *ThrottledError) Unwrap() error { return e.Err }

// New returns a Discoverer. static, when not empty, replaces listing: those endpoints are scraped (subject to
// the shard), and only their descriptions are fetched.
func New(api API, cfg Config, shard ShardConfig, static []string, workspaceKey string, concurrency int, retryBase time.Duration, logger *zap.Logger) *Discoverer {
	return &Discoverer{
		api: api, cfg: cfg, shard: shard, static: static, workspaceKey: workspaceKey, concurrency: max(1, concurrency),
		retryBase: max(retryBase, time.Second), logger: logger,
	}
}

// Endpoints returns the endpoints to scrape. It lists and describes them again when the refresh interval has
// passed (and on the first call). refreshed tells whether this call refreshed. When a refresh fails after an
// earlier one succeeded, the previous endpoints are returned together with the error, so scraping goes on.
func (d *Discoverer) Endpoints(ctx context.Context, now time.Time) (endpoints []workspace.Endpoint, refreshed bool, err error) {
	if !d.refreshedAt.IsZero() && now.Sub(d.refreshedAt) < d.cfg.RefreshInterval {
		return d.current(), false, nil
	}
	if now.Before(d.listRetryAt) {
		return d.current(), false, &ThrottledError{Err: d.listErr, RetryAt: d.listRetryAt}
	}
	selected, err := d.selectEndpoints(ctx)
	if err != nil {
		d.listFailures++
		d.listErr = err
		d.listRetryAt = now.Add(d.backoff(d.listFailures, err))
		return d.current(), false, err
	}
	d.listFailures, d.listErr, d.listRetryAt = 0, nil, time.Time{}
	described := d.describe(ctx, selected, now)
	d.mu.Lock()
	d.endpoints = described
	d.mu.Unlock()
	d.refreshedAt = now
	return described, true, nil
}

// backoff is how long to wait after the failures-th consecutive failure of a list, or of one endpoint's
// description: the Retry-After Databricks named, else retryBase doubling up to the refresh interval, ±20 % so that
// collectors (and endpoints) do not retry together. The last good list or description is used meanwhile.
func (d *Discoverer) backoff(failures int, err error) time.Duration {
	if wait := retryAfter(err); wait > 0 {
		return wait
	}
	wait := d.retryBase
	for i := 1; i < failures && wait < d.cfg.RefreshInterval; i++ {
		wait *= 2
	}
	wait = min(wait, max(d.cfg.RefreshInterval, d.retryBase))
	return time.Duration(float64(wait) * (0.8 + 0.4*rand.Float64())) //nolint:gosec // G404: jitter, not a secret
}

// retryAfter returns the Retry-After of a throttled answer (429 or 503), 0 for any other error and for a
// throttled answer that names no time: that one backs off exponentially, as a 500 does, rather than being asked
// again at the next cycle.
func retryAfter(err error) time.Duration {
	var apiErr *workspace.APIError
	if errors.As(err, &apiErr) && (apiErr.StatusCode == http.StatusTooManyRequests || apiErr.StatusCode == http.StatusServiceUnavailable) {
		return apiErr.RetryAfter
	}
	return 0
}

// Counts returns how many endpoints the last good list had (listed) and how many of them this collector
// scrapes (selected).
func (d *Discoverer) Counts() (listed, selected int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.listed, len(d.endpoints)
}

func (d *Discoverer) current() []workspace.Endpoint {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.endpoints
}

// Describe fetches one endpoint's description, unless it must wait: while Databricks' Retry-After (on a 429 or
// 503 of any description) runs, or while the endpoint backs off after its own description failed. Then it returns a
// ThrottledError at once, and the caller keeps the description it has. The refresh and the scrapes (attribution)
// share the wait, so neither asks more often than the backoff allows. It is safe to call concurrently.
func (d *Discoverer) Describe(ctx context.Context, name string, now time.Time) (workspace.Endpoint, error) {
	if err := d.describeWait(name, now); err != nil {
		return workspace.Endpoint{}, err
	}
	desc, err := d.api.GetEndpoint(ctx, name)
	d.recordDescribe(name, err, now)
	return desc, err
}

// describeWait returns a ThrottledError while the endpoint may not be described, nil when it may.
func (d *Discoverer) describeWait(name string, now time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if now.Before(d.describeRetryAt) {
		return &ThrottledError{Err: errors.New("describing serving endpoints is throttled"), RetryAt: d.describeRetryAt}
	}
	if b, failing := d.describeBackoffs[name]; failing && now.Before(b.retryAt) {
		// The last failure names the call (its path) and why it failed.
		return &ThrottledError{Err: b.err, RetryAt: b.retryAt}
	}
	return nil
}

// recordDescribe forgets an endpoint's backoff when its description succeeded, and lengthens it when it failed:
// the Retry-After of a throttled answer, else the list's schedule (backoff) counted in the endpoint's own
// consecutive failures, so that a failing endpoint does not slow the descriptions of the others.
func (d *Discoverer) recordDescribe(name string, err error, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil {
		delete(d.describeBackoffs, name)
		return
	}
	// Databricks' rate limits hold for the workspace: a Retry-After stops every endpoint's description.
	if wait := retryAfter(err); wait > 0 && now.Add(wait).After(d.describeRetryAt) {
		d.describeRetryAt = now.Add(wait)
	}
	if d.describeBackoffs == nil {
		d.describeBackoffs = map[string]describeBackoff{}
	}
	b := d.describeBackoffs[name]
	b.failures++
	b.err = err
	b.retryAt = now.Add(d.backoff(b.failures, err))
	d.describeBackoffs[name] = b
}

// forgetDescribeBackoffs drops the backoffs of the endpoints a refresh no longer selected: the map stays bounded by
// the list, and an endpoint that is listed again later starts without a backoff.
func (d *Discoverer) forgetDescribeBackoffs(selected []workspace.Endpoint) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for name := range d.describeBackoffs {
		if _, found := slices.BinarySearchFunc(selected, name, func(ep workspace.Endpoint, name string) int {
			return strings.Compare(ep.Name, name)
		}); !found {
			delete(d.describeBackoffs, name)
		}
	}
}

// Remember replaces the description of a selected endpoint with a newer one that a scrape fetched, so that a
// refresh whose describe call fails falls back to the newest description rather than an older one. It is safe
// to call concurrently with itself.
func (d *Discoverer) Remember(desc workspace.Endpoint) {
	d.mu.Lock()
	defer d.mu.Unlock()
	i, found := sort.Find(len(d.endpoints), func(i int) int { return strings.Compare(desc.Name, d.endpoints[i].Name) })
	if !found {
		return
	}
	// Copy on write: the slice returned by Endpoints may still be read.
	d.endpoints = slices.Clone(d.endpoints)
	d.endpoints[i] = desc
}

// selectEndpoints lists (or takes the static names) and filters.
func (d *Discoverer) selectEndpoints(ctx context.Context) ([]workspace.Endpoint, error) {
	var candidates []workspace.Endpoint
	if len(d.static) > 0 {
		for _, name := range d.static {
			candidates = append(candidates, workspace.Endpoint{Name: name})
		}
	} else {
		listed, total, err := d.list(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing serving endpoints: %w", err)
		}
		d.mu.Lock()
		d.listed = total
		d.mu.Unlock()
		d.reportTrimmed(total, len(listed))
		invalid := map[string]bool{}
		var newlyInvalid []string
		for _, ep := range listed {
			if !workspace.ValidEndpointName(ep.Name) {
				// Not a name Databricks gives: requesting it could reach another path of the API.
				if !invalid[ep.Name] && !d.invalidNames[ep.Name] {
					newlyInvalid = append(newlyInvalid, ep.Name)
				}
				invalid[ep.Name] = true
				continue
			}
			// Pay-per-token Foundation Model endpoints export no metrics: skipped quietly, by type.
			if ep.HasMetrics() && d.cfg.Selected(ep) {
				candidates = append(candidates, ep)
			}
		}
		d.invalidNames = invalid // what the list holds: bounded by it, and a name is reported again if it returns
		d.reportInvalidNames(newlyInvalid)
	}
	selected := candidates[:0]
	for _, ep := range candidates {
		if d.shard.Owns(d.workspaceKey, ep.Name) {
			selected = append(selected, ep)
		}
	}
	sort.Slice(selected, func(i, j int) bool { return selected[i].Name < selected[j].Name })
	return selected, nil
}

// describe fetches each endpoint's detailed description concurrently. An endpoint whose description cannot be
// fetched, or that waits out a backoff, keeps what the last refresh (or a scrape) fetched, else what the list said:
// metadata is enrichment, never a reason to stop scraping.
func (d *Discoverer) describe(ctx context.Context, selected []workspace.Endpoint, now time.Time) []workspace.Endpoint {
	current := d.current()
	previous := make(map[string]workspace.Endpoint, len(current))
	for _, ep := range current {
		previous[ep.Name] = ep
	}
	out := make([]workspace.Endpoint, len(selected))
	slots := make(chan struct{}, d.concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for i, ep := range selected {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			detail, err := d.Describe(ctx, ep.Name, now)
			switch {
			case err == nil:
				out[i] = detail
			case previous[ep.Name].Name != "":
				out[i] = previous[ep.Name]
			default:
				out[i] = ep
			}
			if err != nil {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("%s: %v", ep.Name, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	d.forgetDescribeBackoffs(selected)
	d.reportDescribeFailures(failures)
	return out
}

// reportInvalidNames logs, in one line, the listed names that are not serving endpoint names and were not
// reported before.
func (d *Discoverer) reportInvalidNames(names []string) {
	if len(names) == 0 {
		return
	}
	sort.Strings(names)
	quoted := make([]string, 0, min(len(names), maxLoggedItems))
	for _, name := range names[:min(len(names), maxLoggedItems)] {
		quoted = append(quoted, workspace.QuoteName(name))
	}
	d.logger.Warn("Skipping listed serving endpoints whose names are not valid endpoint names (1-63 letters, digits, '-' or '_'); "+
		"Databricks does not create such names, so the list did not come from Databricks as it is (a proxy in between?). Each name is reported once",
		zap.Int("endpoints", len(names)), zap.Strings("names", quoted))
}

// reportDescribeFailures logs the describe failures of a refresh when the set of endpoints that failed changed
// since the last refresh (Debug otherwise): at most maxLoggedItems errors, each through Redact.
func (d *Discoverer) reportDescribeFailures(failures []string) {
	sort.Strings(failures)
	names := make([]string, len(failures))
	for i, f := range failures {
		names[i], _, _ = strings.Cut(f, ": ")
	}
	condition := strings.Join(names, "\x00")
	changed := condition != d.describeFailing
	d.describeFailing = condition
	if len(failures) == 0 {
		return
	}
	logged := make([]string, 0, min(len(failures), maxLoggedItems))
	for _, f := range failures[:min(len(failures), maxLoggedItems)] {
		logged = append(logged, workspace.Redact(f))
	}
	log := d.logger.Debug
	if changed {
		log = d.logger.Warn
	}
	log("Could not describe some serving endpoints; their metadata attributes may be missing or old",
		zap.Int("endpoints", len(failures)), zap.Strings("errors", logged))
}
