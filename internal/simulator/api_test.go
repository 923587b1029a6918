// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"encoding/json"
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// jsonObject decodes a JSON object generically, so tests see exactly which
// keys are present.
func jsonObject(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var object map[string]any
	require.NoError(t, json.Unmarshal(body, &object), string(body))
	return object
}

func TestListEndpoints(t *testing.T) {
	ts := newTestServer(t, testConfig())
	resp, body := ts.get(t, "/api/2.0/serving-endpoints", testToken)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))

	list := jsonObject(t, body)
	require.Len(t, list, 1, "the list is not paginated: endpoints is the only key")
	items := list["endpoints"].([]any)
	require.Len(t, items, len(ts.sim.Endpoints()))

	byName := make(map[string]map[string]any)
	for i, item := range items {
		ep := item.(map[string]any)
		assert.Equal(t, ts.sim.Endpoints()[i], ep["name"], "list order")
		byName[ep["name"].(string)] = ep
		assert.Greater(t, ep["creation_timestamp"], 1.7e12)
		assert.GreaterOrEqual(t, ep["last_updated_timestamp"], ep["creation_timestamp"])
		assert.Equal(t, map[string]any{"ready": "READY", "config_update": "NOT_UPDATING"}, ep["state"])
		assert.NotEmpty(t, ep["permission_level"])
		for _, entity := range ep["config"].(map[string]any)["served_entities"].([]any) {
			for _, detailOnly := range []string{"workload_size", "workload_type", "scale_to_zero_enabled", "state"} {
				assert.NotContains(t, entity, detailOnly, "the list carries only a summary of served entities")
			}
		}
		assert.NotContains(t, ep["config"], "traffic_config")
		assert.NotContains(t, ep["config"], "config_version")
	}

	cpu := byName["cpu-endpoint-0"]
	assert.Regexp(t, hexID, cpu["id"])
	assert.NotEmpty(t, cpu["creator"])
	assert.NotContains(t, cpu, "endpoint_type")
	assert.Equal(t, []any{
		map[string]any{"key": "team", "value": "ml"},
		map[string]any{"key": "env", "value": "prod"},
	}, cpu["tags"])
	assert.Equal(t, []any{map[string]any{
		"name":           "cpu-endpoint-0-model-1",
		"entity_name":    "main.ml.cpu_endpoint_0_model",
		"entity_version": cpu["config"].(map[string]any)["served_entities"].([]any)[0].(map[string]any)["entity_version"],
		"type":           "UC_MODEL",
	}}, cpu["config"].(map[string]any)["served_entities"])

	multi := byName["multi-entity-endpoint-0"]
	var entityNames []any
	for _, entity := range multi["config"].(map[string]any)["served_entities"].([]any) {
		entityNames = append(entityNames, entity.(map[string]any)["name"])
	}
	assert.Equal(t, []any{"multi-entity-endpoint-0-champion-1", "multi-entity-endpoint-0-challenger-2"}, entityNames)

	fmapi := byName["databricks-fmapi-endpoint-0"]
	assert.Equal(t, "FOUNDATION_MODEL_API", fmapi["endpoint_type"])
	assert.Equal(t, "llm/v1/chat", fmapi["task"])
	for _, absent := range []string{"id", "creator", "tags"} {
		assert.NotContains(t, fmapi, absent)
	}
	fmEntity := fmapi["config"].(map[string]any)["served_entities"].([]any)[0].(map[string]any)
	assert.Equal(t, "FOUNDATION_MODEL", fmEntity["type"])
	assert.Equal(t, map[string]any{
		"name":         "system.ai.databricks-meta-llama-3-3-70b-instruct",
		"display_name": "Meta Llama 3.3 70B Instruct",
	}, fmEntity["foundation_model"])
}

func TestListIsStableAcrossServersWithTheSameSeed(t *testing.T) {
	first := newTestServer(t, testConfig())
	second := newTestServer(t, testConfig())
	_, firstBody := first.get(t, "/api/2.0/serving-endpoints", testToken)
	_, secondBody := second.get(t, "/api/2.0/serving-endpoints", testToken)
	assert.Equal(t, string(firstBody), string(secondBody))
}

func TestGetEndpoint(t *testing.T) {
	ts := newTestServer(t, testConfig())
	tests := []struct {
		endpoint         string
		wantWorkloadType string
		wantScaleToZero  bool
		wantRoutes       map[string]float64
	}{
		{"cpu-endpoint-0", "CPU", false, map[string]float64{"cpu-endpoint-0-model-1": 100}},
		{"gpu-endpoint-0", "MULTIGPU_MEDIUM", false, map[string]float64{"gpu-endpoint-0-model-1": 100}},
		{"scale-to-zero-endpoint-0", "CPU", true, map[string]float64{"scale-to-zero-endpoint-0-model-1": 100}},
		{"multi-entity-endpoint-0", "CPU", false, map[string]float64{
			"multi-entity-endpoint-0-champion-1":   80,
			"multi-entity-endpoint-0-challenger-2": 20,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			resp, body := ts.get(t, "/api/2.0/serving-endpoints/"+tt.endpoint, testToken)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			ep := jsonObject(t, body)
			assert.Equal(t, tt.endpoint, ep["name"])
			assert.Regexp(t, hexID, ep["id"])

			config := ep["config"].(map[string]any)
			assert.GreaterOrEqual(t, config["config_version"], 1.0)
			routes := make(map[string]float64)
			for _, route := range config["traffic_config"].(map[string]any)["routes"].([]any) {
				r := route.(map[string]any)
				routes[r["served_entity_name"].(string)] = r["traffic_percentage"].(float64)
			}
			assert.Equal(t, tt.wantRoutes, routes)

			entities := config["served_entities"].([]any)
			require.Len(t, entities, len(tt.wantRoutes))
			for _, e := range entities {
				entity := e.(map[string]any)
				assert.Contains(t, tt.wantRoutes, entity["name"])
				assert.Contains(t, []any{"Small", "Medium", "Large"}, entity["workload_size"])
				assert.Equal(t, tt.wantWorkloadType, entity["workload_type"])
				assert.Equal(t, tt.wantScaleToZero, entity["scale_to_zero_enabled"])
				assert.Equal(t, map[string]any{"deployment": "DEPLOYMENT_READY", "deployment_state_message": ""}, entity["state"])
				assert.Equal(t, "UC_MODEL", entity["type"])
			}
		})
	}
}

