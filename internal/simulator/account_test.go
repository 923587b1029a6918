// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

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
	_, status := token(t, base+"/tenant-1/oauth2/v2.0/token", "app", "secret", "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default")
	assert.Equal(t, http.StatusBadRequest, status, "only Resource Manager's scope")
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
