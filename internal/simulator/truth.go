// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"fmt"
	"slices"
)

// Truth is the body of GET /simulator/truth: every (endpoint, window) the
// simulator served in a 200 /metrics response, with the exact values.
type Truth struct {
	WindowMillis int64                    `json:"window_ms"`
	Seed         int64                    `json:"seed"`
	Endpoints    map[string]EndpointTruth `json:"endpoints"`
}

// EndpointTruth lists the windows served for one endpoint, oldest first.
type EndpointTruth struct {
	Windows []WindowTruth `json:"windows"`
}

// WindowTruth is everything one /metrics body of one window contains, and
// the description of the endpoint that served it.
type WindowTruth struct {
	// TimestampMillis is the window end, the timestamp of every sample.
	TimestampMillis int64 `json:"timestamp_ms"`
	// Endpoint is the endpoint as the list and get APIs described it when
	// it served the window: lifecycle events change the description, and
	// each window keeps its own.
	Endpoint EndpointMetaTruth `json:"endpoint"`
	Series   []SeriesTruth     `json:"series"`
}

// EndpointMetaTruth is the description of an endpoint that matters to
// metrics: its id, tags and served entities.
type EndpointMetaTruth struct {
	ID       string            `json:"id"`
	Tags     map[string]string `json:"tags"`
	Entities []EntityMetaTruth `json:"entities"`
}

// EntityMetaTruth describes one served entity.
type EntityMetaTruth struct {
	Name               string `json:"name"`
	EntityName         string `json:"entity_name"`
	EntityVersion      string `json:"entity_version"`
	WorkloadType       string `json:"workload_type"`
	WorkloadSize       string `json:"workload_size"`
	ScaleToZeroEnabled bool   `json:"scale_to_zero_enabled"`
	TrafficPercentage  int    `json:"traffic_percentage"`
}

// SeriesTruth is one series: a gauge when Value is set, a histogram when
// Histogram is set. Type is set only for custom_score, whose type changes
// (see the lifecycle event flip_type): "gauge" or "counter" with Value (a
// counter's Value is the window's value, as for the _total gauges), or
// "histogram".
type SeriesTruth struct {
	Name      string            `json:"name"`
	Labels    map[string]string `json:"labels"`
	Type      string            `json:"type,omitempty"`
	Value     *float64          `json:"value,omitempty"`
	Histogram *HistogramTruth   `json:"histogram,omitempty"`
}

// HistogramTruth is a histogram as exposed: CumulativeCounts has one entry
// per finite bound in Bounds, then the +Inf one, which equals Count.
type HistogramTruth struct {
	Bounds           []float64 `json:"bounds"`
	CumulativeCounts []uint64  `json:"cumulative_counts"`
	Sum              float64   `json:"sum"`
	Count            uint64    `json:"count"`
}

// generateWindowTruth computes what ep exposes for window w. It is the single
// source of both the /metrics body and /simulator/truth, so they cannot
// disagree. Series are grouped by family, which the text format requires.
func generateWindowTruth(seed int64, ep *endpoint, w window) WindowTruth {
	scaled := scaledToZero(seed, ep, w.index)
	entities := make([]entityWindowValues, len(ep.entities))
	for i := range ep.entities {
		entities[i] = drawEntityWindow(seed, ep, &ep.entities[i], w.index, scaled)
	}

	var series []SeriesTruth
	gaugeFamily := func(name string, onlyRunning bool, value func(v *entityWindowValues) float64) {
		for i := range entities {
			if onlyRunning && !entities[i].running {
				continue
			}
			series = append(series, gaugeSeries(name, entityLabels(&entities[i]), value(&entities[i])))
		}
	}
	histogramFamily := func(name string, hist func(v *entityWindowValues) histogramValues) {
		for i := range entities {
			series = append(series, SeriesTruth{
				Name:      name,
				Labels:    entityLabels(&entities[i]),
				Histogram: newHistogramTruth(hist(&entities[i])),
			})
		}
	}
	gpuFamily := func(name string, percents func(v *entityWindowValues) []float64) {
		for i := range entities {
			for gpu, percent := range percents(&entities[i]) {
				labels := entityLabels(&entities[i])
				labels[labelGPU] = fmt.Sprintf("gpu%d", gpu)
				series = append(series, gaugeSeries(name, labels, percent))
			}
		}
	}

	// Resource series disappear while scaled to zero, as observed on real
	// scale-to-zero endpoints; request series stay, with zeros.
	gaugeFamily(metricCPUUsage, true, func(v *entityWindowValues) float64 { return v.cpuPercent })
	gaugeFamily(metricMemUsage, true, func(v *entityWindowValues) float64 { return v.memPercent })
	gaugeFamily(metricProvisionedConcurrency, true, func(v *entityWindowValues) float64 { return float64(v.provisionedConcurrency) })
	gaugeFamily(metricRequestCount, false, func(v *entityWindowValues) float64 { return float64(v.requests) })
	gaugeFamily(metricRequest4xxCount, false, func(v *entityWindowValues) float64 { return float64(v.requests4xx) })
	gaugeFamily(metricRequest5xxCount, false, func(v *entityWindowValues) float64 { return float64(v.requests5xx) })
	histogramFamily(metricRequestLatency, func(v *entityWindowValues) histogramValues { return v.latency })
	histogramFamily(metricQueueTime, func(v *entityWindowValues) histogramValues { return v.queueTime })
	gpuFamily(metricGPUUsage, func(v *entityWindowValues) []float64 { return v.gpuUsagePercent })
	gpuFamily(metricGPUMemoryUsage, func(v *entityWindowValues) []float64 { return v.gpuMemoryPercent })
	series = append(series, customScoreSeries(seed, ep, entities, w.index)...)

	return WindowTruth{TimestampMillis: w.endMillis, Endpoint: endpointMeta(ep), Series: series}
}

func endpointMeta(ep *endpoint) EndpointMetaTruth {
	meta := EndpointMetaTruth{ID: ep.id, Tags: make(map[string]string, len(ep.tags))}
	for _, t := range ep.tags {
		meta.Tags[t.key] = t.value
	}
	for _, entity := range ep.entities {
		meta.Entities = append(meta.Entities, EntityMetaTruth{
			Name:               entity.name,
			EntityName:         entity.entityName,
			EntityVersion:      entity.entityVersion,
			WorkloadType:       entity.workloadType,
			WorkloadSize:       entity.workloadSize,
			ScaleToZeroEnabled: entity.scaleToZero,
			TrafficPercentage:  entity.trafficPercentage,
		})
	}
	return meta
}

func entityLabels(v *entityWindowValues) map[string]string {
	return map[string]string{labelServedEntityName: v.entity.name}
}

func gaugeSeries(name string, labels map[string]string, value float64) SeriesTruth {
	return SeriesTruth{Name: name, Labels: labels, Value: &value}
}

func newHistogramTruth(h histogramValues) *HistogramTruth {
	cumulative := make([]uint64, len(h.bucketCounts))
	var running uint64
	for i, count := range h.bucketCounts {
		running += count
		cumulative[i] = running
	}
	return &HistogramTruth{
		Bounds:           slices.Clone(latencyBoundsMillis),
		CumulativeCounts: cumulative,
		// Dividing whole tenths yields the float64 nearest to the decimal,
		// which the text format prints and parses back exactly.
		Sum:   float64(h.sumTenths) / 10,
		Count: h.count,
	}
}