func TestGetFoundationModelEndpoint(t *testing.T) {
	ts := newTestServer(t, testConfig())
	resp, body := ts.get(t, "/api/2.0/serving-endpoints/databricks-fmapi-endpoint-0", testToken)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	ep := jsonObject(t, body)
	assert.Equal(t, "FOUNDATION_MODEL_API", ep["endpoint_type"])
	assert.NotContains(t, ep, "id")
	entity := ep["config"].(map[string]any)["served_entities"].([]any)[0].(map[string]any)
	assert.Equal(t, "FOUNDATION_MODEL", entity["type"])
	assert.NotContains(t, entity, "workload_size", "pay-per-token entities have no workload")
}

func TestUnknownEndpointIsNotFound(t *testing.T) {
	ts := newTestServer(t, testConfig())
	for _, path := range []string{
		"/api/2.0/serving-endpoints/no-such-endpoint",
		metricsPath("no-such-endpoint"),
	} {
		t.Run(path, func(t *testing.T) {
			resp, body := ts.get(t, path, testToken)
			require.Equal(t, http.StatusNotFound, resp.StatusCode)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			assert.Equal(t, apiError{
				ErrorCode: "RESOURCE_DOES_NOT_EXIST",
				Message:   "Serving endpoint with name no-such-endpoint not found",
			}, decodeAPIError(t, body))
		})
	}
}

func TestUnknownAPIIsNotFound(t *testing.T) {
	ts := newTestServer(t, testConfig())
	resp, body := ts.get(t, "/api/2.0/clusters/list", testToken)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "ENDPOINT_NOT_FOUND", decodeAPIError(t, body).ErrorCode)
}

func TestFoundationModelMetricsAreNotFound(t *testing.T) {
	ts := newTestServer(t, testConfig())
	resp, body := ts.get(t, metricsPath("databricks-fmapi-endpoint-0"), testToken)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	apiErr := decodeAPIError(t, body)
	assert.Equal(t, "RESOURCE_DOES_NOT_EXIST", apiErr.ErrorCode)
	assert.Contains(t, apiErr.Message, "pay-per-token")
	assert.Contains(t, apiErr.Message, "databricks-fmapi-endpoint-0")
}

func TestAPIRequiresTheToken(t *testing.T) {
	ts := newTestServer(t, testConfig())
	paths := []string{
		"/api/2.0/serving-endpoints",
		"/api/2.0/serving-endpoints/cpu-endpoint-0",
		metricsPath("cpu-endpoint-0"),
		metricsPath("no-such-endpoint"),
		"/api/2.0/clusters/list",
	}
	authorizations := map[string]string{
		"missing":        "",
		"wrong token":    "Bearer not-the-token",
		"token prefix":   "Bearer " + testToken[:len(testToken)-1],
		"basic scheme":   "Basic " + testToken,
		"no scheme":      testToken,
		"empty bearer":   "Bearer ",
		"token suffixed": "Bearer " + testToken + "x",
	}
	for _, path := range paths {
		for name, authorization := range authorizations {
			t.Run(name+" "+path, func(t *testing.T) {
				req, err := http.NewRequest(http.MethodGet, ts.http.URL+path, http.NoBody)
				require.NoError(t, err)
				if authorization != "" {
					req.Header.Set("Authorization", authorization)
				}
				resp, err := ts.http.Client().Do(req)
				require.NoError(t, err)
				defer func() { _ = resp.Body.Close() }()
				require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
				assert.Equal(t, "Bearer", resp.Header.Get("WWW-Authenticate"))
				assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
				var apiErr apiError
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&apiErr))
				assert.Equal(t, apiError{ErrorCode: "UNAUTHENTICATED", Message: "Invalid access token."}, apiErr)
			})
		}
	}
	assert.Empty(t, ts.sim.Truth().Endpoints, "rejected requests serve no window")
}

func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	ts := newTestServer(t, testConfig())
	req, err := http.NewRequest(http.MethodGet, ts.http.URL+"/api/2.0/serving-endpoints", http.NoBody)
	require.NoError(t, err)
	req.Header.Set("Authorization", "bearer "+testToken)
	resp, err := ts.http.Client().Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestIntrospectionNeedsNoToken(t *testing.T) {
	ts := newTestServer(t, testConfig())
	for _, path := range []string{"/simulator/truth", "/simulator/stats"} {
		resp, _ := ts.get(t, path, "")
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), path)
	}
}
