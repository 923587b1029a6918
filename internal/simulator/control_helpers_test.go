// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// send sends method path with body (none when empty) and the given headers,
// and returns the response with its body read.
func (ts *testServer) send(t *testing.T, method, path, body string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	var reader io.Reader = http.NoBody
	if body != "" {
		reader = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.http.URL+path, reader)
	require.NoError(t, err)
	for key, values := range header {
		req.Header[key] = values
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	respBody, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, respBody
}

// control sends a JSON body to a control endpoint.
func (ts *testServer) control(t *testing.T, method, path, body string) (*http.Response, []byte) {
	t.Helper()
	return ts.send(t, method, path, body, http.Header{"Content-Type": {"application/json"}})
}

// mustControl sends a control request that must answer want.
func (ts *testServer) mustControl(t *testing.T, method, path, body string, want int) []byte {
	t.Helper()
	resp, respBody := ts.control(t, method, path, body)
	require.Equal(t, want, resp.StatusCode, string(respBody))
	return respBody
}

// postForm posts a token request form, with HTTP Basic credentials when id
// is not empty.
func (ts *testServer) postForm(t *testing.T, path string, form url.Values, id, secret string) (*http.Response, []byte) {
	t.Helper()
	header := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if id != "" {
		req := &http.Request{Header: http.Header{}}
		req.SetBasicAuth(id, secret)
		header["Authorization"] = req.Header["Authorization"]
	}
	return ts.send(t, http.MethodPost, path, form.Encode(), header)
}

// tokenAnswer is a decoded 200 answer of a token endpoint.
type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	ExtExpiresIn *int64 `json:"ext_expires_in"`
	Scope        string `json:"scope"`
}

func decodeTokenAnswer(t *testing.T, resp *http.Response, body []byte) tokenAnswer {
	t.Helper()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	var answer tokenAnswer
	require.NoError(t, json.Unmarshal(body, &answer), string(body))
	require.NotEmpty(t, answer.AccessToken)
	return answer
}

func decodeOAuthError(t *testing.T, body []byte) oauthError {
	t.Helper()
	var e oauthError
	require.NoError(t, json.Unmarshal(body, &e), string(body))
	return e
}

func testStaticLabel(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "static:" + hex.EncodeToString(sum[:])[:8]
}

// listItems returns the list API's items by endpoint name, listed with testToken.
func (ts *testServer) listItems(t *testing.T) map[string]map[string]any {
	t.Helper()
	resp, body := ts.get(t, "/api/2.0/serving-endpoints", testToken)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	items := make(map[string]map[string]any)
	for _, item := range jsonObject(t, body)["endpoints"].([]any) {
		ep := item.(map[string]any)
		items[ep["name"].(string)] = ep
	}
	return items
}

// detail returns the get API's body of an endpoint that must exist.
func (ts *testServer) detail(t *testing.T, name string) map[string]any {
	t.Helper()
	resp, body := ts.get(t, "/api/2.0/serving-endpoints/"+name, testToken)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	return jsonObject(t, body)
}
