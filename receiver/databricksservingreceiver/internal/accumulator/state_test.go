// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package accumulator

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
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
	require.NoError(t, restored.LoadState(saved, time.Now()))

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
	require.NoError(t, restored.LoadState(saved, time.Now()))
	assert.Equal(t, saved, restored.AppendState(nil), "loading and saving again changes nothing")
}

func TestCorruptSavedStateIsAnErrorNeverAPanic(t *testing.T) {
	_, saved := savedAccumulator(t)
	for n := range len(saved) {
		acc := New()
		require.Error(t, acc.LoadState(saved[:n], time.Now()), "truncated to %d bytes", n)
		sources, streams := acc.Len()
		assert.Zero(t, sources+streams, "nothing of corrupt state is kept")
	}
	require.Error(t, New().LoadState(append(append([]byte{}, saved...), 0), time.Now()), "trailing bytes")
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		garbage := make([]byte, rng.IntN(200))
		for i := range garbage {
			garbage[i] = byte(rng.Uint32())
		}
		_ = New().LoadState(garbage, time.Now())
		flipped := append([]byte{}, saved...)
		flipped[rng.IntN(len(flipped))] ^= byte(1 + rng.IntN(255))
		_ = New().LoadState(flipped, time.Now())
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
	require.NoError(t, restored.LoadState(acc.AppendState(nil), time.Now()))
	em, _, err := restored.AddHistogram(one("latency"), minute(1), histogram(1, 2, 3), false)
	require.NoError(t, err)
	assert.False(t, em.Emit, "the baseline window is not counted after a restart either")
	em, total, err := restored.AddSum(one("requests"), minute(2), 4, false)
	require.NoError(t, err)
	assert.True(t, em.Opens)
	assert.Equal(t, 4.0, total)
}

func TestStateThatDecodesButCannotBeUsedIsCorrupt(t *testing.T) {
	// An open histogram stream without buckets, a source whose kind is not its stream's, a timestamp in the
	// future: each decodes, and each would break the accumulator that used it.
	stream := func(kind Kind, open byte, lastWritten uint64, histogramCounts int) []byte {
		b := appendString(nil, "s1")
		b = append(b, byte(kind), open)
		b = binary.AppendUvarint(b, uint64(minute(1)))
		b = binary.AppendUvarint(b, lastWritten)
		if kind == KindSum {
			return binary.LittleEndian.AppendUint64(b, 0)
		}
		b = binary.AppendUvarint(b, 0) // layout 0
		b = binary.AppendUvarint(b, uint64(histogramCounts))
		for range histogramCounts {
			b = binary.AppendUvarint(b, 0)
		}
		b = binary.LittleEndian.AppendUint64(b, 0)
		return binary.AppendUvarint(b, 0)
	}
	state := func(st []byte, sourceKind Kind, layouts int) []byte {
		b := binary.AppendUvarint(nil, 1)
		b = append(b, st...)
		b = binary.AppendUvarint(b, 1)
		b = appendString(b, "source")
		b = append(b, byte(sourceKind))
		b = binary.AppendUvarint(b, uint64(minute(1)))
		b = binary.AppendUvarint(b, 0)
		b = binary.AppendUvarint(b, uint64(layouts))
		for range layouts {
			b = binary.AppendUvarint(b, 0) // a layout of no bounds: one bucket
		}
		return b
	}
	now := minute(3).AsTime()
	require.NoError(t, New().LoadState(state(stream(KindSum, 1, uint64(minute(1)), 0), KindSum, 0), now), "the well-formed case loads")
	for name, b := range map[string][]byte{
		"open histogram without buckets":  state(stream(KindHistogram, 1, uint64(minute(1)), 0), KindHistogram, 0),
		"source and stream kinds differ":  state(stream(KindSum, 1, uint64(minute(1)), 0), KindHistogram, 0),
		"last written in the future":      state(stream(KindSum, 1, uint64(minute(3)+pcommon.Timestamp(2*time.Hour)), 0), KindSum, 0),
		"bucket count not the layout's+1": state(stream(KindHistogram, 1, uint64(minute(1)), 3), KindHistogram, 1),
	} {
		assert.Error(t, New().LoadState(b, now), name)
	}
}

func TestRestoredStateIsNotEvictedBeforeItCouldBeSeen(t *testing.T) {
	_, saved := savedAccumulator(t)
	restored := New()
	now := minute(5).AsTime()
	require.NoError(t, restored.LoadState(saved, now))
	restored.BeginScrape(now)
	restored.EvictIdle(now.Add(-30*time.Minute), nil)
	sources, streams := restored.Len()
	assert.NotZero(t, sources, "restored sources count as seen at the load")
	assert.NotZero(t, streams)
}

// Histogram streams of the same bounds (every served entity's latency) save their bounds once: the saved state of
// a thousand endpoints stays small.
func TestHistogramsOfTheSameBoundsSaveTheirBoundsOnce(t *testing.T) {
	size := func(streams int) int {
		acc := New()
		for i := range streams {
			_, _, err := acc.AddHistogram(one(string(rune('a'+i))), minute(1), histogram(1, 2, 3), false)
			require.NoError(t, err)
		}
		return len(acc.AppendState(nil))
	}
	single, double := size(1), size(2)
	// One stream saves three counts (streams, sources, layouts: a byte each), its stream and source entries, and
	// one layout (its length, a byte, and two bounds of 8 bytes). A second stream of keys as long adds its
	// stream and source entries, not its bounds again.
	entries := single - 3 - (1 + 16)
	assert.Equal(t, entries, double-single, "one stream: %d bytes, two: %d", single, double)
	restored := New()
	acc := New()
	_, _, err := acc.AddHistogram(Series{Source: "a", Stream: "a"}, minute(1), histogram(1, 2, 3), false)
	require.NoError(t, err)
	_, _, err = acc.AddHistogram(Series{Source: "b", Stream: "b"}, minute(1), histogram(4, 5, 6), false)
	require.NoError(t, err)
	require.NoError(t, restored.LoadState(acc.AppendState(nil), minute(2).AsTime()))
	for key, want := range map[string]Histogram{"a": histogram(1, 2, 3), "b": histogram(4, 5, 6)} {
		em, total, err := restored.AddHistogram(Series{Source: key, Stream: key}, minute(2), histogram(0, 0, 1), false)
		require.NoError(t, err)
		require.True(t, em.Resumed)
		assert.Equal(t, want.Bounds, em.ResumedHistogram.Bounds, key)
		assert.Equal(t, want.Counts, em.ResumedHistogram.Counts, key)
		assert.Equal(t, want.Count+1, total.Count, key)
	}
}

