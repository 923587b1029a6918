// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/metadata"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"
)

// memStorage is an in-memory storage extension: what file_storage keeps on disk, kept across receiver instances
// of one test. Batches apply atomically, like file_storage's transactions; failing makes them fail, and held
// makes GetClient fail the way a state file locked by another collector does. Each client name is a file of its
// own in file_storage: here the unnamed client's keys are kept as they are, a named client's under "name|".
type memStorage struct {
	component.StartFunc
	component.ShutdownFunc
	mu      sync.Mutex
	data    map[string][]byte
	failing bool
	held    bool            // the unnamed client is open
	named   map[string]bool // the named clients that are open
	openErr error           // GetClient's error, as for a corrupt file
	batches int
	written int // bytes of values written
}

func newMemStorage() *memStorage {
	return &memStorage{data: map[string][]byte{}, named: map[string]bool{}}
}

func (m *memStorage) GetClient(_ context.Context, _ component.Kind, _ component.ID, name string) (storage.Client, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.held && name == "" || m.named[name] {
		return nil, errors.New("timeout")
	}
	if m.openErr != nil {
		return nil, m.openErr
	}
	if name == "" {
		m.held = true
		return &memClient{m: m}, nil
	}
	m.named[name] = true
	return &memClient{m: m, name: name, prefix: name + "|"}, nil
}

type memClient struct {
	m            *memStorage
	name, prefix string
}

func (c *memClient) Get(_ context.Context, key string) ([]byte, error) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	return c.m.data[c.prefix+key], nil
}

func (c *memClient) Set(ctx context.Context, key string, value []byte) error {
	return c.Batch(ctx, storage.SetOperation(key, value))
}

func (c *memClient) Delete(ctx context.Context, key string) error {
	return c.Batch(ctx, storage.DeleteOperation(key))
}

func (c *memClient) Batch(_ context.Context, ops ...*storage.Operation) error {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	if c.m.failing {
		return errors.New("no space left on device")
	}
	c.m.batches++
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			op.Value = c.m.data[c.prefix+op.Key]
		case storage.Set:
			c.m.data[c.prefix+op.Key] = append([]byte(nil), op.Value...)
			c.m.written += len(op.Value)
		case storage.Delete:
			delete(c.m.data, c.prefix+op.Key)
		}
	}
	return nil
}

func (c *memClient) Close(context.Context) error {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	if c.name == "" {
		c.m.held = false
	}
	delete(c.m.named, c.name)
	return nil
}

// storageHost is a component.Host with one storage extension.
type storageHost struct{ ext *memStorage }

var stateStorageID = component.MustNewID("file_storage")

func (h storageHost) GetExtensions() map[component.ID]component.Component {
	return map[component.ID]component.Component{stateStorageID: h.ext}
}

// restart replaces the harness' receiver with a new instance that saves its state in store, as a collector that
// restarts does (nil: a receiver without storage). The clock and the workspace go on.
func (h *lifecycleHarness) restart(store *memStorage, logger *zap.Logger) {
	h.t.Helper()
	if h.s.store != nil {
		require.NoError(h.t, h.s.shutdown(context.Background()))
	}
	cfg := *h.s.cfg
	cfg.Storage = nil
	if store != nil {
		cfg.Storage = &stateStorageID
	}
	settings := receivertest.NewNopSettings(metadata.Type)
	if logger != nil {
		settings.Logger = logger
	}
	s := newServingScraper(&cfg, settings)
	s.now = h.clock
	require.NoError(h.t, s.start(context.Background(), storageHost{ext: store}))
	h.s = s
}

