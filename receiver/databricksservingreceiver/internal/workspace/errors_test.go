// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package workspace

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An API error says the request, the status, and Databricks' code and message when the answer had them.
func TestAPIErrorSaysWhatTheAnswerSaid(t *testing.T) {
	for _, tc := range []struct {
		err  APIError
		want string
	}{
		{APIError{Path: "/x", StatusCode: 500}, "GET /x: HTTP 500"},
		{APIError{Path: "/x", StatusCode: 500, ErrorCode: "INTERNAL_ERROR"}, "GET /x: HTTP 500 INTERNAL_ERROR"},
		{APIError{Path: "/x", StatusCode: 500, Message: "try later"}, "GET /x: HTTP 500: try later"},
		{APIError{Path: "/x", StatusCode: 500, ErrorCode: "INTERNAL_ERROR", Message: "try later"}, "GET /x: HTTP 500 INTERNAL_ERROR: try later"},
	} {
		assert.Equal(t, tc.want, tc.err.Error())
	}
}

// Databricks' JSON error gives the code and message; any other body, JSON without them included, is kept as a
// short excerpt.
func TestAnErrorBodyIsReadAsDatabricksJSONOrKeptAsAnExcerpt(t *testing.T) {
	for body, want := range map[string][2]string{
		`{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"no such endpoint"}`: {"RESOURCE_DOES_NOT_EXIST", "no such endpoint"},
		`{"message":"no such endpoint"}`:                                        {"", "no such endpoint"},
		`{"error_code":"RESOURCE_DOES_NOT_EXIST"}`:                              {"RESOURCE_DOES_NOT_EXIST", ""},
		`{"detail":"upstream timed out"}`:                                       {"", `{"detail":"upstream timed out"}`},
		"upstream timed out\n":                                                  {"", "upstream timed out"},
		"<html>502</html>":                                                      {"", ""},
	} {
		resp := &http.Response{StatusCode: 502, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body))}
		err := newAPIError("/x", resp, time.Now())
		assert.Equal(t, want, [2]string{err.ErrorCode, err.Message}, body)
	}
}

// Truncate keeps text of at most limit bytes whole and cuts longer text on a rune boundary, saying how long it was.
func TestTruncateCutsOnARuneBoundary(t *testing.T) {
	assert.Equal(t, "abcd", Truncate("abcd", 4))
	assert.Equal(t, "abc…(5 bytes)", Truncate("abcde", 3))
	got := Truncate("aé", 2) // "é" is two bytes: cutting after 2 would split it
	assert.Equal(t, "a…(3 bytes)", got)
	assert.True(t, utf8.ValidString(got))
}

// A failed token fetch is not retried before its backoff: 5 s doubling with each consecutive failure, within
// ±20 %, up to 5 minutes; a Retry-After replaces it.
func TestTokenBackoffDoublesWithinItsJitter(t *testing.T) {
	for failures, base := range map[int]time.Duration{1: 5 * time.Second, 2: 10 * time.Second, 3: 20 * time.Second, 20: 5 * time.Minute} {
		for range 200 { // the jitter's whole range
			wait := tokenBackoff(failures, 0)
			require.GreaterOrEqual(t, wait, time.Duration(float64(base)*0.8), "failure %d", failures)
			require.LessOrEqual(t, wait, time.Duration(float64(base)*1.2), "failure %d", failures)
		}
	}
	assert.Equal(t, 42*time.Second, tokenBackoff(3, 42*time.Second))
}

// Redirects within the workspace host are followed, four at most: a loop ends with an error, not a hang.
func TestRedirectsWithinTheHostStopAfterFour(t *testing.T) {
	c := newClientFor(t, func(w http.ResponseWriter, r *http.Request) {
		if n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hop/")); err == nil && n > 0 {
			http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusFound)
			return
		}
		switch r.URL.Path {
		case "/api/2.0/serving-endpoints/four/metrics":
			http.Redirect(w, r, "/hop/3", http.StatusFound)
		case "/api/2.0/serving-endpoints/five/metrics":
			http.Redirect(w, r, "/hop/4", http.StatusFound)
		default:
			_, _ = w.Write([]byte("ok"))
		}
	}, 1<<20)
	var buf bytes.Buffer
	_, err := c.FetchMetrics(context.Background(), "four", &buf)
	require.NoError(t, err, "four redirects are followed")
	assert.Equal(t, "ok", buf.String())
	_, err = c.FetchMetrics(context.Background(), "five", &buf)
	require.ErrorContains(t, err, "stopped after 5 redirects")
}
