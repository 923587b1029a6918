// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

import (
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/discovery"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/metadata"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"
)

// Workspace health: databricks.serving.workspace.up and databricks.serving.workspace.endpoints, on a resource
// of the workspace alone. They are written on every cycle, including the cycles before the first list
// succeeded, when no endpoint and so no scrape.up exists yet: credentials refused from the start, a workspace
// URL that is wrong, or filters that select nothing are one-line alerts from the first minute.

// newWorkspaceState returns the state that workspace health is written from: an endpointState without an
// endpoint, whose resource is the workspace's. Shards of one workspace each write their own health, told apart
// by their shard index; without it their series would collide and the backend would reject one collector's points.
func newWorkspaceState(cfg metadata.ResourceAttributesConfig, ws workspaceIdentity, shard discovery.ShardConfig) *endpointState {
	rb := metadata.NewResourceBuilder(cfg)
	ws.setAttributes(rb)
	if shard.Count > 1 {
		rb.SetDatabricksServingShard(strconv.Itoa(shard.Index))
	}
	tmpl := newTemplate(rb.Emit(), cfg, workspace.Endpoint{})
	return newEndpointState(workspace.Endpoint{}, endpointResources{endpoint: tmpl}, false)
}

// recordWorkspaceHealth writes the workspace's health for this cycle: up with the outcome of the last attempt to
// list, and the endpoints discovered and selected by the last good list (none before the first).
func (s *servingScraper) recordWorkspaceHealth(now time.Time, listErr error, out pmetric.ResourceMetricsSlice) {
	ws := s.workspace
	ws.acc.BeginScrape(now)
	switch {
	case listErr != nil:
		ws.lastErrorType = classifyError(listErr)
	case s.discoveredOnce:
		ws.lastErrorType = ""
	}
	c := newConverter(ws, s.cfg, s.settings.BuildInfo.Version, out, now)
	ts := pcommon.NewTimestampFromTime(now)
	c.recordOutcome(workspaceUpMetric, ts)
	if !s.discoveredOnce {
		// No list has succeeded: how many endpoints there are is unknown, not zero. Writing 0 would raise "nothing
		// selected" next to the alert that names the real cause (workspace.up with its error.type).
		ws.evictIdle(now, now.Add(-idleSeriesLifetime))
		return
	}
	listed, selected := s.finder.Counts()
	c.recordComputed(ws.resources.endpoint, workspaceEndpointsMetric, "selection", "discovered", ts, float64(listed))
	c.recordComputed(ws.resources.endpoint, workspaceEndpointsMetric, "selection", "selected", ts, float64(selected))
	// Written every cycle, 0 while the list is within limits.max_endpoints, like workspace.endpoints: the metric
	// exists from the first list, so an alert or a dashboard on it never looks at a name nothing wrote.
	c.recordLimits(ws.resources.endpoint, ts, []limitCount{{limit: "max_endpoints", n: s.finder.Trimmed()}})
	ws.evictIdle(now, now.Add(-idleSeriesLifetime))
}
