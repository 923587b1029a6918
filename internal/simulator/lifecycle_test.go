// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// observation is what a client sees of one endpoint at one instant, with
// the truth of the window it was served.
type observation struct {
	detail   map[string]any
	item     map[string]any
	body     []byte
	families map[string]*dto.MetricFamily
	window   WindowTruth
}

func (ts *testServer) observe(t *testing.T, name string) observation {
	t.Helper()
	obs := observation{detail: ts.detail(t, name), item: ts.listItems(t)[name]}
	require.NotNil(t, obs.item, "%s is listed", name)
	obs.body = ts.getMetrics(t, name)
	obs.families = parseExposition(t, obs.body)
	windows := ts.getTruth(t, "?endpoint="+name).Endpoints[name].Windows
	require.NotEmpty(t, windows)
	obs.window = windows[len(windows)-1]
	return obs
}

// postEvent posts an event body to an endpoint and checks the status.
func (ts *testServer) postEvent(t *testing.T, name, body string, want int) []byte {
	t.Helper()
	return ts.mustControl(t, http.MethodPost, "/simulator/endpoints/"+name+"/events", body, want)
}

func servedEntities(resource map[string]any) []map[string]any {
	var entities []map[string]any
	for _, e := range resource["config"].(map[string]any)["served_entities"].([]any) {
		entities = append(entities, e.(map[string]any))
	}
	return entities
}

func entityNames(resource map[string]any) []string {
	var names []string
	for _, e := range servedEntities(resource) {
		names = append(names, e["name"].(string))
	}
	return names
}

// traffic returns the traffic percentage of each served entity of a get
// body, in route order.
func traffic(detail map[string]any) []int {
	var percents []int
	for _, r := range detail["config"].(map[string]any)["traffic_config"].(map[string]any)["routes"].([]any) {
		percents = append(percents, int(r.(map[string]any)["traffic_percentage"].(float64)))
	}
	return percents
}

func configVersion(detail map[string]any) int {
	return int(detail["config"].(map[string]any)["config_version"].(float64))
}

func tagsOf(resource map[string]any) map[string]string {
	tags := make(map[string]string)
	for _, t := range resource["tags"].([]any) {
		pair := t.(map[string]any)
		tags[pair["key"].(string)] = pair["value"].(string)
	}
	return tags
}

// metaFromDetail is the truth description a get body implies.
func metaFromDetail(detail map[string]any) EndpointMetaTruth {
	meta := EndpointMetaTruth{ID: detail["id"].(string), Tags: tagsOf(detail)}
	percents := traffic(detail)
	for i, e := range servedEntities(detail) {
		meta.Entities = append(meta.Entities, EntityMetaTruth{
			Name:               e["name"].(string),
			EntityName:         e["entity_name"].(string),
			EntityVersion:      e["entity_version"].(string),
			WorkloadType:       e["workload_type"].(string),
			WorkloadSize:       e["workload_size"].(string),
			ScaleToZeroEnabled: e["scale_to_zero_enabled"].(bool),
			TrafficPercentage:  percents[i],
		})
	}
	return meta
}

func sum(values []int) int {
	total := 0
	for _, v := range values {
		total += v
	}
	return total
}

// assertConsistent checks that the list item, the get body, the /metrics
// body and the truth of one observation describe the same endpoint.
func assertConsistent(t *testing.T, obs observation) {
	t.Helper()
	assert.Equal(t, metaFromDetail(obs.detail), obs.window.Endpoint, "the truth describes the get body")
	assert.Equal(t, observedFromFamilies(t, obs.families), observedFromTruth(t, obs.window), "the truth holds the body")
	assert.Equal(t, 100, sum(traffic(obs.detail)), "traffic adds up to 100")
	assert.Equal(t, obs.detail["id"], obs.item["id"])
	assert.Equal(t, obs.detail["tags"], obs.item["tags"])
	assert.Equal(t, obs.detail["last_updated_timestamp"], obs.item["last_updated_timestamp"])
	require.Len(t, servedEntities(obs.item), len(servedEntities(obs.detail)))
	for i, e := range servedEntities(obs.item) {
		for _, field := range []string{"name", "entity_name", "entity_version", "type"} {
			assert.Equal(t, servedEntities(obs.detail)[i][field], e[field], field)
		}
	}
	want := make(map[string]bool)
	for _, name := range entityNames(obs.detail) {
		want[name] = true
	}
	got := make(map[string]bool)
	for _, m := range obs.families[metricRequestCount].GetMetric() {
		got[m.GetLabel()[0].GetValue()] = true
	}
	assert.Equal(t, want, got, "one request series per served entity")
}

func entityField(resource map[string]any, i int, field string) any {
	return servedEntities(resource)[i][field]
}

