// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"net/http"
	"strings"
)

// azureDatabricksScope asks Entra ID for a token for the Azure Databricks
// resource, whose application id is the same in every tenant.
const azureDatabricksScope = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"

// handleAzureToken is Entra ID's v2.0 token endpoint, POST
// /{tenant}/oauth2/v2.0/token, for a client-credentials grant of a service
// principal. Clients reach it here by pointing their Azure login endpoint at
// the simulator.
func (s *Server) handleAzureToken(w http.ResponseWriter, r *http.Request) {
	if s.serveTokenFault(w, r) {
		return
	}
	form, formErr := readTokenForm(w, r)
	if formErr != nil {
		s.writeTokenError(w, http.StatusBadRequest, *formErr, false)
		return
	}
	// Tenant ids are GUIDs or domain names, both case-insensitive.
	if tenant := r.PathValue("tenant"); s.cfg.AzureTenant == "" || !strings.EqualFold(tenant, s.cfg.AzureTenant) {
		s.writeTokenError(w, http.StatusBadRequest, oauthError{
			Error: oauthErrorInvalidRequest, Description: "Tenant '" + tenant + "' not found.",
		}, false)
		return
	}
	id, secret, basic := clientCredentials(r, form)
	if !authenticateClient(s.cfg.AzureClients, id, secret) {
		s.writeTokenError(w, http.StatusUnauthorized, errClientAuthentication, basic)
		return
	}
	if grantErr := checkGrant(form); grantErr != nil {
		s.writeTokenError(w, http.StatusBadRequest, *grantErr, basic)
		return
	}
	scope := form.Get("scope")
	if !strings.EqualFold(scope, azureDatabricksScope) {
		s.writeTokenError(w, http.StatusBadRequest, oauthError{
			Error: oauthErrorInvalidScope, Description: "scope must be " + azureDatabricksScope + ", got " + quoteOrMissing(scope),
		}, basic)
		return
	}
	s.counters.azureTokens.Add(1)
	s.writeToken(w, "azure:"+id, scope, true)
}
