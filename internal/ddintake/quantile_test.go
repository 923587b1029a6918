// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package ddintake

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/DataDog/agent-payload/v5/gogen"
	"github.com/DataDog/datadog-agent/pkg/util/quantile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// relativeAccuracy is the accuracy the intake's quantiles are held to, that of Datadog's sketches (1 %); the
// mapping guarantees √γ-1 ≈ 0.78 %.
const relativeAccuracy = 0.01

func TestAgentMapping(t *testing.T) {
	m := agentMapping()
	gen := quantile.NewDDSketchBinGeneratorForAgent()

	// Where the package publishes bounds, ours are the very same numbers.
	for _, b := range gen.GetBounds() {
		require.Equal(t, b.Low, m.value(int32(b.Key)), "key %d", b.Key)
	}

	// Over the whole key range, the package maps our value of a key back to that key.
	for k := int32(1); k < infKey; k++ {
		require.Equal(t, quantile.Key(k), gen.GetKeyForValue(m.value(k)), "key %d", k)
		require.Equal(t, quantile.Key(-k), gen.GetKeyForValue(m.value(-k)), "key %d", -k)
	}

	// The key is rounded, so a key's value is the logarithmic centre of its bin.
	for k := int32(1000); k < 4000; k++ {
		v := m.value(k)
		require.Equal(t, quantile.Key(k), gen.GetKeyForValue(v*math.Pow(m.gamma, 0.49)), "key %d", k)
		require.Equal(t, quantile.Key(k), gen.GetKeyForValue(v*math.Pow(m.gamma, -0.49)), "key %d", k)
	}

	assert.Zero(t, m.value(0))
	assert.Equal(t, math.Inf(1), m.value(infKey))
	assert.Equal(t, math.Inf(-1), m.value(-infKey))
	assert.Equal(t, math.Inf(-1), m.value(math.MinInt32))
	assert.Less(t, math.Sqrt(m.gamma)-1, relativeAccuracy)
}

func TestSketchQuantileAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	distributions := map[string][]float64{}
	uniform := make([]float64, 10000)
	for i := range uniform {
		uniform[i] = float64(i + 1)
	}
	rng.Shuffle(len(uniform), func(i, j int) { uniform[i], uniform[j] = uniform[j], uniform[i] })
	distributions["uniform"] = uniform
	// Latencies in µs with a long tail: most keys lie beyond the range of the package's bin generator.
	lognormal := make([]float64, 20000)
	for i := range lognormal {
		lognormal[i] = math.Exp(10 + 1.5*rng.NormFloat64())
	}
	distributions["lognormal"] = lognormal

	for name, values := range distributions {
		t.Run(name, func(t *testing.T) {
			ti := newTestIntake(t)
			third := len(values) / 3
			chunks := [][]float64{values[:third], values[third : 2*third], values[2*third:]}
			ti.postSketches(t,
				gogen.SketchPayload_Sketch{
					Metric: "latency", Host: "h1", Tags: []string{"endpoint:a", "service:s"},
					Dogsketches: []gogen.SketchPayload_Sketch_Dogsketch{dogsketch(10, chunks[0]), dogsketch(20, chunks[1])},
				},
				gogen.SketchPayload_Sketch{
					Metric: "latency", Host: "h2", Tags: []string{"endpoint:b", "service:s"},
					Dogsketches: []gogen.SketchPayload_Sketch_Dogsketch{dogsketch(10, chunks[2])},
				},
			)

			for _, tc := range []struct {
				match  map[string]string
				values []float64
			}{
				{nil, values},
				{map[string]string{"service": "s"}, values},
				{map[string]string{"endpoint": "a"}, values[:2*third]},
				{map[string]string{"host": "h2"}, values[2*third:]},
			} {
				sorted := slices.Sorted(slices.Values(tc.values))
				var worst float64
				for _, q := range []float64{0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999} {
					want := sorted[int(math.RoundToEven(q*float64(len(sorted)-1)))]
					got, ok := ti.SketchQuantile("latency", tc.match, q)
					require.True(t, ok)
					relErr := math.Abs(got-want) / want
					worst = max(worst, relErr)
					assert.LessOrEqual(t, relErr, relativeAccuracy, "match %v q=%v: got %v, want %v", tc.match, q, got, want)
				}
				t.Logf("match %v: worst relative error %.4f%%", tc.match, 100*worst)

				minV, _ := ti.SketchQuantile("latency", tc.match, 0)
				maxV, _ := ti.SketchQuantile("latency", tc.match, 1)
				assert.Equal(t, sorted[0], minV, "q=0 is the exact minimum")
				assert.Equal(t, sorted[len(sorted)-1], maxV, "q=1 is the exact maximum")

				var sum float64
				for _, v := range tc.values {
					sum += v
				}
				assert.Equal(t, int64(len(tc.values)), ti.SketchCount("latency", tc.match))
				assert.InEpsilon(t, sum, ti.SketchSum("latency", tc.match), 1e-9)
			}
		})
	}
}

func TestSketchQuantileSignedValues(t *testing.T) {
	ti := newTestIntake(t)
	var values []float64
	for v := -50; v <= 50; v++ {
		values = append(values, float64(v))
	}
	ti.postSketches(t, gogen.SketchPayload_Sketch{
		Metric: "delta", Dogsketches: []gogen.SketchPayload_Sketch_Dogsketch{dogsketch(1, values)},
	})

	for q, want := range map[float64]float64{0.1: -40, 0.25: -25, 0.75: 25, 0.9: 40} {
		got, ok := ti.SketchQuantile("delta", nil, q)
		require.True(t, ok)
		assert.InEpsilon(t, want, got, relativeAccuracy, "q=%v", q)
	}
	median, ok := ti.SketchQuantile("delta", nil, 0.5)
	require.True(t, ok)
	assert.Zero(t, median, "key 0 holds zero exactly")
}

func TestSketchQuantileEdges(t *testing.T) {
	ti := newTestIntake(t)
	_, ok := ti.SketchQuantile("latency", nil, 0.5)
	assert.False(t, ok, "no data")

	// A bin counter is a uint16 in the agent: 70000 equal values come out as two bins with the same key.
	same := make([]float64, 70000)
	for i := range same {
		same[i] = 42
	}
	d := dogsketch(1, same)
	require.Len(t, d.K, 2)
	require.Equal(t, d.K[0], d.K[1])
	ti.postSketches(t,
		gogen.SketchPayload_Sketch{Metric: "latency", Dogsketches: []gogen.SketchPayload_Sketch_Dogsketch{d}},
		// An empty point (a flush with nothing in it) must not drag the minimum to zero.
		gogen.SketchPayload_Sketch{Metric: "latency", Dogsketches: []gogen.SketchPayload_Sketch_Dogsketch{{Ts: 2}}},
	)

	assert.Equal(t, int64(70000), ti.SketchCount("latency", nil))
	for _, q := range []float64{0, 0.5, 0.99, 1} {
		got, found := ti.SketchQuantile("latency", nil, q)
		require.True(t, found)
		assert.Equal(t, 42.0, got, "min and max bound the answer, q=%v", q)
	}
	for _, q := range []float64{-0.1, 1.1, math.NaN()} {
		_, ok = ti.SketchQuantile("latency", nil, q)
		assert.False(t, ok, "q=%v", q)
	}
	_, ok = ti.SketchQuantile("latency", map[string]string{"endpoint": "z"}, 0.5)
	assert.False(t, ok)
	assert.Zero(t, ti.SketchCount("latency", map[string]string{"endpoint": "z"}))
}