// lifecycleEventCases apply one event each; check compares what a client
// sees before and after it.
var lifecycleEventCases = []struct {
	name         string
	endpoint     string
	event        string
	configChange bool
	check        func(t *testing.T, before, after observation)
}{
	{
		name: "add_entity default traffic", endpoint: "multi-entity-endpoint-0", event: `{"event":"add_entity"}`, configChange: true,
		check: func(t *testing.T, before, after observation) {
			name := "multi-entity-endpoint-0-entity-1"
			assert.Equal(t, append(entityNames(before.detail), name), entityNames(after.detail))
			assert.Equal(t, []int{80, 20}, traffic(before.detail))
			assert.Equal(t, []int{40, 10, 50}, traffic(after.detail))
			champion, _ := strconv.Atoi(entityField(before.detail, 0, "entity_version").(string))
			assert.Equal(t, strconv.Itoa(champion+2), entityField(after.detail, 2, "entity_version"), "highest version + 1")
			assert.Equal(t, entityField(before.detail, 0, "entity_name"), entityField(after.detail, 2, "entity_name"))
			assert.Equal(t, "Medium", entityField(after.detail, 2, "workload_size"), "the first entity's size")
			assert.Equal(t, "UC_MODEL", entityField(after.detail, 2, "type"))
		},
	},
	{
		name: "add_entity with traffic", endpoint: "cpu-endpoint-0", event: `{"event":"add_entity","traffic_percentage":30}`, configChange: true,
		check: func(t *testing.T, _, after observation) {
			assert.Equal(t, []int{70, 30}, traffic(after.detail))
		},
	},
	{
		name: "add_entity on a GPU endpoint", endpoint: "gpu-endpoint-0", event: `{"event":"add_entity","traffic_percentage":99}`, configChange: true,
		check: func(t *testing.T, _, after observation) {
			assert.Equal(t, []int{1, 99}, traffic(after.detail))
			assert.Equal(t, entityField(after.detail, 0, "workload_type"), entityField(after.detail, 1, "workload_type"))
			assert.Len(t, after.families[metricGPUUsage].GetMetric(), 2*defaultGPUsPerEndpoint, "the new entity has the first one's GPUs")
		},
	},
	{
		name: "remove_entity default", endpoint: "multi-entity-endpoint-0", event: `{"event":"remove_entity"}`, configChange: true,
		check: func(t *testing.T, _, after observation) {
			assert.Equal(t, []string{"multi-entity-endpoint-0-champion-1"}, entityNames(after.detail), "the last one goes")
			assert.Equal(t, []int{100}, traffic(after.detail))
		},
	},
	{
		name: "remove_entity named", endpoint: "multi-entity-endpoint-0", event: `{"event":"remove_entity","entity":"multi-entity-endpoint-0-champion-1"}`, configChange: true,
		check: func(t *testing.T, _, after observation) {
			assert.Equal(t, []string{"multi-entity-endpoint-0-challenger-2"}, entityNames(after.detail))
			assert.Equal(t, []int{100}, traffic(after.detail))
		},
	},
	{
		name: "bump_version default", endpoint: "cpu-endpoint-0", event: `{"event":"bump_version"}`, configChange: true,
		check: func(t *testing.T, before, after observation) {
			v, _ := strconv.Atoi(entityField(before.detail, 0, "entity_version").(string))
			assert.Equal(t, strconv.Itoa(v+1), entityField(after.detail, 0, "entity_version"))
			assert.Equal(t, entityNames(before.detail), entityNames(after.detail), "same served entity name")
		},
	},
	{
		name: "bump_version named", endpoint: "multi-entity-endpoint-0", event: `{"event":"bump_version","entity":"multi-entity-endpoint-0-challenger-2"}`, configChange: true,
		check: func(t *testing.T, before, after observation) {
			assert.Equal(t, entityField(before.detail, 0, "entity_version"), entityField(after.detail, 0, "entity_version"))
			v, _ := strconv.Atoi(entityField(before.detail, 1, "entity_version").(string))
			assert.Equal(t, strconv.Itoa(v+1), entityField(after.detail, 1, "entity_version"))
		},
	},
	{
		name: "resize Small to Medium", endpoint: "cpu-endpoint-0", event: `{"event":"resize"}`, configChange: true,
		check: func(t *testing.T, before, after observation) {
			assert.Equal(t, "Small", entityField(before.detail, 0, "workload_size"))
			assert.Equal(t, "Medium", entityField(after.detail, 0, "workload_size"))
			assert.Equal(t, 8.0, after.families[metricProvisionedConcurrency].GetMetric()[0].GetGauge().GetValue())
		},
	},
	{
		name: "resize Medium to Large", endpoint: "multi-entity-endpoint-0", event: `{"event":"resize","entity":"multi-entity-endpoint-0-champion-1"}`, configChange: true,
		check: func(t *testing.T, _, after observation) {
			assert.Equal(t, "Large", entityField(after.detail, 0, "workload_size"))
			assert.Equal(t, "Small", entityField(after.detail, 1, "workload_size"))
			concurrency := gaugeValues(after.families, metricProvisionedConcurrency)
			assert.Equal(t, 16.0, concurrency["served_entity_name=multi-entity-endpoint-0-champion-1;"])
			assert.Equal(t, 4.0, concurrency["served_entity_name=multi-entity-endpoint-0-challenger-2;"])
		},
	},
	{
		name: "retag", endpoint: "cpu-endpoint-1", event: `{"event":"retag"}`,
		check: func(t *testing.T, before, after observation) {
			want := tagsOf(before.detail)
			want["rollout"] = "r1"
			assert.Equal(t, want, tagsOf(after.detail))
			assert.Equal(t, want, after.window.Endpoint.Tags)
		},
	},
	{
		name: "flip_type", endpoint: "multi-entity-endpoint-0", event: `{"event":"flip_type"}`,
		check: func(t *testing.T, before, after observation) {
			assert.NotContains(t, before.families, metricCustomScore)
			require.Contains(t, after.families, metricCustomScore)
			assert.Equal(t, dto.MetricType_GAUGE, after.families[metricCustomScore].GetType())
			assert.Len(t, after.families[metricCustomScore].GetMetric(), 2, "one series per served entity")
			assert.Contains(t, string(after.body), "# TYPE custom_score gauge\n")
		},
	},
	{
		name: "scale_to_zero", endpoint: "gpu-endpoint-0", event: `{"event":"scale_to_zero"}`,
		check: func(t *testing.T, before, after observation) {
			assert.Contains(t, before.families, metricCPUUsage)
			assertScaledToZero(t, after.families)
			assert.Equal(t, before.detail["config"], after.detail["config"], "the configuration stays")
		},
	},
}

