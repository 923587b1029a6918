// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// entityStates returns the deployment state of every served entity in a get
// body, by served entity name.
func entityStates(t *testing.T, detail map[string]any) map[string]map[string]any {
	t.Helper()
	states := make(map[string]map[string]any)
	for _, e := range detail["config"].(map[string]any)["served_entities"].([]any) {
		entity := e.(map[string]any)
		states[entity["name"].(string)] = entity["state"].(map[string]any)
	}
	return states
}

func TestPatchEndpointState(t *testing.T) {
	ts := newTestServer(t, testConfig())
	const name = "multi-entity-endpoint-0"
	body := ts.mustControl(t, http.MethodPatch, "/simulator/endpoints/"+name,
		`{"ready":"NOT_READY","config_update":"UPDATE_FAILED","deployment":{"multi-entity-endpoint-0-challenger-2":"DEPLOYMENT_FAILED"}}`,
		http.StatusOK)
	assert.Equal(t, ts.detail(t, name), jsonObject(t, body), "PATCH answers the get body")

	wantState := map[string]any{"ready": "NOT_READY", "config_update": "UPDATE_FAILED"}
	assert.Equal(t, wantState, ts.listItems(t)[name]["state"])
	detail := ts.detail(t, name)
	assert.Equal(t, wantState, detail["state"])
	states := entityStates(t, detail)
	assert.Equal(t, map[string]any{"deployment": "DEPLOYMENT_READY", "deployment_state_message": ""}, states["multi-entity-endpoint-0-champion-1"])
	assert.Equal(t, "DEPLOYMENT_FAILED", states["multi-entity-endpoint-0-challenger-2"]["deployment"])
	assert.NotEmpty(t, states["multi-entity-endpoint-0-challenger-2"]["deployment_state_message"])

	// Absent fields keep their value; deployments merge per entity.
	ts.mustControl(t, http.MethodPatch, "/simulator/endpoints/"+name,
		`{"config_update":"IN_PROGRESS","deployment":{"multi-entity-endpoint-0-champion-1":"DEPLOYMENT_CREATING"}}`, http.StatusOK)
	detail = ts.detail(t, name)
	assert.Equal(t, map[string]any{"ready": "NOT_READY", "config_update": "IN_PROGRESS"}, detail["state"])
	states = entityStates(t, detail)
	assert.Equal(t, "DEPLOYMENT_CREATING", states["multi-entity-endpoint-0-champion-1"]["deployment"])
	assert.Equal(t, "DEPLOYMENT_FAILED", states["multi-entity-endpoint-0-challenger-2"]["deployment"])

	// Back to the defaults.
	ts.mustControl(t, http.MethodPatch, "/simulator/endpoints/"+name,
		`{"ready":"READY","config_update":"NOT_UPDATING","deployment":{"multi-entity-endpoint-0-champion-1":"DEPLOYMENT_READY","multi-entity-endpoint-0-challenger-2":"DEPLOYMENT_READY"}}`,
		http.StatusOK)
	fresh := newTestServer(t, testConfig())
	assert.Equal(t, fresh.detail(t, name), ts.detail(t, name))

	for other, item := range ts.listItems(t) {
		assert.Equal(t, map[string]any{"ready": "READY", "config_update": "NOT_UPDATING"}, item["state"], other)
	}
	// The metrics are unaffected by the state.
	assert.Equal(t, string(fresh.getMetrics(t, name)), string(ts.getMetrics(t, name)))
}

