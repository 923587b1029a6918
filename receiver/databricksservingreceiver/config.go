// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

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

	// Token is a Databricks personal access token, sent as a bearer token. Use it or auth, not both.
	Token configopaque.String `mapstructure:"token"`
	// Endpoints names the serving endpoints to scrape. When empty, every endpoint of the workspace is scraped,
	// except pay-per-token Foundation Model API endpoints, which export no metrics.
	Endpoints []string `mapstructure:"endpoints"`
	// MaxConcurrency bounds how many /metrics requests are in flight at once.
	MaxConcurrency int `mapstructure:"max_concurrency"`

	_ struct{}
}

var _ confmap.Validator = (*Config)(nil)

// Validate checks the configuration; each error names the field to fix.
func (cfg *Config) Validate() error {
	var errs []error
	if _, err := workspaceURL(cfg.ClientConfig.Endpoint); err != nil {
		errs = append(errs, err)
	}
	switch hasToken, hasAuth := cfg.Token != "", cfg.ClientConfig.Auth.HasValue(); {
	case hasToken && hasAuth:
		errs = append(errs, errors.New("token and auth are both set: use one way to authenticate"))
	case !hasToken && !hasAuth:
		errs = append(errs, errors.New("no credentials: set token (a Databricks personal access token) or auth (an authenticator extension such as bearertokenauth)"))
	}
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
	if cfg.MaxConcurrency < 1 {
		errs = append(errs, fmt.Errorf("max_concurrency must be at least 1, got %d", cfg.MaxConcurrency))
	}
	if cfg.CollectionInterval > maxCollectionInterval {
		errs = append(errs, fmt.Errorf("collection_interval %s is longer than Databricks' one-minute window: minutes would be lost; use %s or less", cfg.CollectionInterval, maxCollectionInterval))
	}
	return errors.Join(errs...)
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
