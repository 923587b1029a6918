// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/accumulator"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/exposition"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/metadata"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"
)

// idleSeriesLifetime is how long a series that no longer appears in an endpoint's body keeps its cumulative
// state. Long enough to bridge an endpoint scaled to zero for a while, short enough that churn of served
// entities does not grow memory.
const idleSeriesLifetime = 30 * time.Minute

// servingScraper scrapes every serving endpoint of one workspace.
type servingScraper struct {
	cfg      *Config
	settings receiver.Settings
	logger   *zap.Logger
	client   *workspace.Client
	host     string // workspace host, a resource attribute

	mu sync.Mutex // guards endpoints and discoveredOnce between cycles
	// endpoints holds the per-endpoint state, by endpoint name.
	endpoints      map[string]*endpointState
	discoveredOnce bool

	bodies sync.Pool // *bytes.Buffer, reused across endpoints and cycles
}

// endpointState is what the receiver remembers about one endpoint between cycles.
type endpointState struct {
	name string
	acc  *accumulator.Accumulator
	// baseline is true until the first successful scrape of an endpoint that existed when the receiver started
	// (see the accumulator package documentation).
	baseline bool

	// untimedBodyHash and untimedWindow give bodies without sample timestamps a window identity.
	untimedBodyHash uint64
	untimedWindow   pcommon.Timestamp
}

func newServingScraper(cfg *Config, settings receiver.Settings) *servingScraper {
	return &servingScraper{
		cfg:       cfg,
		settings:  settings,
		logger:    settings.Logger,
		endpoints: map[string]*endpointState{},
		bodies:    sync.Pool{New: func() any { return new(bytes.Buffer) }},
	}
}

func (s *servingScraper) start(ctx context.Context, host component.Host) error {
	base, err := workspaceURL(s.cfg.ClientConfig.Endpoint)
	if err != nil {
		return err
	}
	httpClient, err := s.cfg.ClientConfig.ToClient(ctx, host.GetExtensions(), s.settings.TelemetrySettings)
	if err != nil {
		return fmt.Errorf("creating the HTTP client: %w", err)
	}
	userAgent := "otelcol-databricks-servingreceiver/" + s.settings.BuildInfo.Version
	s.client = workspace.NewClient(httpClient, base, string(s.cfg.Token), userAgent)
	s.host = base.Hostname()
	return nil
}

func (s *servingScraper) shutdown(context.Context) error { return nil }

// scrape runs one collection cycle: discover endpoints, scrape them concurrently, merge the results.
// An endpoint that fails is reported in a PartialScrapeError and never holds back the others.
func (s *servingScraper) scrape(ctx context.Context) (pmetric.Metrics, error) {
	// The cycle may not outlive the interval; each request also has its own timeout.
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CollectionInterval)
	defer cancel()

	s.mu.Lock()
	defer s.mu.Unlock()
	endpoints, err := s.discover(ctx)
	if err != nil {
		return pmetric.NewMetrics(), err
	}

	now := time.Now()
	results := make([]pmetric.ResourceMetrics, len(endpoints))
	failures := make([]error, len(endpoints))
	rejected := make([]int, len(endpoints))
	slots := make(chan struct{}, s.cfg.MaxConcurrency)
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			results[i], rejected[i], failures[i] = s.scrapeEndpoint(ctx, ep, now)
		}()
	}
	wg.Wait()

	md := pmetric.NewMetrics()
	var errs scrapererror.ScrapeErrors
	for i, ep := range endpoints {
		if failures[i] != nil {
			errs.AddPartial(1, fmt.Errorf("endpoint %q: %w", ep.name, failures[i]))
			continue
		}
		if rejected[i] > 0 {
			errs.AddPartial(rejected[i], fmt.Errorf("endpoint %q: %d samples rejected", ep.name, rejected[i]))
		}
		if results[i].ScopeMetrics().At(0).Metrics().Len() > 0 {
			results[i].MoveTo(md.ResourceMetrics().AppendEmpty())
		}
	}
	return md, errs.Combine()
}

