// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package workspace

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 9, 6, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, value string
		want        time.Duration
	}{
		{"empty", "", 0},
		{"seconds", "120", 2 * time.Minute},
		{"seconds with spaces", " 7 ", 7 * time.Second},
		{"zero seconds", "0", 0},
		{"negative seconds", "-5", 0},
		{"HTTP date in the future", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"RFC 850 date", now.Add(30 * time.Second).Format(time.RFC850), 30 * time.Second},
		{"HTTP date in the past", now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"garbage", "soon", 0},
		{"fractional seconds", "1.5", 0},
		{"huge seconds are capped at an hour", "86400", time.Hour},
		{"an hour exactly", "3600", time.Hour},
		{"overflowing seconds are capped", "99999999999999999999", 0},
		{"a far date is capped at an hour", now.Add(72 * time.Hour).Format(http.TimeFormat), time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, parseRetryAfter(tc.value, now))
		})
	}
}

// server answers every request with status, headers and body; it records the Authorization it saw.
func newClientFor(t *testing.T, handler http.HandlerFunc, maxBody int64) *Client {
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	base, err := url.Parse(srv.URL)
	require.NoError(t, err)
	return NewClient(srv.Client(), base, StaticToken("dapi-secret-token"), "test", maxBody)
}

func TestAPIErrorsAreClassifiedAndExplained(t *testing.T) {
	for _, tc := range []struct {
		name        string
		status      int
		contentType string
		body        string
		retryAfter  string
		wantCode    string
		wantMessage string
		wantHint    string
		wantRetry   time.Duration
	}{
		{"401 JSON", 401, "application/json", `{"error_code":"UNAUTHENTICATED","message":"Invalid access token."}`, "", "UNAUTHENTICATED", "Invalid access token.", "token is missing, invalid or expired", 0},
		{"403", 403, "application/json", `{"error_code":"PERMISSION_DENIED","message":"no"}`, "", "PERMISSION_DENIED", "no", "CAN_VIEW", 0},
		{"404", 404, "application/json", `{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"gone"}`, "", "RESOURCE_DOES_NOT_EXIST", "gone", "does not exist", 0},
		{"429 with Retry-After", 429, "application/json", `{"error_code":"REQUEST_LIMIT_EXCEEDED","message":"slow"}`, "30", "REQUEST_LIMIT_EXCEEDED", "slow", "rate limiting", 30 * time.Second},
		{"503 with Retry-After", 503, "text/plain", "upstream busy", "12", "", "upstream busy", "", 12 * time.Second},
		{"500 plain text", 500, "text/plain", "  internal error \n", "", "", "internal error", "", 0},
		{"HTML error page is not quoted", 502, "text/html", "<html><body>Bad gateway</body></html>", "", "", "", "", 0},
		{"the token echoed in a body is redacted", 400, "text/plain", "bad request with Bearer dapi-secret-token", "", "", "", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClientFor(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}, 1<<20)
			var buf bytes.Buffer
			_, err := c.FetchMetrics(context.Background(), "fraud", &buf)
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, tc.status, apiErr.StatusCode)
			assert.Equal(t, "/api/2.0/serving-endpoints/fraud/metrics", apiErr.Path)
			assert.Equal(t, tc.wantCode, apiErr.ErrorCode)
			if tc.wantMessage != "" {
				assert.Equal(t, tc.wantMessage, apiErr.Message)
			}
			assert.Equal(t, tc.wantRetry, apiErr.RetryAfter)
			assert.NotContains(t, err.Error(), "dapi-secret-token")
			assert.NotContains(t, err.Error(), "<html")
			if tc.wantHint != "" {
				assert.Contains(t, err.Error(), tc.wantHint)
			}
		})
	}
}

