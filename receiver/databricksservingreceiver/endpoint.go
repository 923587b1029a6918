// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

import (
	"hash/fnv"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/accumulator"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/exposition"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"
)

const (
	// maxNotFoundBackoff bounds how long an endpoint whose /metrics answered 404 waits before it is asked again.
	maxNotFoundBackoff = 30 * time.Minute
	// maxThrottleBackoff bounds the backoff after 429/503 answers without Retry-After.
	maxThrottleBackoff = 10 * time.Minute
)

// endpointState is what the receiver remembers about one endpoint between cycles.
type endpointState struct {
	name string
	acc  *accumulator.Accumulator
	// baseline is true until the first successful scrape of an endpoint that may have been counted before: one
	// present when the receiver started, or one whose state was reset (see docs/metrics.md).
	baseline    bool
	description workspace.Endpoint
	resources   endpointResources
	// describedAt is when the endpoint was last described because its metrics named an unknown served entity.
	describedAt time.Time
	// entityLabel is the label key whose value last matched a described served entity (see attribution.go).
	entityLabel string
	// series holds every output stream of the endpoint by stream key: its attributes and where it is written.
	series map[string]*seriesRef
	// evictedAt is when idle series were last looked for.
	evictedAt time.Time
	// statesWritten identifies the states last written, at statesWrittenAt (see recordStates).
	statesWritten   string
	statesWrittenAt time.Time

	// untimedBodyHash and untimedWindow give bodies without sample timestamps a window identity.
	untimedBodyHash uint64
	untimedWindow   pcommon.Timestamp

	// windows counts the windows the endpoint served that were never scraped (see missed.go); missedPending are
	// those counted and not written yet (a scrape that panicked writes them with the next).
	windows       windowTracker
	missedPending int
	// gaugeFloor is the newest window whose gauges a collector before this one may have written (restored
	// state): gauges are not saved, and writing them again would repeat a point.
	gaugeFloor pcommon.Timestamp
	// savedWindows, savedBaseline, savedUntimed and savedMark are what the last save of the state held (see
	// persist.go).
	savedWindows  windowTracker
	savedBaseline bool
	savedUntimed  pcommon.Timestamp
	savedMark     pcommon.Timestamp

	// failures counts consecutive answers that call for backoff (404, 429, 503); retryAt is when the endpoint
	// is asked again.
	failures int
	retryAt  time.Time
	// condition is the failure the endpoint is in ("" when healthy), so a failure is reported once when it
	// starts, not on every cycle.
	condition string
	// lastErrorType is the error.type of the last scrape ("" when it succeeded): what scrape.up says while the
	// endpoint waits out a backoff. upStream is the key of the scrape.up series last written.
	lastErrorType string
	upStream      string
	// limitsWritten are the limits whose databricks.serving.limit.exceeded was last written above 0.
	limitsWritten map[string]bool
}

// seriesRef is what the receiver keeps of one output stream between scrapes: its keys in the accumulator, where
// and how it is written, and its attribute set, built once when the stream first appears.
type seriesRef struct {
	// key is the stream's key: kind, resource key, then the source key (see streamKey).
	key string
	// source is the key of the Databricks series the stream writes (a suffix of key for samples; key itself for
	// the metrics the receiver computes).
	source   string
	resource *resourceTemplate
	def      metricDef
	attrs    []exposition.Label // the point attributes: the sample's labels, and the family's extra attribute
	bounds   []float64          // histograms: the bucket layout, so every bucket series gets its stale marker
	touched  time.Time          // the last scrape that saw the series
	// computed marks a metric the receiver computes, stamped with its own clock (accumulator.Series.Clock).
	computed bool
}

func (ref *seriesRef) series() accumulator.Series {
	return accumulator.Series{Source: ref.source, Stream: ref.key, Clock: ref.computed}
}

// endpointDescription is the description of an endpoint known by name alone, until discovery describes it.
func endpointDescription(name string) workspace.Endpoint { return workspace.Endpoint{Name: name} }

