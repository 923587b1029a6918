// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFaultSeriesChurn(t *testing.T) {
	ts := newTestServer(t, testConfig())
	normal := parseExposition(t, normalBody(t, ts, faultEndpoint))
	ts.patchFault(t, `{"mode":"series_churn","labels":50}`)

	seen := map[string]bool{}
	for scrape := range 3 {
		families := parseExposition(t, ts.getMetrics(t, faultEndpoint))
		assert.Len(t, families, len(normal)+1, "scrape %d", scrape)
		churn := families[churnGaugeName].GetMetric()
		require.Len(t, churn, 50, "scrape %d", scrape)
		for _, m := range churn {
			require.Len(t, m.GetLabel(), 1)
			id := m.GetLabel()[0].GetValue()
			assert.False(t, seen[id], "label value %s repeated", id)
			seen[id] = true
			assert.Equal(t, 1.0, m.GetGauge().GetValue())
			assert.Equal(t, testWindowEndMillis, m.GetTimestampMs())
		}
		delete(families, churnGaugeName)
		assert.Equal(t, observedFromFamilies(t, normal), observedFromFamilies(t, families), "the normal body is there, scrape %d", scrape)
	}
	assert.Len(t, seen, 150, "new label sets on every scrape, within one window")
	assert.Contains(t, ts.sim.Truth().Endpoints, faultEndpoint, "the normal samples were served")
	assert.Equal(t, int64(3), ts.sim.Stats().Requests.Faulted)
}

func TestFaultEchoRequest(t *testing.T) {
	ts := newTestServer(t, testConfig())
	ts.patchFault(t, `{"mode":"echo_request","status":400}`)
	resp, body := ts.send(t, http.MethodGet, metricsPath(faultEndpoint), "", http.Header{
		"Authorization": {"Bearer " + testToken},
		"X-Request-Id":  {"abc-123"},
	})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(body))
	assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
	text := string(body)
	assert.Contains(t, text, "GET "+metricsPath(faultEndpoint)+" HTTP/1.1\n", "the request line")
	assert.Contains(t, text, "\nHost: "+strings.TrimPrefix(ts.http.URL, "http://")+"\n")
	assert.Contains(t, text, "\nAuthorization: Bearer "+testToken+"\n", "the credential, echoed")
	assert.Contains(t, text, "\nX-Request-Id: abc-123\n", "every header")
	assert.Less(t, strings.Index(text, "Authorization"), 256, "within the first bytes, where a capped error message still has it")
	assert.NotContains(t, ts.sim.Truth().Endpoints, faultEndpoint)

	// It replaces the answer: a pay-per-token endpoint echoes too.
	const fmapi = "databricks-fmapi-endpoint-0"
	require.NoError(t, ts.sim.SetFault(fmapi, &Fault{Mode: FaultEchoRequest, Status: http.StatusUnauthorized}))
	resp, body = ts.get(t, metricsPath(fmapi), testToken)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, "Bearer", resp.Header.Get("WWW-Authenticate"))
	assert.Contains(t, string(body), "Authorization: Bearer "+testToken)

	stats := ts.sim.Stats().Requests
	assert.Equal(t, int64(2), stats.Faulted)
	assert.Equal(t, int64(1), stats.Unauthorized)
}

func TestAPIFaultEchoRequest(t *testing.T) {
	for _, tt := range []struct{ call, path string }{
		{"list", listPath},
		{"get", listPath + "/" + faultEndpoint},
		{"get", listPath + "/no-such-endpoint"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			ts := newTestServer(t, testConfig())
			ts.putWorkspaceFault(t, tt.call, `{"mode":"echo_request","status":502}`)
			resp, body := ts.get(t, tt.path, testToken)
			require.Equal(t, http.StatusBadGateway, resp.StatusCode, string(body))
			assert.Contains(t, string(body), "GET "+tt.path+" HTTP/1.1\n")
			assert.Contains(t, string(body), "\nAuthorization: Bearer "+testToken+"\n")
			// /metrics is unaffected.
			ts.getMetrics(t, faultEndpoint)
			ts.putWorkspaceFault(t, tt.call, `null`)
			resp, _ = ts.get(t, tt.path, testToken)
			assert.NotEqual(t, http.StatusBadGateway, resp.StatusCode)
		})
	}

	t.Run("token", func(t *testing.T) {
		for _, tr := range tokenRequests() {
			ts := newTestServer(t, authConfig())
			require.NoError(t, ts.sim.SetTokenFault(&Fault{Mode: FaultEchoRequest, Status: http.StatusBadRequest}))
			resp, body := ts.postForm(t, tr.path, tr.form, tr.id, tr.secret)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(body))
			text := string(body)
			assert.Contains(t, text, "POST "+tr.path+" HTTP/1.1\n", tr.name)
			assert.Contains(t, text, "\n\n"+tr.form.Encode(), "%s: the form is echoed after the headers", tr.name)
			if tr.id != "" {
				assert.Contains(t, text, "\nAuthorization: Basic ", tr.name)
			} else {
				assert.Contains(t, text, "client_secret="+testAzureSecret, tr.name)
			}
			assert.Equal(t, int64(1), ts.sim.Stats().TokenRequests.Faulted, tr.name)
		}
	})
}