func TestLifecycleEvents(t *testing.T) {
	for _, tt := range lifecycleEventCases {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, testConfig())
			before := ts.observe(t, tt.endpoint)
			answer := ts.postEvent(t, tt.endpoint, tt.event, http.StatusOK)
			_, get := ts.get(t, "/api/2.0/serving-endpoints/"+tt.endpoint, testToken)
			assert.Equal(t, string(get), string(answer), "200 answers the get body")

			// The window already completed keeps its body and its truth.
			assert.Equal(t, string(before.body), string(ts.getMetrics(t, tt.endpoint)))
			ts.clock.Advance(testWindow)
			after := ts.observe(t, tt.endpoint)
			assertConsistent(t, before)
			assertConsistent(t, after)
			windows := ts.getTruth(t, "?endpoint="+tt.endpoint).Endpoints[tt.endpoint].Windows
			require.Len(t, windows, 2)
			assert.Equal(t, before.window, windows[0])
			assert.Equal(t, after.window, windows[1])

			wantVersion := configVersion(before.detail)
			if tt.configChange {
				wantVersion++
				assert.Equal(t, float64(testStart.Unix()*1000), after.detail["last_updated_timestamp"], "updated at the event")
			}
			assert.Equal(t, wantVersion, configVersion(after.detail), "config_version")
			tt.check(t, before, after)
		})
	}
}

func assertScaledToZero(t *testing.T, families map[string]*dto.MetricFamily) {
	t.Helper()
	for _, family := range []string{metricCPUUsage, metricMemUsage, metricProvisionedConcurrency, metricGPUUsage, metricGPUMemoryUsage} {
		assert.NotContains(t, families, family, "no resource series while scaled to zero")
	}
	for _, value := range gaugeValues(families, metricRequestCount) {
		assert.Zero(t, value)
	}
	for _, m := range families[metricRequestLatency].GetMetric() {
		assert.Zero(t, m.GetHistogram().GetSampleCount())
	}
}

func TestEventsLeaveOtherEndpointsByteIdentical(t *testing.T) {
	changed := newTestServer(t, testConfig())
	untouched := newTestServer(t, testConfig())
	for _, event := range []string{`{"event":"add_entity"}`, `{"event":"retag"}`, `{"event":"flip_type"}`, `{"event":"recreate"}`} {
		changed.postEvent(t, "cpu-endpoint-0", event, http.StatusOK)
	}
	changed.postEvent(t, "gpu-endpoint-0", `{"event":"scale_to_zero"}`, http.StatusOK)
	changed.postEvent(t, "gpu-endpoint-0", `{"event":"scale_up"}`, http.StatusOK)
	changed.clock.Advance(testWindow)
	untouched.clock.Advance(testWindow)

	for _, name := range []string{"cpu-endpoint-1", "gpu-endpoint-0", "multi-entity-endpoint-0", "scale-to-zero-endpoint-0"} {
		assert.Equal(t, string(untouched.getMetrics(t, name)), string(changed.getMetrics(t, name)), "%s: scale_up restores the values", name)
		_, want := untouched.get(t, "/api/2.0/serving-endpoints/"+name, testToken)
		_, got := changed.get(t, "/api/2.0/serving-endpoints/"+name, testToken)
		assert.Equal(t, string(want), string(got), name)
	}
}

