// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package workspace // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// StaticToken is a personal access token.
type StaticToken string

// Token returns the token.
func (t StaticToken) Token(context.Context) (string, error) { return string(t), nil }

// OAuthClientCredentials obtains tokens with the OAuth 2.0 client-credentials grant: Databricks service principals
// (POST https://<workspace>/oidc/v1/token, client id and secret in HTTP Basic auth) and Microsoft Entra ID service
// principals (POST https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token, client id and secret in the
// form). It caches a token and fetches the next one before the current one expires, so requests never carry an
// expired token and a slow token endpoint delays no scrape while the cached token is still good.
type OAuthClientCredentials struct {
	config     clientcredentials.Config
	httpClient *http.Client
	now        func() time.Time

	mu     sync.Mutex
	token  *oauth2.Token
	margin time.Duration // refresh margin of token
}

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

// Token returns a cached token, or fetches a new one when the cached one is within its refresh margin.
func (c *OAuthClientCredentials) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != nil && c.now().Add(c.margin).Before(c.token.Expiry) {
		return c.token.AccessToken, nil
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.httpClient)
	issued := c.now()
	token, err := c.config.Token(ctx)
	if err != nil {
		return "", describeTokenError(err)
	}
	if token.AccessToken == "" {
		return "", errors.New("the token endpoint answered without an access_token")
	}
	if token.Expiry.IsZero() {
		// A token without expires_in is used until the API rejects it; fetch a new one every hour anyway.
		token.Expiry = issued.Add(time.Hour)
	}
	c.token, c.margin = token, refreshMargin(token.Expiry.Sub(issued))
	return token.AccessToken, nil
}

// describeTokenError keeps the token endpoint's own error code and description (e.g. invalid_client) and drops the
// rest, which can echo request details.
func describeTokenError(err error) error {
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
			msg += " " + code
		}
		if description != "" {
			msg += ": " + description
		}
		return errors.New(msg + " (check client_id, client_secret, the scopes and that the service principal is assigned to the workspace)")
	}
	return redactURLError(err)
}
