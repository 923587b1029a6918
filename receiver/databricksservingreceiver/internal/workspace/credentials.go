// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package workspace // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// StaticToken is a personal access token.
type StaticToken string

// Token returns the token.
func (t StaticToken) Token(context.Context) (string, error) { return string(t), nil }

func (t StaticToken) secrets() []string { return []string{string(t)} }

// OAuthClientCredentials obtains tokens with the OAuth 2.0 client-credentials grant: Databricks service principals
// (POST https://<workspace>/oidc/v1/token, client id and secret in HTTP Basic auth) and Microsoft Entra ID service
// principals (POST https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token, client id and secret in the
// form). It caches a token and fetches the next one before the current one expires, so requests never carry an
// expired token and a slow token endpoint delays no scrape while the cached token is still good.
//
// One fetch at a time: concurrent callers wait for it and share its result. A failed fetch is remembered for a
// backoff (the token endpoint's Retry-After, else doubling from tokenRetryBase up to tokenRetryMax, with jitter):
// callers meanwhile get the same error at once instead of asking again, so a thousand endpoints cost one token
// request, not a thousand, and a slow or failing identity provider does not stall the cycle.
type OAuthClientCredentials struct {
	config     clientcredentials.Config
	httpClient *http.Client
	now        func() time.Time

	// current is the access token last obtained, for Redact; it is read without waiting for a fetch.
	current atomic.Pointer[string]

	mu     sync.Mutex
	token  *oauth2.Token
	margin time.Duration // refresh margin of token
	// failure is the last fetch's error while it is remembered (until retryAt); failures counts consecutive ones.
	failure  error
	retryAt  time.Time
	failures int
}

// The backoff after a failed token fetch without Retry-After: long enough that a failing identity provider is not
// hammered, short enough that a fixed credential works again within minutes.
const (
	tokenRetryBase = 5 * time.Second
	tokenRetryMax  = 5 * time.Minute
)

// TokenBackoffError is returned while a failed token fetch is remembered: the error it had, and when the next
// fetch may happen.
type TokenBackoffError struct {
	Err     error
	RetryAt time.Time
}

func (e *TokenBackoffError) Error() string {
	return fmt.Sprintf("%v (not asked again before %s)", e.Err, e.RetryAt.UTC().Format(time.RFC3339))
}
func (e *TokenBackoffError) Unwrap() error { return e.Err }

// NewOAuthClientCredentials returns token credentials for a client-credentials grant. credentialsInHeader selects
// HTTP Basic auth (Databricks) over form fields (Entra ID). httpClient is used for the token requests, so TLS
// settings and proxies apply to them too.
func NewOAuthClientCredentials(tokenURL, clientID, clientSecret string, scopes []string, credentialsInHeader bool, httpClient *http.Client) *OAuthClientCredentials {
	style := oauth2.AuthStyleInParams
	if credentialsInHeader {
		style = oauth2.AuthStyleInHeader
	}
	return &OAuthClientCredentials{
		config: clientcredentials.Config{
			ClientID:     clientID,
			ClientSecret: clientSecret,
			TokenURL:     tokenURL,
			Scopes:       scopes,
			AuthStyle:    style,
		},
		httpClient: httpClient,
		now:        time.Now,
	}
}

// refreshMargin is how long before expiry a token is replaced: a tenth of its lifetime, at most 5 minutes and at
// least 1 second. Databricks and Entra tokens live an hour, so they are renewed after 54 minutes.
func refreshMargin(lifetime time.Duration) time.Duration {
	return min(5*time.Minute, max(time.Second, lifetime/10))
}

// Token returns a cached token, or fetches a new one when the cached one is within its refresh margin. While a
// failed fetch is remembered it returns a TokenBackoffError at once; a token still valid is used meanwhile.
func (c *OAuthClientCredentials) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	valid := c.token != nil && now.Before(c.token.Expiry)
	if valid && now.Add(c.margin).Before(c.token.Expiry) {
		return c.token.AccessToken, nil
	}
	if c.failure != nil && now.Before(c.retryAt) {
		if valid { // renewing failed, but the current token has not expired yet
			return c.token.AccessToken, nil
		}
		return "", &TokenBackoffError{Err: c.failure, RetryAt: c.retryAt}
	}
	token, err := c.fetch(ctx)
	if err != nil {
		c.failures++
		c.failure, c.retryAt = err, now.Add(tokenBackoff(c.failures, retryAfterOf(err, now)))
		if valid {
			return c.token.AccessToken, nil
		}
		return "", err
	}
	c.failure, c.failures = nil, 0
	return token, nil
}