func TestAddedEntityNamesNeverRepeat(t *testing.T) {
	ts := newTestServer(t, testConfig())
	ts.postEvent(t, "cpu-endpoint-0", `{"event":"add_entity"}`, http.StatusOK)
	ts.postEvent(t, "cpu-endpoint-0", `{"event":"add_entity","traffic_percentage":10}`, http.StatusOK)
	detail := ts.detail(t, "cpu-endpoint-0")
	assert.Equal(t, []string{"cpu-endpoint-0-model-1", "cpu-endpoint-0-entity-1", "cpu-endpoint-0-entity-2"}, entityNames(detail))
	assert.Equal(t, []int{45, 45, 10}, traffic(detail))
	versions := []any{entityField(detail, 0, "entity_version"), entityField(detail, 1, "entity_version"), entityField(detail, 2, "entity_version")}
	first, _ := strconv.Atoi(versions[0].(string))
	assert.Equal(t, []any{strconv.Itoa(first), strconv.Itoa(first + 1), strconv.Itoa(first + 2)}, versions)

	ts.postEvent(t, "cpu-endpoint-0", `{"event":"remove_entity"}`, http.StatusOK)
	ts.postEvent(t, "cpu-endpoint-0", `{"event":"recreate"}`, http.StatusOK)
	ts.postEvent(t, "cpu-endpoint-0", `{"event":"add_entity"}`, http.StatusOK)
	assert.Equal(t, []string{"cpu-endpoint-0-model-1", "cpu-endpoint-0-entity-3"}, entityNames(ts.detail(t, "cpu-endpoint-0")),
		"the counter survives remove_entity and recreate")
}

func TestRescaleTraffic(t *testing.T) {
	tests := []struct {
		before []int
		total  int
		want   []int
	}{
		{[]int{100}, 50, []int{50}},
		{[]int{80, 20}, 50, []int{40, 10}},
		{[]int{80, 20}, 1, []int{1, 0}},
		{[]int{99, 1}, 50, []int{50, 0}},
		{[]int{1, 99}, 50, []int{1, 49}},
		{[]int{33, 33, 34}, 70, []int{24, 23, 23}},
		{[]int{40, 10}, 100, []int{80, 20}},
		{[]int{0, 0, 0}, 100, []int{34, 33, 33}},
	}
	for _, tt := range tests {
		entities := make([]servedEntity, len(tt.before))
		for i, p := range tt.before {
			entities[i].trafficPercentage = p
		}
		rescaleTraffic(entities, tt.total)
		got := make([]int, len(entities))
		for i := range entities {
			got[i] = entities[i].trafficPercentage
		}
		assert.Equal(t, tt.want, got, "%v to %d", tt.before, tt.total)
		assert.Equal(t, tt.total, sum(got))
	}
}

func TestFlipTypeCycles(t *testing.T) {
	ts := newTestServer(t, testConfig())
	wantTypes := []dto.MetricType{dto.MetricType_GAUGE, dto.MetricType_COUNTER, dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE}
	for i, wantType := range wantTypes {
		ts.postEvent(t, "cpu-endpoint-0", `{"event":"flip_type"}`, http.StatusOK)
		ts.clock.Advance(testWindow)
		obs := ts.observe(t, "cpu-endpoint-0")
		assertConsistent(t, obs)
		family := obs.families[metricCustomScore]
		require.NotNil(t, family, "flip %d", i+1)
		assert.Equal(t, wantType, family.GetType(), "flip %d", i+1)
		typeName := customScoreTypes[i%len(customScoreTypes)]
		assert.Contains(t, string(obs.body), "# TYPE custom_score "+typeName+"\n")
		assert.Contains(t, string(obs.body), `custom_score`+map[string]string{typeHistogram: "_bucket"}[typeName]+`{served_entity_name="cpu-endpoint-0-model-1"`)
		var custom []SeriesTruth
		for _, s := range obs.window.Series {
			if s.Name == metricCustomScore {
				custom = append(custom, s)
			} else {
				assert.Empty(t, s.Type, "only custom_score has a type in the truth")
			}
		}
		require.Len(t, custom, 1)
		assert.Equal(t, typeName, custom[0].Type)
		if typeName == typeHistogram {
			assert.Equal(t, latencyBoundsMillis, custom[0].Histogram.Bounds)
			assert.Nil(t, custom[0].Value)
		} else {
			assert.NotNil(t, custom[0].Value)
		}
	}
	windows := ts.getTruth(t, "?endpoint=cpu-endpoint-0").Endpoints["cpu-endpoint-0"].Windows
	require.Len(t, windows, len(wantTypes))
	assert.Equal(t, typeCounter, windows[1].Series[len(windows[1].Series)-1].Type, "earlier windows keep their type")
}

