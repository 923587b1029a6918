// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/discovery"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"
)

// FuzzLifecycle plays random sequences of what happens to a serving endpoint (scrapes, skipped and failed
// scrapes, served entities added, described late and removed, version, size, tag and id changes, the endpoint
// leaving the list and returning, a family changing type, scale to zero, receiver restarts with saved state and
// with the state lost) against a model workspace that keeps its own truth, and checks the property the receiver
// promises: for every Databricks series, the sum over its output streams (as a backend sees them, across
// restarts) equals the windows served, less the baseline window of each start without saved state, and the
// missed-window count equals the windows that were never scraped. Every stream's points also ascend, across
// restarts with saved state.
func FuzzLifecycle(f *testing.F) {
	for _, seed := range []string{
		"\x00\x00\x00\x08\x00\x00\x0c\x00\x00",         // a new entity, then a version bump
		"\x00\x00\x09\x00\x00\x0a\x00\x00",             // an entity the description lacks, then described
		"\x00\x00\x0d\x00\x00\x0d\x00\x00",             // leaves the list and returns
		"\x00\x0e\x00\x0e\x00\x0e\x00\x0e\x00\x0e\x00", // the custom family cycles through its types
		"\x00\x00\x07\x00\x06\x06\x00\x00\x0f\x00\x00", // failed and skipped scrapes, a restart
		"\x00\x08\x00\x0b\x00\x1c\x00\x2c\x00\x3c\x00", // entity removed; size, tag and id changes
		"\x00\x16\x00\x00\x16\x00\x0d\x0f\x0d\x00\x00", // scale to zero and back; restart with state while away
		"\x00\x00\x08\x00\x0f\x00\x1f\x00\x0f\x06\x00", // restarts with state, with the state lost, with state
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 80 {
			ops = ops[:80]
		}
		m := newLifecycleModel(t)
		for _, op := range ops {
			m.apply(op)
		}
		m.check()
	})
}

// modelSeries names a Databricks series of the model: an entity's request counter, or the custom family as a
// counter.
const customCounter = "custom_score as a counter"

type modelEntity struct {
	name, version, size string
	described           bool
}

// lifecycleModel is the model workspace: one endpoint whose description and body the ops change, served
// in-process to a receiver instance; a restart replaces the instance.
type lifecycleModel struct {
	t        *testing.T
	now      time.Time
	entities []modelEntity
	nextName int
	listed   bool
	id, tag  int
	failNext bool
	scaled   bool
	custom   string // the custom family's type, "" when absent

	store     *memStorage // the receivers' saved state, kept across restarts
	instances []*modelInstance
	// counted is the truth a backend must add up to: per series, every window served to an instance that was
	// not taking its baseline, once, whichever instance it was served to.
	counted map[string]map[int64]float64
}

// modelInstance is one receiver instance and what the model served to it.
type modelInstance struct {
	s               *servingScraper
	outputs         []pmetric.Metrics
	scraped         bool // its first cycle ran (and so its first discovery)
	baselinePending bool
	floor           map[string]int64 // per series, the baseline window of an instance that took one
	lastSeen        int64            // newest window served while the receiver watched without a break
	missed          int
	awayScraped     bool // a cycle ran while the endpoint was not listed
	// resumed is true when the instance started from its predecessor's saved state: a backend sees its
	// streams go on, so their points must ascend across the restart.
	resumed bool
}

func newLifecycleModel(t *testing.T) *lifecycleModel {
	m := &lifecycleModel{
		t: t, now: time.UnixMilli(bodyTimestamp).Add(30 * time.Second), listed: true,
		entities: []modelEntity{{name: "e0", version: "1", size: "Small", described: true}}, nextName: 1,
		store: newMemStorage(), counted: map[string]map[int64]float64{},
	}
	m.restart(false)
	return m
}

func (m *lifecycleModel) current() *modelInstance { return m.instances[len(m.instances)-1] }

