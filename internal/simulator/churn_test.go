// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCreateEndpoint(t *testing.T) {
	ts := newTestServer(t, testConfig())
	body := ts.mustControl(t, http.MethodPost, "/simulator/endpoints", `{"name":"churn-1","kind":"cpu"}`, http.StatusCreated)
	created := jsonObject(t, body)
	assert.Equal(t, "churn-1", created["name"])
	assert.Regexp(t, hexID, created["id"])
	assert.Equal(t, map[string]any{"ready": "READY", "config_update": "NOT_UPDATING"}, created["state"])

	names := ts.sim.Endpoints()
	assert.Equal(t, "churn-1", names[len(names)-1], "a created endpoint is listed last")
	assert.Equal(t, created, ts.listItems(t)["churn-1"], "201 answers the list item")
	detail := ts.detail(t, "churn-1")
	entity := detail["config"].(map[string]any)["served_entities"].([]any)[0].(map[string]any)
	assert.Equal(t, "churn-1-model-1", entity["name"])
	assert.Equal(t, "CPU", entity["workload_type"])
	assert.Equal(t, false, entity["scale_to_zero_enabled"])

	families := parseExposition(t, ts.getMetrics(t, "churn-1"))
	assert.Contains(t, families, "cpu_usage_percentage")
	assert.Contains(t, ts.getTruth(t, "?endpoint=churn-1").Endpoints, "churn-1")

	resp, body := ts.control(t, http.MethodPost, "/simulator/endpoints", `{"name":"churn-1","kind":"gpu"}`)
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	assert.Equal(t, "RESOURCE_ALREADY_EXISTS", decodeAPIError(t, body).ErrorCode)
	resp, _ = ts.control(t, http.MethodPost, "/simulator/endpoints", `{"name":"cpu-endpoint-0","kind":"cpu"}`)
	assert.Equal(t, http.StatusConflict, resp.StatusCode, "initial endpoints exist too")
}

func TestCreateEndpointOfEveryKind(t *testing.T) {
	ts := newTestServer(t, testConfig())
	for _, kind := range []string{"cpu", "gpu", "multi-entity", "scale-to-zero", "fmapi"} {
		ts.mustControl(t, http.MethodPost, "/simulator/endpoints", `{"name":"new-`+kind+`","kind":"`+kind+`"}`, http.StatusCreated)
	}
	items := ts.listItems(t)
	assert.Equal(t, "FOUNDATION_MODEL_API", items["new-fmapi"]["endpoint_type"])
	assert.Equal(t, "llm/v1/completions", items["new-gpu"]["task"])
	for _, name := range []string{"new-cpu", "new-gpu", "new-multi-entity", "new-scale-to-zero"} {
		assert.NotContains(t, items[name], "endpoint_type", name)
		assert.NotEmpty(t, items[name]["tags"], name)
		ts.getMetrics(t, name)
	}
	assert.Len(t, items["new-multi-entity"]["config"].(map[string]any)["served_entities"], 2)
	assert.Equal(t, true, ts.detail(t, "new-scale-to-zero")["config"].(map[string]any)["served_entities"].([]any)[0].(map[string]any)["scale_to_zero_enabled"])

	gpu := parseExposition(t, ts.getMetrics(t, "new-gpu"))
	assert.Len(t, gpu["gpu_usage_percentage"].GetMetric(), defaultGPUsPerEndpoint)

	resp, body := ts.get(t, metricsPath("new-fmapi"), testToken)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Contains(t, decodeAPIError(t, body).Message, "pay-per-token")
}

