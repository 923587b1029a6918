// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package workspace // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxRetryAfter caps what a Retry-After header can make the receiver wait: a misconfigured gateway must not
// silence an endpoint for days.
const maxRetryAfter = time.Hour

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date (RFC 9110 10.2.3).
func parseRetryAfter(value string, now time.Time) time.Duration {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0
	}
	var wait time.Duration
	if seconds, err := strconv.ParseInt(value, 10, 64); err == nil {
		wait = time.Duration(max(seconds, 0)) * time.Second
	} else if at, err := http.ParseTime(value); err == nil {
		wait = at.Sub(now)
	}
	return min(max(wait, 0), maxRetryAfter)
}

// BodyLimitError reports a body larger than the configured limit.
type BodyLimitError struct {
	Path  string
	Limit int64
	// Setting is the limit that sets Limit, when not limits.max_body_bytes (the list's bound follows
	// limits.max_endpoints).
	Setting string
}

func (e *BodyLimitError) Error() string {
	if e.Setting != "" {
		return fmt.Sprintf("GET %s: body exceeds %d bytes after decompression (the bound that %s sets); not parsed", e.Path, e.Limit, e.Setting)
	}
	return fmt.Sprintf("GET %s: body exceeds limits.max_body_bytes (%d bytes) after decompression; not parsed", e.Path, e.Limit)
}

// ErrHTMLPage is returned when the workspace answers with an HTML page instead of data.
var ErrHTMLPage = errors.New("received an HTML page instead of metrics: a Private Link workspace answers requests from outside its network with a login page; check the network path and the workspace URL")

// AuthError reports that no access token could be obtained (e.g. the OAuth token endpoint refused the client).
type AuthError struct{ Err error }

func (e *AuthError) Error() string { return "obtaining an access token: " + e.Err.Error() }
func (e *AuthError) Unwrap() error { return e.Err }

// APIError is a non-200 answer of the Databricks REST API.
type APIError struct {
	Path       string
	StatusCode int
	// ErrorCode and Message come from Databricks' JSON error body, e.g. RESOURCE_DOES_NOT_EXIST.
	ErrorCode string
	Message   string
	// RetryAfter is how long the server asked the client to wait (Retry-After header of a 429 or 503); zero when
	// it did not say.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s: HTTP %d", e.Path, e.StatusCode)
	if e.ErrorCode != "" {
		b.WriteString(" " + e.ErrorCode)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if hint := e.hint(); hint != "" {
		b.WriteString(" (" + hint + ")")
	}
	return b.String()
}

func (e *APIError) hint() string {
	switch e.StatusCode {
	case http.StatusUnauthorized:
		return "the token is missing, invalid or expired: personal access tokens expire and are revoked after 90 days unused"
	case http.StatusForbidden:
		return "the identity needs CAN_VIEW on the endpoint and access to the workspace"
	case http.StatusNotFound:
		return "the endpoint does not exist or exports no metrics"
	case http.StatusTooManyRequests:
		return "Databricks is rate limiting the receiver; lengthen collection_interval or lower max_concurrency"
	}
	return ""
}

// maxErrorBody bounds how much of an error response is read: enough for Databricks' JSON error.
const maxErrorBody = 4 << 10

// newAPIError reads an error answer. Everything it keeps of the body passes through Redact with secrets (the
// request's credentials): gateways echo requests, headers included, in their error pages.
func newAPIError(path string, resp *http.Response, now time.Time, secrets ...string) *APIError {
	apiErr := &APIError{Path: path, StatusCode: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), now)}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	var payload struct {
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
	}
	if json.Unmarshal(body, &payload) == nil && (payload.ErrorCode != "" || payload.Message != "") {
		apiErr.ErrorCode, apiErr.Message = Redact(payload.ErrorCode, secrets...), Redact(payload.Message, secrets...)
		return apiErr
	}
	// Gateways answer with plain text or HTML; keep a short, printable excerpt.
	excerpt := strings.TrimSpace(string(body))
	if !utf8.ValidString(excerpt) || strings.HasPrefix(excerpt, "<") {
		return apiErr
	}
	apiErr.Message = Redact(excerpt, secrets...)
	return apiErr
}
