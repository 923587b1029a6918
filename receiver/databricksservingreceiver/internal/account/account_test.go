// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package account

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"
)

const testToken = "account-secret-token"

// newClient is a workspace.Client for srv with a static token.
func newClient(t *testing.T, srv *httptest.Server) *workspace.Client {
	t.Helper()
	base, err := url.Parse(srv.URL)
	require.NoError(t, err)
	return workspace.NewClient(srv.Client(), base, workspace.StaticToken(testToken), "test", 1<<20)
}

func TestAccountsAPIBuildsURLsPerCloudAndKeepsRunningWorkspaces(t *testing.T) {
	body := `[
	  {"workspace_id": 1234567890123456, "workspace_name": "prod", "deployment_name": "dbc-1a2b", "workspace_status": "RUNNING", "aws_region": "us-west-2", "cloud": "aws"},
	  {"workspace_id": 2, "workspace_name": "new", "deployment_name": "dbc-3c4d", "workspace_status": "PROVISIONING", "aws_region": "us-west-2"},
	  {"workspace_id": 3, "workspace_name": "gone", "deployment_name": "dbc-5e6f", "workspace_status": "CANCELLING"},
	  {"workspace_id": 4, "workspace_name": "eu", "deployment_name": "dbc-7a8b", "workspace_status": "RUNNING", "location": "europe-west1"}
	]`
	for _, tc := range []struct {
		cloud, template string
		wantURL         string
		wantCloud       string
	}{
		{CloudAWS, DefaultWorkspaceURL(CloudAWS), "https://dbc-1a2b.cloud.databricks.com", "aws"},
		{CloudGCP, DefaultWorkspaceURL(CloudGCP), "https://dbc-1a2b.gcp.databricks.com", "aws"}, // the answer's cloud wins
		{CloudAWS, "https://{deployment_name}.cloud.databricks.us", "https://dbc-1a2b.cloud.databricks.us", "aws"},
		{CloudAWS, "https://{deployment_name}.privatelink.example.com:8443", "https://dbc-1a2b.privatelink.example.com:8443", "aws"},
	} {
		t.Run(tc.template, func(t *testing.T) {
			var auth, path atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				auth.Store(r.Header.Get("Authorization"))
				path.Store(r.URL.Path)
				_, _ = w.Write([]byte(body))
			}))
			defer srv.Close()
			list, err := NewAccountsAPI(newClient(t, srv), "acc-1", tc.cloud, tc.template).List(context.Background())
			require.NoError(t, err)
			assert.Equal(t, "Bearer "+testToken, auth.Load())
			assert.Equal(t, "/api/2.0/accounts/acc-1/workspaces", path.Load())
			require.Len(t, list, 2, "only RUNNING workspaces")
			assert.Equal(t, Workspace{ID: "1234567890123456", Name: "prod", URL: tc.wantURL, Cloud: tc.wantCloud, Region: "us-west-2"}, list[0])
			assert.Equal(t, "eu", list[1].Name)
			assert.Equal(t, "europe-west1", list[1].Region, "GCP's location is the region")
			assert.Equal(t, tc.cloud, list[1].Cloud, "the configured cloud when the answer names none")
		})
	}
}

func TestDefaultsPerCloud(t *testing.T) {
	assert.Equal(t, "https://accounts.cloud.databricks.com", DefaultAccountsHost(CloudAWS))
	assert.Equal(t, "https://accounts.gcp.databricks.com", DefaultAccountsHost(CloudGCP))
	assert.Empty(t, DefaultAccountsHost(CloudAzure), "Azure lists with Resource Manager")
	assert.Equal(t, "https://{deployment_name}.gcp.databricks.com", DefaultWorkspaceURL(CloudGCP))
	assert.Equal(t, "https://accounts.cloud.databricks.com/oidc/accounts/a-b/v1/token", AccountTokenURL("https://accounts.cloud.databricks.com/", "a-b"))
}

func TestAHostileDeploymentNameBuildsNoURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`[
		  {"workspace_id": 1, "workspace_name": "ok", "deployment_name": "dbc-1", "workspace_status": "RUNNING"},
		  {"workspace_id": 2, "workspace_name": "evil", "deployment_name": "evil.example.com/x?", "workspace_status": "RUNNING"},
		  {"workspace_id": 3, "workspace_name": "at", "deployment_name": "user@evil.example.com", "workspace_status": "RUNNING"}
		]`))
	}))
	defer srv.Close()
	list, err := NewAccountsAPI(newClient(t, srv), "acc", CloudAWS, DefaultWorkspaceURL(CloudAWS)).List(context.Background())
	var skipped *SkippedError
	require.ErrorAs(t, err, &skipped)
	assert.Contains(t, err.Error(), `"evil"`)
	require.Len(t, list, 1, "the others are still listed")
	assert.Equal(t, "https://dbc-1.cloud.databricks.com", list[0].URL)
}

func TestListFailuresAreTypedAndRedacted(t *testing.T) {
	for _, tc := range []struct {
		status     int
		retryAfter string
		wantWait   time.Duration
	}{
		{status: http.StatusUnauthorized},
		{status: http.StatusForbidden},
		{status: http.StatusTooManyRequests, retryAfter: "42", wantWait: 42 * time.Second},
		{status: http.StatusServiceUnavailable},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				// A gateway that echoes the request, token included.
				_, _ = fmt.Fprintf(w, `{"error_code":"PERMISSION_DENIED","message":"denied for %s"}`, r.Header.Get("Authorization"))
			}))
			defer srv.Close()
			for _, lister := range []Lister{
				NewAccountsAPI(newClient(t, srv), "acc", CloudAWS, DefaultWorkspaceURL(CloudAWS)),
				NewARM(newClient(t, srv), []string{"sub-1"}),
			} {
				_, err := lister.List(context.Background())
				var apiErr *workspace.APIError
				require.ErrorAs(t, err, &apiErr)
				assert.Equal(t, tc.status, apiErr.StatusCode)
				assert.Equal(t, tc.wantWait, apiErr.RetryAfter)
				assert.NotContains(t, err.Error(), testToken)
				var listErr *ListError
				require.ErrorAs(t, err, &listErr)
				assert.NotEmpty(t, listErr.Hint, "says what to check")
			}
		})
	}
}

func TestAListOverTheBoundIsRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("[" + strings.Repeat(" ", maxListBytes) + "]"))
	}))
	defer srv.Close()
	_, err := NewAccountsAPI(newClient(t, srv), "acc", CloudAWS, DefaultWorkspaceURL(CloudAWS)).List(context.Background())
	var limitErr *workspace.BodyLimitError
	require.ErrorAs(t, err, &limitErr)
}

// armServer serves pages of a subscription's listing; next builds each page's nextLink from the server's URL.
func armServer(t *testing.T, pages []string, next func(base string, page int) string) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/subscriptions/sub-1/providers/Microsoft.Databricks/workspaces" || r.URL.Query().Get("api-version") != armAPIVersion {
			http.NotFound(w, r)
			return
		}
		page := 0
		_, _ = fmt.Sscan(r.URL.Query().Get("page"), &page)
		link := ""
		if page+1 < len(pages) {
			link = next(srv.URL, page+1)
		}
		_, _ = fmt.Fprintf(w, `{"value": [%s], "nextLink": %q}`, pages[page], link)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func armItem(name, id, state string) string {
	return fmt.Sprintf(`{"id": "/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.Databricks/workspaces/%s", "name": %q, "location": "westeurope",
	  "properties": {"workspaceUrl": "adb-%s.7.azuredatabricks.net", "workspaceId": %s, "provisioningState": %q}}`, name, name, id, id, state)
}

func TestARMFollowsNextLinkOnTheManagementHostOnly(t *testing.T) {
	pages := []string{
		armItem("a", "111", "Succeeded") + "," + armItem("b", "222", "Deleting"),
		armItem("c", "333", "Succeeded"),
	}
	sameHost := func(base string, page int) string {
		return fmt.Sprintf("%s/subscriptions/sub-1/providers/Microsoft.Databricks/workspaces?api-version=%s&page=%d", base, armAPIVersion, page)
	}
	srv := armServer(t, pages, sameHost)
	list, err := NewARM(newClient(t, srv), []string{"sub-1"}).List(context.Background())
	require.NoError(t, err)
	require.Len(t, list, 2, "Succeeded only, from both pages")
	assert.Equal(t, Workspace{ID: "111", Name: "a", URL: "https://adb-111.7.azuredatabricks.net", Cloud: CloudAzure, Region: "westeurope"}, list[0])
	assert.Equal(t, "333", list[1].ID)

	elsewhere := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		t.Errorf("the other host was contacted (Authorization %q)", r.Header.Get("Authorization"))
	}))
	defer elsewhere.Close()
	for name, link := range map[string]func(string, int) string{
		"another host": func(string, int) string { return elsewhere.URL + "/page2" },
		"another port": func(string, int) string { return strings.Replace(elsewhere.URL, "127.0.0.1", "localhost", 1) },
		"credentials":  func(base string, _ int) string { return strings.Replace(base, "http://", "http://u:p@", 1) + "/x" },
		"relative":     func(string, int) string { return "/subscriptions/sub-1?page=1" },
	} {
		t.Run(name, func(t *testing.T) {
			srv := armServer(t, pages, link)
			_, err := NewARM(newClient(t, srv), []string{"sub-1"}).List(context.Background())
			require.Error(t, err)
			assert.Contains(t, err.Error(), "nextLink")
		})
	}
}

func TestARMStopsAnEndlessListing(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, `{"value": [], "nextLink": %q}`, srv.URL+r.URL.Path+"?"+r.URL.RawQuery+"&x=1")
	}))
	defer srv.Close()
	_, err := NewARM(newClient(t, srv), []string{"sub-1"}).List(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pages")
}

func TestFilters(t *testing.T) {
	list := []Workspace{{ID: "111", Name: "prod-eu"}, {ID: "222", Name: "prod-us"}, {ID: "333", Name: "dev"}}
	names := func(ws []Workspace) []string {
		out := []string{}
		for _, w := range ws {
			out = append(out, w.Name)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		filter Filter
		want   []string
	}{
		{"none", Filter{}, []string{"prod-eu", "prod-us", "dev"}},
		{"include by name", Filter{Include: []string{"prod-*"}}, []string{"prod-eu", "prod-us"}},
		{"include by id", Filter{Include: []string{"333"}}, []string{"dev"}},
		{"exclude wins", Filter{Include: []string{"prod-*"}, Exclude: []string{"2?2"}}, []string{"prod-eu"}},
		{"exclude by name", Filter{Exclude: []string{"dev"}}, []string{"prod-eu", "prod-us"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, names(tc.filter.Apply(list)))
		})
	}
	errs := Filter{Include: []string{"[a-"}}.Validate("account")
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0].Error(), "account.include")
}

func TestStaticListsItsWorkspaces(t *testing.T) {
	list, err := Static{{ID: "h", URL: "https://h"}}.List(context.Background())
	require.NoError(t, err)
	assert.Len(t, list, 1)
	assert.False(t, errors.Is(err, context.Canceled))
}
