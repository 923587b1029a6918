// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

// Design note: metadata.yaml is the one place that says what each declared metric is: description, unit, type,
// monotonicity, temporality and value type. mdatagen turns it into a MetricsBuilder. The receiver does not
// record its points through that builder, because the builder stamps every sum with a start time of its own,
// while here each series starts when its first window is counted (and keeps that start across restarts), and
// because every point must join the resource of the served entity it belongs to, next to the histograms the
// builder cannot make. It reads the shapes from the builder instead: one point per declared metric, emitted
// once, gives the pmetric.Metric each metric must look like. The histograms, which mdatagen cannot declare, are
// described in catalog.go, their only definition.

import (
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/metadata"
)

// declaredShapes maps each metric metadata.yaml declares to an empty metric of its shape.
var declaredShapes = sync.OnceValue(readDeclaredShapes)

func readDeclaredShapes() map[string]pmetric.Metric {
	cfg := metadata.NewDefaultMetricsBuilderConfig()
	allMetricsEnabled(&cfg.Metrics)
	settings := receiver.Settings{
		ID:                component.NewID(metadata.Type),
		TelemetrySettings: component.TelemetrySettings{Logger: zap.NewNop()},
		BuildInfo:         component.NewDefaultBuildInfo(),
	}
	mb := metadata.NewMetricsBuilder(cfg, settings)
	recordOneOfEach(mb, 0)
	shapes := map[string]pmetric.Metric{}
	emitted := mb.Emit()
	for i := 0; i < emitted.ResourceMetrics().Len(); i++ {
		scopes := emitted.ResourceMetrics().At(i).ScopeMetrics()
		for j := 0; j < scopes.Len(); j++ {
			metrics := scopes.At(j).Metrics()
			for k := 0; k < metrics.Len(); k++ {
				shapes[metrics.At(k).Name()] = metrics.At(k)
			}
		}
	}
	return shapes
}

// allMetricsEnabled turns on every metric, so that the builder emits the shape of those a user disabled too.
func allMetricsEnabled(m *metadata.MetricsConfig) {
	m.DatabricksServingCPUUtilization.Enabled = true
	m.DatabricksServingEndpointConfigUpdateState.Enabled = true
	m.DatabricksServingEndpointState.Enabled = true
	m.DatabricksServingGpuMemoryUtilization.Enabled = true
	m.DatabricksServingGpuUtilization.Enabled = true
	m.DatabricksServingLimitExceeded.Enabled = true
	m.DatabricksServingMemoryUtilization.Enabled = true
	m.DatabricksServingProvisionedConcurrency.Enabled = true
	m.DatabricksServingRequestCount.Enabled = true
	m.DatabricksServingRequestErrorCount.Enabled = true
	m.DatabricksServingScrapeDuration.Enabled = true
	m.DatabricksServingScrapeSamples.Enabled = true
	m.DatabricksServingScrapeUp.Enabled = true
	m.DatabricksServingServedEntityDeploymentState.Enabled = true
	m.DatabricksServingWindowsMissed.Enabled = true
	m.DatabricksServingWorkspaceEndpoints.Enabled = true
	m.DatabricksServingWorkspaceUp.Enabled = true
	m.DatabricksServingAccountUp.Enabled = true
	m.DatabricksServingAccountWorkspaces.Enabled = true
}

// recordOneOfEach records one point of every declared metric. A metric added to metadata.yaml has a Record
// method this function must call; catalog_test.go fails until it does.
func recordOneOfEach(mb *metadata.MetricsBuilder, ts pcommon.Timestamp) {
	mb.RecordDatabricksServingCPUUtilizationDataPoint(ts, 0, "")
	mb.RecordDatabricksServingEndpointConfigUpdateStateDataPoint(ts, 0, "")
	mb.RecordDatabricksServingEndpointStateDataPoint(ts, 0, "")
	mb.RecordDatabricksServingGpuMemoryUtilizationDataPoint(ts, 0, "", "")
	mb.RecordDatabricksServingGpuUtilizationDataPoint(ts, 0, "", "")
	mb.RecordDatabricksServingLimitExceededDataPoint(ts, 0, metadata.AttributeLimitMaxSeries)
	mb.RecordDatabricksServingMemoryUtilizationDataPoint(ts, 0, "")
	mb.RecordDatabricksServingProvisionedConcurrencyDataPoint(ts, 0, "")
	mb.RecordDatabricksServingRequestCountDataPoint(ts, 0, "")
	mb.RecordDatabricksServingRequestErrorCountDataPoint(ts, 0, "", metadata.AttributeStatusClass4xx)
	mb.RecordDatabricksServingScrapeDurationDataPoint(ts, 0)
	mb.RecordDatabricksServingScrapeSamplesDataPoint(ts, 0)
	mb.RecordDatabricksServingScrapeUpDataPoint(ts, 0, metadata.AttributeErrorTypeAuth)
	mb.RecordDatabricksServingServedEntityDeploymentStateDataPoint(ts, 0, "")
	mb.RecordDatabricksServingWindowsMissedDataPoint(ts, 0)
	mb.RecordDatabricksServingWorkspaceEndpointsDataPoint(ts, 0, metadata.AttributeSelectionDiscovered)
	mb.RecordDatabricksServingWorkspaceUpDataPoint(ts, 0, metadata.AttributeErrorTypeAuth)
	mb.RecordDatabricksServingAccountUpDataPoint(ts, 0, metadata.AttributeErrorTypeAuth)
	mb.RecordDatabricksServingAccountWorkspacesDataPoint(ts, 0, metadata.AttributeSelectionRefused)
}

// describe sets a new metric's description and unit: from metadata.yaml for a declared metric, from the catalog
// for a histogram, from the body's HELP for a passed-through family.
func describe(m pmetric.Metric, def metricDef) {
	if shape, ok := declaredShapes()[def.name]; ok {
		m.SetDescription(shape.Description())
		m.SetUnit(shape.Unit())
		return
	}
	m.SetDescription(def.description)
	m.SetUnit(def.unit)
}
