// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-databricks/otelcol-databricks/internal/simulator"
)

// control calls the simulator's control API and decodes the answer into result (when not nil).
func (s *stack) control(t *testing.T, method, path string, body, result any) {
	t.Helper()
	var payload bytes.Buffer
	if body != nil {
		require.NoError(t, json.NewEncoder(&payload).Encode(body))
	}
	req, err := http.NewRequest(method, localURL(s.simulatorPort, path), &payload)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	require.Less(t, resp.StatusCode, 300, "%s %s", method, path)
	if result != nil {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(result))
	}
}

// describe returns the simulator's GET answer for an endpoint: the ground truth of the metadata attributes.
func (s *stack) describe(t *testing.T, name string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, localURL(s.simulatorPort, "/api/2.0/serving-endpoints/"+name), http.NoBody)
	req.Header.Set("Authorization", "Bearer "+simulatorToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

type simulatorStats struct {
	Requests struct {
		Unauthorized int `json:"unauthorized"`
	} `json:"requests"`
	TokenRequests struct {
		OAuth    int `json:"oauth"`
		Rejected int `json:"rejected"`
	} `json:"token_requests"`
	ExpiredTokenRejections int `json:"expired_token_rejections"`
}

// credentialID is how the simulator names a static token in /simulator/requests: never the token itself.
func credentialID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "static:" + hex.EncodeToString(sum[:])[:8]
}

