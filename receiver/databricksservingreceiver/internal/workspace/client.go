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
	"regexp"
	"strconv"
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
	limits       Limits
	// slots, when set, bounds the requests in flight together with every other client that shares it (see
	// SetSlots).
	slots chan struct{}
}

// BaseURL is the URL the client was made for.
func (c *Client) BaseURL() string { return c.base.String() }

// SetSlots makes the client take one of slots for each request, from sending it until its body is read, so that
// the clients of many workspaces share one bound (max_concurrency is for the whole receiver). Token requests take
// none: they are rare, and a request holding a slot never waits for one. Call it before the client is used.
func (c *Client) SetSlots(slots chan struct{}) { c.slots = slots }

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
	// Trimmed is what the client's Limits dropped from the description.
	Trimmed Trimmed `json:"-"`
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

// ListEndpoints returns the serving endpoints of the workspace (the API is not paginated): at most
// Limits.MaxEndpoints, the first by name (see ListEndpointsCounted).
func (c *Client) ListEndpoints(ctx context.Context) ([]Endpoint, error) {
	endpoints, _, err := c.ListEndpointsCounted(ctx)
	return endpoints, err
}

// ListEndpointsCounted is ListEndpoints that also returns how many endpoints the list held before
// Limits.MaxEndpoints trimmed it.
func (c *Client) ListEndpointsCounted(ctx context.Context) (endpoints []Endpoint, listed int, err error) {
	var buf bytes.Buffer
	limit := max(c.maxBodyBytes, c.limits.MaxListBytes)
	if _, err = c.getLimited(ctx, "/api/2.0/serving-endpoints", "application/json", &buf, limit, "limits.max_endpoints"); err != nil {
		return nil, 0, err
	}
	endpoints, listed, err = c.limits.decodeList(buf.Bytes())
	if err != nil {
		return nil, 0, fmt.Errorf("decoding the serving endpoint list: %w", err)
	}
	return endpoints, listed, nil
}

// endpointNamePattern is Databricks' documented rule for serving endpoint names: letters, digits, dashes and
// underscores, at most 63 characters. It is looser than the rule of the receiver's `endpoints` setting (which
// also wants a letter or digit at both ends, as the Databricks UI does), so that no endpoint Databricks lists
// is skipped, and strict enough that a name needs no escaping and can never be "..".
var endpointNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,63}$`)

// ValidEndpointName reports whether name can be a serving endpoint's name (see endpointNamePattern). The client
// sends no request for a name that cannot: an answer of the list call must not steer an authenticated request
// to another path of the API.
func ValidEndpointName(name string) bool { return endpointNamePattern.MatchString(name) }

// InvalidNameError is returned, before any request, for an endpoint name that fails ValidEndpointName.
type InvalidNameError struct{ Name string }

func (e *InvalidNameError) Error() string {
	return fmt.Sprintf("%s is not a serving endpoint name (1-63 letters, digits, '-' or '_'); not requested", QuoteName(e.Name))
}

// QuoteName quotes a name that came in an answer for an error or log line: escaped, and capped at 80 bytes.
func QuoteName(name string) string {
	return strconv.Quote(Truncate(strings.ToValidUTF8(name, "\uFFFD"), 80))
}

// endpointPath is the escaped API path of endpoint name, followed by suffix.
func endpointPath(name, suffix string) (string, error) {
	if !ValidEndpointName(name) {
		return "", &InvalidNameError{Name: name}
	}
	return "/api/2.0/serving-endpoints/" + url.PathEscape(name) + suffix, nil
}

// GetEndpoint returns the detailed description of one endpoint.
func (c *Client) GetEndpoint(ctx context.Context, name string) (Endpoint, error) {
	path, err := endpointPath(name, "")
	if err != nil {
		return Endpoint{}, err
	}
	var buf bytes.Buffer
	if _, err := c.get(ctx, path, "application/json", &buf); err != nil {
		return Endpoint{}, err
	}
	var ep Endpoint
	if err := json.Unmarshal(buf.Bytes(), &ep); err != nil {
		return Endpoint{}, fmt.Errorf("decoding serving endpoint %q: %w", name, err)
	}
	c.limits.trim(&ep)
	return ep, nil
}

// FetchMetrics writes the /metrics body of endpoint into buf and returns the response's Content-Type.
func (c *Client) FetchMetrics(ctx context.Context, endpoint string, buf *bytes.Buffer) (string, error) {
	path, err := endpointPath(endpoint, "/metrics")
	if err != nil {
		return "", err
	}
	return c.get(ctx, path, "text/plain", buf)
}

// Redact is the package's Redact with the client's secrets: the token it sends (or the last one it obtained)
// and the client secret it obtains tokens with.
func (c *Client) Redact(text string) string { return Redact(text, c.secrets()...) }

func (c *Client) secrets() []string {
	if holder, ok := c.credentials.(interface{ secrets() []string }); ok {
		return holder.secrets()
	}
	return nil
}

// get sends a GET for path, which is escaped already (see endpointPath): it is appended to the base URL's
// escaped path once, and not escaped again.
func (c *Client) get(ctx context.Context, path, accept string, buf *bytes.Buffer) (string, error) {
	return c.getLimited(ctx, path, accept, buf, c.maxBodyBytes, "")
}

// getLimited is get with a body limit of its own; setting names it in the error ("" for max_body_bytes).
func (c *Client) getLimited(ctx context.Context, path, accept string, buf *bytes.Buffer, limit int64, setting string) (string, error) {
	u := *c.base
	u.RawPath = strings.TrimSuffix(c.base.EscapedPath(), "/") + path
	unescaped, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", path, err)
	}
	u.Path = unescaped
	return c.fetch(ctx, &u, path, accept, buf, limit, setting)
}

// FetchURL GETs target, an absolute URL the caller built and checked (the account listers' list pages), with the
// client's credentials, limits and error handling: the body goes into buf, at most limit bytes (setting names the
// limit in the error). Errors name the URL's path alone, never its query.
func (c *Client) FetchURL(ctx context.Context, target *url.URL, accept string, buf *bytes.Buffer, limit int64, setting string) (string, error) {
	return c.fetch(ctx, target, target.EscapedPath(), accept, buf, limit, setting)
}

// fetch is one GET of u; path is how errors name it.
func (c *Client) fetch(ctx context.Context, u *url.URL, path, accept string, buf *bytes.Buffer, limit int64, setting string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), http.NoBody)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", path, redactURLError(err))
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", c.userAgent)
	var token string
	if c.credentials != nil {
		var tokenErr error
		token, tokenErr = c.credentials.Token(ctx)
		if tokenErr != nil {
			return "", &AuthError{Err: tokenErr}
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if c.slots != nil {
		select {
		case c.slots <- struct{}{}:
			defer func() { <-c.slots }()
		case <-ctx.Done():
			return "", fmt.Errorf("GET %s: waiting for a free request slot (max_concurrency): %w", path, ctx.Err())
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", path, redactURLError(err))
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return "", newAPIError(path, resp, time.Now(), append(c.secrets(), token)...)
	}
	contentType := resp.Header.Get("Content-Type")
	if mediaType, _, _ := mime.ParseMediaType(contentType); mediaType == "text/html" {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return "", fmt.Errorf("GET %s: %w", path, ErrHTMLPage)
	}
	buf.Reset()
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return "", fmt.Errorf("GET %s: reading body: %w", path, err)
	}
	if n > limit {
		return "", &BodyLimitError{Path: path, Limit: limit, Setting: setting}
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
