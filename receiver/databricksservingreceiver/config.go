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
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/account"
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
	// Account scrapes every workspace of a Databricks account, listed again every account.refresh_interval; an
	// alternative to endpoint (see config_account.go).
	Account *AccountConfig `mapstructure:"account"`
	// Workspaces is a fixed list of workspace URLs scraped under one set of credentials (oauth or azure): the
	// fallback when the principal may not list the account. An alternative to endpoint and account.
	Workspaces []string `mapstructure:"workspaces"`
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
	// MaxSamples bounds the sample lines of one body. The parser stops at the first sample over it.
	MaxSamples int `mapstructure:"max_samples"`
	// MaxLabels bounds the labels of one sample.
	MaxLabels int `mapstructure:"max_labels"`
	// MaxLabelNameLength and MaxLabelValueLength bound label names and values, in bytes.
	MaxLabelNameLength  int `mapstructure:"max_label_name_length"`
	MaxLabelValueLength int `mapstructure:"max_label_value_length"`
	// MaxFamilyNameLength and MaxHelpLength bound metric names and HELP texts, in bytes.
	MaxFamilyNameLength int `mapstructure:"max_family_name_length"`
	MaxHelpLength       int `mapstructure:"max_help_length"`
	// MaxSeries bounds the series one endpoint keeps: new series beyond it are refused (and counted), the
	// existing ones go on. Series otherwise live idleSeriesLifetime, so churning label sets would pile up.
	MaxSeries int `mapstructure:"max_series"`
	// MaxWorkspaceSeries bounds the series of all endpoints together (those that left the list and are kept for
	// idleSeriesLifetime included): without it the memory bound is max_endpoints times max_series.
	MaxWorkspaceSeries int `mapstructure:"max_workspace_series"`

	// The caps below trim what the workspace describes rather than failing: what is beyond them is dropped,
	// deterministically, and counted.

	// MaxEndpoints bounds the endpoints taken from the workspace's list: beyond it, the first by name.
	MaxEndpoints int `mapstructure:"max_endpoints"`
	// MaxServedEntities bounds the served entities of one endpoint (each is a resource of its own).
	MaxServedEntities int `mapstructure:"max_served_entities"`
	// MaxTags bounds the tags of one endpoint (with tags enabled, every resource of the endpoint carries them).
	MaxTags int `mapstructure:"max_tags"`
	// MaxTagKeyLength and MaxTagValueLength bound a tag's key and value, in bytes: a longer tag is dropped.
	MaxTagKeyLength   int `mapstructure:"max_tag_key_length"`
	MaxTagValueLength int `mapstructure:"max_tag_value_length"`
	_                 struct{}
}

// Default limits. A real endpoint's body is a few kilobytes (the simulator's largest, a 4-GPU endpoint with
// three served entities, is under 10 KB; Databricks sends about ten families) with tens of samples and one or
// two labels each, so these leave two orders of magnitude of headroom and still stop a runaway response. The
// memory they allow per endpoint and per workspace is measured in docs/reliability.md.
const (
	defaultMaxBodyBytes        = 1 << 20
	defaultMaxSamples          = 10000
	defaultMaxLabels           = 10
	defaultMaxLabelNameLength  = 128
	defaultMaxLabelValueLength = 256
	defaultMaxFamilyNameLength = 256
	defaultMaxHelpLength       = 1024
	defaultMaxSeries           = 2000
	// A real endpoint has tens of series; a thousand of them, a hundred each on average.
	defaultMaxWorkspaceSeries = 100000
	// Databricks allows at most 1000 serving endpoints per workspace.
	defaultMaxEndpoints      = 1000
	defaultMaxServedEntities = 20
	defaultMaxTags           = 50
	defaultMaxTagKeyLength   = 256
	defaultMaxTagValueLength = 1024
)

