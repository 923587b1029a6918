// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

import (
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/exposition"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/metadata"
)

// metricKind says how a family's samples become OpenTelemetry points.
type metricKind int

const (
	// kindGauge: the sample is the window's value (utilization, concurrency); emitted once per window.
	kindGauge metricKind = iota
	// kindWindowedSum: the sample counts events of its window; added to a cumulative monotonic sum.
	kindWindowedSum
	// kindWindowedHistogram: the buckets count observations of their window; added to a cumulative histogram.
	kindWindowedHistogram
	// kindSummary: a quantile snapshot, passed through as it is.
	kindSummary
	// kindState: an integer gauge the receiver computes itself (endpoint state, scrape health), stamped with the
	// scrape time.
	kindState
	// kindComputedSum: an integer cumulative sum the receiver computes itself (missed windows), stamped with the
	// scrape time.
	kindComputedSum
)

// metricType is the OpenTelemetry type a kind is emitted as.
func (k metricKind) metricType() pmetric.MetricType {
	switch k {
	case kindWindowedSum, kindComputedSum:
		return pmetric.MetricTypeSum
	case kindWindowedHistogram:
		return pmetric.MetricTypeHistogram
	case kindSummary:
		return pmetric.MetricTypeSummary
	default:
		return pmetric.MetricTypeGauge
	}
}

// metricDef describes one emitted metric.
type metricDef struct {
	name        string
	description string
	unit        string
	kind        metricKind
	// extraAttribute is added to every point, e.g. status_class=5xx for the 5xx family.
	extraAttribute *[2]string
	// enabled reads the metric's switch from the mdatagen config; nil means always on (histograms, which
	// mdatagen cannot declare, and passed-through families).
	enabled func(metadata.MetricsConfig) bool
}

// unmappedNamespace prefixes the families the receiver does not know. Their own namespace keeps them from ever
// colliding with a built-in metric: "request_count" passed through as databricks.serving.request_count would
// become databricks_serving_request_count_total in Prometheus, the built-in request counter's name.
const unmappedNamespace = "databricks.serving.unmapped."

// knownFamilies maps the Databricks exposition families to what the receiver emits. The description, unit and
// type of each metric declared in metadata.yaml come from there (shapes.go); catalog_test.go checks that each
// kind emits the type metadata.yaml declares. Only the histograms, which mdatagen cannot declare, are described
// here.
var knownFamilies = map[string]metricDef{
	"cpu_usage_percentage": {
		name: "databricks.serving.cpu.utilization", kind: kindGauge,
		enabled: func(m metadata.MetricsConfig) bool { return m.DatabricksServingCPUUtilization.Enabled },
	},
	"mem_usage_percentage": {
		name: "databricks.serving.memory.utilization", kind: kindGauge,
		enabled: func(m metadata.MetricsConfig) bool { return m.DatabricksServingMemoryUtilization.Enabled },
	},
	"gpu_usage_percentage": {
		name: "databricks.serving.gpu.utilization", kind: kindGauge,
		enabled: func(m metadata.MetricsConfig) bool { return m.DatabricksServingGpuUtilization.Enabled },
	},
	"gpu_memory_usage_percentage": {
		name: "databricks.serving.gpu.memory.utilization", kind: kindGauge,
		enabled: func(m metadata.MetricsConfig) bool { return m.DatabricksServingGpuMemoryUtilization.Enabled },
	},
	"provisioned_concurrent_requests_total": {
		name: "databricks.serving.provisioned_concurrency", kind: kindGauge,
		enabled: func(m metadata.MetricsConfig) bool { return m.DatabricksServingProvisionedConcurrency.Enabled },
	},
	"request_count_total": {
		name: "databricks.serving.request.count", kind: kindWindowedSum,
		enabled: func(m metadata.MetricsConfig) bool { return m.DatabricksServingRequestCount.Enabled },
	},
	"request_4xx_count_total": {
		name: "databricks.serving.request.error.count", kind: kindWindowedSum,
		extraAttribute: &[2]string{"status_class", "4xx"},
		enabled:        func(m metadata.MetricsConfig) bool { return m.DatabricksServingRequestErrorCount.Enabled },
	},
	"request_5xx_count_total": {
		name: "databricks.serving.request.error.count", kind: kindWindowedSum,
		extraAttribute: &[2]string{"status_class", "5xx"},
		enabled:        func(m metadata.MetricsConfig) bool { return m.DatabricksServingRequestErrorCount.Enabled },
	},
	"request_latency_ms": {
		name: "databricks.serving.request.latency", unit: "ms", kind: kindWindowedHistogram,
		description: "Latency of the requests the endpoint served, measured inside Databricks, since the receiver started counting. Databricks reports the histogram of the last minute (request_latency_ms); the receiver adds each minute exactly once.",
	},
	"model_queue_time_ms": {
		name: "databricks.serving.request.queue_time", unit: "ms", kind: kindWindowedHistogram,
		description: "Time requests waited in the endpoint's queue before the model served them, since the receiver started counting. Databricks reports the histogram of the last minute (model_queue_time_ms); the receiver adds each minute exactly once.",
	},
}

