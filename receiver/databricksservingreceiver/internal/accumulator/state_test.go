// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package accumulator

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// savedAccumulator counts two windows of a sum and a histogram, the second series after a stream change, and
// writes a gauge, so the saved state has every kind of entry.
func savedAccumulator(t *testing.T) (*Accumulator, []byte) {
	acc := New()
	requests := Series{Source: "requests", Stream: "v1/requests"}
	latency := Series{Source: "latency", Stream: "v1/latency"}
	for n, h := range []Histogram{histogram(1, 2, 3), histogram(0, 4, 1)} {
		_, _, err := acc.AddSum(requests, minute(n+1), 10, false)
		require.NoError(t, err)
		_, _, err = acc.AddHistogram(latency, minute(n+1), h, false)
		require.NoError(t, err)
	}
	_, _, err := acc.AddSum(Series{Source: "latency-v2", Stream: "v2/requests"}, minute(2), 5, false)
	require.NoError(t, err)
	acc.AddGauge(one("cpu"), KindGauge, minute(2))
	require.True(t, acc.Dirty())
	return acc, acc.AppendState(nil)
}

func TestSavedStateResumesEveryStreamWhereItStopped(t *testing.T) {
	_, saved := savedAccumulator(t)
	restored := New()
	require.NoError(t, restored.LoadState(saved))

	// A re-scrape of the newest counted window adds nothing, but the stream is resumed: its saved total is
	// written again first, after its last point.
	em, total, err := restored.AddSum(Series{Source: "requests", Stream: "v1/requests"}, minute(2), 10, false)
	require.NoError(t, err)
	assert.False(t, em.Emit)
	assert.True(t, em.Resumed)
	assert.Equal(t, 20.0, em.ResumedSum)
	assert.Equal(t, minute(2)+ms, em.ResumedAt)
	assert.Equal(t, minute(1)-ms, em.Start, "the same start: one continuous counter")
	assert.Equal(t, 20.0, total)

	em, total, err = restored.AddSum(Series{Source: "requests", Stream: "v1/requests"}, minute(3), 7, false)
	require.NoError(t, err)
	assert.True(t, em.Emit)
	assert.False(t, em.Opens)
	assert.False(t, em.Resumed, "resumed once")
	assert.Equal(t, 27.0, total)
	assert.Equal(t, minute(1)-ms, em.Start)

	em, h, err := restored.AddHistogram(Series{Source: "latency", Stream: "v1/latency"}, minute(3), histogram(1, 0, 0), false)
	require.NoError(t, err)
	assert.True(t, em.Resumed)
	assert.Equal(t, []uint64{1, 6, 4}, em.ResumedHistogram.Counts)
	assert.Equal(t, []uint64{2, 6, 4}, h.Counts)
	assert.Equal(t, uint64(12), h.Count)

	// A window at or before the newest counted one is never counted again.
	em, _, err = restored.AddSum(Series{Source: "requests", Stream: "v1/requests"}, minute(1), 10, false)
	assert.ErrorIs(t, err, ErrLateWindow)
	assert.False(t, em.Emit)

	// Gauges are not saved: the new collector writes the next minute's.
	assert.True(t, restored.AddGauge(one("cpu"), KindGauge, minute(3)).Emit)
}

func TestSavedStateIsTheSameBytesForTheSameState(t *testing.T) {
	acc, saved := savedAccumulator(t)
	assert.Equal(t, saved, acc.AppendState(nil))
	restored := New()
	require.NoError(t, restored.LoadState(saved))
	assert.Equal(t, saved, restored.AppendState(nil), "loading and saving again changes nothing")
}

func TestCorruptSavedStateIsAnErrorNeverAPanic(t *testing.T) {
	_, saved := savedAccumulator(t)
	for n := range len(saved) {
		acc := New()
		require.Error(t, acc.LoadState(saved[:n]), "truncated to %d bytes", n)
		sources, streams := acc.Len()
		assert.Zero(t, sources+streams, "nothing of corrupt state is kept")
	}
	require.Error(t, New().LoadState(append(append([]byte{}, saved...), 0)), "trailing bytes")
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		garbage := make([]byte, rng.IntN(200))
		for i := range garbage {
			garbage[i] = byte(rng.Uint32())
		}
		_ = New().LoadState(garbage)
		flipped := append([]byte{}, saved...)
		flipped[rng.IntN(len(flipped))] ^= byte(1 + rng.IntN(255))
		_ = New().LoadState(flipped)
	}
}

func TestDirtyTracksCumulativeChangesOnly(t *testing.T) {
	acc := New()
	acc.AddGauge(one("cpu"), KindGauge, minute(1))
	assert.False(t, acc.Dirty(), "a gauge is not saved")
	_, _, err := acc.AddSum(one("a"), minute(1), 1, false)
	require.NoError(t, err)
	assert.True(t, acc.Dirty())
	acc.ClearDirty()
	_, _, err = acc.AddSum(one("a"), minute(1), 1, false)
	require.NoError(t, err)
	assert.False(t, acc.Dirty(), "a re-scrape changes nothing")
	_, ok := acc.End("out/a")
	require.True(t, ok)
	assert.True(t, acc.Dirty())
}

func TestASourceWhoseOnlyWindowWasItsBaselineIsSaved(t *testing.T) {
	acc := New()
	_, _, err := acc.AddHistogram(one("latency"), minute(1), histogram(1, 2, 3), true)
	require.NoError(t, err)
	_, _, err = acc.AddSum(one("requests"), minute(1), 10, true)
	require.NoError(t, err)
	restored := New()
	require.NoError(t, restored.LoadState(acc.AppendState(nil)))
	em, _, err := restored.AddHistogram(one("latency"), minute(1), histogram(1, 2, 3), false)
	require.NoError(t, err)
	assert.False(t, em.Emit, "the baseline window is not counted after a restart either")
	em, total, err := restored.AddSum(one("requests"), minute(2), 4, false)
	require.NoError(t, err)
	assert.True(t, em.Opens)
	assert.Equal(t, 4.0, total)
}