func TestCreateEndpointValidation(t *testing.T) {
	ts := newTestServer(t, testConfig())
	tests := map[string]string{
		"empty name":          `{"name":"","kind":"cpu"}`,
		"leading hyphen":      `{"name":"-churn","kind":"cpu"}`,
		"trailing underscore": `{"name":"churn_","kind":"cpu"}`,
		"space":               `{"name":"churn 1","kind":"cpu"}`,
		"dot":                 `{"name":"churn.1","kind":"cpu"}`,
		"64 characters":       `{"name":"` + strings.Repeat("a", 64) + `","kind":"cpu"}`,
		"unknown kind":        `{"name":"churn-1","kind":"tpu"}`,
		"missing kind":        `{"name":"churn-1"}`,
		"unknown field":       `{"name":"churn-1","kind":"cpu","size":"Small"}`,
		"not JSON":            `name=churn-1`,
		"trailing data":       `{"name":"churn-1","kind":"cpu"} {}`,
		"no body":             ``,
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			resp, respBody := ts.control(t, http.MethodPost, "/simulator/endpoints", body)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(respBody))
			assert.Equal(t, "INVALID_PARAMETER_VALUE", decodeAPIError(t, respBody).ErrorCode)
		})
	}
	assert.Len(t, ts.sim.Endpoints(), 6, "nothing was created")

	for _, name := range []string{"a", "A9", "a_b-c", strings.Repeat("z", 63)} {
		ts.mustControl(t, http.MethodPost, "/simulator/endpoints", `{"name":"`+name+`","kind":"cpu"}`, http.StatusCreated)
	}
}

func TestCreatedEndpointsAreDeterministic(t *testing.T) {
	first := newTestServer(t, testConfig())
	second := newTestServer(t, testConfig())
	otherCfg := testConfig()
	otherCfg.Seed = 2
	other := newTestServer(t, otherCfg)
	create := `{"name":"churn-1","kind":"multi-entity"}`
	firstItem := first.mustControl(t, http.MethodPost, "/simulator/endpoints", create, http.StatusCreated)
	secondItem := second.mustControl(t, http.MethodPost, "/simulator/endpoints", create, http.StatusCreated)
	other.mustControl(t, http.MethodPost, "/simulator/endpoints", create, http.StatusCreated)

	assert.Equal(t, string(firstItem), string(secondItem))
	assert.Equal(t, string(first.getMetrics(t, "churn-1")), string(second.getMetrics(t, "churn-1")))
	assert.NotEqual(t, string(first.getMetrics(t, "churn-1")), string(other.getMetrics(t, "churn-1")), "the seed matters")
}

func TestDeleteEndpoint(t *testing.T) {
	ts := newTestServer(t, testConfig())
	ts.mustControl(t, http.MethodPost, "/simulator/endpoints", `{"name":"churn-1","kind":"cpu"}`, http.StatusCreated)
	served := map[string][]byte{
		"churn-1":        ts.getMetrics(t, "churn-1"),
		"cpu-endpoint-0": ts.getMetrics(t, "cpu-endpoint-0"),
	}

	for name := range served {
		resp, body := ts.control(t, http.MethodDelete, "/simulator/endpoints/"+name, "")
		require.Equal(t, http.StatusNoContent, resp.StatusCode, string(body))
		assert.Empty(t, body)
		assert.NotContains(t, ts.sim.Endpoints(), name)
		assert.NotContains(t, ts.listItems(t), name)
		for _, path := range []string{"/api/2.0/serving-endpoints/" + name, metricsPath(name)} {
			getResp, getBody := ts.get(t, path, testToken)
			require.Equal(t, http.StatusNotFound, getResp.StatusCode, path)
			assert.Equal(t, apiError{ErrorCode: "RESOURCE_DOES_NOT_EXIST", Message: endpointNotFoundMessage(name)}, decodeAPIError(t, getBody))
		}
		resp, body = ts.control(t, http.MethodDelete, "/simulator/endpoints/"+name, "")
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "deleting twice")
		assert.Equal(t, "RESOURCE_DOES_NOT_EXIST", decodeAPIError(t, body).ErrorCode)
	}

	truth := ts.getTruth(t, "")
	for name, body := range served {
		require.Contains(t, truth.Endpoints, name, "truth keeps the windows served before the delete")
		windows := truth.Endpoints[name].Windows
		require.Len(t, windows, 1)
		assert.Equal(t, observedFromFamilies(t, parseExposition(t, body)), observedFromTruth(t, windows[0]))
		assert.Equal(t, truth.Endpoints[name], ts.getTruth(t, "?endpoint="+name).Endpoints[name])
	}
}

