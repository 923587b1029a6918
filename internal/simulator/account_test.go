// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newTestAccount starts an account whose principal "sp" is assigned to the workspaces given its secret.
func newTestAccount(t *testing.T, cfg AccountConfig) (*Account, string) {
	t.Helper()
	acc, err := NewAccount(cfg)
	require.NoError(t, err)
	addr, err := acc.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, acc.Close()) })
	return acc, "http://" + addr.String()
}

func workspaceConfig(clients map[string]string) Config {
	cfg := testConfig()
	cfg.OAuthClients = clients
	return cfg
}

// token gets a client-credentials token at tokenURL, or fails with the status.
func token(t *testing.T, tokenURL, id, secret, scope string) (string, int) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	var body tokenResponse
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return body.AccessToken, resp.StatusCode
}

func TestAccountListsItsWorkspacesWithAnAccountToken(t *testing.T) {
	acc, base := newTestAccount(t, AccountConfig{AccountID: "acc-1", OAuthClients: map[string]string{"sp": "secret"}})
	assigned, err := acc.AddWorkspace("prod", workspaceConfig(map[string]string{"sp": "secret"}))
	require.NoError(t, err)
	unassigned, err := acc.AddWorkspace("finance", workspaceConfig(nil))
	require.NoError(t, err)
	stopped, err := acc.AddWorkspace("old", workspaceConfig(map[string]string{"sp": "secret"}))
	require.NoError(t, err)
	require.NoError(t, acc.SetWorkspaceStatus(stopped.ID, WorkspaceCancelling))

	_, status := token(t, base+"/oidc/accounts/acc-1/v1/token", "sp", "wrong", "all-apis")
	assert.Equal(t, http.StatusUnauthorized, status)
	resp, _ := getURL(t, base+"/api/2.0/accounts/acc-1/workspaces", "not-a-token")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	accountToken, status := token(t, base+"/oidc/accounts/acc-1/v1/token", "sp", "secret", "all-apis")
	require.Equal(t, http.StatusOK, status)
	resp, body := getURL(t, base+"/api/2.0/accounts/acc-1/workspaces", accountToken)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var list []accountsWorkspace
	require.NoError(t, json.Unmarshal(body, &list))
	require.Len(t, list, 3)
	assert.Equal(t, "prod", list[0].WorkspaceName)
	assert.Equal(t, assigned.Addr, list[0].DeploymentName, "the deployment name is the workspace's address")
	assert.Equal(t, WorkspaceRunning, list[0].WorkspaceStatus)
	assert.Equal(t, WorkspaceCancelling, list[2].WorkspaceStatus)

	// Each workspace has its own token endpoint: the principal gets a token where it is assigned only.
	wsToken, status := token(t, "http://"+assigned.Addr+"/oidc/v1/token", "sp", "secret", "all-apis")
	require.Equal(t, http.StatusOK, status)
	resp, _ = getURL(t, "http://"+assigned.Addr+"/api/2.0/serving-endpoints", wsToken)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = getURL(t, "http://"+assigned.Addr+"/api/2.0/serving-endpoints", accountToken)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "an account token is not a workspace token")
	_, status = token(t, "http://"+unassigned.Addr+"/oidc/v1/token", "sp", "secret", "all-apis")
	assert.Equal(t, http.StatusUnauthorized, status, "not assigned")

	require.NoError(t, acc.RemoveWorkspace(assigned.ID))
	resp, body = getURL(t, base+"/api/2.0/accounts/acc-1/workspaces", accountToken)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, json.Unmarshal(body, &list))
	assert.Len(t, list, 2)
	_, err = http.Get("http://" + assigned.Addr + "/simulator/stats")
	assert.Error(t, err, "a removed workspace's server is stopped")
}

func TestAccountARMListPagesWithAnEntraToken(t *testing.T) {
	acc, base := newTestAccount(t, AccountConfig{
		AccountID: "acc-1", AzureTenant: "tenant-1", AzureClients: map[string]string{"app": "secret"}, Subscription: "sub-1", PageSize: 2,
	})
	for _, name := range []string{"a", "b", "c"} {
		_, err := acc.AddWorkspace(name, workspaceConfig(nil))
		require.NoError(t, err)
	}
	require.NoError(t, acc.SetWorkspaceStatus(acc.Workspaces()[1].ID, WorkspaceFailed))
	_, status := token(t, base+"/tenant-1/oauth2/v2.0/token", "app", "secret", "https://graph.microsoft.com/.default")
	assert.Equal(t, http.StatusBadRequest, status, "Resource Manager's and AzureDatabricks' scopes only")
	armToken, status := token(t, base+"/tenant-1/oauth2/v2.0/token", "app", "secret", armScope)
	require.Equal(t, http.StatusOK, status)

	var names, states []string
	next := base + "/subscriptions/sub-1/providers/Microsoft.Databricks/workspaces?api-version=2024-05-01"
	for pages := 0; next != ""; pages++ {
		require.Less(t, pages, 3)
		resp, body := getURL(t, next, armToken)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		var page struct {
			Value    []armWorkspace `json:"value"`
			NextLink string         `json:"nextLink"`
		}
		require.NoError(t, json.Unmarshal(body, &page))
		for _, ws := range page.Value {
			names, states = append(names, ws.Name), append(states, ws.Properties.ProvisioningState)
			assert.NotEmpty(t, ws.Properties.WorkspaceURL)
		}
		next = page.NextLink
	}
	assert.Equal(t, []string{"a", "b", "c"}, names)
	assert.Equal(t, []string{"Succeeded", "Failed", "Succeeded"}, states)
	resp, _ := getURL(t, base+"/subscriptions/other/providers/Microsoft.Databricks/workspaces", armToken)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "no Reader role")
	databricksToken, status := token(t, base+"/tenant-1/oauth2/v2.0/token", "app", "secret", azureDatabricksScope)
	require.Equal(t, http.StatusOK, status)
	resp, _ = getURL(t, base+"/subscriptions/sub-1/providers/Microsoft.Databricks/workspaces?api-version=2024-05-01", databricksToken)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "an AzureDatabricks token does not list Resource Manager")
}

