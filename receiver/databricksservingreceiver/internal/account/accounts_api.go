// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package account // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/account"

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"
)

// AccountsAPI lists the workspaces of an AWS or GCP account with the Accounts API. The client's base URL is the
// accounts host and its credentials an account-level token (<host>/oidc/accounts/<account_id>/v1/token).
type AccountsAPI struct {
	client    *workspace.Client
	accountID string
	cloud     string
	// template is the workspace URL with DeploymentNamePlaceholder, e.g. https://{deployment_name}.cloud.databricks.com.
	template string
}

// NewAccountsAPI returns the lister of account accountID (cloud aws or gcp). client talks to the accounts host.
func NewAccountsAPI(client *workspace.Client, accountID, cloud, template string) *AccountsAPI {
	return &AccountsAPI{client: client, accountID: accountID, cloud: cloud, template: template}
}

// accountsWorkspace is an item of the Accounts API's answer, as far as the receiver uses it.
type accountsWorkspace struct {
	// WorkspaceID is a number in the answer; json.Number keeps all its digits.
	WorkspaceID     json.Number `json:"workspace_id"`
	WorkspaceName   string      `json:"workspace_name"`
	DeploymentName  string      `json:"deployment_name"`
	WorkspaceStatus string      `json:"workspace_status"`
	AWSRegion       string      `json:"aws_region"`
	Location        string      `json:"location"`
	Cloud           string      `json:"cloud"`
}

// statusRunning is the only workspace_status whose workspace can be scraped; the others (PROVISIONING, FAILED,
// BANNED, CANCELLING, NOT_PROVISIONED) have no serving endpoints to reach.
const statusRunning = "RUNNING"

// List returns the account's running workspaces, with their URLs built from the template. A workspace whose
// deployment name cannot be part of a host name is left out and reported in the returned Skipped error.
func (a *AccountsAPI) List(ctx context.Context) ([]Workspace, error) {
	path := "/api/2.0/accounts/" + url.PathEscape(a.accountID) + "/workspaces"
	base, err := url.Parse(a.client.BaseURL())
	if err != nil {
		return nil, err
	}
	target := base.JoinPath(path)
	var buf bytes.Buffer
	if _, err := a.client.FetchURL(ctx, target, "application/json", &buf, maxListBytes, ""); err != nil {
		return nil, &ListError{What: "the account's workspaces (Accounts API)", Err: err, Hint: accountsHint}
	}
	var items []accountsWorkspace
	if err := json.Unmarshal(buf.Bytes(), &items); err != nil {
		return nil, &ListError{What: "the account's workspaces (Accounts API)", Err: fmt.Errorf("decoding the answer: %w", err)}
	}
	out := make([]Workspace, 0, len(items))
	var skipped []string
	for _, item := range items {
		if item.WorkspaceStatus != statusRunning {
			continue
		}
		if !deploymentNamePattern.MatchString(item.DeploymentName) {
			skipped = append(skipped, workspace.QuoteName(item.WorkspaceName))
			continue
		}
		out = append(out, a.workspace(item))
	}
	if len(skipped) > 0 {
		return out, &SkippedError{Reason: "their deployment_name is not a host name label", Names: skipped}
	}
	return out, nil
}

func (a *AccountsAPI) workspace(item accountsWorkspace) Workspace {
	region := item.AWSRegion
	if region == "" {
		region = item.Location
	}
	cloud := strings.ToLower(item.Cloud)
	if cloud == "" {
		cloud = a.cloud
	}
	return Workspace{
		ID: item.WorkspaceID.String(), Name: item.WorkspaceName, Cloud: cloud, Region: region,
		URL: BuildURL(a.template, item.DeploymentName),
	}
}

// BuildURL is a workspace's URL: the template with its deployment name.
func BuildURL(template, deploymentName string) string {
	return strings.ReplaceAll(template, DeploymentNamePlaceholder, deploymentName)
}

// DefaultAccountsHost and DefaultWorkspaceURL are the accounts host and workspace URL template of cloud (aws or
// gcp); "" for another cloud.
func DefaultAccountsHost(cloud string) string {
	switch cloud {
	case CloudAWS:
		return "https://accounts.cloud.databricks.com"
	case CloudGCP:
		return "https://accounts.gcp.databricks.com"
	}
	return ""
}

// DefaultWorkspaceURL is the workspace URL template of cloud (aws or gcp).
func DefaultWorkspaceURL(cloud string) string {
	switch cloud {
	case CloudAWS:
		return "https://" + DeploymentNamePlaceholder + ".cloud.databricks.com"
	case CloudGCP:
		return "https://" + DeploymentNamePlaceholder + ".gcp.databricks.com"
	}
	return ""
}

// AccountTokenURL is the account-level OAuth token endpoint of accountID on host.
func AccountTokenURL(host, accountID string) string {
	return strings.TrimSuffix(host, "/") + "/oidc/accounts/" + url.PathEscape(accountID) + "/v1/token"
}

const accountsHint = "the service principal must be an account admin, or hold the provisioning scope; check account.account_id, account.host and oauth"

// ListError is a failed listing: what was listed, the cause (a *workspace.APIError, *workspace.AuthError, ...)
// and what to check.
type ListError struct {
	What string
	Err  error
	Hint string
}

func (e *ListError) Error() string {
	msg := "listing " + e.What + ": " + e.Err.Error()
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}
func (e *ListError) Unwrap() error { return e.Err }

// SkippedError says which listed workspaces were left out, and why; the list returned with it is usable.
type SkippedError struct {
	Reason string
	Names  []string
}

func (e *SkippedError) Error() string {
	names := e.Names
	more := ""
	if len(names) > 10 {
		names, more = names[:10], " and "+strconv.Itoa(len(e.Names)-10)+" more"
	}
	return fmt.Sprintf("skipped %d listed workspaces because %s: %s%s", len(e.Names), e.Reason, strings.Join(names, ", "), more)
}
