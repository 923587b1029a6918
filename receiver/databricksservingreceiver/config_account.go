// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/account"
)

// The three ways to say which workspaces to scrape: endpoint (one workspace), account (every workspace an
// account lists, found again every refresh_interval) and workspaces (a fixed list of workspace URLs, for a
// principal that may not list the account). The last two run one per-workspace scraper per workspace, each with
// a Config derived from this one (see workspaceConfig), under one set of credentials: oauth (a Databricks service
// principal) or azure (an Entra ID service principal). A personal access token or an authenticator extension
// belongs to one workspace and is refused there.

// AccountConfig selects the workspaces of a Databricks account.
type AccountConfig struct {
	// Cloud is aws, gcp or azure: AWS and GCP accounts are listed with the Accounts API, Azure subscriptions with
	// Azure Resource Manager.
	Cloud string `mapstructure:"cloud"`
	// AccountID is the Databricks account id (AWS and GCP).
	AccountID string `mapstructure:"account_id"`
	// Host is the accounts host; default https://accounts.cloud.databricks.com (AWS) or
	// https://accounts.gcp.databricks.com (GCP).
	Host string `mapstructure:"host"`
	// WorkspaceURL builds a workspace's URL from its deployment name, which must appear as {deployment_name};
	// default https://{deployment_name}.cloud.databricks.com (AWS) or https://{deployment_name}.gcp.databricks.com
	// (GCP). GovCloud and private DNS set their own.
	WorkspaceURL string `mapstructure:"workspace_url"`
	// Subscriptions are the Azure subscriptions whose Databricks workspaces are scraped (Azure).
	Subscriptions []string `mapstructure:"subscriptions"`
	// ManagementURL is Azure Resource Manager's URL; default https://management.azure.com.
	ManagementURL string `mapstructure:"management_url"`
	// RefreshInterval is how often the workspaces are listed again; default 10m.
	RefreshInterval time.Duration `mapstructure:"refresh_interval"`
	// Include and Exclude select workspaces by name or id, with globs like discovery's endpoint filters.
	Include []string `mapstructure:"include"`
	Exclude []string `mapstructure:"exclude"`
	_       struct{}
}

const (
	defaultAccountRefreshInterval = 10 * time.Minute
	defaultManagementURL          = "https://management.azure.com"
	// armScope is the Entra ID scope of Azure Resource Manager.
	armScope = "https://management.azure.com/.default"
)

// refreshInterval, host, workspaceURL and managementURL are the settings with their defaults applied.
func (a *AccountConfig) refreshInterval() time.Duration {
	if a.RefreshInterval == 0 {
		return defaultAccountRefreshInterval
	}
	return a.RefreshInterval
}

func (a *AccountConfig) host() string {
	if a.Host == "" {
		return account.DefaultAccountsHost(a.Cloud)
	}
	return strings.TrimSuffix(a.Host, "/")
}

func (a *AccountConfig) workspaceURL() string {
	if a.WorkspaceURL == "" {
		return account.DefaultWorkspaceURL(a.Cloud)
	}
	return a.WorkspaceURL
}

func (a *AccountConfig) managementURL() string {
	if a.ManagementURL == "" {
		return defaultManagementURL
	}
	return strings.TrimSuffix(a.ManagementURL, "/")
}

func (a *AccountConfig) filter() account.Filter {
	return account.Filter{Include: a.Include, Exclude: a.Exclude}
}

// multiWorkspace reports whether the receiver scrapes several workspaces (account or workspaces).
func (cfg *Config) multiWorkspace() bool { return cfg.Account != nil || len(cfg.Workspaces) > 0 }

// validateMode checks that exactly one of endpoint, account and workspaces is set, and the one that is.
func (cfg *Config) validateMode() []error {
	var set []string
	if cfg.ClientConfig.Endpoint != "" {
		set = append(set, "endpoint")
	}
	if cfg.Account != nil {
		set = append(set, "account")
	}
	if len(cfg.Workspaces) > 0 {
		set = append(set, "workspaces")
	}
	switch {
	case len(set) > 1:
		return []error{fmt.Errorf("%s are all set: set exactly one of endpoint (one workspace), account (every workspace of an account) or workspaces (a list of workspace URLs)", strings.Join(set, ", "))}
	case cfg.Account != nil:
		return append(cfg.validateAccount(), cfg.validateSharedCredentials("account")...)
	case len(cfg.Workspaces) > 0:
		return append(cfg.validateWorkspaces(), cfg.validateSharedCredentials("workspaces")...)
	}
	if _, err := workspaceURL(cfg.ClientConfig.Endpoint); err != nil {
		if cfg.ClientConfig.Endpoint == "" {
			err = fmt.Errorf("%w; or set account (every workspace of an account) or workspaces (a list of workspace URLs)", err)
		}
		return []error{err}
	}
	return nil
}