func TestCustomScoreIsDeterministic(t *testing.T) {
	first := newTestServer(t, testConfig())
	second := newTestServer(t, testConfig())
	for _, ts := range []*testServer{first, second} {
		ts.postEvent(t, "multi-entity-endpoint-0", `{"event":"flip_type"}`, http.StatusOK)
		ts.postEvent(t, "multi-entity-endpoint-0", `{"event":"flip_type"}`, http.StatusOK)
		ts.clock.Advance(testWindow)
	}
	body := first.getMetrics(t, "multi-entity-endpoint-0")
	assert.Equal(t, string(body), string(second.getMetrics(t, "multi-entity-endpoint-0")))
	first.clock.Advance(testWindow)
	assert.NotEqual(t, string(body), string(first.getMetrics(t, "multi-entity-endpoint-0")), "values change with the window")
}

func TestRecreate(t *testing.T) {
	ts := newTestServer(t, testConfig())
	original := ts.observe(t, "multi-entity-endpoint-0")
	ts.postEvent(t, "multi-entity-endpoint-0", `{"event":"add_entity"}`, http.StatusOK)
	ts.postEvent(t, "multi-entity-endpoint-0", `{"event":"retag"}`, http.StatusOK)
	ts.postEvent(t, "multi-entity-endpoint-0", `{"event":"flip_type"}`, http.StatusOK)
	ts.clock.Advance(testWindow)
	changed := ts.observe(t, "multi-entity-endpoint-0")

	ids := map[string]bool{original.detail["id"].(string): true}
	for i := range 3 {
		answer := jsonObject(t, ts.postEvent(t, "multi-entity-endpoint-0", `{"event":"recreate"}`, http.StatusOK))
		require.NotContains(t, ids, answer["id"], "recreate %d: a new id", i+1)
		assert.Regexp(t, hexID, answer["id"])
		ids[answer["id"].(string)] = true
		assert.Equal(t, original.detail["config"], answer["config"], "the kind's default entities")
		assert.Equal(t, original.detail["tags"], answer["tags"], "default tags")
		assert.Equal(t, float64(ts.clock.Now().Unix()*1000), answer["creation_timestamp"], "created at the event")
	}
	// Deleting and creating again gives the first id back; a recreate after
	// it still gives a new one.
	ts.mustControl(t, http.MethodDelete, "/simulator/endpoints/multi-entity-endpoint-0", "", http.StatusNoContent)
	ts.mustControl(t, http.MethodPost, "/simulator/endpoints", `{"name":"multi-entity-endpoint-0","kind":"multi-entity"}`, http.StatusCreated)
	answer := jsonObject(t, ts.postEvent(t, "multi-entity-endpoint-0", `{"event":"recreate"}`, http.StatusOK))
	assert.NotContains(t, ids, answer["id"])

	ts.clock.Advance(testWindow)
	recreated := ts.observe(t, "multi-entity-endpoint-0")
	assertConsistent(t, recreated)
	assert.NotContains(t, recreated.families, metricCustomScore)
	windows := ts.getTruth(t, "?endpoint=multi-entity-endpoint-0").Endpoints["multi-entity-endpoint-0"].Windows
	require.Len(t, windows, 3)
	assert.Equal(t, []WindowTruth{original.window, changed.window, recreated.window}, windows, "every incarnation keeps its windows")
	assert.Equal(t, answer["id"], windows[2].Endpoint.ID)
}

func TestRecreateWithGap(t *testing.T) {
	ts := newTestServer(t, testConfig())
	before := ts.observe(t, "cpu-endpoint-1")
	body := ts.postEvent(t, "cpu-endpoint-1", `{"event":"recreate","gap":"5s"}`, http.StatusAccepted)
	assert.Empty(t, body)
	assertAbsent(t, ts, "cpu-endpoint-1")
	ts.postEvent(t, "cpu-endpoint-1", `{"event":"retag"}`, http.StatusAccepted)

	ts.clock.Advance(5*time.Second - time.Millisecond)
	assertAbsent(t, ts, "cpu-endpoint-1")
	ts.clock.Advance(time.Millisecond)
	after := ts.observe(t, "cpu-endpoint-1")
	assertConsistent(t, after)
	assert.NotEqual(t, before.detail["id"], after.detail["id"])
	assert.Equal(t, "r1", tagsOf(after.detail)["rollout"], "events applied during the gap stay")
	assert.Equal(t, float64(testStart.Add(5*time.Second).Unix()*1000), after.detail["creation_timestamp"], "created when it comes back")
	assert.Equal(t, []string{"cpu-endpoint-0", "cpu-endpoint-1", "gpu-endpoint-0", "multi-entity-endpoint-0", "scale-to-zero-endpoint-0", "databricks-fmapi-endpoint-0"},
		ts.sim.Endpoints(), "back in its place in the list")
	windows := ts.getTruth(t, "?endpoint=cpu-endpoint-1").Endpoints["cpu-endpoint-1"].Windows
	assert.Equal(t, []WindowTruth{before.window, after.window}, windows)
}