// restart starts a new receiver instance on the model, reached in-process, saving its state in the model's
// storage. withState keeps what the instance before it saved (it shuts down as a collector does on SIGTERM);
// otherwise the state is lost.
func (m *lifecycleModel) restart(withState bool) {
	inst := &modelInstance{floor: map[string]int64{}}
	if len(m.instances) > 0 {
		previous := m.current()
		if err := previous.s.shutdown(context.Background()); err != nil {
			m.t.Fatal(err)
		}
		if withState {
			// Saved state carries on what the instance knew: its baseline (still pending if it had no
			// answer yet), and the newest window it saw.
			inst.resumed = true
			inst.lastSeen, inst.floor = previous.lastSeen, previous.floor
			inst.scraped, inst.baselinePending, inst.awayScraped = previous.scraped, previous.baselinePending, previous.awayScraped
		} else {
			m.store.data = map[string][]byte{}
		}
	}
	s := newTestScraper(m.t, "http://127.0.0.1:1", func(c *Config) {
		c.Discovery.RefreshInterval = 30 * time.Second
		c.CollectionInterval = 30 * time.Second
	})
	base, _ := url.Parse("http://127.0.0.1:1")
	s.client = workspace.NewClient(&http.Client{Transport: handlerTransport{m}}, base, workspace.StaticToken(testToken), "fuzz", s.cfg.Limits.MaxBodyBytes)
	s.finder = discovery.New(s.client, s.cfg.Discovery, s.cfg.Shard, nil, s.host, s.cfg.MaxConcurrency, s.cfg.CollectionInterval, s.logger)
	s.now = func() time.Time { return m.now }
	// What start does with `storage:` set, on the model's storage.
	s.cfg.Storage = &stateStorageID
	if err := s.openState(context.Background(), storageHost{ext: m.store}, stateStorageID); err != nil {
		m.t.Fatal(err)
	}
	inst.s = s
	m.instances = append(m.instances, inst)
}

// handlerTransport serves requests with a handler in-process: no sockets, so the fuzzer runs many cycles.
type handlerTransport struct{ h http.Handler }

func (ht handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	ht.h.ServeHTTP(rec, req)
	return rec.Result(), nil
}

func (m *lifecycleModel) apply(op byte) {
	switch op % 16 {
	case 0, 1, 2, 3, 4, 5:
		m.scrape()
	case 6: // a cycle that did not happen (the collector was busy), or scale to zero and back
		if op&0x10 != 0 {
			m.scaled = !m.scaled
		}
		m.now = m.now.Add(30 * time.Second)
	case 7:
		m.failNext = true
	case 8, 9: // a new served entity; with 9 only the metrics name it until the next 10
		m.entities = append(m.entities, modelEntity{name: fmt.Sprintf("e%d", m.nextName), version: "1", size: "Small", described: op%16 == 8})
		m.nextName++
	case 10:
		for i := range m.entities {
			m.entities[i].described = true
		}
	case 11:
		if len(m.entities) > 1 {
			m.entities = m.entities[:len(m.entities)-1]
		}
	case 12:
		m.change(op >> 4)
	case 13:
		m.listed = !m.listed
		if m.listed && m.current().awayScraped {
			m.current().lastSeen = 0 // the receiver saw it leave: its absence is not counted as missed
		}
		m.current().awayScraped = false
	case 14:
		m.custom = map[string]string{"": "gauge", "gauge": "counter", "counter": "histogram", "histogram": ""}[m.custom]
	case 15:
		m.restart(op&0x10 == 0)
	}
}

// change is a change of the endpoint's description: a version bump, a resize, new tags or a new id.
func (m *lifecycleModel) change(which byte) {
	switch which % 4 {
	case 0:
		m.entities[0].version = fmt.Sprint(len(m.entities[0].version) + 1)
	case 1:
		m.entities[0].size = map[string]string{"Small": "Medium", "Medium": "Large", "Large": "Small"}[m.entities[0].size]
	case 2:
		m.tag++
	case 3:
		m.id++
	}
}

func (m *lifecycleModel) scrape() {
	inst := m.current()
	if !inst.scraped {
		inst.scraped = true
		inst.baselinePending = m.listed
	}
	if !m.listed {
		inst.awayScraped = true
	}
	md, _ := inst.s.scrape(context.Background())
	inst.outputs = append(inst.outputs, md)
	m.failNext = false
	m.now = m.now.Add(30 * time.Second)
}

func (m *lifecycleModel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/api/2.0/serving-endpoints")
	switch {
	case path == "":
		var endpoints []map[string]any
		if m.listed {
			endpoints = append(endpoints, m.description())
		}
		writeTestJSON(w, map[string]any{"endpoints": endpoints})
	case !m.listed:
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"not found"}`))
	case path == "/"+lifecycleEndpoint:
		writeTestJSON(w, m.description())
	case path == "/"+lifecycleEndpoint+"/metrics" && m.failNext:
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error_code":"INTERNAL_ERROR","message":"boom"}`))
	case path == "/"+lifecycleEndpoint+"/metrics":
		w.Header().Set("Content-Type", textFormat)
		_, _ = w.Write([]byte(m.body()))
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (m *lifecycleModel) description() map[string]any {
	var served []map[string]any
	for _, e := range m.entities {
		if e.described {
			served = append(served, map[string]any{"name": e.name, "entity_version": e.version, "workload_size": e.size})
		}
	}
	return map[string]any{
		"name": lifecycleEndpoint, "id": fmt.Sprintf("id-%d", m.id),
		"tags":   []map[string]string{{"key": "rollout", "value": fmt.Sprint(m.tag)}},
		"config": map[string]any{"served_entities": served},
	}
}

