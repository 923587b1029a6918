// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

// Package account lists the workspaces of a Databricks account, so that one receiver can scrape them all.
//
// Design: listing is a cloud-specific question with one answer, a list of Workspace. On AWS and GCP the Accounts
// API answers it (GET <accounts host>/api/2.0/accounts/<account_id>/workspaces, one page, no URL in the answer:
// the URL is built from deployment_name, as Databricks' SDKs do). On Azure the Accounts API is not dependable,
// and Azure Resource Manager answers it instead, one subscription at a time, in pages linked by nextLink. Both
// listers send their requests through a workspace.Client, so the account's requests get the same token source
// (single flight, backoff), body bounds, typed errors and redaction as the workspaces' own. What an answer holds
// is checked before it is used to build a URL that credentials will be sent to: a deployment name must be a host
// name label, a nextLink must stay on the management host.
package account // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/account"

import (
	"context"
	"fmt"
	"path"
	"regexp"
)

// Workspace is one workspace of the account, as the receiver scrapes it.
type Workspace struct {
	// ID is Databricks' workspace id (a number, as a string).
	ID string
	// Name is the workspace's name (the Azure resource name on Azure).
	Name string
	// URL is the workspace URL, e.g. https://dbc-1234abcd-5678.cloud.databricks.com.
	URL string
	// Cloud is aws, gcp or azure (OpenTelemetry's cloud.provider values).
	Cloud string
	// Region is the cloud region (aws_region on AWS, location on GCP and Azure).
	Region string
}

// Lister lists the account's workspaces that are ready to be scraped.
type Lister interface {
	List(ctx context.Context) ([]Workspace, error)
}

// The clouds, as configured and as OpenTelemetry's cloud.provider names them.
const (
	CloudAWS   = "aws"
	CloudGCP   = "gcp"
	CloudAzure = "azure"
)

// DeploymentNamePlaceholder is what a workspace URL template holds where the deployment name goes.
const DeploymentNamePlaceholder = "{deployment_name}"

// maxListBytes bounds one answer of a list call: a workspace is well under a kilobyte, so this is thousands of
// workspaces, and a runaway answer stops here.
const maxListBytes = 8 << 20

// maxPages bounds the pages of one ARM listing: a nextLink that never ends must not keep a cycle busy forever.
const maxPages = 100

// deploymentNamePattern is what a deployment name may be: host name characters, and a port (a local simulator
// names itself 127.0.0.1:PORT). Nothing that could end the host part of a URL (/, @, ?, #) gets through.
var deploymentNamePattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(:[0-9]{1,5})?$`)

// Filter selects workspaces by name or id, with shell-style globs (Go's path.Match), like the endpoint filters.
type Filter struct {
	// Include keeps only workspaces whose name or id matches one of these (all when empty).
	Include []string
	// Exclude drops workspaces whose name or id matches one of these; it wins over Include.
	Exclude []string
}

// Selected reports whether ws passes the filter.
func (f Filter) Selected(ws Workspace) bool {
	if len(f.Include) > 0 && !matchesAny(f.Include, ws) {
		return false
	}
	return !matchesAny(f.Exclude, ws)
}

// Apply returns the workspaces of list that pass the filter, in their order.
func (f Filter) Apply(list []Workspace) []Workspace {
	out := make([]Workspace, 0, len(list))
	for _, ws := range list {
		if f.Selected(ws) {
			out = append(out, ws)
		}
	}
	return out
}

// Validate checks the globs; field prefixes the setting's name in errors (e.g. "account").
func (f Filter) Validate(field string) []error {
	var errs []error
	for name, globs := range map[string][]string{"include": f.Include, "exclude": f.Exclude} {
		for _, g := range globs {
			if _, err := path.Match(g, ""); err != nil {
				errs = append(errs, fmt.Errorf("%s.%s: %q is not a valid glob (use *, ? and [a-z]): %w", field, name, g, err))
			}
		}
	}
	return errs
}

func matchesAny(globs []string, ws Workspace) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, ws.Name); ok {
			return true
		}
		if ok, _ := path.Match(g, ws.ID); ok && ws.ID != "" {
			return true
		}
	}
	return false
}