// A timestamp up to maxSavedSkew after the load's time is plausible (a workspace clock ahead of the collector's);
// one a nanosecond later makes the state corrupt.
func TestSavedTimestampsMayLieExactlyMaxSavedSkewAhead(t *testing.T) {
	acc := New()
	_, _, err := acc.AddSum(one("a"), minute(1), 1, false)
	require.NoError(t, err)
	saved := acc.AppendState(nil)
	last := acc.LastWritten("out/a").AsTime()
	require.NoError(t, New().LoadState(saved, last.Add(-maxSavedSkew)))
	require.ErrorIs(t, New().LoadState(saved, last.Add(-maxSavedSkew-time.Nanosecond)), errCorrupt)
}

// The reader's primitives: a count is refused before anything is allocated when its items cannot fit in what is
// left, and the last byte of a state is read like any other.
func TestStateReaderBoundsEveryRead(t *testing.T) {
	r := &stateReader{b: binary.AppendUvarint(nil, 2)}
	r.b = append(r.b, make([]byte, 15)...)
	assert.Equal(t, 0, r.count(8), "two items of 8 bytes do not fit in 15")
	require.ErrorIs(t, r.err, errCorrupt)
	r = &stateReader{b: append(binary.AppendUvarint(nil, 2), make([]byte, 16)...)}
	assert.Equal(t, 2, r.count(8), "two items of 8 bytes fit in 16")
	require.NoError(t, r.err)
	r = &stateReader{b: []byte{7}}
	assert.Equal(t, byte(7), r.byte())
	require.NoError(t, r.err)
	assert.Equal(t, byte(0), r.byte())
	require.ErrorIs(t, r.err, errCorrupt)
}

// The receiver's own metrics (Clock streams) are stamped with its clock on every scrape, Databricks' samples with
// their minute: the two marks are kept apart, saved with the streams, and a restored accumulator starts each kind
// of new stream after its own mark.
func TestClockStreamsAndSampleStreamsHaveMarksOfTheirOwn(t *testing.T) {
	acc := New()
	scrapedAt := minute(2) + 69*ms // just after minute 2 ended, before it was published
	acc.AddGauge(one("cpu"), KindGauge, minute(1))
	acc.AddGauge(Series{Source: "up", Stream: "up", Clock: true}, KindGauge, scrapedAt)
	acc.AddComputedSum(Series{Source: "missed", Stream: "missed", Clock: true}, scrapedAt, 0)
	samples, all := acc.WrittenUpTo()
	assert.Equal(t, minute(1), samples)
	assert.Equal(t, scrapedAt, all)

	restored := New()
	require.NoError(t, restored.LoadState(acc.AppendState(nil), time.Now()))
	restored.SetNotBefore(samples, all)
	gotSamples, gotAll := restored.WrittenUpTo()
	assert.Equal(t, samples, gotSamples, "the saved Clock stream (missed) stays out of the samples' mark")
	assert.Equal(t, all, gotAll)

	em := restored.AddGauge(one("cpu"), KindGauge, minute(2))
	assert.Equal(t, minute(2), em.Timestamp, "minute 2's sample is stamped with minute 2")
	em = restored.AddGauge(Series{Source: "up", Stream: "up", Clock: true}, KindGauge, minute(2)+10*ms)
	assert.Equal(t, scrapedAt+ms, em.Timestamp, "a Clock stream starts after the clock's mark (a clock behind)")
}

// State saved before streams carried the Clock flag restores a Clock stream without it: its first observation
// sets it, so the receiver's clock does not move the samples' mark (which would rewrite the endpoint's saved
// state on every cycle and delay the next minute's samples after a restart).
func TestAClockStreamRestoredWithoutItsFlagGetsItBack(t *testing.T) {
	acc := New()
	missed := Series{Source: "missed", Stream: "missed"}
	acc.AddGauge(one("cpu"), KindGauge, minute(1))
	acc.AddComputedSum(missed, minute(1)+500*ms, 0) // saved as by a receiver without the flag
	restored := New()
	require.NoError(t, restored.LoadState(acc.AppendState(nil), time.Now()))
	restored.SetNotBefore(minute(1), minute(1)+500*ms)

	missed.Clock = true
	for n := range 2 {
		restored.AddComputedSum(missed, minute(2)+pcommon.Timestamp(n)*30*ms, 0)
	}
	samples, all := restored.WrittenUpTo()
	assert.Equal(t, minute(1), samples, "the Clock stream stays out of the samples' mark")
	assert.Equal(t, minute(2)+30*ms, all)
	again := New()
	require.NoError(t, again.LoadState(restored.AppendState(nil), time.Now()))
	samples, _ = again.WrittenUpTo()
	assert.Zero(t, samples, "and it is saved with the flag")
}
