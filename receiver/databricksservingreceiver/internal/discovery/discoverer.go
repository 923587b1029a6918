// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package discovery // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/discovery"

import (
	"context"
	"fmt"
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

// Discoverer keeps the list of endpoints to scrape. It is used by one goroutine at a time.
type Discoverer struct {
	api           API
	cfg           Config
	shard         ShardConfig
	static        []string // endpoints named in the receiver's config; no listing when set
	workspaceHost string
	concurrency   int
	logger        *zap.Logger

	refreshedAt time.Time
	mu          sync.Mutex           // guards endpoints against Remember, which scrapes call concurrently
	endpoints   []workspace.Endpoint // selected, in name order, with their detailed description
}

// New returns a Discoverer. static, when not empty, replaces listing: those endpoints are scraped (subject to
// the shard), and only their descriptions are fetched.
func New(api API, cfg Config, shard ShardConfig, static []string, workspaceHost string, concurrency int, logger *zap.Logger) *Discoverer {
	return &Discoverer{api: api, cfg: cfg, shard: shard, static: static, workspaceHost: workspaceHost, concurrency: max(1, concurrency), logger: logger}
}

// Endpoints returns the endpoints to scrape. It lists and describes them again when the refresh interval has
// passed (and on the first call). refreshed tells whether this call refreshed. When a refresh fails after an
// earlier one succeeded, the previous endpoints are returned together with the error, so scraping goes on.
func (d *Discoverer) Endpoints(ctx context.Context, now time.Time) (endpoints []workspace.Endpoint, refreshed bool, err error) {
	if !d.refreshedAt.IsZero() && now.Sub(d.refreshedAt) < d.cfg.RefreshInterval {
		return d.current(), false, nil
	}
	selected, err := d.selectEndpoints(ctx)
	if err != nil {
		return d.current(), false, err
	}
	described := d.describe(ctx, selected)
	d.mu.Lock()
	d.endpoints = described
	d.mu.Unlock()
	d.refreshedAt = now
	return described, true, nil
}

func (d *Discoverer) current() []workspace.Endpoint {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.endpoints
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
		listed, err := d.api.ListEndpoints(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing serving endpoints: %w", err)
		}
		for _, ep := range listed {
			// Pay-per-token Foundation Model endpoints export no metrics: skipped quietly, by type.
			if ep.HasMetrics() && d.cfg.Selected(ep) {
				candidates = append(candidates, ep)
			}
		}
	}
	selected := candidates[:0]
	for _, ep := range candidates {
		if d.shard.Owns(d.workspaceHost, ep.Name) {
			selected = append(selected, ep)
		}
	}
	sort.Slice(selected, func(i, j int) bool { return selected[i].Name < selected[j].Name })
	return selected, nil
}

// describe fetches each endpoint's detailed description concurrently. An endpoint whose description cannot be
// fetched keeps what the list said (or what the last refresh fetched): metadata is enrichment, never a reason to
// stop scraping.
func (d *Discoverer) describe(ctx context.Context, selected []workspace.Endpoint) []workspace.Endpoint {
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
			detail, err := d.api.GetEndpoint(ctx, ep.Name)
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
	if len(failures) > 0 {
		sort.Strings(failures)
		d.logger.Warn("Could not describe some serving endpoints; their metadata attributes may be missing or old",
			zap.Int("endpoints", len(failures)), zap.Strings("errors", failures))
	}
	return out
}