func TestRecreatedEndpointKeepsBothTruths(t *testing.T) {
	ts := newTestServer(t, testConfig())
	ts.mustControl(t, http.MethodPost, "/simulator/endpoints", `{"name":"churn-1","kind":"cpu"}`, http.StatusCreated)
	ts.getMetrics(t, "churn-1")
	ts.mustControl(t, http.MethodDelete, "/simulator/endpoints/churn-1", "", http.StatusNoContent)
	ts.clock.Advance(testWindow)
	ts.mustControl(t, http.MethodPost, "/simulator/endpoints", `{"name":"churn-1","kind":"gpu"}`, http.StatusCreated)
	gpuBody := ts.getMetrics(t, "churn-1")
	assert.Contains(t, parseExposition(t, gpuBody), "gpu_usage_percentage", "the new incarnation's own kind")

	windows := ts.getTruth(t, "?endpoint=churn-1").Endpoints["churn-1"].Windows
	require.Len(t, windows, 2)
	hasGPU := func(wt WindowTruth) bool {
		for _, s := range wt.Series {
			if s.Name == "gpu_usage_percentage" {
				return true
			}
		}
		return false
	}
	assert.False(t, hasGPU(windows[0]), "the CPU window stays a CPU window")
	assert.Equal(t, observedFromFamilies(t, parseExposition(t, gpuBody)), observedFromTruth(t, windows[1]))
}

func TestDeletedNeverServedEndpointHasNoTruth(t *testing.T) {
	ts := newTestServer(t, testConfig())
	ts.mustControl(t, http.MethodDelete, "/simulator/endpoints/cpu-endpoint-1", "", http.StatusNoContent)
	resp, _ := ts.get(t, "/simulator/truth?endpoint=cpu-endpoint-1", "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// TestChurnDuringScrapes changes the catalog while clients read it; run with
// -race it checks that readers never see a half-made change.
func TestChurnDuringScrapes(t *testing.T) {
	ts := newTestServer(t, testConfig())
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, body := ts.get(t, "/api/2.0/serving-endpoints", testToken)
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				assert.True(t, json.Valid(body))
				resp, _ = ts.get(t, metricsPath("cpu-endpoint-0"), testToken)
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				ts.get(t, metricsPath("churn-0"), testToken)
			}
		})
	}
	for i := range 20 {
		ts.mustControl(t, http.MethodPost, "/simulator/endpoints", `{"name":"churn-0","kind":"cpu"}`, http.StatusCreated)
		ts.mustControl(t, http.MethodPatch, "/simulator/endpoints/churn-0", `{"ready":"NOT_READY"}`, http.StatusOK)
		if i%2 == 0 {
			ts.clock.Advance(testWindow)
		}
		ts.mustControl(t, http.MethodDelete, "/simulator/endpoints/churn-0", "", http.StatusNoContent)
	}
	close(stop)
	readers.Wait()
	assert.NotContains(t, ts.sim.Endpoints(), "churn-0")
}

func TestRenderListMatchesJSONMarshal(t *testing.T) {
	ts := newTestServer(t, testConfig())
	ts.mustControl(t, http.MethodPatch, "/simulator/endpoints/cpu-endpoint-0", `{"ready":"NOT_READY"}`, http.StatusOK)
	snap := ts.sim.catalog.snapshot()
	resp := listResponse{Endpoints: []endpointResource{}}
	for _, entry := range snap.entries {
		resp.Endpoints = append(resp.Endpoints, newEndpointResource(entry.ep, entry.status, false))
	}
	want, err := json.Marshal(resp)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(snap.listBody))
	assert.JSONEq(t, `{"endpoints":[]}`, string(renderList(nil)))
}