// fields lists the limits by their configuration names, for validation.
func (l LimitsConfig) fields() map[string]int64 {
	return map[string]int64{
		"limits.max_body_bytes": l.MaxBodyBytes, "limits.max_samples": int64(l.MaxSamples),
		"limits.max_labels": int64(l.MaxLabels), "limits.max_label_name_length": int64(l.MaxLabelNameLength),
		"limits.max_label_value_length": int64(l.MaxLabelValueLength), "limits.max_family_name_length": int64(l.MaxFamilyNameLength),
		"limits.max_help_length": int64(l.MaxHelpLength), "limits.max_series": int64(l.MaxSeries),
		"limits.max_workspace_series": int64(l.MaxWorkspaceSeries),
		"limits.max_endpoints":        int64(l.MaxEndpoints), "limits.max_served_entities": int64(l.MaxServedEntities),
		"limits.max_tags": int64(l.MaxTags), "limits.max_tag_key_length": int64(l.MaxTagKeyLength),
		"limits.max_tag_value_length": int64(l.MaxTagValueLength),
	}
}

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
	errs = append(errs, cfg.validateMode()...)
	errs = append(errs, cfg.validateCredentials()...)
	errs = append(errs, cfg.validateProxy()...)
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
	limits := cfg.Limits.fields()
	names := make([]string, 0, len(limits))
	for field := range limits {
		names = append(names, field)
	}
	sort.Strings(names) // errors in a stable order
	for _, field := range names {
		if limits[field] < 1 {
			errs = append(errs, fmt.Errorf("%s must be at least 1, got %d", field, limits[field]))
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

// checkTokenURL applies the workspace URL's rule to a token URL: the client secret is sent there. Errors quote the
// URL through redactURL.
func checkTokenURL(field, tokenURL string) []error {
	if tokenURL == "" {
		return nil
	}
	u, err := url.Parse(tokenURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return []error{fmt.Errorf("%s %q is not an absolute http(s) URL", field, redactURL(tokenURL))}
	}
	if u.User != nil {
		return []error{fmt.Errorf("%s %q carries credentials in the URL: remove them; the client id and secret are sent by the receiver itself, and a URL is printed with the configuration", field, redactURL(tokenURL))}
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return []error{fmt.Errorf("%s %q uses http:// with the non-loopback host %q: the client secret must not cross the network unencrypted; use https://%s", field, redactURL(tokenURL), u.Hostname(), loopbackHint(u.Hostname()))}
	}
	return nil
}

// workspaceURL parses and checks the workspace URL. Plain http is accepted only for a loopback host (a local
// simulator or proxy): anywhere else the token would cross the network unencrypted. Errors quote the URL through
// redactURL.
func workspaceURL(endpoint string) (*url.URL, error) {
	if endpoint == "" {
		return nil, errors.New("endpoint must be set to the workspace URL, e.g. https://adb-1234567890123456.7.azuredatabricks.net")
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("endpoint %q is not a workspace URL: use the form https://<workspace-host>", redactURL(endpoint))
	}
	if u.User != nil {
		return nil, fmt.Errorf("endpoint must not carry credentials in the URL (%q): remove them and use token, auth, oauth or azure", redactURL(endpoint))
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("endpoint %q must be the workspace URL alone, without path or query", redactURL(endpoint))
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("endpoint %q uses http:// with the non-loopback host %q: credentials must not cross the network unencrypted; use https://%s", redactURL(endpoint), u.Hostname(), loopbackHint(u.Hostname()))
	}
	u.Path = ""
	return u, nil
}

// validateProxy checks proxy_url: no credentials in it, and no plain http:// endpoint or token URL through a proxy
// that is not on the loopback interface. A loopback endpoint is accepted over http:// because the token never
// leaves the host; proxy_url sends every request, loopback ones included, to the proxy, which would receive the
// bearer token, the OAuth client's Basic credentials or the Entra client secret unencrypted.
//
// Without proxy_url, the HTTP client uses the HTTP_PROXY, HTTPS_PROXY and NO_PROXY environment variables (Go's
// http.ProxyFromEnvironment), which never proxy a request to "localhost" or a loopback IP: the only loopback
// hosts isLoopback accepts.
func (cfg *Config) validateProxy() []error {
	raw := cfg.ClientConfig.ProxyURL
	if raw == "" {
		return nil
	}
	// confighttp parses it with url.ParseRequestURI.
	proxy, err := url.ParseRequestURI(raw)
	if err != nil || proxy.Host == "" {
		return []error{fmt.Errorf("proxy_url %q is not an absolute URL, e.g. http://proxy.example.com:3128", redactURL(raw))}
	}
	if proxy.User != nil {
		return []error{fmt.Errorf("proxy_url %q carries credentials in the URL: remove them (a URL is printed with the configuration); "+
			"a proxy that needs them can be set in the HTTPS_PROXY environment variable instead", redactURL(raw))}
	}
	if isLoopback(proxy.Hostname()) {
		return nil
	}
	plain := map[string]string{"endpoint": cfg.ClientConfig.Endpoint}
	if cfg.OAuth != nil {
		plain["oauth.token_url"] = cfg.OAuth.TokenURL
		if cfg.OAuth.TokenURL == "" {
			plain["oauth.token_url"] = cfg.ClientConfig.Endpoint // the default is on the workspace
		}
	}
	if cfg.Azure != nil {
		plain["azure.token_url"] = cfg.Azure.TokenURL
	}
	if a := cfg.Account; a != nil {
		plain["account.host"], plain["account.management_url"] = a.host(), a.managementURL()
		// Its host is a deployment name's: the scheme is what matters here.
		plain["account.workspace_url"] = account.BuildURL(a.workspaceURL(), "127.0.0.1")
	}
	for i, raw := range cfg.Workspaces {
		plain[fmt.Sprintf("workspaces[%d]", i)] = raw
	}
	var errs []error
	fields := []string{"endpoint", "oauth.token_url", "azure.token_url", "account.host", "account.management_url", "account.workspace_url"}
	for i := range cfg.Workspaces {
		fields = append(fields, fmt.Sprintf("workspaces[%d]", i))
	}
	for _, field := range fields {
		if u, err := url.Parse(plain[field]); err == nil && u.Scheme == "http" {
			errs = append(errs, fmt.Errorf("%s %q uses http:// and proxy_url %q is not a loopback proxy: the proxy would receive the credentials unencrypted; "+
				"use https:// for %s, or a proxy on the loopback interface, or remove proxy_url", field, redactURL(plain[field]), redactURL(raw), field))
		}
	}
	return errs
}

// isLoopback reports whether host is on the loopback interface: "localhost" (in lower case, as Go's environment
// proxy rules spell it: they proxy "LOCALHOST") or a loopback IP.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackHint explains why a differently spelled "localhost" is not taken for loopback.
func loopbackHint(host string) string {
	if strings.EqualFold(host, "localhost") {
		return ` (or write "localhost" in lower case: HTTP_PROXY would proxy "` + host + `")`
	}
	return ""
}

// redactURL is raw as errors may quote it: the password replaced by ***, the user name too when there is no
// password (a lone user name is often a token), each query value by ***, the fragment by ***. When raw does not
// parse, everything between "//" and "@" and after "?" or "#" is replaced.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if at := strings.LastIndex(raw, "@"); at >= 0 {
			start := strings.Index(raw, "//") + 2
			if start < 2 || start > at {
				start = 0
			}
			raw = raw[:start] + "***" + raw[at:]
		}
		if i := strings.IndexAny(raw, "?#"); i >= 0 {
			raw = raw[:i+1] + "***"
		}
		return raw
	}
	var b strings.Builder
	if u.Scheme != "" {
		b.WriteString(u.Scheme + ":")
	}
	if u.Host != "" || u.User != nil {
		b.WriteString("//")
	}
	if u.User != nil {
		if _, hasPassword := u.User.Password(); hasPassword {
			b.WriteString(url.PathEscape(u.User.Username()) + ":***@")
		} else {
			b.WriteString("***@")
		}
	}
	b.WriteString(u.Host)
	b.WriteString(u.EscapedPath())
	if u.RawQuery != "" || u.ForceQuery {
		b.WriteString("?")
		keys := strings.Split(u.RawQuery, "&")
		for i, kv := range keys {
			if key, _, found := strings.Cut(kv, "="); found {
				keys[i] = key + "=***"
			} else if kv != "" {
				keys[i] = "***" // a value without a key
			}
		}
		b.WriteString(strings.Join(keys, "&"))
	}
	if u.Fragment != "" {
		b.WriteString("#***")
	}
	return b.String()
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
