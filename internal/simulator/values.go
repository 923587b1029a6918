// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"encoding/binary"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
)

// latencyBoundsMillis are the finite bucket bounds of both histograms, from
// the 5 ms and 600000 ms bounds observed on real workspaces.
var latencyBoundsMillis = []float64{5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000, 300000, 600000}

// latencyBoundsTenths are the same bounds in tenths of a millisecond: drawn
// latencies are whole tenths, so bucketing compares integers exactly.
var latencyBoundsTenths = func() []int64 {
	tenths := make([]int64, len(latencyBoundsMillis))
	for i, bound := range latencyBoundsMillis {
		tenths[i] = int64(bound * 10)
	}
	return tenths
}()

// Stream names mixed into seededRand in place of a served entity name. They
// start with NUL, which no entity name contains, so they never collide.
const (
	catalogStream     = "\x00catalog"
	variantStream     = "\x00variant"
	scaleToZeroStream = "\x00scale-to-zero"
	customScoreStream = "\x00custom-score"
	timeoutStream     = "\x00timeout"
)

const (
	maxRequestsPerWindow = 300
	// Latency is log-normal: its median is drawn per window between 20 and
	// 200 ms, and sigma=1 puts P99 about ten times above P50, several
	// buckets apart.
	minMedianLatencyMillis = 20
	medianLatencySpread    = 10
	latencySigma           = 1.0
	// Each request queues for 1–15 % of its latency, so queue time is always
	// the smaller of the two.
	minQueueShare = 0.01
	maxQueueShare = 0.15
	// timeoutStepTenths places timed-out requests past the last bound (600000 ms): 1 or 2 of them take 650 or
	// 1300 s (plus a tenth each, so they differ).
	timeoutStepTenths = 6_500_000
)

// seededRand returns a generator whose whole stream is a pure function of
// its inputs: FNV-64a of them seeds a PCG.
func seededRand(seed int64, endpointName, stream string, windowIndex int64) *rand.Rand {
	h := fnv.New64a()
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], uint64(seed))
	_, _ = h.Write(buf[:])
	_, _ = io.WriteString(h, endpointName)
	_, _ = h.Write([]byte{0})
	_, _ = io.WriteString(h, stream)
	_, _ = h.Write([]byte{0})
	binary.LittleEndian.PutUint64(buf[:], uint64(windowIndex))
	_, _ = h.Write(buf[:])
	sum := h.Sum64()
	// PCG wants two words; a fixed odd constant decorrelates the second.
	return rand.New(rand.NewPCG(sum, sum^0x9e3779b97f4a7c15)) //nolint:gosec // G404: reproducible from the seed by design
}

// scaledToZero reports whether the endpoint had no replica during the
// window: always after the lifecycle event scale_to_zero, and for about half
// of the windows of a scale-to-zero endpoint.
func scaledToZero(seed int64, ep *endpoint, windowIndex int64) bool {
	if ep.forcedZero {
		return true
	}
	if ep.kind != kindScaleToZero {
		return false
	}
	return seededRand(seed, ep.name, scaleToZeroStream, windowIndex).Uint64()&1 == 1
}

// entityWindowValues are the numbers one served entity reports for one window.
type entityWindowValues struct {
	entity *servedEntity
	// running is false when the endpoint was scaled to zero: resource
	// series are then absent and every request-derived value is zero.
	running                bool
	requests               int
	requests4xx            int
	requests5xx            int
	latency                histogramValues
	queueTime              histogramValues
	cpuPercent             float64
	memPercent             float64
	provisionedConcurrency int
	gpuUsagePercent        []float64
	gpuMemoryPercent       []float64
}

// histogramValues holds per-bucket (non-cumulative) counts, the last one
// being the +Inf bucket, and the exact sum in tenths of a millisecond.
type histogramValues struct {
	bucketCounts []uint64
	sumTenths    int64
	count        uint64
}

func newHistogramValues() histogramValues {
	return histogramValues{bucketCounts: make([]uint64, len(latencyBoundsTenths)+1)}
}

func (h *histogramValues) observe(tenths int64) {
	bucket := len(latencyBoundsTenths) // +Inf
	for i, bound := range latencyBoundsTenths {
		if tenths <= bound {
			bucket = i
			break
		}
	}
	h.bucketCounts[bucket]++
	h.sumTenths += tenths
	h.count++
}

// drawEntityWindow draws the values of one served entity for one window. The
// order of draws is part of the output: changing it changes every value.
func drawEntityWindow(seed int64, ep *endpoint, entity *servedEntity, windowIndex int64, scaled bool) entityWindowValues {
	values := entityWindowValues{
		entity:    entity,
		running:   !scaled,
		latency:   newHistogramValues(),
		queueTime: newHistogramValues(),
	}
	if scaled {
		return values
	}
	rng := seededRand(seed, ep.name, entity.name, windowIndex)

	values.requests = rng.IntN(maxRequestsPerWindow+1) * entity.trafficPercentage / 100
	// Up to 5 % client errors and 2 % server errors: together never more
	// than the requests.
	values.requests4xx = rng.IntN(values.requests/20 + 1)
	values.requests5xx = rng.IntN(values.requests/50 + 1)

	medianMillis := minMedianLatencyMillis * math.Pow(medianLatencySpread, rng.Float64())
	mu := math.Log(medianMillis)
	timeouts := timedOutRequests(seed, ep, entity, windowIndex, values.requests)
	for i := range values.requests {
		latencyTenths := max(1, int64(math.Round(10*math.Exp(mu+latencySigma*rng.NormFloat64()))))
		if i < timeouts {
			// The draw above still happens, so every other request keeps the value it always had.
			latencyTenths = int64(timeouts)*timeoutStepTenths + int64(i)
		}
		queueShare := minQueueShare + (maxQueueShare-minQueueShare)*rng.Float64()
		values.latency.observe(latencyTenths)
		values.queueTime.observe(int64(math.Round(float64(latencyTenths) * queueShare)))
	}

	values.cpuPercent = percentBetween(rng, 1, 90)
	values.memPercent = percentBetween(rng, 1, 90)
	values.provisionedConcurrency = provisionedConcurrency[entity.workloadSize]
	for range entity.gpus {
		values.gpuUsagePercent = append(values.gpuUsagePercent, percentBetween(rng, 1, 99))
		values.gpuMemoryPercent = append(values.gpuMemoryPercent, percentBetween(rng, 10, 95))
	}
	return values
}

// timedOutRequests is how many of the window's requests ran past the last finite bucket bound: 0 to 2, from a
// stream of their own. Without them the +Inf bucket always equals the last finite one, and a pipeline that
// dropped or misplaced the overflow bucket would pass every check.
func timedOutRequests(seed int64, ep *endpoint, entity *servedEntity, windowIndex int64, requests int) int {
	return min(requests, seededRand(seed, ep.name, timeoutStream+entity.name, windowIndex).IntN(3))
}

// percentBetween draws a percentage rounded to 0.01, so the text form is
// short and parses back to the same float64.
func percentBetween(rng *rand.Rand, low, high float64) float64 {
	return math.Round((low+(high-low)*rng.Float64())*100) / 100
}