// TestFleet runs a service principal (OAuth M2M with tokens that expire every few seconds) against a workspace
// whose endpoints change mid-run, and checks every window still arrives, deleted endpoints go stale, new ones
// count from their first window, and endpoint metadata and state reach both backends.
func TestFleet(t *testing.T) {
	requireLoopbackOnly(t)
	rows := readMetricsTable(t)
	const clientID, clientSecret = "e2e-service-principal", "e2e-oauth-secret-2b7e151628aed2a6"
	s := startStack(t, stackOptions{
		simulatorArgs: append(append([]string{}, standardEndpoints...), "-oauth-client", clientID+":"+clientSecret, "-token-lifetime", "5s"),
		overlays:      []string{"oauth.yaml"},
		noCollector:   true,
		// The dashboard's and alerts' queries are checked on Prometheus 3 too (checkMonitoringAssets).
		prometheus3: p3RemoteWrite,
	})
	// One endpoint refuses the credentials throughout, so failure panels, alerts and tags have data too.
	s.control(t, http.MethodPatch, "/simulator/endpoints/scale-to-zero-endpoint-0", map[string]any{"fault": map[string]any{"mode": "status", "status": 401}}, nil)
	s.collector = startCollector(t, "otelcol-databricks", s.configs, append(append([]string{}, s.env...), "OAUTH_CLIENT_ID="+clientID, "OAUTH_CLIENT_SECRET="+clientSecret))

	time.Sleep(4 * windowLength)
	s.control(t, http.MethodPost, "/simulator/endpoints", map[string]string{"name": "churn-new-0", "kind": "cpu"}, nil)
	s.control(t, http.MethodDelete, "/simulator/endpoints/cpu-endpoint-1", nil, nil)
	s.control(t, http.MethodPatch, "/simulator/endpoints/gpu-endpoint-0", map[string]string{"ready": "NOT_READY", "config_update": "UPDATE_FAILED"}, nil)
	deletedAt := time.Now()
	time.Sleep(7 * windowLength)

	truth := s.truth(t)
	waitForLastWindows(t, s, rows, truth, []string{"cpu-endpoint-0", "churn-new-0", "gpu-endpoint-0"})

	t.Run("tokens were refreshed before they expired, with no gap in data", func(t *testing.T) {
		var stats simulatorStats
		s.control(t, http.MethodGet, "/simulator/stats", nil, &stats)
		assert.GreaterOrEqual(t, stats.TokenRequests.OAuth, 3, "a ~24 s run with 5 s tokens needs several")
		assert.Zero(t, stats.TokenRequests.Rejected)
		assert.Zero(t, stats.ExpiredTokenRejections, "an expired token was sent")
		checkEndpoint(t, s, rows, "cpu-endpoint-0", truth.Endpoints["cpu-endpoint-0"].Windows, true)
	})

	t.Run("an endpoint created mid-run counts from its first window", func(t *testing.T) {
		checkEndpoint(t, s, rows, "churn-new-0", truth.Endpoints["churn-new-0"].Windows, false)
	})

	t.Run("a deleted endpoint's series are marked stale", func(t *testing.T) {
		name := rows["request_count_total"].PromName
		deleted := map[string]string{endpointLabel: "cpu-endpoint-1"}
		before, err := s.prometheus.rawSamples(selector(name, deleted))
		require.NoError(t, err)
		require.NotEmpty(t, before, "the endpoint had data before it was deleted")
		// Without a stale marker Prometheus would keep answering with the last sample for 5 minutes.
		now, err := s.prometheus.instant(selector(name, deleted), time.Now().UnixMilli())
		require.NoError(t, err)
		assert.Empty(t, now, "stale right after deletion")
		up, err := s.prometheus.instant(selector("databricks_serving_scrape_up", deleted), time.Now().UnixMilli())
		require.NoError(t, err)
		assert.Empty(t, up)
		for _, p := range s.intake.SeriesPoints(rows["request_count_total"].DDName, "count", map[string]string{endpointTag: "cpu-endpoint-1"}) {
			assert.LessOrEqual(t, p.Timestamp, deletedAt.Unix()+int64(windowLength.Seconds()), "no data after deletion")
		}
	})

	t.Run("config update failed and not ready are one-line queries", func(t *testing.T) {
		failed, err := s.prometheus.instantSeries(`databricks_serving_endpoint_config_update_state{state="UPDATE_FAILED"} == 1`)
		require.NoError(t, err)
		require.Len(t, failed, 1)
		assert.Equal(t, "gpu-endpoint-0", failed[0][endpointLabel])
		notReady, err := s.prometheus.instantSeries(`databricks_serving_endpoint_state{state="NOT_READY"} == 1`)
		require.NoError(t, err)
		require.Len(t, notReady, 1)
		assert.Equal(t, "gpu-endpoint-0", notReady[0][endpointLabel])
		healthy, err := s.prometheus.instantSeries(`databricks_serving_endpoint_config_update_state{databricks_serving_endpoint_name="cpu-endpoint-0",state="NOT_UPDATING"} == 1`)
		require.NoError(t, err)
		assert.Len(t, healthy, 1)

		value, ok := s.intake.LastGauge("databricks.serving.endpoint.config_update.state", map[string]string{endpointTag: "gpu-endpoint-0", "state": "UPDATE_FAILED"})
		require.True(t, ok)
		assert.Equal(t, 1.0, value)
	})

	t.Run("endpoint and served entity metadata are labels and tags", func(t *testing.T) {
		desc := s.describe(t, "cpu-endpoint-0")
		entity := desc["config"].(map[string]any)["served_entities"].([]any)[0].(map[string]any)
		want := map[string]string{
			"databricks_workspace_host":                              fmt.Sprintf("127.0.0.1:%d", s.simulatorPort),
			"databricks_serving_endpoint_id":                         desc["id"].(string),
			"databricks_serving_served_entity_name":                  entity["name"].(string),
			"databricks_serving_served_entity_entity_name":           entity["entity_name"].(string),
			"databricks_serving_served_entity_entity_version":        entity["entity_version"].(string),
			"databricks_serving_served_entity_workload_type":         entity["workload_type"].(string),
			"databricks_serving_served_entity_workload_size":         entity["workload_size"].(string),
			"databricks_serving_served_entity_scale_to_zero_enabled": strconv.FormatBool(entity["scale_to_zero_enabled"].(bool)),
		}
		series, err := s.prometheus.rawSamples(selector(rows["request_count_total"].PromName, map[string]string{endpointLabel: "cpu-endpoint-0"}))
		require.NoError(t, err)
		require.Len(t, series, 1)
		for label, value := range want {
			assert.Equal(t, value, series[0].Labels[label], label)
		}
		var tags []string
		for _, ser := range s.intake.Series() {
			if ser.Metric == rows["request_count_total"].DDName && slices.Contains(ser.Tags, endpointTag+":cpu-endpoint-0") {
				tags = append(tags, ser.Tags...)
			}
		}
		require.NotEmpty(t, tags)
		for label, value := range want {
			assert.Contains(t, tags, dottedTag(label)+":"+value)
		}
	})

	checkMonitoringAssets(t, s)

	t.Run("no secret in the collector's output", func(t *testing.T) {
		out := s.collector.out.String()
		for _, secret := range []string{clientSecret, simulatorToken, datadogAPIKey} {
			assert.NotContains(t, out, secret)
		}
	})

	t.Run("scrape health", func(t *testing.T) {
		notCollected, err := s.prometheus.instantSeries(`max by (databricks_serving_endpoint_name) (max_over_time(databricks_serving_scrape_up[5m])) < 1`)
		require.NoError(t, err)
		require.Len(t, notCollected, 1, "only the endpoint refusing the credentials was never collected")
		assert.Equal(t, "scale-to-zero-endpoint-0", notCollected[0][endpointLabel])
		authFailing, err := s.prometheus.instantSeries(`databricks_serving_scrape_up{error_type="auth"} == 0`)
		require.NoError(t, err)
		require.Len(t, authFailing, 1)
		assert.Equal(t, "scale-to-zero-endpoint-0", authFailing[0][endpointLabel])
		duration, err := s.prometheus.instant(selector("databricks_serving_scrape_duration_seconds", map[string]string{endpointLabel: "cpu-endpoint-0"}), time.Now().UnixMilli())
		require.NoError(t, err)
		require.Len(t, duration, 1)
		assert.Greater(t, duration[0], 0.0)
	})
}

