// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/discovery"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/metadata"
)

// maxCollectionInterval is Databricks' window: it serves only the last minute, so scraping less often loses
// minutes.
const maxCollectionInterval = time.Minute

// endpointNamePattern is Databricks' rule for serving endpoint names (1 to 63 characters).
var endpointNamePattern = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?$`)

// Config configures the databricksserving receiver for one workspace.
//
// The scraper controller and the HTTP client are both squashed into the top level, as in the contrib HTTP
// receivers, so they share the "timeout" key. Here it means the timeout of each HTTP request; a scrape cycle as
// a whole is bounded by collection_interval instead, so one slow endpoint cannot cancel the others.
type Config struct {
	scraperhelper.ControllerConfig `mapstructure:",squash"`
	// ClientConfig's endpoint is the workspace URL, e.g. https://adb-1234567890123456.7.azuredatabricks.net.
	confighttp.ClientConfig       `mapstructure:",squash"`
	metadata.MetricsBuilderConfig `mapstructure:",squash"`

	// Token is a Databricks personal access token, sent as a bearer token. Exactly one of token, auth (an
	// authenticator extension, e.g. bearertokenauth with a token file), oauth and azure must be set.
	Token configopaque.String `mapstructure:"token"`
	// OAuth authenticates as a Databricks service principal (OAuth machine-to-machine).
	OAuth *OAuthConfig `mapstructure:"oauth"`
	// Azure authenticates as a Microsoft Entra ID service principal.
	Azure *AzureConfig `mapstructure:"azure"`
	// Endpoints names the serving endpoints to scrape. When empty, every endpoint of the workspace is scraped,
	// except pay-per-token Foundation Model API endpoints, which export no metrics.
	Endpoints []string `mapstructure:"endpoints"`
	// Discovery selects endpoints and sets how often the list is refreshed.
	Discovery discovery.Config `mapstructure:"discovery"`
	// Shard splits the workspace's endpoints between several collectors.
	Shard discovery.ShardConfig `mapstructure:"shard"`
	// MaxConcurrency bounds how many requests are in flight at once.
	MaxConcurrency int `mapstructure:"max_concurrency"`
	// SpreadRequests starts each endpoint's request at a stable offset within the first half of the interval,
	// as Prometheus spreads its targets, so a thousand endpoints do not hit the workspace at one instant.
	SpreadRequests bool `mapstructure:"spread_requests"`
	// Limits bound what one endpoint may send; an endpoint over a limit fails alone.
	Limits LimitsConfig `mapstructure:"limits"`
	// Storage names a storage extension (e.g. file_storage) in which the receiver saves what it counted, so
	// that a restart neither loses a window nor resets a counter (see persist.go and docs/reliability.md).
	// Without it, the first minute of every endpoint after a start is a baseline.
	Storage *component.ID `mapstructure:"storage"`

	_ struct{}
}

var _ confmap.Validator = (*Config)(nil)

// LimitsConfig bounds what one endpoint's scrape may bring. Like Prometheus' scrape limits, breaking one fails
// that endpoint's scrape as a whole (nothing of it is emitted) with an error naming the limit; the other endpoints
// are not affected.
type LimitsConfig struct {
	// MaxBodyBytes bounds the body after decompression (a gzip bomb stops here).
	MaxBodyBytes int64 `mapstructure:"max_body_bytes"`
	// MaxSamples bounds the sample lines of one body.
	MaxSamples int `mapstructure:"max_samples"`
	// MaxLabels bounds the labels of one sample.
	MaxLabels int `mapstructure:"max_labels"`
	// MaxLabelNameLength and MaxLabelValueLength bound label names and values, in bytes.
	MaxLabelNameLength  int `mapstructure:"max_label_name_length"`
	MaxLabelValueLength int `mapstructure:"max_label_value_length"`
	_                   struct{}
}

// Default limits: a real endpoint's body is a few kilobytes with tens of samples and one or two labels each, so
// these leave two orders of magnitude of headroom and still stop a runaway response.
const (
	defaultMaxBodyBytes        = 16 << 20
	defaultMaxSamples          = 10000
	defaultMaxLabels           = 30
	defaultMaxLabelNameLength  = 128
	defaultMaxLabelValueLength = 1024
)

// OAuthConfig is a Databricks service principal's OAuth machine-to-machine credential.
type OAuthConfig struct {
	ClientID     string              `mapstructure:"client_id"`
	ClientSecret configopaque.String `mapstructure:"client_secret"`
	// Scopes requested; default all-apis. model-serving is enough for the serving endpoint APIs.
	Scopes []string `mapstructure:"scopes"`
	// TokenURL defaults to <endpoint>/oidc/v1/token.
	TokenURL string `mapstructure:"token_url"`
	_        struct{}
}

// AzureConfig is a Microsoft Entra ID service principal's client credential.
type AzureConfig struct {
	TenantID     string              `mapstructure:"tenant_id"`
	ClientID     string              `mapstructure:"client_id"`
	ClientSecret configopaque.String `mapstructure:"client_secret"`
	// Scopes requested; default the AzureDatabricks application, 2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default.
	Scopes []string `mapstructure:"scopes"`
	// TokenURL defaults to https://login.microsoftonline.com/<tenant_id>/oauth2/v2.0/token.
	TokenURL string `mapstructure:"token_url"`
	_        struct{}
}

const (
	defaultOAuthScope = "all-apis"
	// azureDatabricksScope names the AzureDatabricks first-party application, whose tokens workspaces accept.
	azureDatabricksScope = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"
)

// Validate checks the configuration; each error names the field to fix.
func (cfg *Config) Validate() error {
	var errs []error
	if _, err := workspaceURL(cfg.ClientConfig.Endpoint); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, cfg.validateCredentials()...)
	seen := map[string]bool{}
	for _, name := range cfg.Endpoints {
		if !endpointNamePattern.MatchString(name) {
			errs = append(errs, fmt.Errorf("endpoints: %q is not a serving endpoint name (1-63 letters, digits, '-' or '_', starting and ending with a letter or digit)", name))
		}
		if seen[name] {
			errs = append(errs, fmt.Errorf("endpoints: %q is listed twice", name))
		}
		seen[name] = true
	}
	for field, value := range map[string]int64{
		"limits.max_body_bytes": cfg.Limits.MaxBodyBytes, "limits.max_samples": int64(cfg.Limits.MaxSamples),
		"limits.max_labels": int64(cfg.Limits.MaxLabels), "limits.max_label_name_length": int64(cfg.Limits.MaxLabelNameLength),
		"limits.max_label_value_length": int64(cfg.Limits.MaxLabelValueLength),
	} {
		if value < 1 {
			errs = append(errs, fmt.Errorf("%s must be at least 1, got %d", field, value))
		}
	}
	if cfg.MaxConcurrency < 1 {
		errs = append(errs, fmt.Errorf("max_concurrency must be at least 1, got %d", cfg.MaxConcurrency))
	}
	if cfg.CollectionInterval > maxCollectionInterval {
		errs = append(errs, fmt.Errorf("collection_interval %s is longer than Databricks' one-minute window: minutes would be lost; use %s or less", cfg.CollectionInterval, maxCollectionInterval))
	}
	return errors.Join(errs...)
}

// validateCredentials checks that exactly one way to authenticate is configured, and that it is complete.
func (cfg *Config) validateCredentials() []error {
	var methods []string
	if cfg.Token != "" {
		methods = append(methods, "token")
	}
	if cfg.ClientConfig.Auth.HasValue() {
		methods = append(methods, "auth")
	}
	if cfg.OAuth != nil {
		methods = append(methods, "oauth")
	}
	if cfg.Azure != nil {
		methods = append(methods, "azure")
	}
	switch len(methods) {
	case 0:
		return []error{errors.New("no credentials: set one of token (a personal access token), auth (an authenticator extension such as bearertokenauth), oauth (a Databricks service principal) or azure (an Entra ID service principal)")}
	case 1:
	default:
		return []error{fmt.Errorf("%s are all set: set exactly one way to authenticate", strings.Join(methods, ", "))}
	}
	var errs []error
	if o := cfg.OAuth; o != nil {
		if o.ClientID == "" {
			errs = append(errs, errors.New("oauth.client_id must be set to the service principal's application id"))
		}
		if o.ClientSecret == "" {
			errs = append(errs, errors.New("oauth.client_secret must be set to an OAuth secret of the service principal"))
		}
		errs = append(errs, checkTokenURL("oauth.token_url", o.TokenURL)...)
	}
	if a := cfg.Azure; a != nil {
		if a.TenantID == "" {
			errs = append(errs, errors.New("azure.tenant_id must be set to the Entra ID tenant (directory) id"))
		}
		if a.ClientID == "" {
			errs = append(errs, errors.New("azure.client_id must be set to the service principal's application (client) id"))
		}
		if a.ClientSecret == "" {
			errs = append(errs, errors.New("azure.client_secret must be set to a client secret of the service principal"))
		}
		errs = append(errs, checkTokenURL("azure.token_url", a.TokenURL)...)
	}
	return errs
}

// checkTokenURL applies the workspace URL's rule to a token URL: the client secret is sent there.
func checkTokenURL(field, tokenURL string) []error {
	if tokenURL == "" {
		return nil
	}
	u, err := url.Parse(tokenURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return []error{fmt.Errorf("%s %q is not an absolute http(s) URL", field, tokenURL)}
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return []error{fmt.Errorf("%s %q uses http:// with the non-loopback host %q: the client secret must not cross the network unencrypted; use https://", field, tokenURL, u.Hostname())}
	}
	return nil
}

// workspaceURL parses and checks the workspace URL. Plain http is accepted only for a loopback host (a local
// simulator or proxy): anywhere else the token would cross the network unencrypted.
func workspaceURL(endpoint string) (*url.URL, error) {
	if endpoint == "" {
		return nil, errors.New("endpoint must be set to the workspace URL, e.g. https://adb-1234567890123456.7.azuredatabricks.net")
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("endpoint %q is not a workspace URL: use the form https://<workspace-host>", endpoint)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("endpoint %q must be the workspace URL alone, without path or query", endpoint)
	}
	if u.User != nil {
		return nil, fmt.Errorf("endpoint must not carry credentials in the URL; use token or auth")
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("endpoint %q uses http:// with the non-loopback host %q: credentials must not cross the network unencrypted; use https://", endpoint, u.Hostname())
	}
	u.Path = ""
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// selection identifies which endpoints the receiver scrapes: its shard, filters and static endpoints. The saved
// state records it (see persist.go).
func (cfg *Config) selection() string {
	b, _ := json.Marshal(struct {
		Shard     discovery.ShardConfig
		Include   []string
		Exclude   []string
		Tags      [2]map[string]string
		Endpoints []string
	}{cfg.Shard, cfg.Discovery.Include, cfg.Discovery.Exclude, [2]map[string]string{cfg.Discovery.IncludeTags, cfg.Discovery.ExcludeTags}, cfg.Endpoints})
	return string(b)
}
