// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

// Metric family names, as exported by Databricks Model Serving.
const (
	metricCPUUsage               = "cpu_usage_percentage"
	metricMemUsage               = "mem_usage_percentage"
	metricProvisionedConcurrency = "provisioned_concurrent_requests_total"
	metricRequestCount           = "request_count_total"
	metricRequest4xxCount        = "request_4xx_count_total"
	metricRequest5xxCount        = "request_5xx_count_total"
	metricRequestLatency         = "request_latency_ms"
	metricQueueTime              = "model_queue_time_ms"
	metricGPUUsage               = "gpu_usage_percentage"
	metricGPUMemoryUsage         = "gpu_memory_usage_percentage"

	labelServedEntityName = "served_entity_name"
	labelGPU              = "gpu"
)

// familyHelp is the # HELP text of each family. Every family describes the
// last completed window only; the _total ones are not cumulative.
var familyHelp = map[string]string{
	metricCPUUsage:               "Average CPU utilization across all replicas during the last window, in percent.",
	metricMemUsage:               "Average memory utilization across all replicas during the last window, in percent.",
	metricProvisionedConcurrency: "Provisioned concurrency during the last window.",
	metricRequestCount:           "Number of requests processed during the last window.",
	metricRequest4xxCount:        "Number of 4xx responses during the last window.",
	metricRequest5xxCount:        "Number of 5xx responses during the last window.",
	metricRequestLatency:         "Round-trip latency of the requests of the last window, in milliseconds.",
	metricQueueTime:              "Time the requests of the last window spent queued, in milliseconds.",
	metricGPUUsage:               "Average GPU utilization during the last window, per GPU, in percent.",
	metricGPUMemoryUsage:         "Average GPU frame-buffer memory utilization during the last window, per GPU, in percent.",
	metricCustomScore:            "Score the served model reported for the last window.",
}
