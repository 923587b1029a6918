// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/accumulator"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/discovery"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/metadata"
)

// An endpoint fails for three hours: its series are forgotten after 30 minutes, and so they are in the saved
// state. After a restart they start new streams, not the forgotten ones three hours in the past.
func TestSeriesForgottenBeforeARestartStayForgotten(t *testing.T) {
	store := newMemStorage()
	h := newLifecycleHarness(t)
	h.restart(store, nil)
	h.scrapeFor(2)
	h.mu.Lock()
	h.status = http.StatusUnauthorized
	h.mu.Unlock()
	for range 6 * 60 { // three hours of failed scrapes
		md, _ := h.s.scrape(context.Background())
		h.outputs = append(h.outputs, md)
		h.advance(30 * time.Second)
	}
	_, streams := h.s.endpoints[lifecycleEndpoint].acc.Len()
	t.Logf("streams in memory before the restart: %d", streams)
	h.restart(store, nil)
	h.mu.Lock()
	h.status = http.StatusOK
	h.mu.Unlock()
	md := h.scrape()
	for _, p := range findPoints(md, "databricks.serving.request.count", nil) {
		age := h.clock().Add(-30 * time.Second).Sub(p.ts.AsTime())
		t.Logf("point %v written %s before the scrape", p.value, age)
		assert.Less(t, age, 10*time.Minute)
	}
}

// The first scrape after a restart with saved state fails: what was restored must survive it (it counts as seen
// at the restart), so the next scrape neither counts the minute the previous collector counted nor resets the
// counter.
func TestAFailedFirstScrapeAfterARestartKeepsTheSavedState(t *testing.T) {
	store := newMemStorage()
	h := newLifecycleHarness(t)
	h.restart(store, nil)
	h.scrape() // t=30s: minute 0, baseline
	h.scrape() // t=60s: minute 1, counted and saved
	// The collector restarts 5 s after its last scrape (h.now is 90 s; go back to 65 s).
	h.advance(-25 * time.Second)
	h.restart(store, nil)
	h.mu.Lock()
	h.status = http.StatusInternalServerError
	h.mu.Unlock()
	md, _ := h.s.scrape(context.Background()) // t=65s: minute 1, fails
	h.outputs = append(h.outputs, md)
	h.advance(30 * time.Second)
	h.mu.Lock()
	h.status = http.StatusOK
	h.mu.Unlock()
	h.scrape() // t=95s: minute 1 again
	h.scrapeFor(1)

	h.requireExactTotals(map[string]bool{"champion": true})
	requireNoCounterReset(t, h.outputs)
}

// A series absent from the first body after a restart (an endpoint scaled to zero) is kept like any other
// for 30 minutes.
func TestASeriesAbsentFromTheFirstBodyAfterARestartIsKept(t *testing.T) {
	store := newMemStorage()
	h := newLifecycleHarness(t)
	h.restart(store, nil)
	h.scrapeFor(2)
	h.restart(store, nil)
	h.setBody() // scaled to zero: no samples
	h.scrape()
	h.setBody("champion")
	h.scrapeFor(2)
	h.requireExactTotals(map[string]bool{"champion": true})
	requireNoCounterReset(t, h.outputs)
}

// Bodies without timestamps get their window from the body's hash, which is saved: after a restart, the
// unchanged body of the minute the previous collector counted is not a new minute.
func TestABodyWithoutTimestampsIsNotCountedAgainAfterARestart(t *testing.T) {
	first := readBody(t, "no_timestamps.txt")
	second := strings.ReplaceAll(first, "} 37", "} 40")
	require.NotEqual(t, first, second)
	ws := newFakeWorkspace(t)
	n := 0
	ws.addEndpoint("readmission", "", func(int) (int, string, string) {
		n++
		if n == 1 {
			return 200, textFormat, first
		}
		return 200, textFormat, second
	}, "readmission_model-8")
	srv := httptest.NewServer(ws)
	defer srv.Close()
	store := newMemStorage()
	clock := time.UnixMilli(bodyTimestamp)
	start := func() *servingScraper {
		s := newTestScraper(t, srv.URL, withoutComputedMetrics)
		s.now = func() time.Time { return clock }
		s.cfg.Storage = &stateStorageID
		require.NoError(t, s.openState(context.Background(), storageHost{ext: store}, stateStorageID))
		return s
	}
	var outputs []pmetric.Metrics
	s := start()
	for range 2 { // first body: baseline; second body: a new minute, counted
		md, err := s.scrape(context.Background())
		require.NoError(t, err)
		outputs = append(outputs, md)
		clock = clock.Add(30 * time.Second)
	}
	require.NoError(t, s.shutdown(context.Background()))
	s = start()
	md, err := s.scrape(context.Background()) // the same second body
	require.NoError(t, err)
	outputs = append(outputs, md)
	total := countedTotalWhere(outputs, "databricks.serving.request.count", func(string) bool { return true })
	assert.Equal(t, 40.0, total, "the second body's 40 requests, once")
}

