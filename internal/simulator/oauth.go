// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"net/http"
	"strings"
)

// handleOAuthToken is the workspace's OAuth machine-to-machine token
// endpoint, POST /oidc/v1/token: a client-credentials grant for a service
// principal. Any non-empty scope is granted (all-apis, model-serving, ...).
func (s *Server) handleOAuthToken(w http.ResponseWriter, r *http.Request) {
	if s.serveTokenFault(w, r) {
		return
	}
	form, formErr := readTokenForm(w, r)
	if formErr != nil {
		s.writeTokenError(w, http.StatusBadRequest, *formErr, false)
		return
	}
	id, secret, basic := clientCredentials(r, form)
	if !authenticateClient(s.cfg.OAuthClients, id, secret) {
		s.writeTokenError(w, http.StatusUnauthorized, errClientAuthentication, basic)
		return
	}
	if grantErr := checkGrant(form); grantErr != nil {
		s.writeTokenError(w, http.StatusBadRequest, *grantErr, basic)
		return
	}
	scope := strings.TrimSpace(form.Get("scope"))
	if scope == "" {
		s.writeTokenError(w, http.StatusBadRequest, oauthError{
			Error: oauthErrorInvalidRequest, Description: "Missing required parameter: scope",
		}, basic)
		return
	}
	s.counters.oauthTokens.Add(1)
	s.writeToken(w, "oauth:"+id, scope, false)
}