func assertAbsent(t *testing.T, ts *testServer, name string) {
	t.Helper()
	assert.NotContains(t, ts.sim.Endpoints(), name)
	assert.NotContains(t, ts.listItems(t), name)
	assert.Len(t, ts.listItems(t), len(ts.sim.Endpoints()))
	for _, path := range []string{"/api/2.0/serving-endpoints/" + name, metricsPath(name)} {
		resp, body := ts.get(t, path, testToken)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, path)
		assert.Equal(t, apiError{ErrorCode: errorCodeNotFound, Message: endpointNotFoundMessage(name)}, decodeAPIError(t, body))
	}
}

func TestHide(t *testing.T) {
	ts := newTestServer(t, testConfig())
	_, listBefore := ts.get(t, "/api/2.0/serving-endpoints", testToken)
	before := ts.observe(t, "gpu-endpoint-0")
	ts.postEvent(t, "gpu-endpoint-0", `{"event":"hide","gap":"3s"}`, http.StatusAccepted)
	assertAbsent(t, ts, "gpu-endpoint-0")
	ts.clock.Advance(2 * time.Second)
	assertAbsent(t, ts, "gpu-endpoint-0")
	resp, _ := ts.get(t, "/simulator/truth?endpoint=gpu-endpoint-0", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the truth still knows a hidden endpoint")

	ts.clock.Advance(time.Second)
	_, listAfter := ts.get(t, "/api/2.0/serving-endpoints", testToken)
	assert.Equal(t, string(listBefore), string(listAfter), "back with the same id and definition")
	after := ts.observe(t, "gpu-endpoint-0")
	assert.Equal(t, before.detail, after.detail)
	assert.Equal(t, before.window.Endpoint, after.window.Endpoint)
	assertConsistent(t, after)

	// A hide during a hide extends it; an event during it answers 202.
	ts.postEvent(t, "gpu-endpoint-0", `{"event":"hide","gap":"4s"}`, http.StatusAccepted)
	ts.postEvent(t, "gpu-endpoint-0", `{"event":"hide","gap":"1s"}`, http.StatusAccepted)
	ts.postEvent(t, "gpu-endpoint-0", `{"event":"bump_version"}`, http.StatusAccepted)
	ts.clock.Advance(2 * time.Second)
	assertAbsent(t, ts, "gpu-endpoint-0")
	ts.clock.Advance(2 * time.Second)
	assert.Equal(t, before.detail["id"], ts.detail(t, "gpu-endpoint-0")["id"])
	assert.Equal(t, configVersion(before.detail)+1, configVersion(ts.detail(t, "gpu-endpoint-0")))
}

func TestScaleToZeroAndScaleUp(t *testing.T) {
	ts := newTestServer(t, testConfig())
	untouched := newTestServer(t, testConfig())
	ts.postEvent(t, "cpu-endpoint-0", `{"event":"scale_to_zero"}`, http.StatusOK)
	ts.postEvent(t, "cpu-endpoint-0", `{"event":"scale_to_zero"}`, http.StatusOK)
	for range 4 {
		ts.clock.Advance(testWindow)
		untouched.clock.Advance(testWindow)
		obs := ts.observe(t, "cpu-endpoint-0")
		assertScaledToZero(t, obs.families)
		assertConsistent(t, obs)
	}
	ts.postEvent(t, "cpu-endpoint-0", `{"event":"scale_up"}`, http.StatusOK)
	ts.clock.Advance(testWindow)
	untouched.clock.Advance(testWindow)
	assert.Equal(t, string(untouched.getMetrics(t, "cpu-endpoint-0")), string(ts.getMetrics(t, "cpu-endpoint-0")))

	// On a scale-to-zero endpoint, scale_up brings back its own cycle.
	stz := "scale-to-zero-endpoint-0"
	ts.postEvent(t, stz, `{"event":"scale_to_zero"}`, http.StatusOK)
	ts.postEvent(t, stz, `{"event":"scale_up"}`, http.StatusOK)
	ts.clock.Advance(testWindow)
	untouched.clock.Advance(testWindow)
	assert.Equal(t, string(untouched.getMetrics(t, stz)), string(ts.getMetrics(t, stz)))
}

func TestEventValidation(t *testing.T) {
	tests := []struct {
		name, endpoint, body, message string
	}{
		{"unknown event", "cpu-endpoint-0", `{"event":"explode"}`, `unknown event "explode": want one of add_entity, remove_entity, bump_version, resize, retag, recreate, hide, flip_type, scale_to_zero, scale_up`},
		{"no event", "cpu-endpoint-0", `{}`, `unknown event ""`},
		{"unknown entity", "multi-entity-endpoint-0", `{"event":"bump_version","entity":"nope"}`, `endpoint multi-entity-endpoint-0 has no served entity "nope": want one of multi-entity-endpoint-0-champion-1, multi-entity-endpoint-0-challenger-2`},
		{"unknown entity to remove", "cpu-endpoint-0", `{"event":"remove_entity","entity":"nope"}`, `has no served entity "nope"`},
		{"traffic 100", "cpu-endpoint-0", `{"event":"add_entity","traffic_percentage":100}`, "invalid traffic_percentage 100: want 1 to 99"},
		{"traffic negative", "cpu-endpoint-0", `{"event":"add_entity","traffic_percentage":-5}`, "invalid traffic_percentage -5: want 1 to 99"},
		{"field not taken", "cpu-endpoint-0", `{"event":"retag","entity":"cpu-endpoint-0-model-1"}`, "event retag takes no entity: remove it"},
		{"traffic not taken", "cpu-endpoint-0", `{"event":"resize","traffic_percentage":5}`, "event resize takes no traffic_percentage"},
		{"gap not taken", "cpu-endpoint-0", `{"event":"flip_type","gap":"1s"}`, "event flip_type takes no gap"},
		{"negative gap", "cpu-endpoint-0", `{"event":"recreate","gap":"-1s"}`, "invalid gap -1s: must not be negative"},
		{"hide without gap", "cpu-endpoint-0", `{"event":"hide"}`, `event hide needs a gap > 0, such as "gap":"5s"`},
		{"bad gap", "cpu-endpoint-0", `{"event":"hide","gap":"soon"}`, `invalid duration "soon"`},
		{"unknown field", "cpu-endpoint-0", `{"event":"retag","tag":"x"}`, `unknown field "tag"`},
		{"only entity", "cpu-endpoint-0", `{"event":"remove_entity"}`, "cannot remove cpu-endpoint-0-model-1, the only served entity of cpu-endpoint-0"},
		{"fmapi", "databricks-fmapi-endpoint-0", `{"event":"add_entity"}`, "pay-per-token Foundation Model API endpoint, owned by Databricks: only hide applies"},
		{"not JSON", "cpu-endpoint-0", `event=retag`, "invalid JSON body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, testConfig())
			_, listBefore := ts.get(t, "/api/2.0/serving-endpoints", testToken)
			resp, body := ts.control(t, http.MethodPost, "/simulator/endpoints/"+tt.endpoint+"/events", tt.body)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(body))
			apiErr := decodeAPIError(t, body)
			assert.Equal(t, errorCodeInvalidParameter, apiErr.ErrorCode)
			assert.Contains(t, apiErr.Message, tt.message)
			_, listAfter := ts.get(t, "/api/2.0/serving-endpoints", testToken)
			assert.Equal(t, string(listBefore), string(listAfter), "a rejected event changes nothing")
		})
	}

	ts := newTestServer(t, testConfig())
	resp, body := ts.control(t, http.MethodPost, "/simulator/endpoints/no-such-endpoint/events", `{"event":"retag"}`)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, apiError{ErrorCode: errorCodeNotFound, Message: endpointNotFoundMessage("no-such-endpoint")}, decodeAPIError(t, body))
	ts.postEvent(t, "databricks-fmapi-endpoint-0", `{"event":"hide","gap":"1s"}`, http.StatusAccepted)
}