// Two shards, then one: the collector that takes over an endpoint from another shard may find minutes of it
// counted by the other. The selection changed since its state was saved, so the endpoints its state lacks
// start with a baseline, and nothing is written before the other collector's points.
func TestAReshardWithSavedStateNeverCountsAMinuteTwice(t *testing.T) {
	h := newLifecycleHarness(t)
	host := strings.TrimPrefix(h.srv.URL, "http://")
	other := ""
	for i := 0; ; i++ {
		name := fmt.Sprintf("other-%d", i)
		if discovery.StableHash(host, name)%2 != discovery.StableHash(host, lifecycleEndpoint)%2 {
			other = name
			break
		}
	}
	h.ws.addEndpoint(other, "", h.respond, "champion")
	ownIndex := int(discovery.StableHash(host, lifecycleEndpoint) % 2)
	h.s.cfg.Shard = discovery.ShardConfig{Count: 2, Index: ownIndex}
	store := newMemStorage()
	h.restart(store, nil)

	// Replica 1, scraping the other endpoint on the same clock.
	cfg := *h.s.cfg
	cfg.Storage = nil
	cfg.Shard = discovery.ShardConfig{Count: 2, Index: 1 - ownIndex}
	replica1 := newServingScraper(&cfg, receivertest.NewNopSettings(metadata.Type))
	require.NoError(t, replica1.start(context.Background(), componenttest.NewNopHost()))
	replica1.now = h.clock
	var outputs []pmetric.Metrics
	for range 3 { // t = 30 s, 60 s, 90 s (minute 1 counted by replica 1 at 60 s)
		md, err := replica1.scrape(context.Background())
		require.NoError(t, err)
		outputs = append(outputs, md)
		h.scrape()
	}
	// Both are rolled with shard.count 1 at t = 95 s, still minute 1.
	h.advance(-25 * time.Second)
	h.s.cfg.Shard = discovery.ShardConfig{Count: 1}
	h.restart(store, nil)
	h.scrapeFor(1)
	outputs = append(outputs, h.outputs...)

	t.Run("ascend", func(t *testing.T) { requireStreamsAscend(t, outputs, "databricks.serving.request.count") })
	otherTotal := countedTotalWhere(outputs, "databricks.serving.request.count", func(stream string) bool {
		return strings.Contains(stream, "databricks.serving.endpoint.name:"+other+" ")
	})
	// Replica 1 served minutes 0 (baseline), 1; replica 0 then minutes 1 (again), 2.
	want := requests("champion", bodyTimestamp+60_000) + requests("champion", bodyTimestamp+120_000)
	require.Equal(t, want, otherTotal, "minute 1 of %s was counted by both collectors", other)
}

// Minutes that failed scrapes missed before a scrape that panicked are still counted as missed: the reset
// keeps the window tracker.
func TestMinutesMissedBeforeAPanicAreStillCounted(t *testing.T) {
	h := newLifecycleHarness(t)
	h.scrapeFor(1) // t=30 s (minute 0), t=60 s (minute 1)
	h.mu.Lock()
	h.status = http.StatusInternalServerError
	h.mu.Unlock()
	for range 5 { // t=90..210 s: minutes 1, 2, 2, 3, 3 all fail
		md, _ := h.s.scrape(context.Background())
		h.outputs = append(h.outputs, md)
		h.advance(30e9)
	}
	h.mu.Lock()
	h.status = http.StatusOK
	h.mu.Unlock()
	h.s.endpoints[lifecycleEndpoint].resources.endpoint = nil // any bug: the scrape of minute 4 panics
	md, _ := h.s.scrape(context.Background())
	h.outputs = append(h.outputs, md)
	h.advance(30e9)
	h.scrapeFor(2)
	assert.Equal(t, 2, h.unservedWindows("champion"), "minutes 2 and 3 were never served")
	assert.Equal(t, 2.0, countedTotalWhere(h.outputs, "databricks.serving.windows.missed", func(string) bool { return true }))
}

