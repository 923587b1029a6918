// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package ddintake

import (
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/DataDog/datadog-agent/pkg/util/quantile"
)

// keyMapping turns the bin keys of a Dogsketch back into values.
//
// The agent's quantile package maps a value v > 0 to key(v) = RoundToEven(log_γ(v)) + bias and a key k back to
// f64(k) = γ^(k-bias); negative values use negated keys, key 0 holds zero and values too small to map, and the keys
// ±(1<<15-1) hold ±Inf. Because the key is rounded, not floored, f64(k) is the logarithmic centre of the bin, so
// it is within √γ-1 (about 0.78 % with the default γ = 1+2/128) of every value the bin holds.
//
// f64 and γ are not exported, so they are read from the package's exported bin generator for the agent's own
// config, the one the exporter builds its sketches with: key(1) = bias and f64(bias+1) = γ^1 exactly. The
// generator itself only covers keys -2048..2047 (values up to about 5.9e4), too few for latencies in µs or sizes
// in bytes, hence the closed form.
type keyMapping struct {
	gamma float64
	bias  int
}

// infKey is the key of +Inf; -infKey is the key of -Inf.
var infKey = int32(quantile.InfKey(1))

var agentMapping = sync.OnceValue(func() keyMapping {
	m, err := newAgentMapping()
	if err != nil {
		// Only a change of the quantile package can get here, and the package tests catch it first.
		panic(err)
	}
	return m
})

func newAgentMapping() (keyMapping, error) {
	gen := quantile.NewDDSketchBinGeneratorForAgent()
	bias := gen.GetKeyForValue(1)
	one, okOne := gen.GetBound(bias)
	gamma, okGamma := gen.GetBound(bias + 1)
	if !okOne || !okGamma || one.Low != 1 || gamma.Low <= 1 {
		return keyMapping{}, fmt.Errorf("ddintake: unexpected agent sketch mapping around key %d", bias)
	}
	return keyMapping{gamma: gamma.Low, bias: int(bias)}, nil
}

// value returns the value that key k stands for, computed exactly as the agent's Config.f64 does.
func (m keyMapping) value(k int32) float64 {
	switch {
	case k >= infKey:
		return math.Inf(1)
	case k <= -infKey:
		return math.Inf(-1)
	case k == 0:
		return 0
	case k < 0:
		return -m.value(-k)
	}
	return math.Pow(m.gamma, float64(int(k)-m.bias))
}

// mergedSketch is the union of several Dogsketches: the bins add up and so do the summaries, exactly as Datadog
// merges the points of a distribution over time and over the series a query selects.
type mergedSketch struct {
	bins     map[int32]uint64
	binTotal uint64
	count    int64
	sum      float64
	min, max float64
	nonEmpty bool
}

func (ms *mergedSketch) add(p SketchPoint) {
	if ms.bins == nil {
		ms.bins = make(map[int32]uint64)
	}
	for i, k := range p.Keys {
		if i >= len(p.Counts) {
			break
		}
		ms.bins[k] += uint64(p.Counts[i])
		ms.binTotal += uint64(p.Counts[i])
	}
	ms.count += p.Count
	ms.sum += p.Sum
	// An empty point carries zero min and max, which are not observations.
	if p.Count == 0 {
		return
	}
	if !ms.nonEmpty || p.Min < ms.min {
		ms.min = p.Min
	}
	if !ms.nonEmpty || p.Max > ms.max {
		ms.max = p.Max
	}
	ms.nonEmpty = true
}

// quantile returns the q-quantile of the merged bins. It follows the agent's Sketch.Quantile rank rule
// (the value of rank RoundToEven(q*(n-1)), 0-based) but answers with the bin's centre rather than interpolating
// towards the bin's upper neighbour, which keeps the error within the sketch's relative accuracy; the exact min
// and max of the summaries bound the answer, and answer q = 0 and q = 1.
func (ms *mergedSketch) quantile(q float64) (float64, bool) {
	if ms.binTotal == 0 || math.IsNaN(q) || q < 0 || q > 1 {
		return 0, false
	}
	switch q {
	case 0:
		return ms.min, true
	case 1:
		return ms.max, true
	}

	keys := make([]int32, 0, len(ms.bins))
	for k := range ms.bins {
		keys = append(keys, k)
	}
	slices.Sort(keys)

	m := agentMapping()
	rank := math.RoundToEven(q * float64(ms.binTotal-1))
	var seen float64
	for _, k := range keys {
		seen += float64(ms.bins[k])
		if seen > rank {
			return ms.clamp(m.value(k)), true
		}
	}
	return ms.max, true
}

func (ms *mergedSketch) clamp(v float64) float64 {
	if !ms.nonEmpty {
		return v
	}
	return math.Min(math.Max(v, ms.min), ms.max)
}