// body renders the window of the model's minute and records it as served to the current instance.
func (m *lifecycleModel) body() string {
	inst := m.current()
	ts := bodyTimestamp + int64(m.now.Sub(time.UnixMilli(bodyTimestamp))/time.Minute)*60_000
	var b strings.Builder
	values := map[string]float64{}
	b.WriteString("# TYPE request_count_total gauge\n")
	for _, e := range m.entities {
		values[e.name] = requests(e.name, ts)
		if m.scaled {
			values[e.name] = 0
		}
		fmt.Fprintf(&b, "request_count_total{served_entity_name=%q} %g %d\n", e.name, values[e.name], ts)
	}
	if !m.scaled {
		b.WriteString("# TYPE cpu_usage_percentage gauge\n")
		for _, e := range m.entities {
			fmt.Fprintf(&b, "cpu_usage_percentage{served_entity_name=%q} 50 %d\n", e.name, ts)
		}
	}
	switch m.custom {
	case "gauge":
		fmt.Fprintf(&b, "# TYPE custom_score gauge\ncustom_score 7 %d\n", ts)
	case "counter":
		fmt.Fprintf(&b, "# TYPE custom_score counter\ncustom_score 1000 %d\n", ts)
		values[customCounter] = 1000
	case "histogram":
		fmt.Fprintf(&b, "# TYPE custom_score histogram\ncustom_score_bucket{le=\"+Inf\"} 3 %d\ncustom_score_sum 2 %d\ncustom_score_count 3 %d\n", ts, ts, ts)
	}
	for series, v := range values {
		switch {
		case inst.baselinePending:
			// The baseline: this window and every one before it are never counted by this instance.
			inst.floor[series] = ts
		case ts > inst.floor[series]:
			if m.counted[series] == nil {
				m.counted[series] = map[int64]float64{}
			}
			m.counted[series][ts] = v
		}
	}
	inst.record(ts)
	return b.String()
}

// record notes what a 200 answer served to the instance: its baseline ends, and the windows that no answer
// served since the last one are missed.
func (inst *modelInstance) record(ts int64) {
	inst.baselinePending = false
	if inst.lastSeen != 0 && ts > inst.lastSeen {
		inst.missed += int((ts-inst.lastSeen)/60_000) - 1
	}
	inst.lastSeen = max(inst.lastSeen, ts)
}

func (m *lifecycleModel) check() {
	t := m.t
	want := map[string]float64{}
	missedWant := 0
	var all, session []pmetric.Metrics // all outputs; those since the last restart that lost the state
	for _, inst := range m.instances {
		if !inst.resumed {
			session = nil
		}
		session = append(session, inst.outputs...)
		all = append(all, inst.outputs...)
		requireStreamsAscend(t, session, "databricks.serving.request.count", "databricks.serving.cpu.utilization",
			unmappedNamespace+"custom_score", "databricks.serving.scrape.up", "databricks.serving.windows.missed")
		missedWant += inst.missed
		for _, md := range inst.outputs {
			if _, errorType, _ := upOf(md, lifecycleEndpoint); errorType == errorTypeInternal {
				t.Fatal("a scrape panicked")
			}
		}
	}
	for series, windows := range m.counted {
		for _, v := range windows {
			want[series] += v
		}
	}
	for series, w := range want {
		got := countedTotal(all, "databricks.serving.request.count", series)
		if series == customCounter {
			got = countedTotalWhere(all, unmappedNamespace+"custom_score", func(stream string) bool { return strings.Contains(stream, "Sum") })
		}
		if got != w {
			t.Fatalf("%s: the streams add up to %v, the model served %v (less baselines)", series, got, w)
		}
	}
	if missedGot := countedTotalWhere(all, "databricks.serving.windows.missed", func(string) bool { return true }); missedGot != float64(missedWant) {
		t.Fatalf("windows missed: the receiver counted %v, the model %d", missedGot, missedWant)
	}
}

func writeTestJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