// requireNoCounterReset checks that across every scrape, the request counter of each stream never goes down and
// keeps its start timestamp: one continuous counter.
func requireNoCounterReset(t *testing.T, outputs []pmetric.Metrics) {
	t.Helper()
	type last struct {
		value float64
		start uint64
	}
	seen := map[string]last{}
	for _, md := range outputs {
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			rm := md.ResourceMetrics().At(i)
			ms := rm.ScopeMetrics().At(0).Metrics()
			for j := 0; j < ms.Len(); j++ {
				m := ms.At(j)
				if m.Name() != "databricks.serving.request.count" {
					continue
				}
				for k := 0; k < m.Sum().DataPoints().Len(); k++ {
					dp := m.Sum().DataPoints().At(k)
					key := fingerprint(rm.Resource().Attributes()) + fingerprint(dp.Attributes())
					if prev, ok := seen[key]; ok {
						require.GreaterOrEqual(t, dp.DoubleValue(), prev.value, "%s: the counter went down", key)
						require.Equal(t, prev.start, uint64(dp.StartTimestamp()), "%s: the counter started again", key)
					}
					seen[key] = last{value: dp.DoubleValue(), start: uint64(dp.StartTimestamp())}
				}
			}
		}
	}
}

func TestARestartWithSavedStateLosesNoWindowAndResetsNoCounter(t *testing.T) {
	for _, downtime := range []time.Duration{0, 2 * time.Second, 30 * time.Second} {
		t.Run("down "+downtime.String(), func(t *testing.T) {
			store := newMemStorage()
			h := newLifecycleHarness(t)
			h.restart(store, nil)
			h.scrapeFor(3)
			for range 3 { // three restarts, each within the minute
				h.advance(downtime)
				h.restart(store, nil)
				h.scrapeFor(2)
			}
			h.requireExactTotals(map[string]bool{"champion": true}) // one baseline: the first start
			requireNoCounterReset(t, h.outputs)
			assert.Zero(t, countedTotalWhere(h.outputs, "databricks.serving.windows.missed", func(string) bool { return true }))
		})
	}
}

func TestMinutesWhileNoCollectorRanAreMissedWindows(t *testing.T) {
	store := newMemStorage()
	h := newLifecycleHarness(t)
	h.restart(store, nil)
	h.scrapeFor(2)
	h.advance(5 * time.Minute) // the collector is down for five minutes: minutes 3 to 6 are never served
	h.restart(store, nil)
	h.scrapeFor(2)
	require.Equal(t, 4, h.unservedWindows("champion"))
	assert.Equal(t, 4.0, countedTotalWhere(h.outputs, "databricks.serving.windows.missed", func(string) bool { return true }))
	h.requireExactTotals(map[string]bool{"champion": true})
	requireNoCounterReset(t, h.outputs)
}

// TestARestartAtEveryPointOfACycle crashes the receiver before a cycle's save, after it (the cycle's metrics
// never reach the pipeline), and during it (the storage fails the write), and checks what each costs: nothing
// is ever counted twice.
func TestARestartAtEveryPointOfACycle(t *testing.T) {
	t.Run("before the save: the next collector counts the cycle's windows", func(t *testing.T) {
		store := newMemStorage()
		h := newLifecycleHarness(t)
		h.restart(store, nil)
		h.scrapeFor(2)
		h.advance(30 * time.Second) // a new minute...
		h.s.mu.Lock()
		_, _, ok := h.s.collect(context.Background(), h.clock()) // ...collected, then a crash: no save, no delivery
		h.s.mu.Unlock()
		require.True(t, ok)
		h.restart(store, nil)
		h.scrapeFor(2)
		h.requireExactTotals(map[string]bool{"champion": true})
		requireNoCounterReset(t, h.outputs)
	})
	t.Run("after the save: counted once, and the next collector's first point carries it", func(t *testing.T) {
		store := newMemStorage()
		h := newLifecycleHarness(t)
		h.restart(store, nil)
		h.scrapeFor(2)
		h.mu.Lock()
		h.now = h.now.Add(30 * time.Second)
		lost := float64(h.window())
		h.mu.Unlock()
		_, err := h.s.scrape(context.Background()) // saved, then a crash before the pipeline got the metrics
		require.NoError(t, err)
		delivered := countedTotal(h.outputs, "databricks.serving.request.count", "champion")
		h.restart(store, nil)
		md := h.scrape()
		resumed := findPoints(md, "databricks.serving.request.count", nil)
		require.NotEmpty(t, resumed)
		assert.Equal(t, delivered+requests("champion", int64(lost)), resumed[0].value,
			"the saved total, which counted the lost cycle's window, is the first point: a counter's increase() sees it")
		h.scrapeFor(2)
		h.requireExactTotals(map[string]bool{"champion": true})
		requireNoCounterReset(t, h.outputs)
	})
	t.Run("during the save: the failure is reported once, and saving resumes", func(t *testing.T) {
		store := newMemStorage()
		h := newLifecycleHarness(t)
		h.restart(store, nil)
		h.scrapeFor(1)
		store.mu.Lock()
		store.failing = true
		store.mu.Unlock()
		var reported []error
		for range 4 {
			md, err := h.s.scrape(context.Background())
			h.outputs = append(h.outputs, md)
			h.advance(30 * time.Second)
			if err != nil {
				reported = append(reported, err)
			}
		}
		require.Len(t, reported, 1, "a lasting failure is reported once")
		assert.Contains(t, reported[0].Error(), "saving the receiver's state")
		assert.Contains(t, reported[0].Error(), "no space left on device")
		store.mu.Lock()
		store.failing = false
		store.mu.Unlock()
		h.scrapeFor(1) // saved again
		h.restart(store, nil)
		h.scrapeFor(2)
		h.requireExactTotals(map[string]bool{"champion": true})
		requireNoCounterReset(t, h.outputs)
	})
}

