// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// The messages a workspace answers a rejected bearer token with; clients
// tell an expired token (renew it) from a wrong one (give up) by them.
const (
	invalidTokenMessage = "Invalid access token."
	expiredTokenMessage = "Token expired."
)

type credentialKey struct{}

// credentialFrom returns the label of the credential that authenticated the
// request, for per-credential accounting.
func credentialFrom(ctx context.Context) string {
	label, _ := ctx.Value(credentialKey{}).(string)
	return label
}

// requireToken answers 401 like a workspace does for a missing, malformed,
// wrong or expired bearer token, and passes the credential's label on.
func (s *Server) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			s.rejectToken(w, invalidTokenMessage)
			return
		}
		label, err := s.credentials.authenticate(token)
		if errors.Is(err, errInvalidToken) && s.tokenIssuer != nil {
			label, err = s.tokenIssuer(token)
		}
		switch {
		case errors.Is(err, errTokenExpired):
			s.counters.expiredTokens.Add(1)
			s.rejectToken(w, expiredTokenMessage)
			return
		case err != nil:
			s.rejectToken(w, invalidTokenMessage)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), credentialKey{}, label)))
	})
}

func (s *Server) rejectToken(w http.ResponseWriter, message string) {
	s.counters.unauthorized.Add(1)
	w.Header().Set("WWW-Authenticate", "Bearer")
	writeJSON(w, http.StatusUnauthorized, apiError{ErrorCode: errorCodeUnauthenticated, Message: message})
}