func TestApplyEvent(t *testing.T) {
	ts := newTestServer(t, testConfig())
	require.NoError(t, ts.sim.ApplyEvent("cpu-endpoint-0", Event{Name: EventAddEntity, TrafficPercentage: 25}))
	assert.Equal(t, []int{75, 25}, traffic(ts.detail(t, "cpu-endpoint-0")))
	require.NoError(t, ts.sim.ApplyEvent("cpu-endpoint-0", Event{Name: EventHide, Gap: Duration(time.Second)}))
	assert.NotContains(t, ts.sim.Endpoints(), "cpu-endpoint-0")

	err := ts.sim.ApplyEvent("nope", Event{Name: EventRetag})
	require.ErrorIs(t, err, errEndpointNotFound)
	assert.EqualError(t, err, "simulator: apply retag to nope: endpoint not found: nope")
	err = ts.sim.ApplyEvent("cpu-endpoint-0", Event{Name: EventRemoveEntity, Entity: "x"})
	require.ErrorIs(t, err, errInvalidEvent)
	assert.Contains(t, err.Error(), `has no served entity "x": want one of cpu-endpoint-0-model-1, cpu-endpoint-0-entity-1`)
	assert.ErrorContains(t, ts.sim.ApplyEvent("cpu-endpoint-0", Event{Name: EventAddEntity, TrafficPercentage: 0xff}), "want 1 to 99")
}

