// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package workspace

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tokenServer answers client-credentials requests: with a token valid for lifetime while ok is set, else with
// status (and Retry-After when retryAfter is set).
type tokenServer struct {
	requests   atomic.Int64
	ok         atomic.Bool
	status     int
	retryAfter string
	lifetime   int // seconds
	delay      time.Duration
}

func (ts *tokenServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	ts.requests.Add(1)
	time.Sleep(ts.delay)
	if !ts.ok.Load() {
		if ts.retryAfter != "" {
			w.Header().Set("Retry-After", ts.retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(ts.status)
		_, _ = w.Write([]byte(`{"error":"temporarily_unavailable","error_description":"the identity provider is down"}`))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"access_token":"tok","token_type":"Bearer","expires_in":` + strconv.Itoa(ts.lifetime) + `}`))
}

func newCredentials(t *testing.T, ts *tokenServer, clock *time.Time) *OAuthClientCredentials {
	srv := httptest.NewServer(ts)
	t.Cleanup(srv.Close)
	c := NewOAuthClientCredentials(srv.URL, "client", "secret", []string{"all-apis"}, true, srv.Client())
	c.now = func() time.Time { return *clock }
	return c
}

func TestAFailingTokenEndpointIsAskedOnceForManyRequests(t *testing.T) {
	ts := &tokenServer{status: http.StatusServiceUnavailable, lifetime: 3600, delay: 50 * time.Millisecond}
	clock := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	c := newCredentials(t, ts, &clock)

	// A cycle of 1000 endpoints asks for a token at once.
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Token(context.Background()); err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(1000), failed.Load())
	assert.Equal(t, int64(1), ts.requests.Load(), "one token request for the whole cycle")

	// Within the backoff, no request at all; the error says when the next one will be.
	clock = clock.Add(time.Second)
	_, err := c.Token(context.Background())
	var backoff *TokenBackoffError
	require.ErrorAs(t, err, &backoff)
	assert.Contains(t, err.Error(), "the identity provider is down")
	assert.Equal(t, int64(1), ts.requests.Load())

	// After it, one request again, and the backoff doubles.
	clock = backoff.RetryAt.Add(time.Millisecond)
	_, err = c.Token(context.Background())
	require.Error(t, err)
	assert.Equal(t, int64(2), ts.requests.Load())
	require.ErrorAs(t, c.failureForTest(), &backoff)
	assert.GreaterOrEqual(t, backoff.RetryAt.Sub(clock), time.Duration(float64(2*tokenRetryBase)*0.8))

	// Once the endpoint answers, tokens flow and the failure is forgotten.
	ts.ok.Store(true)
	clock = backoff.RetryAt.Add(time.Millisecond)
	token, err := c.Token(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "tok", token)
	assert.Equal(t, int64(3), ts.requests.Load())
}

// failureForTest returns what Token returns while a failure is remembered.
func (c *OAuthClientCredentials) failureForTest() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &TokenBackoffError{Err: c.failure, RetryAt: c.retryAt}
}

func TestATokenEndpointsRetryAfterIsHonoured(t *testing.T) {
	ts := &tokenServer{status: http.StatusTooManyRequests, retryAfter: "120", lifetime: 3600}
	clock := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	c := newCredentials(t, ts, &clock)
	_, err := c.Token(context.Background())
	require.Error(t, err)
	for _, after := range []time.Duration{time.Second, 60 * time.Second, 119 * time.Second} {
		clock = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC).Add(after)
		_, err = c.Token(context.Background())
		var backoff *TokenBackoffError
		require.ErrorAs(t, err, &backoff, "after %s", after)
	}
	assert.Equal(t, int64(1), ts.requests.Load(), "not asked again before Retry-After")
	clock = time.Date(2026, 12, 5, 12, 2, 1, 0, time.UTC)
	_, _ = c.Token(context.Background())
	assert.Equal(t, int64(2), ts.requests.Load())
}

func TestAValidTokenIsUsedWhileItsRenewalFails(t *testing.T) {
	ts := &tokenServer{status: http.StatusServiceUnavailable, lifetime: 600}
	ts.ok.Store(true)
	clock := time.Now() // the token's expiry is computed from the wall clock
	c := newCredentials(t, ts, &clock)
	_, err := c.Token(context.Background())
	require.NoError(t, err)
	ts.ok.Store(false)
	clock = clock.Add(9*time.Minute + 30*time.Second) // within the refresh margin, before expiry
	token, err := c.Token(context.Background())
	require.NoError(t, err, "the token has not expired: it is still good")
	assert.Equal(t, "tok", token)
	assert.Equal(t, int64(2), ts.requests.Load(), "renewal was tried")
	token, err = c.Token(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "tok", token)
	assert.Equal(t, int64(2), ts.requests.Load(), "and is not tried again during the backoff")
	clock = clock.Add(31 * time.Second) // expired
	_, err = c.Token(context.Background())
	require.Error(t, err)
	assert.False(t, errors.Is(err, context.Canceled))
}

// A token is renewed a tenth of its lifetime before it expires, at least 1 second and at most 5 minutes before.
func TestATokenIsRenewedATenthOfItsLifetimeBeforeExpiry(t *testing.T) {
	for lifetime, margin := range map[time.Duration]time.Duration{
		time.Hour:        5 * time.Minute, // a tenth is 6 minutes: capped
		20 * time.Minute: 2 * time.Minute,
		time.Minute:      6 * time.Second,
		5 * time.Second:  time.Second, // a tenth is half a second: raised
	} {
		assert.Equal(t, margin, refreshMargin(lifetime), "lifetime %s", lifetime)
	}
}

// The token endpoint's error code and description reach the error, whether the answer says it is JSON or, as
// gateways in front of token endpoints do, says it is text.
func TestATokenEndpointsErrorCodeAndDescriptionAreKept(t *testing.T) {
	for _, contentType := range []string{"application/json", "text/plain"} {
		t.Run(contentType, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", contentType)
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"Client authentication failed"}`))
			}))
			defer srv.Close()
			c := NewOAuthClientCredentials(srv.URL, "client", "secret", []string{"all-apis"}, true, srv.Client())
			_, err := c.Token(context.Background())
			require.Error(t, err)
			assert.Contains(t, err.Error(), "token endpoint answered HTTP 401 invalid_client: Client authentication failed")
		})
	}
}
