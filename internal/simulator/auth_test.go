// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testClientID     = "sp-client-1"
	testClientSecret = "sp-secret-1"
	testTenant       = "4f0e9d21-7c3b-4f5e-9a2d-1b6c8e0f3a57"
	testAzureID      = "azure-app-1"
	testAzureSecret  = "azure-secret-1"
	testLifetime     = 8 * time.Second
	listPath         = "/api/2.0/serving-endpoints"
	oauthTokenPath   = "/oidc/v1/token"
)

func authConfig() Config {
	cfg := testConfig()
	cfg.OAuthClients = map[string]string{testClientID: testClientSecret}
	cfg.AzureTenant = testTenant
	cfg.AzureClients = map[string]string{testAzureID: testAzureSecret}
	cfg.TokenLifetime = testLifetime
	return cfg
}

func m2mForm(scope string) url.Values {
	return url.Values{"grant_type": {grantClientCredentials}, "scope": {scope}}
}

func azureForm(id, secret, scope string) url.Values {
	return url.Values{
		"grant_type":    {grantClientCredentials},
		"client_id":     {id},
		"client_secret": {secret},
		"scope":         {scope},
	}
}

func azureTokenPath(tenant string) string {
	return "/" + tenant + "/oauth2/v2.0/token"
}

// requireRejected checks a 401 of the /api/ paths and its message.
func requireRejected(t *testing.T, ts *testServer, token, message string) {
	t.Helper()
	resp, body := ts.get(t, listPath, token)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, string(body))
	assert.Equal(t, apiError{ErrorCode: "UNAUTHENTICATED", Message: message}, decodeAPIError(t, body))
}

func requireAccepted(t *testing.T, ts *testServer, token string) {
	t.Helper()
	resp, body := ts.get(t, listPath, token)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
}

func TestStaticTokenRotation(t *testing.T) {
	ts := newTestServer(t, testConfig())
	requireAccepted(t, ts, testToken)

	ts.mustControl(t, http.MethodPut, "/simulator/tokens", `{"tokens":["rotated-a","rotated-b"]}`, http.StatusNoContent)
	requireRejected(t, ts, testToken, "Invalid access token.")
	requireAccepted(t, ts, "rotated-a")
	requireAccepted(t, ts, "rotated-b")

	for name, body := range map[string]string{
		"missing tokens": `{}`,
		"null tokens":    `{"tokens":null}`,
		"empty token":    `{"tokens":["ok",""]}`,
		"not a list":     `{"tokens":"rotated-c"}`,
		"unknown field":  `{"token":["rotated-c"]}`,
	} {
		resp, respBody := ts.control(t, http.MethodPut, "/simulator/tokens", body)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, name)
		assert.Equal(t, "INVALID_PARAMETER_VALUE", decodeAPIError(t, respBody).ErrorCode, name)
	}
	requireAccepted(t, ts, "rotated-a")

	ts.mustControl(t, http.MethodPut, "/simulator/tokens", `{"tokens":[]}`, http.StatusNoContent)
	requireRejected(t, ts, "rotated-a", "Invalid access token.")
}

func TestOAuthM2MToken(t *testing.T) {
	ts := newTestServer(t, authConfig())
	resp, body := ts.postForm(t, oauthTokenPath, m2mForm("all-apis"), testClientID, testClientSecret)
	answer := decodeTokenAnswer(t, resp, body)
	assert.Equal(t, "Bearer", answer.TokenType)
	assert.Equal(t, int64(8), answer.ExpiresIn)
	assert.Equal(t, "all-apis", answer.Scope)
	assert.Nil(t, answer.ExtExpiresIn, "ext_expires_in is Entra's")
	assert.NotEqual(t, testToken, answer.AccessToken)

	requireAccepted(t, ts, answer.AccessToken)
	requireAccepted(t, ts, testToken) // static tokens keep working
	ts.clock.Advance(testLifetime - time.Millisecond)
	requireAccepted(t, ts, answer.AccessToken)
	ts.clock.Advance(time.Millisecond)
	requireRejected(t, ts, answer.AccessToken, "Token expired.")
	requireRejected(t, ts, answer.AccessToken+"x", "Invalid access token.")

	stats := ts.sim.Stats()
	assert.Equal(t, TokenRequestStats{OAuth: 1}, stats.TokenRequests)
	assert.Equal(t, int64(1), stats.ExpiredTokenRejections)
	assert.Equal(t, int64(2), stats.Requests.Unauthorized)

	// A renewed token works again.
	resp, body = ts.postForm(t, oauthTokenPath, m2mForm("all-apis"), testClientID, testClientSecret)
	requireAccepted(t, ts, decodeTokenAnswer(t, resp, body).AccessToken)
}