func TestPatchEveryEnumValue(t *testing.T) {
	ts := newTestServer(t, testConfig())
	for _, ready := range readyStates {
		ts.mustControl(t, http.MethodPatch, "/simulator/endpoints/cpu-endpoint-0", `{"ready":"`+ready+`"}`, http.StatusOK)
		assert.Equal(t, ready, ts.detail(t, "cpu-endpoint-0")["state"].(map[string]any)["ready"])
	}
	for _, update := range configUpdateStates {
		ts.mustControl(t, http.MethodPatch, "/simulator/endpoints/cpu-endpoint-0", `{"config_update":"`+update+`"}`, http.StatusOK)
		assert.Equal(t, update, ts.listItems(t)["cpu-endpoint-0"]["state"].(map[string]any)["config_update"])
	}
	for deployment, message := range deploymentMessages {
		ts.mustControl(t, http.MethodPatch, "/simulator/endpoints/cpu-endpoint-0",
			`{"deployment":{"cpu-endpoint-0-model-1":"`+deployment+`"}}`, http.StatusOK)
		assert.Equal(t, map[string]any{"deployment": deployment, "deployment_state_message": message},
			entityStates(t, ts.detail(t, "cpu-endpoint-0"))["cpu-endpoint-0-model-1"])
	}
}

func TestPatchEndpointValidation(t *testing.T) {
	ts := newTestServer(t, testConfig())
	before := ts.detail(t, "cpu-endpoint-0")
	tests := map[string]string{
		"unknown ready":            `{"ready":"ALMOST_READY"}`,
		"lowercase ready":          `{"ready":"ready"}`,
		"unknown config update":    `{"config_update":"UPDATING"}`,
		"unknown deployment":       `{"deployment":{"cpu-endpoint-0-model-1":"DEPLOYMENT_BROKEN"}}`,
		"unknown served entity":    `{"deployment":{"no-such-entity":"DEPLOYMENT_FAILED"}}`,
		"unsupported metrics code": `{"metrics_status":500}`,
		"one bad field of two":     `{"ready":"NOT_READY","config_update":"UPDATING"}`,
		"unknown field":            `{"readiness":"NOT_READY"}`,
		"wrong type":               `{"ready":1}`,
		"not JSON":                 `ready=NOT_READY`,
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			resp, respBody := ts.control(t, http.MethodPatch, "/simulator/endpoints/cpu-endpoint-0", body)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(respBody))
			assert.Equal(t, "INVALID_PARAMETER_VALUE", decodeAPIError(t, respBody).ErrorCode)
		})
	}
	assert.Equal(t, before, ts.detail(t, "cpu-endpoint-0"), "a rejected PATCH changes nothing")

	resp, body := ts.control(t, http.MethodPatch, "/simulator/endpoints/no-such-endpoint", `{"ready":"NOT_READY"}`)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "RESOURCE_DOES_NOT_EXIST", decodeAPIError(t, body).ErrorCode)
}

func TestMetricsStatusToggle(t *testing.T) {
	ts := newTestServer(t, testConfig())
	const name = "cpu-endpoint-0"
	ts.mustControl(t, http.MethodPatch, "/simulator/endpoints/"+name, `{"metrics_status":404}`, http.StatusOK)
	for range 3 {
		resp, body := ts.get(t, metricsPath(name), testToken)
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		apiErr := decodeAPIError(t, body)
		assert.Equal(t, "RESOURCE_DOES_NOT_EXIST", apiErr.ErrorCode)
		assert.Equal(t, "Serving endpoint cpu-endpoint-0 has no metrics", apiErr.Message)
	}
	assert.Contains(t, ts.listItems(t), name, "the endpoint itself still exists")
	ts.detail(t, name)
	assert.Empty(t, ts.sim.Truth().Endpoints, "a 404 serves no window")
	assert.Equal(t, int64(3), ts.sim.Requests()[name][testStaticLabel(testToken)], "every attempt is counted")
	assert.Equal(t, int64(3), ts.sim.Stats().Requests.NotFound)

	ts.mustControl(t, http.MethodPatch, "/simulator/endpoints/"+name, `{"metrics_status":200}`, http.StatusOK)
	ts.getMetrics(t, name)
	assert.Contains(t, ts.sim.Truth().Endpoints, name)

	// Pay-per-token endpoints have no metrics whatever the status says.
	ts.mustControl(t, http.MethodPatch, "/simulator/endpoints/databricks-fmapi-endpoint-0", `{"metrics_status":200}`, http.StatusOK)
	resp, body := ts.get(t, metricsPath("databricks-fmapi-endpoint-0"), testToken)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Contains(t, decodeAPIError(t, body).Message, "pay-per-token")
}