func TestUnusableStateIsDiscardedWithOneLogLine(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(store *memStorage, h *lifecycleHarness)
		want    string
	}{
		{"another format version", func(store *memStorage, _ *lifecycleHarness) {
			store.data[stateMetaKey] = []byte(strings.Replace(string(store.data[stateMetaKey]), `"version":1`, `"version":0`, 1))
		}, "format version 0"},
		{"another workspace", func(store *memStorage, _ *lifecycleHarness) {
			store.data[stateMetaKey] = []byte(strings.Replace(string(store.data[stateMetaKey]), `"workspace_host":"`, `"workspace_host":"other-`, 1))
		}, "belongs to the workspace"},
		{"unreadable", func(store *memStorage, _ *lifecycleHarness) {
			store.data[stateMetaKey] = []byte("{not json")
		}, "unreadable"},
		{"too old", func(_ *memStorage, h *lifecycleHarness) {
			h.now = h.now.Add(stateMaxAge + time.Minute)
		}, "older than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newMemStorage()
			h := newLifecycleHarness(t)
			h.restart(store, nil)
			h.scrapeFor(2)
			require.NoError(t, h.s.shutdown(context.Background()))
			h.s.store = nil
			h.mu.Lock()
			tt.corrupt(store, h)
			h.mu.Unlock()
			core, logs := observer.New(zap.InfoLevel)
			h.restart(store, zap.New(core))
			discarded := logs.FilterMessageSnippet("Discarding the receiver's saved state").All()
			require.Len(t, discarded, 1)
			assert.Contains(t, discarded[0].Message, tt.want)
			// Without usable state the first start's rule applies: the first minute is a baseline.
			md := h.scrape()
			assert.Empty(t, findPoints(md, "databricks.serving.request.count", nil), "the first minute is a baseline")
			h.scrapeFor(2)
			requireStreamsAscend(t, h.outputs[len(h.outputs)-5:], "databricks.serving.request.count")
		})
	}
}

func TestACorruptEndpointStateIsDiscardedAlone(t *testing.T) {
	store := newMemStorage()
	h := newLifecycleHarness(t)
	h.ws.addEndpoint("other", "", h.respond, "champion")
	h.restart(store, nil)
	h.scrapeFor(2)
	require.NoError(t, h.s.shutdown(context.Background()))
	h.s.store = nil
	store.data[stateEndpointKey+"other"] = []byte("dbs1\x00\x00\x00\x00\x00\x00\x00garbage01garbage")
	core, logs := observer.New(zap.InfoLevel)
	h.restart(store, zap.New(core))
	require.Len(t, logs.FilterMessageSnippet("Discarding the saved state of a serving endpoint").All(), 1)
	md := h.scrape()
	assert.NotEmpty(t, findPoints(md, "databricks.serving.request.count", map[string]string{"databricks.serving.endpoint.name": lifecycleEndpoint}),
		"the endpoint whose state was read goes on: its saved total is written first")
	assert.Empty(t, findPoints(md, "databricks.serving.request.count", map[string]string{"databricks.serving.endpoint.name": "other"}),
		"the other starts with a baseline")
}

