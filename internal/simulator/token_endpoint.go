// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"crypto/subtle"
	"mime"
	"net/http"
	"net/url"
	"strconv"
)

// What the two client-credentials token endpoints (Databricks OAuth M2M and
// Azure Entra ID) share: the RFC 6749 request form, client authentication,
// the token answer and the error answer.

const (
	grantClientCredentials = "client_credentials"
	// maxTokenFormBytes bounds a token request body; real ones are a few
	// hundred bytes.
	maxTokenFormBytes = 64 << 10

	oauthErrorInvalidRequest       = "invalid_request"
	oauthErrorInvalidClient        = "invalid_client"
	oauthErrorUnsupportedGrantType = "unsupported_grant_type"
	oauthErrorInvalidScope         = "invalid_scope"
	// oauthErrorTemporarilyUnavailable is RFC 6749's code for a token
	// service that cannot answer now but may later; token faults use it.
	oauthErrorTemporarilyUnavailable = "temporarily_unavailable"
)

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	// ExtExpiresIn is Entra's extended lifetime, equal to ExpiresIn here.
	ExtExpiresIn int64  `json:"ext_expires_in,omitempty"`
	Scope        string `json:"scope"`
}

type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// readTokenForm returns the body parameters of a token request, which RFC
// 6749 requires to be form-encoded.
func readTokenForm(w http.ResponseWriter, r *http.Request) (url.Values, *oauthError) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/x-www-form-urlencoded" {
		return nil, &oauthError{Error: oauthErrorInvalidRequest, Description: "Content-Type must be application/x-www-form-urlencoded"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, &oauthError{Error: oauthErrorInvalidRequest, Description: "malformed form body"}
	}
	// Only the body counts: credentials in a URL end up in logs.
	return r.PostForm, nil
}

// clientCredentials returns the client id and secret from HTTP Basic
// authentication (client_secret_basic) or, failing that, from the form
// (client_secret_post): both are standard, and client libraries differ.
func clientCredentials(r *http.Request, form url.Values) (id, secret string, basic bool) {
	if id, secret, ok := r.BasicAuth(); ok {
		return id, secret, true
	}
	return form.Get("client_id"), form.Get("client_secret"), false
}

// checkGrant accepts only the client-credentials grant: the simulator has
// no users, so no other grant could succeed.
func checkGrant(form url.Values) *oauthError {
	if grant := form.Get("grant_type"); grant != grantClientCredentials {
		return &oauthError{Error: oauthErrorUnsupportedGrantType, Description: "grant_type must be client_credentials, got " + quoteOrMissing(grant)}
	}
	return nil
}

func quoteOrMissing(value string) string {
	if value == "" {
		return "nothing"
	}
	return strconv.Quote(value)
}

// authenticateClient reports whether secret is the secret of client id.
func authenticateClient(clients map[string]string, id, secret string) bool {
	want, known := clients[id]
	// Compare even for unknown ids, so that they take about as long as
	// wrong secrets.
	match := subtle.ConstantTimeCompare([]byte(secret), []byte(want)) == 1
	return known && match
}

// writeToken issues a token for label and answers it. azure adds Entra's
// ext_expires_in.
func (s *Server) writeToken(w http.ResponseWriter, label, scope string, azure bool) {
	lifetime := int64(s.cfg.TokenLifetime.Seconds())
	resp := tokenResponse{
		AccessToken: s.credentials.issue(label),
		TokenType:   "Bearer",
		ExpiresIn:   lifetime,
		Scope:       scope,
	}
	if azure {
		resp.ExtExpiresIn = lifetime
	}
	setNoStore(w)
	writeJSON(w, http.StatusOK, resp)
}

// writeTokenError answers a refused token request. A failed client
// authentication with HTTP Basic gets the challenge RFC 6749 §5.2 requires.
func (s *Server) writeTokenError(w http.ResponseWriter, status int, e oauthError, basic bool) {
	s.counters.rejectedTokens.Add(1)
	if status == http.StatusUnauthorized && basic {
		w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
	}
	setNoStore(w)
	writeJSON(w, status, e)
}

// setNoStore keeps caches from holding token answers (RFC 6749 §5.1).
func setNoStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

var errClientAuthentication = oauthError{Error: oauthErrorInvalidClient, Description: "Client authentication failed"}