// Receivers that stop before their first discovery must not make old state look new: after four of them, 25
// minutes apart, the state saved two hours ago by the last receiver that scraped is not resumed.
func TestAStartWithoutDiscoveryDoesNotRefreshTheStatesAge(t *testing.T) {
	store := newMemStorage()
	h := newLifecycleHarness(t)
	h.restart(store, nil)
	h.scrapeFor(2) // the last minutes anyone counted
	for range 4 {  // four short-lived collectors, each stopped before its first cycle
		h.advance(25 * time.Minute)
		h.restart(store, nil)
	}
	require.NoError(t, h.s.shutdown(context.Background()))
	h.s.store = nil
	h.advance(25 * time.Minute)
	h.restart(store, nil)
	md := h.scrape()
	assert.Empty(t, findPoints(md, "databricks.serving.request.count", nil),
		"no two-hour-old total is resumed: the first minute is a baseline")
}

// The table of contents saves, every cycle, the latest timestamp the receiver wrote (scrape health included),
// so a collector that restarts at once writes nothing at or before it, even for an endpoint whose own saved
// state did not change in the last cycles.
func TestARestartWritesNothingBeforeWhatThePreviousCollectorWrote(t *testing.T) {
	store := newMemStorage()
	h := newLifecycleHarness(t)
	h.restart(store, nil)
	h.scrapeFor(1)
	h.scrape() // minute 1 again: scrape health is written, the endpoint's own state does not change
	require.NoError(t, h.s.shutdown(context.Background()))
	h.s.store = nil
	var latest pcommon.Timestamp
	for _, p := range pointsOf(h.outputs, "databricks.serving.scrape.up") {
		latest = max(latest, p.ts)
	}
	var meta stateMeta
	require.NoError(t, json.Unmarshal(store.data[stateMetaKey], &meta))
	assert.GreaterOrEqual(t, pcommon.Timestamp(meta.WrittenUpToNanos), latest)

	// The next collector's first scrape stamped no later than the last one (a cycle's queueing delay).
	h.advance(-30 * time.Second)
	h.restart(store, nil)
	h.scrape()
	requireStreamsAscend(t, h.outputs, "databricks.serving.scrape.up", "databricks.serving.cpu.utilization")
}

// A collector stopped just after a minute ended, before the endpoint published that minute: its last cycle
// wrote scrape health after the minute's timestamp. The next collector writes the minute's gauges at the
// minute's timestamp all the same: what a receiver stamps with its own clock does not delay the samples Databricks
// stamped (only a point of the same series could, and none was written).
func TestScrapeHealthWrittenAfterAMinuteEndedDoesNotDelayItsGaugesAfterARestart(t *testing.T) {
	store := newMemStorage()
	h := newLifecycleHarness(t)
	h.restart(store, nil)
	h.scrapeFor(1) // minutes 0 (baseline) and 1 at t = 30 s and 60 s
	// t = 120.069 s: minute 2 has ended, the endpoint still serves minute 1.
	h.advance(30*time.Second + 69*time.Millisecond)
	h.mu.Lock()
	h.lag = time.Second
	h.mu.Unlock()
	h.scrape()
	require.NoError(t, h.s.shutdown(context.Background()))
	h.s.store = nil

	// The next collector, 431 ms later: minute 2 is published now.
	h.advance(-30*time.Second + 431*time.Millisecond)
	h.mu.Lock()
	h.lag = 0
	h.mu.Unlock()
	h.restart(store, nil)
	md := h.scrape()
	minute2 := pcommon.Timestamp(time.Duration(bodyTimestamp+120_000) * time.Millisecond)
	points := findPoints(md, "databricks.serving.cpu.utilization", nil)
	require.Len(t, points, 1, "minute 2's gauge")
	assert.Equal(t, minute2.AsTime(), points[0].ts.AsTime(), "the gauge of minute 2 is stamped with minute 2")
	requireStreamsAscend(t, h.outputs, "databricks.serving.scrape.up", "databricks.serving.cpu.utilization",
		"databricks.serving.request.count")
	h.requireExactTotals(map[string]bool{"champion": true})
	requireNoCounterReset(t, h.outputs)
}