func TestOAuthM2MScopesAndClientSecretPost(t *testing.T) {
	ts := newTestServer(t, authConfig())
	for _, scope := range []string{"all-apis", "model-serving", "all-apis offline_access"} {
		resp, body := ts.postForm(t, oauthTokenPath, m2mForm(scope), testClientID, testClientSecret)
		assert.Equal(t, scope, decodeTokenAnswer(t, resp, body).Scope)
	}
	form := m2mForm("all-apis")
	form.Set("client_id", testClientID)
	form.Set("client_secret", testClientSecret)
	resp, body := ts.postForm(t, oauthTokenPath, form, "", "")
	requireAccepted(t, ts, decodeTokenAnswer(t, resp, body).AccessToken)
	assert.Equal(t, int64(4), ts.sim.Stats().TokenRequests.OAuth)
}

func TestOAuthM2MTokenRejections(t *testing.T) {
	ts := newTestServer(t, authConfig())
	tests := []struct {
		name        string
		form        url.Values
		id, secret  string
		contentType string
		wantStatus  int
		wantError   string
	}{
		{"wrong secret", m2mForm("all-apis"), testClientID, "wrong", "", http.StatusUnauthorized, "invalid_client"},
		{"unknown client", m2mForm("all-apis"), "someone", testClientSecret, "", http.StatusUnauthorized, "invalid_client"},
		{"azure client", m2mForm("all-apis"), testAzureID, testAzureSecret, "", http.StatusUnauthorized, "invalid_client"},
		{"no client", m2mForm("all-apis"), "", "", "", http.StatusUnauthorized, "invalid_client"},
		{"wrong grant", url.Values{"grant_type": {"password"}, "scope": {"all-apis"}}, testClientID, testClientSecret, "", http.StatusBadRequest, "unsupported_grant_type"},
		{"missing grant", url.Values{"scope": {"all-apis"}}, testClientID, testClientSecret, "", http.StatusBadRequest, "unsupported_grant_type"},
		{"missing scope", url.Values{"grant_type": {grantClientCredentials}}, testClientID, testClientSecret, "", http.StatusBadRequest, "invalid_request"},
		{"blank scope", m2mForm("  "), testClientID, testClientSecret, "", http.StatusBadRequest, "invalid_request"},
		{"JSON body", m2mForm("all-apis"), testClientID, testClientSecret, "application/json", http.StatusBadRequest, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp *http.Response
			var body []byte
			if tt.contentType == "" {
				resp, body = ts.postForm(t, oauthTokenPath, tt.form, tt.id, tt.secret)
			} else {
				resp, body = ts.send(t, http.MethodPost, oauthTokenPath, tt.form.Encode(), http.Header{"Content-Type": {tt.contentType}})
			}
			require.Equal(t, tt.wantStatus, resp.StatusCode, string(body))
			assert.Equal(t, tt.wantError, decodeOAuthError(t, body).Error)
		})
	}
	resp, body := ts.postForm(t, oauthTokenPath, m2mForm("all-apis"), testClientID, "wrong")
	assert.JSONEq(t, `{"error":"invalid_client","error_description":"Client authentication failed"}`, string(body))
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Basic")
	assert.Equal(t, TokenRequestStats{Rejected: int64(len(tests) + 1)}, ts.sim.Stats().TokenRequests)

	resp, _ = ts.get(t, oauthTokenPath, "")
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

