// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

func (a *Account) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oidc/accounts/{account}/v1/token", a.handleAccountToken)
	mux.Handle("GET /api/2.0/accounts/{account}/workspaces", a.requireToken(audienceAccount, http.HandlerFunc(a.handleAccountsList)))
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", a.handleEntraToken)
	mux.Handle("GET /subscriptions/{sub}/providers/Microsoft.Databricks/workspaces", a.requireToken(audienceARM, http.HandlerFunc(a.handleARMList)))
	mux.HandleFunc("POST /simulator/account/workspaces", a.handleAddWorkspace)
	mux.HandleFunc("PATCH /simulator/account/workspaces/{id}", a.handleSetStatus)
	mux.HandleFunc("DELETE /simulator/account/workspaces/{id}", a.handleRemoveWorkspace)
	return mux
}

// The audiences of the account's tokens, the prefixes of their labels: a
// token is accepted only where its audience is.
const (
	audienceAccount         = "account:" // the Accounts API
	audienceARM             = "arm:"     // Azure Resource Manager
	audienceAzureDatabricks = "azure:"   // the workspaces, as the AzureDatabricks application
)

// handleAccountToken is the account-level OAuth M2M token endpoint: HTTP
// Basic (or form) client credentials of a principal of the account. Any
// non-empty scope is granted.
func (a *Account) handleAccountToken(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("account") != a.cfg.AccountID {
		writeJSON(w, http.StatusNotFound, oauthError{Error: oauthErrorInvalidRequest, Description: "unknown account"})
		return
	}
	a.issueToken(w, r, a.cfg.OAuthClients, func(string) (string, bool) { return audienceAccount, true })
}

// handleEntraToken is the Entra ID token endpoint of the ARM flavour: it
// issues tokens for Resource Manager's scope, which the ARM list accepts,
// and for the AzureDatabricks application's, which the account's
// workspaces accept where the principal is assigned.
func (a *Account) handleEntraToken(w http.ResponseWriter, r *http.Request) {
	if a.cfg.AzureTenant == "" || !strings.EqualFold(r.PathValue("tenant"), a.cfg.AzureTenant) {
		writeJSON(w, http.StatusBadRequest, oauthError{Error: oauthErrorInvalidRequest, Description: "Tenant not found."})
		return
	}
	a.issueToken(w, r, a.cfg.AzureClients, func(scope string) (string, bool) {
		switch {
		case strings.EqualFold(scope, armScope):
			return audienceARM, true
		case strings.EqualFold(scope, azureDatabricksScope):
			return audienceAzureDatabricks, true
		}
		return "", false
	})
}

// issueToken answers a client-credentials grant of one of clients;
// audience says which audience a scope asked for is (false: not granted).
func (a *Account) issueToken(w http.ResponseWriter, r *http.Request, clients map[string]string, audience func(scope string) (string, bool)) {
	form, formErr := readTokenForm(w, r)
	if formErr != nil {
		writeJSON(w, http.StatusBadRequest, formErr)
		return
	}
	id, secret, _ := clientCredentials(r, form)
	if !authenticateClient(clients, id, secret) {
		writeJSON(w, http.StatusUnauthorized, errClientAuthentication)
		return
	}
	if grantErr := checkGrant(form); grantErr != nil {
		writeJSON(w, http.StatusBadRequest, grantErr)
		return
	}
	asked := strings.TrimSpace(form.Get("scope"))
	prefix, ok := audience(asked)
	if asked == "" || !ok {
		writeJSON(w, http.StatusBadRequest, oauthError{Error: oauthErrorInvalidScope, Description: "scope " + quoteOrMissing(asked) + " is not granted"})
		return
	}
	setNoStore(w)
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: a.credentials.issue(prefix + id), TokenType: "Bearer",
		ExpiresIn: int64(a.cfg.TokenLifetime.Seconds()), Scope: asked,
	})
}