// TestAccountWorkspacesOverTLSAcceptTheTenantsTokens: with TLS the workspaces serve HTTPS with the account's
// certificate only, and accept the Entra ID tokens of the account's tenant, for the AzureDatabricks scope, from
// the principals assigned to them.
func TestAccountWorkspacesOverTLSAcceptTheTenantsTokens(t *testing.T) {
	acc, base := newTestAccount(t, AccountConfig{
		AccountID: "acc-1", OAuthClients: map[string]string{"sp": "secret"},
		AzureTenant: "tenant-1", AzureClients: map[string]string{"app": "secret", "other": "secret"}, Subscription: "sub-1", TLS: true,
	})
	assignedCfg := workspaceConfig(nil)
	assignedCfg.AzureTenant, assignedCfg.AzureClients = "tenant-1", map[string]string{"app": "ignored"}
	assigned, err := acc.AddWorkspace("prod", assignedCfg)
	require.NoError(t, err)
	unassigned, err := acc.AddWorkspace("finance", workspaceConfig(nil))
	require.NoError(t, err)
	assert.Equal(t, "https://"+assigned.Addr, assigned.URL)
	assert.True(t, strings.HasPrefix(base, "http://"), "the account's own APIs stay plain HTTP")

	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(acc.CertificatePEM()))
	trusting := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	get := func(url, bearer string) int {
		t.Helper()
		req, reqErr := http.NewRequest(http.MethodGet, url, http.NoBody)
		require.NoError(t, reqErr)
		req.Header.Set("Authorization", "Bearer "+bearer)
		resp, doErr := trusting.Do(req)
		require.NoError(t, doErr)
		_ = resp.Body.Close()
		return resp.StatusCode
	}

	_, err = http.Get(assigned.URL + "/simulator/stats")
	require.Error(t, err, "a client without the certificate refuses the workspace")
	assert.Contains(t, err.Error(), "certificate")
	resp, err := http.Get("http://" + assigned.Addr + "/simulator/stats")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "no plain HTTP on a TLS workspace")

	appToken, status := token(t, base+"/tenant-1/oauth2/v2.0/token", "app", "secret", azureDatabricksScope)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, http.StatusOK, get(assigned.URL+"/api/2.0/serving-endpoints", appToken), "the tenant's token, where the principal is assigned")
	assert.Equal(t, http.StatusUnauthorized, get(unassigned.URL+"/api/2.0/serving-endpoints", appToken), "not assigned")
	otherToken, status := token(t, base+"/tenant-1/oauth2/v2.0/token", "other", "secret", azureDatabricksScope)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, http.StatusUnauthorized, get(assigned.URL+"/api/2.0/serving-endpoints", otherToken), "another principal of the tenant, not assigned")
	armToken, status := token(t, base+"/tenant-1/oauth2/v2.0/token", "app", "secret", armScope)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, http.StatusUnauthorized, get(assigned.URL+"/api/2.0/serving-endpoints", armToken), "a Resource Manager token is not a workspace token")
	accountToken, status := token(t, base+"/oidc/accounts/acc-1/v1/token", "sp", "secret", "all-apis")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, http.StatusUnauthorized, get(assigned.URL+"/api/2.0/serving-endpoints", accountToken))
	resp, _ = getURL(t, base+"/api/2.0/accounts/acc-1/workspaces", armToken)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a Resource Manager token does not list the Accounts API")
	assert.Equal(t, int64(0), assigned.Server.Stats().TokenRequests.Total(), "the workspace's own token endpoints were not asked")
	assert.Equal(t, http.StatusOK, get(assigned.URL+metricsPath("cpu-endpoint-0"), appToken))
	assert.Equal(t, map[string]int64{"azure:app": 1}, assigned.Server.Requests()["cpu-endpoint-0"], "counted under the tenant's principal")
}

func TestAccountControlOverHTTP(t *testing.T) {
	template := workspaceConfig(nil)
	template.GPU, template.MultiEntity, template.ScaleToZero, template.FoundationModel = 0, 0, 0, 0
	acc, base := newTestAccount(t, AccountConfig{AccountID: "acc-1", Template: template})
	resp, err := http.Post(base+"/simulator/account/workspaces", "application/json", strings.NewReader(`{"name": "added", "cpu": 1}`))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(body))
	var created struct{ ID, Addr string }
	require.NoError(t, json.Unmarshal(body, &created))
	ws := acc.Workspaces()
	require.Len(t, ws, 1)
	assert.Len(t, ws[0].Server.Endpoints(), 1)

	req, _ := http.NewRequest(http.MethodPatch, base+"/simulator/account/workspaces/"+created.ID, strings.NewReader(`{"status": "FAILED"}`))
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	req, _ = http.NewRequest(http.MethodDelete, base+"/simulator/account/workspaces/"+created.ID, nil)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Empty(t, acc.Workspaces())
	req, _ = http.NewRequest(http.MethodDelete, base+"/simulator/account/workspaces/"+created.ID, nil)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	_, err = NewAccount(AccountConfig{AccountID: "a/b"})
	assert.Error(t, err)
}