func TestOAuthWithoutClientsRejectsEveryone(t *testing.T) {
	ts := newTestServer(t, testConfig())
	resp, body := ts.postForm(t, oauthTokenPath, m2mForm("all-apis"), "", "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, "invalid_client", decodeOAuthError(t, body).Error)
}

func TestAzureToken(t *testing.T) {
	ts := newTestServer(t, authConfig())
	resp, body := ts.postForm(t, azureTokenPath(testTenant), azureForm(testAzureID, testAzureSecret, azureDatabricksScope), "", "")
	answer := decodeTokenAnswer(t, resp, body)
	assert.Equal(t, "Bearer", answer.TokenType)
	assert.Equal(t, int64(8), answer.ExpiresIn)
	require.NotNil(t, answer.ExtExpiresIn)
	assert.Equal(t, int64(8), *answer.ExtExpiresIn)

	resp, _ = ts.get(t, metricsPath("cpu-endpoint-0"), answer.AccessToken)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, map[string]int64{"azure:" + testAzureID: 1}, ts.sim.Requests()["cpu-endpoint-0"])

	ts.clock.Advance(testLifetime)
	requireRejected(t, ts, answer.AccessToken, "Token expired.")

	// Tenant ids are case-insensitive; Basic authentication works too.
	form := azureForm("", "", azureDatabricksScope)
	form.Del("client_id")
	form.Del("client_secret")
	resp, body = ts.postForm(t, azureTokenPath("4F0E9D21-7C3B-4F5E-9A2D-1B6C8E0F3A57"), form, testAzureID, testAzureSecret)
	decodeTokenAnswer(t, resp, body)
	assert.Equal(t, TokenRequestStats{Azure: 2}, ts.sim.Stats().TokenRequests)
}

func TestAzureTokenRejections(t *testing.T) {
	ts := newTestServer(t, authConfig())
	tests := []struct {
		name       string
		tenant     string
		form       url.Values
		wantStatus int
		wantError  string
	}{
		{"other scope", testTenant, azureForm(testAzureID, testAzureSecret, "https://management.azure.com/.default"), http.StatusBadRequest, "invalid_scope"},
		{"databricks scope without .default", testTenant, azureForm(testAzureID, testAzureSecret, "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"), http.StatusBadRequest, "invalid_scope"},
		{"missing scope", testTenant, azureForm(testAzureID, testAzureSecret, ""), http.StatusBadRequest, "invalid_scope"},
		{"unknown tenant", "other-tenant", azureForm(testAzureID, testAzureSecret, azureDatabricksScope), http.StatusBadRequest, "invalid_request"},
		{"wrong secret", testTenant, azureForm(testAzureID, "wrong", azureDatabricksScope), http.StatusUnauthorized, "invalid_client"},
		{"M2M client", testTenant, azureForm(testClientID, testClientSecret, azureDatabricksScope), http.StatusUnauthorized, "invalid_client"},
		{"wrong grant", testTenant, func() url.Values {
			form := azureForm(testAzureID, testAzureSecret, azureDatabricksScope)
			form.Set("grant_type", "authorization_code")
			return form
		}(), http.StatusBadRequest, "unsupported_grant_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := ts.postForm(t, azureTokenPath(tt.tenant), tt.form, "", "")
			require.Equal(t, tt.wantStatus, resp.StatusCode, string(body))
			assert.Equal(t, tt.wantError, decodeOAuthError(t, body).Error)
		})
	}
	assert.Equal(t, TokenRequestStats{Rejected: int64(len(tests))}, ts.sim.Stats().TokenRequests)

	// Without a configured tenant every tenant is unknown.
	plain := newTestServer(t, testConfig())
	resp, body := plain.postForm(t, azureTokenPath(testTenant), azureForm(testAzureID, testAzureSecret, azureDatabricksScope), "", "")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, "invalid_request", decodeOAuthError(t, body).Error)
}

func TestAzurePathDoesNotShadowTheAPI(t *testing.T) {
	ts := newTestServer(t, authConfig())
	// "api" as a tenant is routed to the workspace API, which wants a token.
	resp, _ := ts.postForm(t, azureTokenPath("api"), azureForm(testAzureID, testAzureSecret, azureDatabricksScope), "", "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestExpiredTokensArePruned(t *testing.T) {
	ts := newTestServer(t, authConfig())
	issue := func() string {
		resp, body := ts.postForm(t, oauthTokenPath, m2mForm("all-apis"), testClientID, testClientSecret)
		return decodeTokenAnswer(t, resp, body).AccessToken
	}
	old := issue()
	ts.clock.Advance(testLifetime + expiredTokenRetention - time.Second)
	requireRejected(t, ts, old, "Token expired.")
	issue()
	assert.Equal(t, 2, ts.sim.credentials.issuedCount(), "kept while within the retention")

	ts.clock.Advance(pruneInterval + time.Second)
	current := issue()
	assert.Equal(t, 2, ts.sim.credentials.issuedCount(), "the oldest token is forgotten")
	requireRejected(t, ts, old, "Invalid access token.")
	requireAccepted(t, ts, current)
}