// tokenBackoff is how long a failed token fetch is remembered: retryAfter when the endpoint named it, else
// tokenRetryBase doubling with every consecutive failure up to tokenRetryMax, ±20 % so that collectors that failed
// together do not return together.
func tokenBackoff(failures int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return retryAfter
	}
	backoff := tokenRetryBase
	for i := 1; i < failures && backoff < tokenRetryMax; i++ {
		backoff *= 2
	}
	backoff = min(backoff, tokenRetryMax)
	return time.Duration(float64(backoff) * (0.8 + 0.4*rand.Float64())) //nolint:gosec // G404: jitter, not a secret
}

// retryAfterOf reads the Retry-After of a token endpoint's error answer (0 when none).
func retryAfterOf(err error, now time.Time) time.Duration {
	var retrieve *oauth2.RetrieveError
	if errors.As(err, &retrieve) && retrieve.Response != nil {
		return parseRetryAfter(retrieve.Response.Header.Get("Retry-After"), now)
	}
	return 0
}

// fetch asks the token endpoint for a token and caches it. c.mu is held.
func (c *OAuthClientCredentials) fetch(ctx context.Context) (string, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.httpClient)
	issued := c.now()
	token, err := c.config.Token(ctx)
	if err != nil {
		return "", &tokenError{err: describeTokenError(err, c.secrets()...), cause: err}
	}
	if token.AccessToken == "" {
		return "", errors.New("the token endpoint answered without an access_token")
	}
	if token.Expiry.IsZero() {
		// A token without expires_in is used until the API rejects it; fetch a new one every hour anyway.
		token.Expiry = issued.Add(time.Hour)
	}
	c.token, c.margin = token, refreshMargin(token.Expiry.Sub(issued))
	c.current.Store(&token.AccessToken)
	return token.AccessToken, nil
}

// secrets are what Redact removes from what the token endpoint and the workspace answer: the client secret (with
// the client id, as HTTP Basic carries them) and the access token last obtained.
func (c *OAuthClientCredentials) secrets() []string {
	out := []string{c.config.ClientSecret, url.QueryEscape(c.config.ClientID) + ":" + url.QueryEscape(c.config.ClientSecret)}
	if token := c.current.Load(); token != nil {
		out = append(out, *token)
	}
	return out
}

// tokenError is a failed fetch: the message users see, and the cause (for its Retry-After).
type tokenError struct {
	err, cause error
}

func (e *tokenError) Error() string { return e.err.Error() }
func (e *tokenError) Unwrap() error { return e.cause }

// describeTokenError keeps the token endpoint's own error code and description (e.g. invalid_client) and drops the
// rest, which can echo request details. The code and description pass through Redact (with secrets): a gateway
// in front of the token endpoint may echo the request, client secret included, and a description may be long.
func describeTokenError(err error, secrets ...string) error {
	var retrieve *oauth2.RetrieveError
	if errors.As(err, &retrieve) {
		code, description := retrieve.ErrorCode, retrieve.ErrorDescription
		if code == "" {
			// oauth2 decodes the error only when the answer says it is JSON; token endpoints behind gateways
			// do not always say so.
			var body struct {
				Error            string `json:"error"`
				ErrorDescription string `json:"error_description"`
			}
			if json.Unmarshal(retrieve.Body, &body) == nil {
				code, description = body.Error, body.ErrorDescription
			}
		}
		msg := fmt.Sprintf("token endpoint answered HTTP %d", retrieve.Response.StatusCode)
		if code != "" {
			msg += " " + Truncate(Redact(code, secrets...), 64)
		}
		if description != "" {
			msg += ": " + Redact(description, secrets...)
		}
		return errors.New(msg + " (check client_id, client_secret, the scopes and that the service principal is assigned to the workspace)")
	}
	return redactURLError(err)
}