func TestAPIFaultAmplifiedDescribe(t *testing.T) {
	ts := newTestServer(t, testConfig())
	const name = "multi-entity-endpoint-0"
	_, normalBody := ts.get(t, listPath+"/"+name, testToken)
	var normal endpointResource
	require.NoError(t, json.Unmarshal(normalBody, &normal))
	require.Len(t, normal.Config.ServedEntities, 2)

	require.NoError(t, ts.sim.SetAPIFault("get", &Fault{Mode: FaultAmplifiedDescribe, Size: 30, Labels: 40, LabelValueLength: 300}))
	resp, body := ts.get(t, listPath+"/"+name, testToken)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var got endpointResource
	require.NoError(t, json.Unmarshal(body, &got))

	entities := got.Config.ServedEntities
	require.Len(t, entities, 32)
	assert.Equal(t, normal.Config.ServedEntities, entities[:2], "its own served entities first, unchanged")
	names := map[string]bool{}
	for _, e := range entities[2:] {
		assert.True(t, strings.HasPrefix(e.Name, normal.Config.ServedEntities[0].Name+"-amplified-"), e.Name)
		assert.Equal(t, normal.Config.ServedEntities[0].EntityName, e.EntityName)
		assert.NotNil(t, e.State)
		names[e.Name] = true
	}
	assert.Len(t, names, 30, "distinct names")
	routes := got.Config.TrafficConfig.Routes
	require.Len(t, routes, 32)
	assert.Equal(t, normal.Config.TrafficConfig.Routes, routes[:2], "the traffic stays with the real entities")
	for _, r := range routes[2:] {
		assert.Zero(t, r.TrafficPercentage)
	}

	require.Len(t, got.Tags, len(normal.Tags)+40)
	assert.Equal(t, normal.Tags, got.Tags[:len(normal.Tags)])
	keys := map[string]bool{}
	for _, tag := range got.Tags[len(normal.Tags):] {
		assert.Len(t, tag.Key, 300)
		assert.Len(t, tag.Value, 300)
		keys[tag.Key] = true
	}
	assert.Len(t, keys, 40, "distinct keys")
	got.Config, normal.Config = endpointConfig{}, endpointConfig{}
	got.Tags, normal.Tags = nil, nil
	assert.Equal(t, normal, got, "the other fields are the endpoint's")

	// An endpoint that does not exist is still not found; the list is not
	// amplified.
	resp, _ = ts.get(t, listPath+"/no-such-endpoint", testToken)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Len(t, ts.listItems(t)[name]["config"].(map[string]any)["served_entities"], 2)

	// Over HTTP, with the default tag length and tags only.
	ts.putWorkspaceFault(t, "get", `{"mode":"amplified_describe","labels":3}`)
	tags := ts.detail(t, faultEndpoint)["tags"].([]any)
	require.Len(t, tags, 5)
	for _, tag := range tags[2:] {
		assert.Len(t, tag.(map[string]any)["key"], defaultAmplifiedTagLength)
		assert.Len(t, tag.(map[string]any)["value"], defaultAmplifiedTagLength)
	}
	assert.Len(t, ts.detail(t, faultEndpoint)["config"].(map[string]any)["served_entities"], 1)

	// Short lengths keep the keys distinct.
	ts.putWorkspaceFault(t, "get", `{"mode":"amplified_describe","labels":12,"label_value_length":1}`)
	keys = map[string]bool{}
	for _, tag := range ts.detail(t, faultEndpoint)["tags"].([]any) {
		keys[tag.(map[string]any)["key"].(string)] = true
	}
	assert.Len(t, keys, 14)

	ts.putWorkspaceFault(t, "get", `null`)
	assert.JSONEq(t, string(normalBody), string(mustGet(t, ts, listPath+"/"+name)))
}

func mustGet(t *testing.T, ts *testServer, path string) []byte {
	t.Helper()
	resp, body := ts.get(t, path, testToken)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	return body
}

func TestAPIFaultHugeList(t *testing.T) {
	ts := newTestServer(t, testConfig())
	realItems := ts.listItems(t)
	realNames := slices.Sorted(maps.Keys(realItems))
	const padding = 500
	ts.putWorkspaceFault(t, "list", `{"mode":"huge_list","size":500}`)
	resp, body := ts.get(t, listPath, testToken)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var list listResponse
	require.NoError(t, json.Unmarshal(body, &list), "valid JSON")
	require.Len(t, list.Endpoints, len(realItems)+padding)

	for i, ep := range list.Endpoints {
		if i < len(realItems) {
			assert.Contains(t, realItems, ep.Name, "the real endpoints first")
			continue
		}
		assert.Equal(t, listPaddingName(i-len(realItems)), ep.Name)
		require.NoError(t, validateEndpointName(ep.Name))
		assert.Greater(t, ep.Name, realNames[len(realNames)-1], "fake names sort after the real ones")
		assert.Equal(t, "READY", ep.State.Ready)
		assert.NotEmpty(t, ep.Config.ServedEntities)
		assert.NotEqual(t, endpointTypeFMAPI, ep.EndpointType, "an endpoint with metrics, as far as the list says")
	}
	for _, fake := range []string{listPaddingName(0), listPaddingName(padding - 1)} {
		resp, _ := ts.get(t, listPath+"/"+fake, testToken)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "never describable")
		resp, _ = ts.get(t, metricsPath(fake), testToken)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "no metrics")
	}

	_, again := ts.get(t, listPath, testToken)
	assert.Equal(t, body, again, "the same answer every time")
	ts.putWorkspaceFault(t, "list", `null`)
	assert.Len(t, ts.listItems(t), len(realItems))
}