func TestAddEntityLimit(t *testing.T) {
	ts := newTestServer(t, testConfig())
	for range maxServedEntities - 1 {
		require.NoError(t, ts.sim.ApplyEvent("cpu-endpoint-0", Event{Name: EventAddEntity, TrafficPercentage: 5}))
	}
	detail := ts.detail(t, "cpu-endpoint-0")
	assert.Len(t, servedEntities(detail), maxServedEntities)
	assert.Equal(t, 100, sum(traffic(detail)))
	assert.ErrorContains(t, ts.sim.ApplyEvent("cpu-endpoint-0", Event{Name: EventAddEntity}), "already serves 15 entities, the Databricks limit: remove one first")
}

func TestEventJSON(t *testing.T) {
	ev := Event{Name: EventRecreate, Gap: Duration(5 * time.Second)}
	assert.JSONEq(t, `{"event":"recreate","gap":"5s"}`, string(mustMarshal(t, ev)))
	assert.JSONEq(t, `{"event":"add_entity","traffic_percentage":30}`, string(mustMarshal(t, Event{Name: EventAddEntity, TrafficPercentage: 30})))
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	body, err := json.Marshal(v)
	require.NoError(t, err)
	return body
}

func TestEndpointIDGenerationZeroIsTheDerivedID(t *testing.T) {
	ts := newTestServer(t, testConfig())
	for _, name := range ts.sim.Endpoints() {
		ep, _ := ts.sim.catalog.lookup(name)
		if ep.id != "" {
			assert.Equal(t, ep.id, endpointID(testConfig().Seed, name, 0), name)
		}
	}
}

// TestEventsDuringScrapes changes endpoints while clients read them; run
// with -race it checks that readers never see a half-made change.
func TestEventsDuringScrapes(t *testing.T) {
	ts := newTestServer(t, testConfig())
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, body := ts.get(t, "/api/2.0/serving-endpoints", testToken)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.True(t, json.Valid(body))
			ts.get(t, metricsPath("multi-entity-endpoint-0"), testToken)
		}
	}()
	events := []string{"add_entity", "bump_version", "resize", "retag", "flip_type", "remove_entity", "scale_to_zero", "scale_up"}
	for i := range 40 {
		ts.postEvent(t, "multi-entity-endpoint-0", `{"event":"`+events[i%len(events)]+`"}`, http.StatusOK)
		if i%3 == 0 {
			ts.clock.Advance(testWindow)
		}
	}
	close(stop)
	<-done
	assert.Equal(t, 100, sum(traffic(ts.detail(t, "multi-entity-endpoint-0"))))
}

func TestCompletedWindowsNeverChange(t *testing.T) {
	ts := newTestServer(t, testConfig())
	// On a window boundary the window that just ended is served: an event
	// at that instant comes after it.
	boundary := time.UnixMilli(testWindowEndMillis + testWindow.Milliseconds())
	ts.clock.Set(boundary)
	first := ts.getMetrics(t, "cpu-endpoint-0")
	for range 3 {
		ts.postEvent(t, "cpu-endpoint-0", `{"event":"add_entity"}`, http.StatusOK)
	}
	assert.Equal(t, string(first), string(ts.getMetrics(t, "cpu-endpoint-0")))
	ts.clock.Advance(testWindow - time.Millisecond)
	assert.Equal(t, string(first), string(ts.getMetrics(t, "cpu-endpoint-0")), "still the same window")
	ts.clock.Advance(time.Millisecond)
	obs := ts.observe(t, "cpu-endpoint-0")
	assert.Len(t, obs.window.Endpoint.Entities, 4, "the next window has every event applied")
	assertConsistent(t, obs)

	entry, _ := ts.sim.catalog.entry("cpu-endpoint-0")
	assert.Len(t, entry.history, 4, "the definitions of the window in progress are kept")
	for range 50 {
		ts.clock.Advance(testWindow)
		ts.postEvent(t, "cpu-endpoint-0", `{"event":"retag"}`, http.StatusOK)
	}
	entry, _ = ts.sim.catalog.entry("cpu-endpoint-0")
	assert.Len(t, entry.history, 2, "only the last completed window's definition and the new one")

	// A clock moved back before the history gets the oldest definition kept.
	ts.clock.Set(testStart)
	ts.getMetrics(t, "cpu-endpoint-0")
	oldest := ts.getTruth(t, "?endpoint=cpu-endpoint-0").Endpoints["cpu-endpoint-0"].Windows[0]
	assert.Equal(t, testWindowEndMillis, oldest.TimestampMillis)
	assert.Equal(t, "r49", oldest.Endpoint.Tags["rollout"])
}