// discover returns the endpoints to scrape this cycle, in name order, creating and dropping state as endpoints
// come and go.
func (s *servingScraper) discover(ctx context.Context) ([]*endpointState, error) {
	names := s.cfg.Endpoints
	if len(names) == 0 {
		listed, err := s.client.ListEndpoints(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing serving endpoints: %w", err)
		}
		names = make([]string, 0, len(listed))
		for _, ep := range listed {
			if ep.HasMetrics() {
				names = append(names, ep.Name)
			}
		}
	}
	current := make(map[string]bool, len(names))
	out := make([]*endpointState, 0, len(names))
	for _, name := range names {
		current[name] = true
		ep, ok := s.endpoints[name]
		if !ok {
			// Endpoints present at start-up may have been counted by a previous collector; endpoints that
			// appear later are new, and their first window counts.
			ep = &endpointState{name: name, acc: accumulator.New(), baseline: !s.discoveredOnce}
			s.endpoints[name] = ep
		}
		out = append(out, ep)
	}
	for name := range s.endpoints {
		if !current[name] {
			delete(s.endpoints, name)
		}
	}
	s.discoveredOnce = true
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// scrapeEndpoint fetches, parses and converts one endpoint. It returns the endpoint's ResourceMetrics (with one
// ScopeMetrics), the number of samples rejected, or the error that failed the whole endpoint.
func (s *servingScraper) scrapeEndpoint(ctx context.Context, ep *endpointState, now time.Time) (pmetric.ResourceMetrics, int, error) {
	body := s.bodies.Get().(*bytes.Buffer)
	defer s.bodies.Put(body)
	contentType, err := s.client.FetchMetrics(ctx, ep.name, body)
	if err != nil {
		return pmetric.ResourceMetrics{}, 0, err
	}
	families, err := exposition.Parse(body.Bytes(), contentType)
	if err != nil {
		return pmetric.ResourceMetrics{}, 0, err
	}

	rm := pmetric.NewResourceMetrics()
	rb := metadata.NewResourceBuilder(s.cfg.ResourceAttributes)
	rb.SetDatabricksWorkspaceHost(s.host)
	rb.SetDatabricksServingEndpointName(ep.name)
	rb.Emit().MoveTo(rm.Resource())
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(metadata.ScopeName)
	sm.Scope().SetVersion(s.settings.BuildInfo.Version)

	ep.acc.BeginScrape(now)
	c := converter{
		acc:           ep.acc,
		metricsConfig: s.cfg.Metrics,
		scope:         sm,
		metrics:       map[string]pmetric.Metric{},
		baseline:      ep.baseline,
	}
	if hasUntimedSamples(families) {
		c.fallbackWindow = ep.windowForUntimedBody(body.Bytes(), now)
	}
	c.convertFamilies(families)
	ep.baseline = false
	ep.acc.EvictIdle(now.Add(-idleSeriesLifetime))

	if c.late > 0 {
		s.logger.Debug("Dropped windows that arrived after newer ones were counted",
			zap.String("endpoint", ep.name), zap.Int("windows", c.late))
	}
	if len(c.rejected) > 0 {
		s.logger.Warn("Rejected samples of a serving endpoint",
			zap.String("endpoint", ep.name), zap.Error(errors.Join(c.rejected...)))
	}
	return rm, len(c.rejected), nil
}

func hasUntimedSamples(families []*dto.MetricFamily) bool {
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			if m.TimestampMs == nil {
				return true
			}
		}
	}
	return false
}

// windowForUntimedBody gives samples without a timestamp a window identity. Databricks stamps its samples, but a
// proxy or a future format may not. Without a timestamp the receiver cannot tell a re-scrape of the same minute
// from the next minute, so it compares bodies: an unchanged body is the same window (nothing is added again);
// a changed body is a new window, stamped with the scrape time. Two consecutive minutes with byte-identical
// bodies are therefore counted once: in practice only idle minutes (all zero) are identical, and adding zero
// loses nothing.
func (ep *endpointState) windowForUntimedBody(body []byte, now time.Time) pcommon.Timestamp {
	h := fnv.New64a()
	_, _ = h.Write(body)
	sum := h.Sum64()
	if ep.untimedWindow != 0 && sum == ep.untimedBodyHash {
		return ep.untimedWindow
	}
	ep.untimedBodyHash = sum
	ep.untimedWindow = max(pcommon.NewTimestampFromTime(now.Truncate(time.Millisecond)), ep.untimedWindow+pcommon.Timestamp(time.Millisecond))
	return ep.untimedWindow
}