func TestPaddedListOfAnEmptyWorkspace(t *testing.T) {
	ts := newTestServer(t, testConfig())
	f, err := newActiveFault(&Fault{Mode: FaultHugeList, Size: 2})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	ts.sim.writePaddedList(rec, renderList(nil), f)
	var list listResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &list), rec.Body.String())
	assert.Len(t, list.Endpoints, 2)
	assert.Equal(t, strconv.Itoa(rec.Body.Len()), rec.Header().Get("Content-Length"))
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
}

func TestHostileFaultValidation(t *testing.T) {
	ts := newTestServer(t, authConfig())
	endpointFaults := map[string]struct{ body, mentions string }{
		"churn without labels":           {`{"mode":"series_churn"}`, "fault.labels is required"},
		"churn too many":                 {`{"mode":"series_churn","labels":99999999}`, "fault.labels"},
		"churn with size":                {`{"mode":"series_churn","labels":5,"size":5}`, "fault.size does not apply"},
		"echo without status":            {`{"mode":"echo_request"}`, "fault.status is required for mode echo_request"},
		"echo status not an error":       {`{"mode":"echo_request","status":200}`, "fault.status"},
		"amplified_describe on /metrics": {`{"mode":"amplified_describe","size":5}`, "PUT /simulator/faults/get"},
		"huge_list on /metrics":          {`{"mode":"huge_list","size":5}`, "PUT /simulator/faults/list"},
	}
	for name, tt := range endpointFaults {
		t.Run(name, func(t *testing.T) {
			resp, body := ts.control(t, http.MethodPatch, "/simulator/endpoints/"+faultEndpoint, `{"fault":`+tt.body+`}`)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(body))
			assert.Contains(t, decodeAPIError(t, body).Message, tt.mentions)
		})
	}
	callFaults := map[string]struct{ call, body, mentions string }{
		"amplified without sizes":  {"get", `{"mode":"amplified_describe"}`, "fault.size or fault.labels is required"},
		"amplified too many":       {"get", `{"mode":"amplified_describe","size":9999999}`, "fault.size"},
		"amplified tags too large": {"get", `{"mode":"amplified_describe","labels":65536,"label_value_length":65536}`, "bytes of tags"},
		"amplified with status":    {"get", `{"mode":"amplified_describe","size":1,"status":400}`, "fault.status does not apply"},
		"huge list without size":   {"list", `{"mode":"huge_list"}`, "fault.size is required"},
		"huge list too long":       {"list", `{"mode":"huge_list","size":99999999}`, "fault.size"},
		"amplified on the list":    {"list", `{"mode":"amplified_describe","size":5}`, "want status, slow_headers, echo_request or huge_list"},
		"huge list on get":         {"get", `{"mode":"huge_list","size":5}`, "want status, slow_headers, echo_request or amplified_describe"},
		"huge list on token":       {"token", `{"mode":"huge_list","size":5}`, "want status, slow_headers or echo_request"},
		"churn on the list":        {"list", `{"mode":"series_churn","labels":5}`, "not supported for the list call"},
		"echo without status":      {"token", `{"mode":"echo_request"}`, "fault.status is required"},
	}
	for name, tt := range callFaults {
		t.Run(name, func(t *testing.T) {
			resp, body := ts.control(t, http.MethodPut, "/simulator/faults/"+tt.call, `{"fault":`+tt.body+`}`)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(body))
			assert.Contains(t, decodeAPIError(t, body).Message, tt.mentions)
		})
	}
	assert.ErrorContains(t, ts.sim.SetFault(faultEndpoint, &Fault{Mode: FaultHugeList, Size: 1}), "not /metrics")
	assert.ErrorContains(t, ts.sim.SetAPIFault("get", &Fault{Mode: FaultSeriesChurn, Labels: 1}), "not supported for the get call")
	require.NoError(t, ts.sim.SetAPIFault("get", &Fault{Mode: FaultAmplifiedDescribe, Labels: 1}))
	require.NoError(t, ts.sim.SetAPIFault("list", &Fault{Mode: FaultEchoRequest, Status: 400}))
	require.NoError(t, ts.sim.SetTokenFault(&Fault{Mode: FaultEchoRequest, Status: 503}))
}