// validateSharedCredentials checks the credentials of account and workspaces: one service principal for every
// workspace (and the account), whose token endpoints are derived per workspace.
func (cfg *Config) validateSharedCredentials(mode string) []error {
	var errs []error
	if cfg.Token != "" {
		errs = append(errs, fmt.Errorf("token cannot be used with %s: a personal access token belongs to one workspace (and an account has none); remove token and set oauth (a Databricks service principal) or azure (an Entra ID service principal)", mode))
	}
	if cfg.ClientConfig.Auth.HasValue() {
		errs = append(errs, fmt.Errorf("auth cannot be used with %s: an authenticator extension would send one workspace's credentials to every workspace; remove auth and set oauth or azure", mode))
	}
	if cfg.OAuth != nil && cfg.OAuth.TokenURL != "" {
		errs = append(errs, fmt.Errorf("oauth.token_url cannot be used with %s: each workspace's token comes from its own https://<workspace>/oidc/v1/token (and the account's from the accounts host); remove oauth.token_url", mode))
	}
	return errs
}

// validateAccount checks the account block.
func (cfg *Config) validateAccount() []error {
	a := cfg.Account
	var errs []error
	switch a.Cloud {
	case account.CloudAWS, account.CloudGCP:
		if a.AccountID == "" {
			errs = append(errs, fmt.Errorf("account.account_id must be set to the Databricks account id (the accounts console shows it) with cloud %s", a.Cloud))
		}
		if cfg.OAuth == nil {
			errs = append(errs, fmt.Errorf("account with cloud %s needs oauth: a Databricks service principal (client_id, client_secret) that may list the account's workspaces and is assigned to each", a.Cloud))
		}
		if cfg.Azure != nil {
			errs = append(errs, fmt.Errorf("azure cannot be used with account.cloud %s: set oauth instead, or account.cloud azure", a.Cloud))
		}
		errs = append(errs, checkBaseURL("account.host", a.host())...)
		errs = append(errs, checkWorkspaceTemplate(a.workspaceURL())...)
		if len(a.Subscriptions) > 0 || a.ManagementURL != "" {
			errs = append(errs, fmt.Errorf("account.subscriptions and account.management_url are for cloud azure; remove them with cloud %s", a.Cloud))
		}
	case account.CloudAzure:
		if len(a.Subscriptions) == 0 {
			errs = append(errs, errors.New("account.subscriptions must list the Azure subscriptions whose Databricks workspaces are scraped (the service principal needs Reader on each)"))
		}
		if cfg.Azure == nil {
			errs = append(errs, errors.New("account with cloud azure needs azure: an Entra ID service principal with Reader on the subscriptions, assigned to each workspace"))
		}
		if a.AccountID != "" || a.Host != "" || a.WorkspaceURL != "" {
			errs = append(errs, errors.New("account.account_id, account.host and account.workspace_url are for cloud aws and gcp: Azure workspaces are listed with Azure Resource Manager, which gives their URLs; remove them"))
		}
		errs = append(errs, checkBaseURL("account.management_url", a.managementURL())...)
	default:
		errs = append(errs, fmt.Errorf("account.cloud must be aws, gcp or azure, got %q", a.Cloud))
	}
	if a.RefreshInterval < 0 {
		errs = append(errs, fmt.Errorf("account.refresh_interval must be positive, got %s", a.RefreshInterval))
	}
	return append(errs, a.filter().Validate("account")...)
}

// validateWorkspaces checks the static list.
func (cfg *Config) validateWorkspaces() []error {
	var errs []error
	if cfg.OAuth == nil && cfg.Azure == nil {
		errs = append(errs, errors.New("workspaces needs oauth (a Databricks service principal) or azure (an Entra ID service principal), assigned to each workspace of the list"))
	}
	seen := map[string]bool{}
	for i, raw := range cfg.Workspaces {
		u, err := workspaceURL(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("workspaces[%d]: %w", i, err))
			continue
		}
		if seen[u.Host] {
			errs = append(errs, fmt.Errorf("workspaces[%d]: %s is listed twice", i, u.Host))
		}
		seen[u.Host] = true
	}
	return errs
}

// checkBaseURL checks a URL that the receiver sends credentials to (the accounts host, the management URL):
// absolute, without credentials, path or query, and over http only to a loopback host.
func checkBaseURL(field, raw string) []error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return []error{fmt.Errorf("%s %q is not an absolute URL: use the form https://<host>", field, redactURL(raw))}
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return []error{fmt.Errorf("%s %q must be the scheme and host alone, without credentials, path or query", field, redactURL(raw))}
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return []error{fmt.Errorf("%s %q uses http:// with the non-loopback host %q: credentials must not cross the network unencrypted; use https://%s", field, redactURL(raw), u.Hostname(), loopbackHint(u.Hostname()))}
	}
	return nil
}

// checkWorkspaceTemplate checks account.workspace_url. Its host is only known once a deployment name fills it,
// so each built URL is checked again (workspaceURL) before it is used; here a loopback deployment name stands
// in, which lets http:// through only when the template's host is the deployment name alone (a local simulator).
func checkWorkspaceTemplate(template string) []error {
	if !strings.Contains(template, account.DeploymentNamePlaceholder) {
		return []error{fmt.Errorf("account.workspace_url %q must contain %s, which each workspace's deployment name replaces, e.g. https://%s.cloud.databricks.com",
			redactURL(template), account.DeploymentNamePlaceholder, account.DeploymentNamePlaceholder)}
	}
	if _, err := workspaceURL(account.BuildURL(template, "127.0.0.1")); err != nil {
		return []error{fmt.Errorf("account.workspace_url %q: %w", redactURL(template), err)}
	}
	return nil
}