// A gauge family turns into a summary after a minute ended and before the endpoint published it: the gauge's
// stream ends with a stale marker stamped after that minute, and nothing the receiver counts changed. The marker
// is saved all the same, so when the family turns back into a gauge after a restart, the gauge goes on after
// its marker instead of before it (which Prometheus would reject as out of order).
func TestAStaleMarkerWrittenAfterAMinuteEndedIsSavedForTheNextCollector(t *testing.T) {
	store := newMemStorage()
	h := newLifecycleHarness(t)
	summary := false
	h.extra = func(ts int64) string {
		if summary {
			return fmt.Sprintf("# TYPE queue_depth summary\nqueue_depth{quantile=\"0.5\"} 3 %d\nqueue_depth_sum 9 %d\nqueue_depth_count 3 %d\n", ts, ts, ts)
		}
		return fmt.Sprintf("# TYPE queue_depth gauge\nqueue_depth 3 %d\n", ts)
	}
	h.restart(store, nil)
	h.scrapeFor(1) // t = 30 s (minute 0), 60 s (minute 1)
	h.scrape()     // t = 90 s, minute 1 again
	// t = 130 s: minute 2 has ended, the endpoint still serves minute 1, as a summary now.
	h.advance(10 * time.Second)
	h.mu.Lock()
	h.lag, summary = 20*time.Second, true
	h.mu.Unlock()
	h.scrape()
	require.NoError(t, h.s.shutdown(context.Background()))
	h.s.store = nil

	// The next collector, 2 s later: minute 2 is published, as a gauge again.
	h.advance(-28 * time.Second)
	h.mu.Lock()
	h.lag, summary = 0, false
	h.mu.Unlock()
	h.restart(store, nil)
	h.scrape()
	gauge := pointsOf(h.outputs, "databricks.serving.unmapped.queue_depth")
	require.NotEmpty(t, gauge)
	requireStreamsAscend(t, h.outputs, "databricks.serving.unmapped.queue_depth")
	last := gauge[len(gauge)-1]
	assert.False(t, last.noValue, "the last point is minute 2's gauge")
}

// A cycle that sees no new minute (a re-scrape) writes the scrape health and nothing else: the saved state of
// the endpoint is not written again, only the table of contents (which holds the receiver's own clock mark).
func TestAReScrapeDoesNotRewriteAnEndpointsSavedState(t *testing.T) {
	store := newMemStorage()
	h := newLifecycleHarness(t)
	h.restart(store, nil)
	h.scrapeFor(2) // t = 30 s … 120 s: minutes 0, 1, 1, 2
	entry := string(store.data[stateEndpointKey+lifecycleEndpoint])
	require.NotEmpty(t, entry)
	h.scrape() // t = 150 s: minute 2 again
	assert.Equal(t, entry, string(store.data[stateEndpointKey+lifecycleEndpoint]), "the endpoint's saved state")
	// Also after a restart, whose first cycle resumes every stream.
	h.advance(5 * time.Second)
	h.restart(store, nil)
	h.scrape() // t = 185 s: minute 3, saved
	entry = string(store.data[stateEndpointKey+lifecycleEndpoint])
	h.scrape() // t = 215 s: minute 3 again
	assert.Equal(t, entry, string(store.data[stateEndpointKey+lifecycleEndpoint]), "the endpoint's saved state after a restart")
}

// An endpoint saved before its entry had a mark of its own for Databricks' samples (flag bit 1 clear) starts
// every series after the table of contents' mark, as such state always did.
func TestAnEndpointSavedWithoutASamplesMarkStartsAfterTheTablesMark(t *testing.T) {
	store := newMemStorage()
	h := newLifecycleHarness(t)
	h.restart(store, nil)
	h.scrapeFor(1)
	raw := store.data[stateEndpointKey+lifecycleEndpoint]
	require.NotZero(t, raw[len(endpointStateMagic)]&samplesMarkFlag, "a new entry has its own mark")
	ep, _, err := decodeEndpointState(lifecycleEndpoint, raw, h.clock(), 0)
	require.NoError(t, err)
	samples, _ := ep.acc.WrittenUpTo()
	clockMark := samples + pcommon.Timestamp(time.Minute)

	ep, _, err = decodeEndpointState(lifecycleEndpoint, raw, h.clock(), clockMark)
	require.NoError(t, err)
	got, all := ep.acc.WrittenUpTo()
	assert.Equal(t, samples, got, "a new entry's own mark holds for its samples")
	assert.Equal(t, clockMark, all, "the table's mark holds for the metrics the receiver computes")
	next := samples + pcommon.Timestamp(time.Second) // a new sample series' first window
	gauge := accumulator.Series{Source: "new", Stream: "new"}
	assert.Equal(t, next, ep.acc.AddGauge(gauge, accumulator.KindGauge, next).Timestamp)

	old := append([]byte(nil), raw...)
	old[len(endpointStateMagic)] &^= samplesMarkFlag
	ep, _, err = decodeEndpointState(lifecycleEndpoint, old, h.clock(), clockMark)
	require.NoError(t, err)
	got, _ = ep.acc.WrittenUpTo()
	assert.Equal(t, clockMark, got, "an old entry's samples start after the table's mark")
	assert.Equal(t, clockMark+pcommon.Timestamp(time.Millisecond), ep.acc.AddGauge(gauge, accumulator.KindGauge, next).Timestamp)
}
