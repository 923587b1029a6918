// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

// Package workspace is the receiver's client for the Databricks serving-endpoint REST API: it lists endpoints and
// fetches their metrics, and turns every non-success answer into an error that says what to do about it.
package workspace // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to one workspace. It is safe for concurrent use.
type Client struct {
	http         *http.Client
	base         *url.URL
	credentials  Credentials // nil when an authenticator extension on the http.Client adds credentials
	userAgent    string
	maxBodyBytes int64
}

// Credentials supplies the bearer token of each request.
type Credentials interface {
	// Token returns a valid access token, fetching or refreshing it when needed.
	Token(ctx context.Context) (string, error)
}

// NewClient returns a client for the workspace at baseURL. httpClient carries TLS, timeouts and any auth
// extension; credentials, when not nil, supply a bearer token for every request. The client refuses to follow
// redirects to another host, because the credentials would follow them.
func NewClient(httpClient *http.Client, baseURL *url.URL, credentials Credentials, userAgent string, maxBodyBytes int64) *Client {
	httpClient.CheckRedirect = refuseCrossHostRedirects
	return &Client{
		http:         httpClient,
		base:         baseURL,
		credentials:  credentials,
		userAgent:    userAgent,
		maxBodyBytes: maxBodyBytes,
	}
}

// refuseCrossHostRedirects follows redirects within the workspace host only. Go strips the Authorization
// header on a cross-host redirect, but authenticator round trippers add it again on every hop, so the only safe
// answer to a redirect elsewhere (e.g. a Private Link login page) is not to follow it.
func refuseCrossHostRedirects(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("stopped after 5 redirects")
	}
	if origin := via[0].URL; req.URL.Host != origin.Host || req.URL.Scheme != origin.Scheme {
		return fmt.Errorf("refusing to follow a redirect from %s to %s://%s: credentials must not leave the workspace host (is the workspace behind Private Link, or the URL wrong?)",
			origin.Host, req.URL.Scheme, req.URL.Host)
	}
	return nil
}

// Endpoint is what the list and get calls say about a serving endpoint, as far as the receiver uses it.
// Fields the SDK does not model (endpoint_type) are decoded too: the receiver needs them to skip endpoints that
// export no metrics.
type Endpoint struct {
	Name string `json:"name"`
	ID   string `json:"id"`
	Task string `json:"task"`
	// EndpointType is FOUNDATION_MODEL_API for pay-per-token Foundation Model endpoints, which have no metrics.
	EndpointType string         `json:"endpoint_type"`
	State        EndpointState  `json:"state"`
	Tags         []Tag          `json:"tags"`
	Config       EndpointConfig `json:"config"`
	// PendingConfig is the configuration an update in progress is rolling out: its served entities may already
	// serve traffic, and so show up in the metrics, before they are part of Config.
	PendingConfig EndpointConfig `json:"pending_config"`
}

// EndpointConfig is an endpoint's configuration, as far as the receiver uses it.
type EndpointConfig struct {
	ServedEntities []ServedEntity `json:"served_entities"`
}

// EndpointState is the endpoint's readiness and configuration update state.
type EndpointState struct {
	Ready        string `json:"ready"`         // READY, NOT_READY
	ConfigUpdate string `json:"config_update"` // NOT_UPDATING, IN_PROGRESS, UPDATE_FAILED, UPDATE_CANCELED
}

// Tag is an endpoint tag.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ServedEntity is a model (or feature spec, external model...) an endpoint serves. The list call fills only the
// names; the get call adds the workload and the deployment state.
type ServedEntity struct {
	Name               string `json:"name"`
	EntityName         string `json:"entity_name"`
	EntityVersion      string `json:"entity_version"`
	WorkloadType       string `json:"workload_type"`
	WorkloadSize       string `json:"workload_size"`
	ScaleToZeroEnabled *bool  `json:"scale_to_zero_enabled"`
	State              struct {
		Deployment string `json:"deployment"` // DEPLOYMENT_READY, DEPLOYMENT_CREATING, ...
	} `json:"state"`
}

// HasMetrics reports whether Databricks exports metrics for the endpoint: pay-per-token Foundation Model API
// endpoints answer 404 on /metrics.
func (e Endpoint) HasMetrics() bool { return e.EndpointType != "FOUNDATION_MODEL_API" }

// ListEndpoints returns every serving endpoint of the workspace (the API is not paginated).
func (c *Client) ListEndpoints(ctx context.Context) ([]Endpoint, error) {
	var buf bytes.Buffer
	if _, err := c.get(ctx, "/api/2.0/serving-endpoints", "application/json", &buf); err != nil {
		return nil, err
	}
	var list struct {
		Endpoints []Endpoint `json:"endpoints"`
	}
	if err := json.Unmarshal(buf.Bytes(), &list); err != nil {
		return nil, fmt.Errorf("decoding the serving endpoint list: %w", err)
	}
	return list.Endpoints, nil
}

// GetEndpoint returns the detailed description of one endpoint.
func (c *Client) GetEndpoint(ctx context.Context, name string) (Endpoint, error) {
	var buf bytes.Buffer
	if _, err := c.get(ctx, "/api/2.0/serving-endpoints/"+url.PathEscape(name), "application/json", &buf); err != nil {
		return Endpoint{}, err
	}
	var ep Endpoint
	if err := json.Unmarshal(buf.Bytes(), &ep); err != nil {
		return Endpoint{}, fmt.Errorf("decoding serving endpoint %q: %w", name, err)
	}
	return ep, nil
}

// FetchMetrics writes the /metrics body of endpoint into buf and returns the response's Content-Type.
func (c *Client) FetchMetrics(ctx context.Context, endpoint string, buf *bytes.Buffer) (string, error) {
	return c.get(ctx, "/api/2.0/serving-endpoints/"+url.PathEscape(endpoint)+"/metrics", "text/plain", buf)
}

func (c *Client) get(ctx context.Context, path, accept string, buf *bytes.Buffer) (string, error) {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath = strings.TrimSuffix(u.EscapedPath(), "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), http.NoBody)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", c.userAgent)
	if c.credentials != nil {
		token, err := c.credentials.Token(ctx)
		if err != nil {
			return "", &AuthError{Err: err}
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", path, redactURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", newAPIError(path, resp, time.Now())
	}
	contentType := resp.Header.Get("Content-Type")
	if mediaType, _, _ := mime.ParseMediaType(contentType); mediaType == "text/html" {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return "", fmt.Errorf("GET %s: %w", path, ErrHTMLPage)
	}
	buf.Reset()
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, c.maxBodyBytes+1))
	if err != nil {
		return "", fmt.Errorf("GET %s: reading body: %w", path, err)
	}
	if n > c.maxBodyBytes {
		return "", &BodyLimitError{Path: path, Limit: c.maxBodyBytes}
	}
	return contentType, nil
}

// redactURLError drops the URL from transport errors: it is already in our message and the user's query
// string could carry secrets.
func redactURLError(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err
	}
	return err
}