func TestTwoCollectorsNeverShareOneState(t *testing.T) {
	store := newMemStorage()
	h := newLifecycleHarness(t)
	h.restart(store, nil)
	cfg := *h.s.cfg
	cfg.Storage = &stateStorageID
	second := newServingScraper(&cfg, receivertest.NewNopSettings(metadata.Type))
	err := second.start(context.Background(), storageHost{ext: store})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "storage:")
	assert.Contains(t, err.Error(), "two collectors must never share one state")
}

func TestStorageThatIsNotConfiguredFailsTheStart(t *testing.T) {
	h := newLifecycleHarness(t)
	cfg := *h.s.cfg
	missing := component.MustNewIDWithName("file_storage", "missing")
	cfg.Storage = &missing
	s := newServingScraper(&cfg, receivertest.NewNopSettings(metadata.Type))
	err := s.start(context.Background(), storageHost{ext: newMemStorage()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `storage: extension "file_storage/missing" is not configured`)
}

func TestAnEndpointThatLeftBeforeARestartGoesOnWhenItReturns(t *testing.T) {
	store := newMemStorage()
	h := newLifecycleHarness(t)
	h.restart(store, nil)
	h.scrapeFor(2)
	listed := h.ws.endpoint(lifecycleEndpoint)
	h.ws.removeEndpoint(lifecycleEndpoint)
	h.scrapeFor(1)
	h.restart(store, nil)
	h.scrapeFor(1)
	h.ws.mu.Lock()
	h.ws.endpoints = append(h.ws.endpoints, listed)
	h.ws.respond[lifecycleEndpoint] = h.respond
	h.ws.mu.Unlock()
	h.scrapeFor(2)
	h.requireExactTotals(map[string]bool{"champion": true})
}

// TestSavedStateIsSmall measures what a cycle writes for a thousand endpoints like the realistic CPU body: the
// state must not cost megabytes a cycle.
func TestSavedStateIsSmall(t *testing.T) {
	body := readBody(t, "cpu_endpoint.txt")
	cfg := createDefaultConfig().(*Config)
	scraper := newServingScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	endpoints := map[string]*endpointState{}
	for i := range 1000 {
		desc := endpointDescription("endpoint-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26))
		desc.Config.ServedEntities = append(desc.Config.ServedEntities, workspace.ServedEntity{Name: "readmission_model-8"})
		ep := newEndpointState(desc, newEndpointResources(cfg.ResourceAttributes, workspaceIdentity{host: "adb-1234567890123456.7.azuredatabricks.net"}, desc), false)
		for minute := range 2 {
			md := pmetric.NewMetrics()
			c := newConverter(ep, cfg, "test", md.ResourceMetrics(), time.UnixMilli(bodyTimestamp).Add(time.Duration(minute)*time.Minute))
			require.NoError(t, scraper.convertBody(context.Background(), ep, c, []byte(shiftWindow(body, minute)), textFormat, c.now))
		}
		endpoints[desc.Name] = ep
	}
	store := newMemStorage()
	client, err := store.GetClient(context.Background(), component.KindReceiver, stateStorageID, "")
	require.NoError(t, err)
	st := newStateStore(client, stateStorageID, "adb", "", zap.NewNop())
	require.NoError(t, st.save(context.Background(), endpoints, nil, true, true, time.Now()))
	perEndpoint := store.written / len(endpoints)
	t.Logf("a cycle in which every one of 1000 endpoints counted a new minute writes %d bytes (%d per endpoint)", store.written, perEndpoint)
	assert.Less(t, store.written, 1<<20, "less than a megabyte for a thousand endpoints")
	before := store.written
	require.NoError(t, st.save(context.Background(), endpoints, nil, true, true, time.Now()))
	assert.Less(t, store.written-before, 64<<10, "a cycle without new minutes writes the table of contents only")
}

func TestACorruptStateFileNeverStopsTheCollector(t *testing.T) {
	store := newMemStorage()
	store.openErr = errors.New("invalid database")
	h := newLifecycleHarness(t)
	core, logs := observer.New(zap.InfoLevel)
	h.restart(store, zap.New(core))
	require.Len(t, logs.FilterMessageSnippet("running without it").All(), 1)
	assert.Nil(t, h.s.store)
	h.scrapeFor(2)
	h.requireExactTotals(map[string]bool{"champion": true})
}

// savedEndpoints returns the endpoints the saved table of contents lists and those whose state the storage
// holds.
func savedEndpoints(t *testing.T, store *memStorage) (listed, held []string) {
	t.Helper()
	store.mu.Lock()
	defer store.mu.Unlock()
	var meta stateMeta
	require.NoError(t, json.Unmarshal(store.data[stateMetaKey], &meta))
	for key := range store.data {
		if name, ok := strings.CutPrefix(key, stateEndpointKey); ok {
			held = append(held, name)
		}
	}
	slices.Sort(held)
	return meta.Endpoints, held
}

// TestTheSavedStateOfAnEndpointThatLeftIsPrunedAfterTheIdleBound: the saved state of an endpoint that left the
// list is kept, as its state in memory is, for idleSeriesLifetime after it left (it may come back), then dropped
// from storage, its table-of-contents entry included. A restart in between does not start the bound again.
func TestTheSavedStateOfAnEndpointThatLeftIsPrunedAfterTheIdleBound(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart in between %v", restart), func(t *testing.T) {
			store := newMemStorage()
			h := newLifecycleHarness(t)
			h.ws.addEndpoint("other", "", h.respond, "champion")
			h.restart(store, nil)
			h.scrapeFor(2)
			both := []string{"other", lifecycleEndpoint}
			listed, held := savedEndpoints(t, store)
			require.Equal(t, both, listed)
			require.Equal(t, both, held)

			h.ws.removeEndpoint("other")
			for range 2 { // the next discovery (every minute) sees it gone
				h.scrape()
			}
			gone, ok := h.s.removed["other"]
			require.True(t, ok, "the receiver saw the endpoint leave")
			left := gone.at
			store.mu.Lock()
			_, savedLeft, err := decodeEndpointState("other", store.data[stateEndpointKey+"other"], h.clock(), 0)
			store.mu.Unlock()
			require.NoError(t, err)
			require.True(t, left.Equal(savedLeft), "the saved state records when it left: %v, want %v", savedLeft, left)

			restarted := false
			for h.clock().Sub(left) <= idleSeriesLifetime {
				if restart && !restarted && h.clock().Sub(left) >= 10*time.Minute {
					h.restart(store, nil)
					restarted = true
				}
				h.scrape() // at the bound at the latest: still kept
				stillListed, stillHeld := savedEndpoints(t, store)
				require.Equal(t, both, stillListed, "%s after it left: the table of contents still lists it", h.clock().Add(-30*time.Second).Sub(left))
				require.Equal(t, both, stillHeld, "%s after it left: its state is still saved", h.clock().Add(-30*time.Second).Sub(left))
			}
			require.Equal(t, restart, restarted)

			// The first discovery after the bound forgets it, in memory and in storage.
			lists := h.ws.requestsFor("list")
			for range 2 {
				if h.ws.requestsFor("list") > lists {
					break
				}
				h.scrape()
			}
			require.Greater(t, h.ws.requestsFor("list"), lists, "a discovery ran after the bound")
			_, kept := h.s.removed["other"]
			assert.False(t, kept, "forgotten in memory")
			listed, held = savedEndpoints(t, store)
			assert.Equal(t, []string{lifecycleEndpoint}, listed, "the table of contents no longer lists it")
			assert.Equal(t, []string{lifecycleEndpoint}, held, "its saved state is deleted")

			// And a restart does not bring it back.
			h.restart(store, nil)
			h.scrape()
			listed, held = savedEndpoints(t, store)
			assert.Equal(t, []string{lifecycleEndpoint}, listed)
			assert.Equal(t, []string{lifecycleEndpoint}, held)
		})
	}
}
