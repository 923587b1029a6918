// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package account // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/account"

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"
)

// armAPIVersion is the Microsoft.Databricks API version the listing asks for ("Workspaces - List By
// Subscription").
const armAPIVersion = "2024-05-01"

// ARM lists the Azure Databricks workspaces of subscriptions with Azure Resource Manager. The client's base URL
// is the management URL (https://management.azure.com) and its credentials an Entra ID token for
// https://management.azure.com/.default; the principal needs Reader on each subscription.
type ARM struct {
	client        *workspace.Client
	subscriptions []string
}

// NewARM returns the lister of subscriptions. client talks to the management URL.
func NewARM(client *workspace.Client, subscriptions []string) *ARM {
	return &ARM{client: client, subscriptions: subscriptions}
}

// armPage is one page of the listing.
type armPage struct {
	Value    []armWorkspace `json:"value"`
	NextLink string         `json:"nextLink"`
}

type armWorkspace struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Location   string `json:"location"`
	Properties struct {
		WorkspaceURL      string      `json:"workspaceUrl"`
		WorkspaceID       json.Number `json:"workspaceId"`
		ProvisioningState string      `json:"provisioningState"`
	} `json:"properties"`
}

// provisioningSucceeded is the only provisioning state whose workspace can be scraped (the others: Accepted,
// Creating, Updating, Deleting, Failed, ...).
const provisioningSucceeded = "Succeeded"

const armHint = "the service principal needs the Reader role on the subscription; check account.subscriptions and azure"

// List returns the subscriptions' provisioned workspaces. A subscription that fails fails the whole listing:
// a partial list would make the workspaces of that subscription look deleted, and their series go stale.
func (a *ARM) List(ctx context.Context) ([]Workspace, error) {
	var out []Workspace
	var skipped []string
	for _, sub := range a.subscriptions {
		listed, bad, err := a.listSubscription(ctx, sub)
		if err != nil {
			return nil, &ListError{What: fmt.Sprintf("the Databricks workspaces of subscription %q (Azure Resource Manager)", sub), Err: err, Hint: armHint}
		}
		out = append(out, listed...)
		skipped = append(skipped, bad...)
	}
	if len(skipped) > 0 {
		return out, &SkippedError{Reason: "their workspaceUrl is not a host name", Names: skipped}
	}
	return out, nil
}

// listSubscription follows the pages of one subscription's listing.
func (a *ARM) listSubscription(ctx context.Context, sub string) (out []Workspace, skipped []string, err error) {
	base, err := url.Parse(a.client.BaseURL())
	if err != nil {
		return nil, nil, err
	}
	next := base.JoinPath("subscriptions", sub, "providers", "Microsoft.Databricks", "workspaces")
	next.RawQuery = url.Values{"api-version": {armAPIVersion}}.Encode()
	var buf bytes.Buffer
	for page := 0; next != nil; page++ {
		if page == maxPages {
			return nil, nil, fmt.Errorf("the listing has more than %d pages; stopped", maxPages)
		}
		if _, err = a.client.FetchURL(ctx, next, "application/json", &buf, maxListBytes, ""); err != nil {
			return nil, nil, err
		}
		var p armPage
		if err = json.Unmarshal(buf.Bytes(), &p); err != nil {
			return nil, nil, fmt.Errorf("decoding page %d: %w", page+1, err)
		}
		for _, item := range p.Value {
			if item.Properties.ProvisioningState != provisioningSucceeded {
				continue
			}
			if !deploymentNamePattern.MatchString(item.Properties.WorkspaceURL) {
				skipped = append(skipped, workspace.QuoteName(item.Name))
				continue
			}
			out = append(out, Workspace{
				ID: item.Properties.WorkspaceID.String(), Name: item.Name, Cloud: CloudAzure, Region: item.Location,
				URL: "https://" + item.Properties.WorkspaceURL,
			})
		}
		if next, err = nextPage(base, p.NextLink); err != nil {
			return nil, nil, err
		}
	}
	return out, skipped, nil
}

// nextPage parses a nextLink: nil when there is none. The token goes wherever it points, so it must stay on the
// management URL's scheme and host.
func nextPage(base *url.URL, link string) (*url.URL, error) {
	if link == "" {
		return nil, nil
	}
	u, err := url.Parse(link)
	if err != nil || !u.IsAbs() {
		return nil, errors.New("the answer's nextLink is not an absolute URL; stopped")
	}
	if u.User != nil || !strings.EqualFold(u.Host, base.Host) || u.Scheme != base.Scheme {
		return nil, fmt.Errorf("the answer's nextLink points to %s://%s, not to the management URL's host %s: not followed, the token must not leave it",
			u.Scheme, workspace.Truncate(u.Host, 80), base.Host)
	}
	return u, nil
}

// Static is the static fallback: a fixed list of workspace URLs, for principals that may not list the account.
type Static []Workspace

// List returns the list.
func (s Static) List(context.Context) ([]Workspace, error) { return s, nil }