// The metrics the receiver computes itself, from the endpoint descriptions and its own scrapes.
var (
	endpointStateMetric = metricDef{
		name: "databricks.serving.endpoint.state", kind: kindState,
		enabled: func(m metadata.MetricsConfig) bool { return m.DatabricksServingEndpointState.Enabled },
	}
	configUpdateStateMetric = metricDef{
		name: "databricks.serving.endpoint.config_update.state", kind: kindState,
		enabled: func(m metadata.MetricsConfig) bool { return m.DatabricksServingEndpointConfigUpdateState.Enabled },
	}
	deploymentStateMetric = metricDef{
		name: "databricks.serving.served_entity.deployment.state", kind: kindState,
		enabled: func(m metadata.MetricsConfig) bool { return m.DatabricksServingServedEntityDeploymentState.Enabled },
	}
	scrapeUpMetric = metricDef{
		name: "databricks.serving.scrape.up", kind: kindState,
		enabled: func(m metadata.MetricsConfig) bool { return m.DatabricksServingScrapeUp.Enabled },
	}
	scrapeDurationMetric = metricDef{
		name: "databricks.serving.scrape.duration", kind: kindGauge,
		enabled: func(m metadata.MetricsConfig) bool { return m.DatabricksServingScrapeDuration.Enabled },
	}
	scrapeSamplesMetric = metricDef{
		name: "databricks.serving.scrape.samples", kind: kindState,
		enabled: func(m metadata.MetricsConfig) bool { return m.DatabricksServingScrapeSamples.Enabled },
	}
	windowsMissedMetric = metricDef{
		name: "databricks.serving.windows.missed", kind: kindComputedSum,
		enabled: func(m metadata.MetricsConfig) bool { return m.DatabricksServingWindowsMissed.Enabled },
	}
	workspaceUpMetric = metricDef{
		name: "databricks.serving.workspace.up", kind: kindState,
		enabled: func(m metadata.MetricsConfig) bool { return m.DatabricksServingWorkspaceUp.Enabled },
	}
	workspaceEndpointsMetric = metricDef{
		name: "databricks.serving.workspace.endpoints", kind: kindState,
		enabled: func(m metadata.MetricsConfig) bool { return m.DatabricksServingWorkspaceEndpoints.Enabled },
	}
	accountUpMetric = metricDef{
		name: "databricks.serving.account.up", kind: kindState,
		enabled: func(m metadata.MetricsConfig) bool { return m.DatabricksServingAccountUp.Enabled },
	}
	accountWorkspacesMetric = metricDef{
		name: "databricks.serving.account.workspaces", kind: kindState,
		enabled: func(m metadata.MetricsConfig) bool { return m.DatabricksServingAccountWorkspaces.Enabled },
	}
	limitExceededMetric = metricDef{
		name: "databricks.serving.limit.exceeded", kind: kindState,
		enabled: func(m metadata.MetricsConfig) bool { return m.DatabricksServingLimitExceeded.Enabled },
	}
	// computedMetrics lists them for the catalog test.
	computedMetrics = []metricDef{endpointStateMetric, configUpdateStateMetric, deploymentStateMetric, scrapeUpMetric, scrapeDurationMetric, scrapeSamplesMetric, windowsMissedMetric, workspaceUpMetric, workspaceEndpointsMetric, accountUpMetric, accountWorkspacesMetric, limitExceededMetric}
)

// The states Databricks documents; a state it adds later is emitted as reported.
var (
	readyStates        = []string{"READY", "NOT_READY"}
	configUpdateStates = []string{"NOT_UPDATING", "IN_PROGRESS", "UPDATE_FAILED", "UPDATE_CANCELED"}
	deploymentStates   = []string{"DEPLOYMENT_READY", "DEPLOYMENT_CREATING", "DEPLOYMENT_RECOVERING", "DEPLOYMENT_FAILED", "DEPLOYMENT_ABORTED"}
)

// definitionFor returns how to emit a family. A family the receiver does not know is passed through by its
// "# TYPE" as databricks.serving.unmapped.<family>, so a metric Databricks adds shows up without a release. Databricks
// reports every count and histogram per minute, so unknown counters and histograms get the same window
// accumulation as the known ones.
func definitionFor(f *exposition.Family) metricDef {
	if def, ok := knownFamilies[f.Name]; ok {
		return def
	}
	def := metricDef{name: unmappedNamespace + f.Name, description: f.Help}
	switch f.Type {
	case dto.MetricType_COUNTER:
		def.kind = kindWindowedSum
	case dto.MetricType_HISTOGRAM:
		def.kind = kindWindowedHistogram
	case dto.MetricType_SUMMARY:
		def.kind = kindSummary
	default: // gauge and untyped
		def.kind = kindGauge
	}
	return def
}