// requireToken accepts the tokens the account issued for audience.
func (a *Account) requireToken(audience string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			writeJSON(w, http.StatusUnauthorized, apiError{ErrorCode: errorCodeUnauthenticated, Message: invalidTokenMessage})
			return
		}
		if label, err := a.credentials.authenticate(token); err != nil || !strings.HasPrefix(label, audience) {
			writeJSON(w, http.StatusUnauthorized, apiError{ErrorCode: errorCodeUnauthenticated, Message: invalidTokenMessage})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// workspaceTokens authenticates, for a workspace to which the Entra ID
// principals assigned (client ids) are assigned, the AzureDatabricks tokens
// of the account's Entra ID endpoint: another audience's token, or an
// unassigned principal's, is an invalid one.
func (a *Account) workspaceTokens(assigned map[string]string) func(token string) (string, error) {
	return func(token string) (string, error) {
		label, err := a.credentials.authenticate(token)
		if err != nil {
			return "", err
		}
		if id, ok := strings.CutPrefix(label, audienceAzureDatabricks); !ok || assigned[id] == "" {
			return "", errInvalidToken
		}
		return label, nil
	}
}

// accountsWorkspace is an item of the Accounts API's list. It has no URL:
// clients build it from deployment_name.
type accountsWorkspace struct {
	WorkspaceID     int64  `json:"workspace_id"`
	WorkspaceName   string `json:"workspace_name"`
	DeploymentName  string `json:"deployment_name"`
	WorkspaceStatus string `json:"workspace_status"`
	AWSRegion       string `json:"aws_region"`
	Cloud           string `json:"cloud"`
}

func (a *Account) handleAccountsList(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("account") != a.cfg.AccountID {
		writeJSON(w, http.StatusForbidden, apiError{ErrorCode: "PERMISSION_DENIED", Message: "not a principal of this account"})
		return
	}
	out := []accountsWorkspace{}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ws := range a.sortedLocked() {
		id, _ := strconv.ParseInt(ws.ID, 10, 64)
		out = append(out, accountsWorkspace{
			WorkspaceID: id, WorkspaceName: ws.Name, DeploymentName: ws.Addr, WorkspaceStatus: ws.status,
			AWSRegion: ws.Region, Cloud: "aws",
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// armWorkspace is an item of the ARM list.
type armWorkspace struct {
	ID         string        `json:"id"`
	Name       string        `json:"name"`
	Location   string        `json:"location"`
	Properties armProperties `json:"properties"`
}

type armProperties struct {
	WorkspaceURL      string `json:"workspaceUrl"`
	WorkspaceID       string `json:"workspaceId"`
	ProvisioningState string `json:"provisioningState"`
}

// handleARMList serves the subscription's workspaces, PageSize at a time;
// $skiptoken carries the offset of the next page, as ARM's nextLink does.
func (a *Account) handleARMList(w http.ResponseWriter, r *http.Request) {
	if sub := r.PathValue("sub"); sub != a.cfg.Subscription {
		writeJSON(w, http.StatusForbidden, map[string]any{"error": map[string]string{"code": "AuthorizationFailed", "message": "no Reader role on subscription " + sub}})
		return
	}
	offset, _ := strconv.Atoi(r.URL.Query().Get("$skiptoken"))
	a.mu.Lock()
	all := a.sortedLocked()
	page := []armWorkspace{}
	for _, ws := range all[min(max(offset, 0), len(all)):min(max(offset, 0)+a.cfg.PageSize, len(all))] {
		state := "Succeeded"
		if ws.status != WorkspaceRunning {
			state = "Failed"
		}
		page = append(page, armWorkspace{
			ID:   "/subscriptions/" + a.cfg.Subscription + "/resourceGroups/rg/providers/Microsoft.Databricks/workspaces/" + ws.Name,
			Name: ws.Name, Location: ws.Region,
			Properties: armProperties{WorkspaceURL: ws.Addr, WorkspaceID: ws.ID, ProvisioningState: state},
		})
	}
	a.mu.Unlock()
	body := map[string]any{"value": page}
	if next := offset + a.cfg.PageSize; next < len(all) {
		q := url.Values{"api-version": {r.URL.Query().Get("api-version")}, "$skiptoken": {strconv.Itoa(next)}}
		body["nextLink"] = "http://" + r.Host + r.URL.Path + "?" + q.Encode()
	}
	writeJSON(w, http.StatusOK, body)
}

// sortedLocked returns the workspaces in id order; a.mu is held.
func (a *Account) sortedLocked() []*AccountWorkspace {
	out := slices.Collect(maps.Values(a.workspaces))
	slices.SortFunc(out, func(x, y *AccountWorkspace) int { return strings.Compare(x.ID, y.ID) })
	return out
}

func (a *Account) handleAddWorkspace(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
		CPU  *int   `json:"cpu"`
	}
	if err := decodeControlBody(w, r, &req); err != nil {
		writeBadRequest(w, err)
		return
	}
	cfg := a.cfg.Template
	if req.CPU != nil {
		cfg.CPU = *req.CPU
	}
	ws, err := a.AddWorkspace(req.Name, cfg)
	if err != nil {
		writeBadRequest(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": ws.ID, "name": ws.Name, "addr": ws.Addr, "url": ws.URL})
}

func (a *Account) handleSetStatus(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Status string `json:"status"`
	}
	if err := decodeControlBody(w, r, &req); err != nil {
		writeBadRequest(w, err)
		return
	}
	if err := a.SetWorkspaceStatus(r.PathValue("id"), req.Status); err != nil {
		writeJSON(w, http.StatusNotFound, apiError{ErrorCode: errorCodeNotFound, Message: err.Error()})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *Account) handleRemoveWorkspace(w http.ResponseWriter, r *http.Request) {
	if err := a.RemoveWorkspace(r.PathValue("id")); err != nil {
		writeJSON(w, http.StatusNotFound, apiError{ErrorCode: errorCodeNotFound, Message: err.Error()})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
