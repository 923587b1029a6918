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
// leaving the list and returning, a family changing type, scale to zero, receiver restarts) against a model
// workspace that keeps its own truth, and checks the property the receiver promises: for every Databricks
// series, the sum over its output streams equals the windows served, less the baseline window of each start,
// and the missed-window count equals the windows that were never scraped. Every stream's points also ascend.
func FuzzLifecycle(f *testing.F) {
	for _, seed := range []string{
		"\x00\x00\x00\x08\x00\x00\x0c\x00\x00",         // a new entity, then a version bump
		"\x00\x00\x09\x00\x00\x0a\x00\x00",             // an entity the description lacks, then described
		"\x00\x00\x0d\x00\x00\x0d\x00\x00",             // leaves the list and returns
		"\x00\x0e\x00\x0e\x00\x0e\x00\x0e\x00\x0e\x00", // the custom family cycles through its types
		"\x00\x00\x07\x00\x06\x06\x00\x00\x0f\x00\x00", // failed and skipped scrapes, a restart
		"\x00\x08\x00\x0b\x00\x1c\x00\x2c\x00\x3c\x00", // entity removed; size, tag and id changes
		"\x00\x16\x00\x00\x16\x00\x0d\x0f\x0d\x00\x00", // scale to zero and back; restart while away
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

	instances []*modelInstance
}

// modelInstance is one receiver instance and what the model served to it.
type modelInstance struct {
	s               *servingScraper
	outputs         []pmetric.Metrics
	scraped         bool // its first cycle ran (and so its first discovery)
	baselinePending bool
	served          map[string]map[int64]float64 // series → window → value, 200 answers only
	baseline        map[string]map[int64]bool
	lastSeen        int64 // newest window served while the receiver watched without a break
	missed          int
	awayScraped     bool // a cycle ran while the endpoint was not listed
}

func newLifecycleModel(t *testing.T) *lifecycleModel {
	m := &lifecycleModel{
		t: t, now: time.UnixMilli(bodyTimestamp).Add(30 * time.Second), listed: true,
		entities: []modelEntity{{name: "e0", version: "1", size: "Small", described: true}}, nextName: 1,
	}
	m.restart()
	return m
}

func (m *lifecycleModel) current() *modelInstance { return m.instances[len(m.instances)-1] }

// restart starts a new receiver instance on the model, reached in-process.
func (m *lifecycleModel) restart() {
	s := newTestScraper(m.t, "http://127.0.0.1:1", func(c *Config) {
		c.Discovery.RefreshInterval = 30 * time.Second
		c.CollectionInterval = 30 * time.Second
	})
	base, _ := url.Parse("http://127.0.0.1:1")
	s.client = workspace.NewClient(&http.Client{Transport: handlerTransport{m}}, base, workspace.StaticToken(testToken), "fuzz", s.cfg.Limits.MaxBodyBytes)
	s.finder = discovery.New(s.client, s.cfg.Discovery, s.cfg.Shard, nil, s.host, s.cfg.MaxConcurrency, s.logger)
	s.now = func() time.Time { return m.now }
	m.instances = append(m.instances, &modelInstance{
		s: s, served: map[string]map[int64]float64{}, baseline: map[string]map[int64]bool{},
	})
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
		m.restart()
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
	inst.record(values, ts)
	return b.String()
}

// record notes what a 200 answer served to the instance: the windows, the baseline of its first answer, and
// the windows that no answer served since the last one.
func (inst *modelInstance) record(values map[string]float64, ts int64) {
	for series, v := range values {
		if inst.served[series] == nil {
			inst.served[series], inst.baseline[series] = map[int64]float64{}, map[int64]bool{}
		}
		inst.served[series][ts] = v
		if inst.baselinePending {
			inst.baseline[series][ts] = true
		}
	}
	inst.baselinePending = false
	if inst.lastSeen != 0 && ts > inst.lastSeen {
		inst.missed += int((ts-inst.lastSeen)/60_000) - 1
	}
	inst.lastSeen = max(inst.lastSeen, ts)
}

func (m *lifecycleModel) check() {
	t := m.t
	want, got := map[string]float64{}, map[string]float64{}
	missedWant, missedGot := 0, 0.0
	for _, inst := range m.instances {
		requireStreamsAscend(t, inst.outputs, "databricks.serving.request.count", "databricks.serving.cpu.utilization",
			unmappedNamespace+"custom_score", "databricks.serving.scrape.up", "databricks.serving.windows.missed")
		for series, windows := range inst.served {
			for ts, v := range windows {
				if !inst.baseline[series][ts] {
					want[series] += v
				}
			}
			if series == customCounter {
				got[series] += countedTotalWhere(inst.outputs, unmappedNamespace+"custom_score", func(stream string) bool { return strings.Contains(stream, "Sum") })
			} else {
				got[series] += countedTotal(inst.outputs, "databricks.serving.request.count", series)
			}
		}
		missedWant += inst.missed
		missedGot += countedTotalWhere(inst.outputs, "databricks.serving.windows.missed", func(string) bool { return true })
		for _, md := range inst.outputs {
			if _, errorType, _ := upOf(md, lifecycleEndpoint); errorType == errorTypeInternal {
				t.Fatal("a scrape panicked")
			}
		}
	}
	for series, w := range want {
		if got[series] != w {
			t.Fatalf("%s: the streams add up to %v, the model served %v (less baselines)", series, got[series], w)
		}
	}
	if missedGot != float64(missedWant) {
		t.Fatalf("windows missed: the receiver counted %v, the model %d", missedGot, missedWant)
	}
}

func writeTestJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