func newEndpointState(description workspace.Endpoint, resources endpointResources, baseline bool) *endpointState {
	return &endpointState{
		name:        description.Name,
		acc:         accumulator.New(),
		baseline:    baseline,
		description: description,
		resources:   resources,
		series:      map[string]*seriesRef{},
	}
}

// putAttributes writes the series' attributes to a point's.
func (ref *seriesRef) putAttributes(attrs pcommon.Map) {
	attrs.EnsureCapacity(len(ref.attrs))
	for _, l := range ref.attrs {
		attrs.PutStr(l.Name, l.Value)
	}
}

// evictIdle forgets the series not seen since before cutoff, in the accumulator and here. It looks at most once
// a minute: series live for idleSeriesLifetime, so looking on every scrape would only cost time. A series record
// is touched whenever its accumulator stream is (and also for samples the accumulator rejected), so sweeping the
// records by their own time covers both.
func (ep *endpointState) evictIdle(now, cutoff time.Time) {
	if now.Sub(ep.evictedAt) < time.Minute {
		return
	}
	ep.evictedAt = now
	ep.acc.EvictIdle(cutoff, nil)
	for key, ref := range ep.series {
		if ref.touched.Before(cutoff) {
			delete(ep.series, key)
		}
	}
}

// setDescription applies a new description of the endpoint. Streams of resources that no longer exist (a
// served entity removed, a new version, changed tags or id) end at once with stale markers; their sources go on
// in the new resources' streams with what they counted (see the accumulator package).
func (ep *endpointState) setDescription(desc workspace.Endpoint, resources endpointResources, stale *staleWriter) {
	resources.keepTemplatesOf(ep.resources)
	ep.description, ep.resources = desc, resources
	ep.endStreams(stale, func(ref *seriesRef) bool { return !resources.has(ref.resource) })
}

// endStreams closes the open streams that end selects, each with a stale marker (a point without a value,
// which the remote-write exporter turns into a Prometheus stale marker), so graphs and alerts stop showing them
// at once instead of after Prometheus' five-minute lookback.
func (ep *endpointState) endStreams(stale *staleWriter, end func(*seriesRef) bool) {
	for key, ref := range ep.series {
		if !end(ref) {
			continue
		}
		if at, ok := ep.acc.End(key); ok {
			stale.write(ref, at)
		}
	}
}

// reset gives the endpoint clean state after a bug (a recovered panic) left it in an unknown one: every total
// and counted window is forgotten, the next scrape is a baseline (its window may have been counted), and only
// the last timestamp of each stream is kept, so nothing is written before what was written already.
func (ep *endpointState) reset(resources endpointResources) {
	ep.acc.Reset()
	ep.resources = resources
	ep.series = map[string]*seriesRef{}
	ep.baseline = true
	ep.statesWritten = ""
	ep.untimedBodyHash, ep.untimedWindow = 0, 0
	// The window tracker is kept: minutes missed before the bug are still missed.
}

// backOff records an answer that calls for waiting and returns how long the endpoint waits: retryAfter when
// the server named a time, otherwise the collection interval doubling with every consecutive such answer, at most
// limit; jitter adds ±20 % after the first doubling so that endpoints throttled together do not return together.
func (ep *endpointState) backOff(now time.Time, interval, limit, retryAfter time.Duration, jitter bool) time.Duration {
	ep.failures++
	backoff := retryAfter
	if backoff <= 0 {
		backoff = interval
		for i := 1; i < ep.failures && backoff < limit; i++ {
			backoff *= 2
		}
		backoff = min(backoff, limit)
		if jitter && ep.failures > 1 {
			backoff = time.Duration(float64(backoff) * (0.8 + 0.4*rand.Float64())) //nolint:gosec // G404: jitter, not a secret
		}
	}
	ep.retryAt = now.Add(backoff)
	return backoff
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
