// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

import (
	"net/url"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/account"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/metadata"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"
)

// Account health: databricks.serving.account.up and databricks.serving.account.workspaces, on a resource of the
// account alone (databricks.account.id, databricks.account.host), written like workspace health: on every cycle,
// including the cycles before the first list succeeded, when no workspace and so no workspace.up exists yet.
// Credentials the accounts host refuses, an accounts host that is down or throttles, and a listed workspace whose
// URL the receiver refuses are then one-line alerts from the first minute, not only a log line.
//
// A static list (workspaces:) writes none: it has no list that can fail, its count is its configuration, and
// each of its workspaces has its own workspace.up.

// accountCounts are the counts of the last good list (see databricks.serving.account.workspaces).
type accountCounts struct {
	discovered, selected, refused int
}

// newAccountState returns the state that account health is written from: an endpointState without an endpoint,
// whose resource is the account's. Shards each list the account and write their own health, told apart by their
// shard index, as workspace health is.
func newAccountState(cfg *Config) *endpointState {
	if cfg.Account == nil {
		return nil
	}
	rb := metadata.NewResourceBuilder(cfg.ResourceAttributes)
	if cfg.Account.AccountID != "" {
		rb.SetDatabricksAccountID(cfg.Account.AccountID)
	}
	rb.SetDatabricksAccountHost(cfg.Account.listHost())
	if cfg.Shard.Count > 1 {
		rb.SetDatabricksServingShard(strconv.Itoa(cfg.Shard.Index))
	}
	tmpl := newTemplate(rb.Emit(), cfg.ResourceAttributes, workspace.Endpoint{})
	return newEndpointState(workspace.Endpoint{}, endpointResources{endpoint: tmpl}, false)
}

// listHost is the host the account's workspaces are listed from: the accounts host, or Azure Resource Manager's.
func (a *AccountConfig) listHost() string {
	base := a.host()
	if a.Cloud == account.CloudAzure {
		base = a.managementURL()
	}
	if u, err := url.Parse(base); err == nil && u.Host != "" {
		return u.Host
	}
	return base
}

// recordAccountHealth writes the account's health for this cycle: up with the outcome of the last attempt to
// list, and the workspaces of the last good list (none before the first: unknown is not zero).
func (a *accountScraper) recordAccountHealth(now time.Time, out pmetric.ResourceMetricsSlice) {
	h := a.health
	if h == nil {
		return
	}
	h.acc.BeginScrape(now)
	h.lastErrorType = ""
	if a.listErr != nil {
		h.lastErrorType = classifyError(a.listErr)
	}
	c := newConverter(h, a.cfg, a.settings.BuildInfo.Version, out, now)
	ts := pcommon.NewTimestampFromTime(now)
	c.recordOutcome(accountUpMetric, ts)
	if a.listedOnce {
		for _, count := range []struct {
			selection string
			n         int
		}{{"discovered", a.counts.discovered}, {"selected", a.counts.selected}, {"refused", a.counts.refused}} {
			c.recordComputed(h.resources.endpoint, accountWorkspacesMetric, "selection", count.selection, ts, float64(count.n))
		}
	}
	h.evictIdle(now, now.Add(-idleSeriesLifetime))
}