// dottedTag is the Datadog tag of a Prometheus label that came from a resource attribute.
func dottedTag(label string) string {
	for prefix, dotted := range map[string]string{
		"databricks_serving_served_entity_": "databricks.serving.served_entity.",
		"databricks_serving_endpoint_":      "databricks.serving.endpoint.",
		"databricks_workspace_":             "databricks.workspace.",
	} {
		if rest, ok := strings.CutPrefix(label, prefix); ok {
			return dotted + rest
		}
	}
	return label
}

// TestTokenFileRotation rotates the token in the file the bearertokenauth extension reads, mid-run, and checks
// that no window is lost and no request is refused.
func TestTokenFileRotation(t *testing.T) {
	requireLoopbackOnly(t)
	rows := readMetricsTable(t)
	tokenFile := filepath.Join(t.TempDir(), "databricks-token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(simulatorToken+"\n"), 0o600))
	s := startStack(t, stackOptions{withoutDatadog: true, overlays: []string{"token-file.yaml"}, env: []string{"TOKEN_FILE=" + tokenFile}})

	time.Sleep(4 * windowLength)
	const rotated = "dapi-rotated-token-9f86d081884c7d65"
	// As with a real rotation, the new token is valid before the old one is revoked.
	s.control(t, http.MethodPut, "/simulator/tokens", map[string][]string{"tokens": {simulatorToken, rotated}}, nil)
	require.NoError(t, os.WriteFile(tokenFile, []byte(rotated+"\n"), 0o600))
	time.Sleep(windowLength)
	s.control(t, http.MethodPut, "/simulator/tokens", map[string][]string{"tokens": {rotated}}, nil)
	time.Sleep(5 * windowLength)

	truth := s.truth(t)
	waitForLastWindows(t, s, rows, truth, []string{"cpu-endpoint-0"})
	var stats simulatorStats
	s.control(t, http.MethodGet, "/simulator/stats", nil, &stats)
	assert.Zero(t, stats.Requests.Unauthorized, "the collector kept using the revoked token")
	var requests map[string]map[string]int
	s.control(t, http.MethodGet, "/simulator/requests", nil, &requests)
	assert.Positive(t, requests["cpu-endpoint-0"][credentialID(rotated)], "the rotated token was used")
	checkEndpoint(t, s, rows, "cpu-endpoint-0", truth.Endpoints["cpu-endpoint-0"].Windows, true)
	assert.NotContains(t, s.collector.out.String(), rotated)
}

// TestShardsSplitTheWorkspace runs three collectors with shard.count 3 over a 300-endpoint workspace: every
// endpoint is scraped by exactly one of them, and when one stops the others keep exactly their endpoints.
func TestShardsSplitTheWorkspace(t *testing.T) {
	requireLoopbackOnly(t)
	s := startStack(t, stackOptions{
		withoutDatadog: true,
		noCollector:    true,
		simulatorArgs:  []string{"-cpu", "300", "-gpu", "0", "-multi-entity", "0", "-scale-to-zero", "0", "-fmapi", "0"},
	})
	tokens := []string{"dapi-shard-0-a1b2c3", "dapi-shard-1-d4e5f6", "dapi-shard-2-a7b8c9"}
	s.control(t, http.MethodPut, "/simulator/tokens", map[string][]string{"tokens": tokens}, nil)
	owner := map[string]int{} // credential → shard
	var collectors []*process
	for i, token := range tokens {
		owner[credentialID(token)] = i
		env := append(append([]string{}, s.env...), "DATABRICKS_TOKEN="+token, "SHARD_INDEX="+strconv.Itoa(i), fmt.Sprintf("SELF_TELEMETRY_PORT=%d", freePort(t)))
		configs := append(append([]string{}, s.configs...), "--config", filepath.Join(*repoRoot, "testdata", "e2e", "shard.yaml"))
		collectors = append(collectors, startCollector(t, fmt.Sprintf("otelcol-databricks-shard-%d", i), configs, env))
	}

	assignment := func() map[string]int {
		var requests map[string]map[string]int
		s.control(t, http.MethodGet, "/simulator/requests?reset=1", nil, nil)
		time.Sleep(3 * time.Second) // three collection intervals
		s.control(t, http.MethodGet, "/simulator/requests", nil, &requests)
		out := map[string]int{}
		for endpoint, byCredential := range requests {
			require.Len(t, byCredential, 1, "%s was scraped by %v", endpoint, byCredential)
			for credential := range byCredential {
				shard, ok := owner[credential]
				require.True(t, ok, "unknown credential %s", credential)
				out[endpoint] = shard
			}
		}
		return out
	}

	before := assignment()
	require.Len(t, before, 300, "every endpoint is scraped")
	perShard := make([]int, 3)
	for _, shard := range before {
		perShard[shard]++
	}
	for shard, n := range perShard {
		assert.Positive(t, n, "shard %d scrapes some endpoints", shard)
	}

	collectors[1].stop(t)
	after := assignment()
	for endpoint, shard := range before {
		if shard == 1 {
			assert.NotContains(t, after, endpoint, "shard 1 stopped; its endpoints wait for it (re-sharding needs a restart with a new count)")
			continue
		}
		assert.Equal(t, shard, after[endpoint], "%s changed owner", endpoint)
	}
	assert.Len(t, after, 300-perShard[1])
}

// TestSeveralWorkspaces runs one collector with a receiver instance per workspace (two simulators with different
// seeds, so their values differ) and checks each workspace's series are its own.
func TestSeveralWorkspaces(t *testing.T) {
	requireLoopbackOnly(t)
	rows := readMetricsTable(t)
	secondPort := freePort(t)
	const secondToken = "dapi-second-workspace-token-77c1"
	second := startProcess(t, "workspace-simulator-second", filepath.Join(*repoRoot, "bin", "workspace-simulator"), []string{
		"-listen", fmt.Sprintf("127.0.0.1:%d", secondPort), "-token", secondToken, "-window", windowLength.String(), "-seed", "7",
		"-cpu", "1", "-gpu", "0", "-multi-entity", "0", "-scale-to-zero", "0", "-fmapi", "0",
	}, nil)
	waitHTTP200(t, second, localURL(secondPort, "/simulator/stats"), 30*time.Second)
	s := startStack(t, stackOptions{
		overlays: []string{"two-workspaces.yaml"},
		env:      []string{"SECOND_DATABRICKS_HOST=" + localURL(secondPort, ""), "SECOND_DATABRICKS_TOKEN=" + secondToken},
	})
	time.Sleep(5 * windowLength)

	workspaces := map[string]*stack{
		fmt.Sprintf("127.0.0.1:%d", s.simulatorPort): s,
		fmt.Sprintf("127.0.0.1:%d", secondPort):      {simulatorPort: secondPort, prometheus: s.prometheus, intake: s.intake},
	}
	for host, ws := range workspaces {
		truth := ws.truth(t)
		windows := truth.Endpoints["cpu-endpoint-0"].Windows
		require.NotEmpty(t, windows, host)
		last := windows[len(windows)-1].TimestampMillis
		requests := onlyFamily(t, windows, "request_count_total")
		want := total(countedWindows(requests.values, windows[0].TimestampMillis))
		match := map[string]string{endpointLabel: "cpu-endpoint-0", "databricks_workspace_host": host}
		eventually(t, 30*time.Second, host+": last window in prometheus", func() error {
			values, err := s.prometheus.instant(selector(rows["request_count_total"].PromName, match), last)
			if err != nil {
				return err
			}
			if len(values) != 1 || values[0] != want {
				return fmt.Errorf("%s: counter at the last window is %v, want %v", host, values, want)
			}
			return nil
		})
		var endpoints []string
		series, err := s.prometheus.rawSamples(selector(rows["request_count_total"].PromName, map[string]string{"databricks_workspace_host": host}))
		require.NoError(t, err)
		for _, ser := range series {
			endpoints = append(endpoints, ser.Labels[endpointLabel])
		}
		var served []string
		for name := range truth.Endpoints {
			served = append(served, name)
		}
		assert.ElementsMatch(t, served, sortedUnique(endpoints), host)
		assert.Contains(t, s.intake.TagValues(rows["request_count_total"].DDName, "databricks.workspace.host"), host)
	}
}

// onlyFamily returns the one truth series of family (an endpoint with one served entity).
func onlyFamily(t *testing.T, windows []simulator.WindowTruth, family string) *truthSeries {
	t.Helper()
	var found []*truthSeries
	for _, ts := range groupSeries(windows) {
		if ts.family == family {
			found = append(found, ts)
		}
	}
	require.Len(t, found, 1, family)
	return found[0]
}

// TestEntraIDServicePrincipal scrapes with Entra ID tokens that expire every few seconds: they are renewed
// before they expire and no window is lost.
func TestEntraIDServicePrincipal(t *testing.T) {
	requireLoopbackOnly(t)
	rows := readMetricsTable(t)
	const tenant, clientID, clientSecret = "72f988bf-86f1-41af-91ab-2d7cd011db47", "e2e-entra-app", "e2e-entra-secret-6bc1bee22e409f96"
	port := freePort(t)
	s := startStack(t, stackOptions{
		simulatorPort:  port,
		withoutDatadog: true,
		simulatorArgs:  append(append([]string{}, standardEndpoints...), "-azure-tenant", tenant, "-azure-client", clientID+":"+clientSecret, "-token-lifetime", "5s"),
		overlays:       []string{"azure.yaml"},
		env: []string{"AZURE_TENANT_ID=" + tenant, "AZURE_CLIENT_ID=" + clientID, "AZURE_CLIENT_SECRET=" + clientSecret,
			"AZURE_TOKEN_URL=" + localURL(port, "/"+tenant+"/oauth2/v2.0/token")},
	})
	time.Sleep(8 * windowLength)
	truth := s.truth(t)
	waitForLastWindows(t, s, rows, truth, []string{"cpu-endpoint-0"})
	var stats struct {
		Requests struct {
			Unauthorized int `json:"unauthorized"`
		} `json:"requests"`
		TokenRequests struct {
			Azure int `json:"azure"`
		} `json:"token_requests"`
		ExpiredTokenRejections int `json:"expired_token_rejections"`
	}
	s.control(t, http.MethodGet, "/simulator/stats", nil, &stats)
	assert.GreaterOrEqual(t, stats.TokenRequests.Azure, 3)
	assert.Zero(t, stats.ExpiredTokenRejections)
	assert.Zero(t, stats.Requests.Unauthorized)
	checkEndpoint(t, s, rows, "cpu-endpoint-0", truth.Endpoints["cpu-endpoint-0"].Windows, true)
	assert.NotContains(t, s.collector.out.String(), clientSecret)
}