func TestMaxBodyBytesAdmitsExactlyItsValue(t *testing.T) {
	body := strings.Repeat("x", 100)
	for _, tc := range []struct {
		limit int64
		ok    bool
	}{{100, true}, {99, false}, {101, true}} {
		c := newClientFor(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) }, tc.limit)
		var buf bytes.Buffer
		_, err := c.FetchMetrics(context.Background(), "fraud", &buf)
		if tc.ok {
			require.NoError(t, err, "limit %d", tc.limit)
			assert.Equal(t, body, buf.String())
		} else {
			var limitErr *BodyLimitError
			require.ErrorAs(t, err, &limitErr, "limit %d", tc.limit)
			assert.Equal(t, tc.limit, limitErr.Limit)
		}
	}
}

func TestAnHTMLPageIsNotMetrics(t *testing.T) {
	c := newClientFor(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<html>login</html>"))
	}, 1<<20)
	var buf bytes.Buffer
	_, err := c.FetchMetrics(context.Background(), "fraud", &buf)
	require.ErrorIs(t, err, ErrHTMLPage)
}

func TestRedirectsToAnotherHostAreNotFollowedWithCredentials(t *testing.T) {
	var elsewhereAuth []string
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhereAuth = append(elsewhereAuth, r.Header.Get("Authorization"))
		_, _ = w.Write([]byte("stolen"))
	}))
	defer elsewhere.Close()
	c := newClientFor(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/2.0/serving-endpoints/away/metrics":
			http.Redirect(w, r, elsewhere.URL+"/login", http.StatusFound)
		case "/api/2.0/serving-endpoints/here/metrics":
			http.Redirect(w, r, "/moved", http.StatusFound)
		case "/moved":
			assert.Equal(t, "Bearer dapi-secret-token", r.Header.Get("Authorization"))
			_, _ = w.Write([]byte("ok"))
		}
	}, 1<<20)
	var buf bytes.Buffer
	_, err := c.FetchMetrics(context.Background(), "away", &buf)
	require.ErrorContains(t, err, "refusing to follow a redirect")
	assert.Empty(t, elsewhereAuth, "nothing reached the other host")

	_, err = c.FetchMetrics(context.Background(), "here", &buf)
	require.NoError(t, err, "a redirect within the workspace host is followed")
	assert.Equal(t, "ok", buf.String())
}

func TestInvalidEndpointNamesAreNeverRequested(t *testing.T) {
	requested := 0
	c := newClientFor(t, func(http.ResponseWriter, *http.Request) { requested++ }, 1<<20)
	for _, name := range []string{"", "..", "a/b", "a b", "%2e%2e", strings.Repeat("a", 64)} {
		var buf bytes.Buffer
		_, err := c.FetchMetrics(context.Background(), name, &buf)
		var invalid *InvalidNameError
		require.ErrorAs(t, err, &invalid, "%q", name)
		_, err = c.GetEndpoint(context.Background(), name)
		require.ErrorAs(t, err, &invalid, "%q", name)
	}
	assert.Zero(t, requested)
	assert.True(t, ValidEndpointName(strings.Repeat("a", 63)))
}

// TestClientsSharingSlotsShareOneBound: the clients of several workspaces that share slots never have more
// requests in flight together than the slots allow.
func TestClientsSharingSlotsShareOneBound(t *testing.T) {
	var inFlight, maxInFlight atomic.Int64
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := inFlight.Add(1)
		for {
			seen := maxInFlight.Load()
			if n <= seen || maxInFlight.CompareAndSwap(seen, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		inFlight.Add(-1)
		_, _ = w.Write([]byte("x 1\n"))
	})
	slots := make(chan struct{}, 2)
	clients := []*Client{newClientFor(t, handler, 1<<10), newClientFor(t, handler, 1<<10), newClientFor(t, handler, 1<<10)}
	for _, c := range clients {
		c.SetSlots(slots)
	}
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			_, err := clients[i%3].FetchMetrics(context.Background(), "ep", &buf)
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(2), maxInFlight.Load(), "two slots for three clients")

	// A request that cannot get a slot before its context ends fails without being sent.
	slots <- struct{}{}
	slots <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var buf bytes.Buffer
	_, err := clients[0].FetchMetrics(ctx, "ep", &buf)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "max_concurrency")
}
