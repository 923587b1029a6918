// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package accumulator

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// minute returns the timestamp of the n-th minute window of the test's epoch (2026-09-06T12:00:00Z).
func minute(n int) pcommon.Timestamp {
	return pcommon.NewTimestampFromTime(time.Date(2026, 9, 6, 12, n, 0, 0, time.UTC))
}

const ms = pcommon.Timestamp(time.Millisecond)

// one names a series whose source is always written to the same stream.
func one(key string) Series { return Series{Source: key, Stream: "out/" + key} }

type sumStep struct {
	series   string
	window   pcommon.Timestamp
	value    float64
	baseline bool

	wantEmit  bool
	wantOpens bool
	wantStart pcommon.Timestamp
	wantTS    pcommon.Timestamp
	wantTotal float64
	wantErr   error
}

func TestAddSum(t *testing.T) {
	tests := []struct {
		name  string
		steps []sumStep
	}{
		{
			name: "same minute twice is added once",
			steps: []sumStep{
				{series: "a", window: minute(1), value: 10, wantEmit: true, wantOpens: true, wantStart: minute(1) - ms, wantTS: minute(1), wantTotal: 10},
				{series: "a", window: minute(1), value: 10, wantTotal: 10},
				{series: "a", window: minute(2), value: 4, wantEmit: true, wantStart: minute(1) - ms, wantTS: minute(2), wantTotal: 14},
				{series: "a", window: minute(2), value: 4, wantTotal: 14},
			},
		},
		{
			name: "a missed minute leaves no gap in the total of what was seen",
			steps: []sumStep{
				{series: "a", window: minute(1), value: 10, wantEmit: true, wantOpens: true, wantStart: minute(1) - ms, wantTS: minute(1), wantTotal: 10},
				{series: "a", window: minute(3), value: 5, wantEmit: true, wantStart: minute(1) - ms, wantTS: minute(3), wantTotal: 15},
			},
		},
		{
			name: "an older minute arriving late is added once, after the newest point",
			steps: []sumStep{
				{series: "a", window: minute(1), value: 10, wantEmit: true, wantOpens: true, wantStart: minute(1) - ms, wantTS: minute(1), wantTotal: 10},
				{series: "a", window: minute(3), value: 5, wantEmit: true, wantStart: minute(1) - ms, wantTS: minute(3), wantTotal: 15},
				{series: "a", window: minute(2), value: 7, wantEmit: true, wantStart: minute(1) - ms, wantTS: minute(3) + ms, wantTotal: 22},
				{series: "a", window: minute(2), value: 7, wantTotal: 22},
				{series: "a", window: minute(4), value: 1, wantEmit: true, wantStart: minute(1) - ms, wantTS: minute(4), wantTotal: 23},
			},
		},
		{
			name: "a restarted endpoint reports smaller windows: no reset, the total keeps growing",
			steps: []sumStep{
				{series: "a", window: minute(1), value: 500, wantEmit: true, wantOpens: true, wantStart: minute(1) - ms, wantTS: minute(1), wantTotal: 500},
				{series: "a", window: minute(2), value: 480, wantEmit: true, wantStart: minute(1) - ms, wantTS: minute(2), wantTotal: 980},
				{series: "a", window: minute(3), value: 0, wantEmit: true, wantStart: minute(1) - ms, wantTS: minute(3), wantTotal: 980},
				{series: "a", window: minute(4), value: 3, wantEmit: true, wantStart: minute(1) - ms, wantTS: minute(4), wantTotal: 983},
			},
		},
		{
			name: "a new served entity counts from its first window",
			steps: []sumStep{
				{series: "champion", window: minute(1), value: 10, baseline: true, wantTotal: 0},
				{series: "champion", window: minute(2), value: 10, wantEmit: true, wantOpens: true, wantStart: minute(2) - ms, wantTS: minute(2), wantTotal: 10},
				{series: "challenger", window: minute(2), value: 3, wantEmit: true, wantOpens: true, wantStart: minute(2) - ms, wantTS: minute(2), wantTotal: 3},
				{series: "challenger", window: minute(3), value: 2, wantEmit: true, wantStart: minute(2) - ms, wantTS: minute(3), wantTotal: 5},
			},
		},
		{
			name: "a baseline window is remembered, not added, and not added when scraped again",
			steps: []sumStep{
				{series: "a", window: minute(1), value: 10, baseline: true},
				{series: "a", window: minute(1), value: 10},
				{series: "a", window: minute(2), value: 6, wantEmit: true, wantOpens: true, wantStart: minute(2) - ms, wantTS: minute(2), wantTotal: 6},
			},
		},
		{
			name: "invalid counts are rejected and change nothing",
			steps: []sumStep{
				{series: "a", window: minute(1), value: 10, wantEmit: true, wantOpens: true, wantStart: minute(1) - ms, wantTS: minute(1), wantTotal: 10},
				{series: "a", window: minute(2), value: math.NaN(), wantErr: errAny},
				{series: "a", window: minute(2), value: -1, wantErr: errAny},
				{series: "a", window: minute(2), value: math.Inf(1), wantErr: errAny},
				{series: "a", window: minute(2), value: 2, wantEmit: true, wantStart: minute(1) - ms, wantTS: minute(2), wantTotal: 12},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acc := New()
			for i, step := range tt.steps {
				em, total, err := acc.AddSum(one(step.series), step.window, step.value, step.baseline)
				if step.wantErr != nil {
					require.Error(t, err, "step %d", i)
					continue
				}
				require.NoError(t, err, "step %d", i)
				assert.Equal(t, step.wantEmit, em.Emit, "step %d: emit", i)
				if step.wantEmit {
					assert.Equal(t, step.wantOpens, em.Opens, "step %d: opens", i)
					assert.Equal(t, step.wantStart, em.Start, "step %d: start", i)
					assert.Equal(t, step.wantTS, em.Timestamp, "step %d: timestamp", i)
					assert.Equal(t, step.wantTotal, total, "step %d: total", i)
				}
			}
		})
	}
}

// errAny marks a step that must fail, whatever the message.
var errAny = assert.AnError

func TestNothingAtOrBeforeTheBaselineIsAdded(t *testing.T) {
	// A previous collector may have counted the baseline window and those before it.
	acc := New()
	_, _, err := acc.AddSum(one("a"), minute(5), 10, true)
	require.NoError(t, err)
	for _, older := range []pcommon.Timestamp{minute(4), minute(1)} {
		em, _, lateErr := acc.AddSum(one("a"), older, 3, false)
		require.ErrorIs(t, lateErr, ErrLateWindow)
		assert.False(t, em.Emit)
	}
	em, _, err := acc.AddSum(one("a"), minute(5), 3, false)
	require.NoError(t, err, "the baseline minute scraped again is a plain re-scrape")
	assert.False(t, em.Emit)
	em, total, err := acc.AddSum(one("a"), minute(6), 2, false)
	require.NoError(t, err)
	assert.True(t, em.Opens)
	assert.Equal(t, minute(6)-ms, em.Start)
	assert.Equal(t, 2.0, total)

	_, _, err = acc.AddHistogram(one("h"), minute(5), histogram(1, 1, 1), true)
	require.NoError(t, err)
	_, _, err = acc.AddHistogram(one("h"), minute(4), histogram(1, 1, 1), false)
	require.ErrorIs(t, err, ErrLateWindow)
}

func TestAddSumTooLateWindowIsDropped(t *testing.T) {
	acc := New()
	for n := 10; n < 10+RememberedWindows; n++ {
		_, _, err := acc.AddSum(one("a"), minute(n), 1, false)
		require.NoError(t, err)
	}
	em, total, err := acc.AddSum(one("a"), minute(9), 100, false)
	require.ErrorIs(t, err, ErrLateWindow)
	assert.False(t, em.Emit)
	assert.Equal(t, float64(RememberedWindows), total, "a window too old to tell apart must not be added")

	// A late window newer than the oldest remembered one is still added.
	em, total, err = acc.AddSum(one("a"), minute(10)+30*pcommon.Timestamp(time.Second), 5, false)
	require.NoError(t, err)
	assert.True(t, em.Emit)
	assert.Equal(t, float64(RememberedWindows+5), total)
}

func TestTimestampsOfASeriesStrictlyIncrease(t *testing.T) {
	// Backends reject out-of-order samples, so whatever order windows arrive in, emitted points must ascend.
	acc := New()
	order := []int{5, 3, 6, 4, 8, 7, 9}
	var last pcommon.Timestamp
	for _, n := range order {
		em, _, err := acc.AddSum(one("a"), minute(n), 1, false)
		require.NoError(t, err)
		require.True(t, em.Emit)
		if em.Opens {
			require.Greater(t, em.Timestamp, em.Start)
		}
		require.Greater(t, em.Timestamp, last, "window %d", n)
		last = em.Timestamp
	}
}

func histogram(counts ...uint64) Histogram {
	h := Histogram{Bounds: []float64{10, 100}, Counts: counts}
	for i, c := range counts {
		h.Count += c
		h.Sum += float64(c) * []float64{5, 50, 500}[i]
	}
	return h
}

func TestAddHistogram(t *testing.T) {
	acc := New()

	_, _, err := acc.AddHistogram(one("lat"), minute(1), histogram(1, 2, 3), true)
	require.NoError(t, err)

	em, total, err := acc.AddHistogram(one("lat"), minute(2), histogram(4, 0, 1), false)
	require.NoError(t, err)
	require.True(t, em.Emit)
	assert.True(t, em.Opens)
	assert.Equal(t, minute(2)-ms, em.Start)
	assert.Equal(t, []uint64{4, 0, 1}, total.Counts)
	assert.Equal(t, uint64(5), total.Count)
	assert.Equal(t, 4*5.0+500, total.Sum)

	em, _, err = acc.AddHistogram(one("lat"), minute(2), histogram(4, 0, 1), false)
	require.NoError(t, err)
	assert.False(t, em.Emit, "the same minute scraped again adds nothing")

	em, total, err = acc.AddHistogram(one("lat"), minute(3), histogram(0, 2, 0), false)
	require.NoError(t, err)
	assert.True(t, em.Emit)
	assert.False(t, em.Opens)
	assert.Equal(t, []uint64{4, 2, 1}, total.Counts)
	assert.Equal(t, uint64(7), total.Count)
	assert.Equal(t, 4*5.0+500+2*50, total.Sum)

	// A new bucket layout restarts the series after its last point.
	changed := Histogram{Bounds: []float64{10, 100, 1000}, Counts: []uint64{1, 1, 1, 0}, Count: 3, Sum: 555}
	em, total, err = acc.AddHistogram(one("lat"), minute(4), changed, false)
	require.NoError(t, err)
	assert.True(t, em.Opens)
	assert.Greater(t, em.Start, minute(3), "the restarted series must start after the last emitted point")
	assert.Equal(t, minute(4), em.Timestamp)
	assert.Equal(t, []uint64{1, 1, 1, 0}, total.Counts)
}

func TestAddHistogramRejectsMalformedWindows(t *testing.T) {
	acc := New()
	bad := []Histogram{
		{Bounds: []float64{10}, Counts: []uint64{1}, Count: 1},                             // bucket missing
		{Bounds: []float64{10, 5}, Counts: []uint64{1, 1, 1}, Count: 3},                    // bounds not increasing
		{Bounds: []float64{10}, Counts: []uint64{1, 1}, Count: 5},                          // count disagrees with buckets
		{Bounds: []float64{10}, Counts: []uint64{1, 1}, Count: 2, Sum: math.Inf(1)},        // sum not finite
		{Bounds: []float64{10}, Counts: []uint64{1, 1}, Count: 2, Sum: math.NaN()},         // sum not finite
		{Bounds: []float64{math.NaN(), 10}, Counts: []uint64{1, 1, 1}, Count: 3, Sum: 1},   // NaN bound
		{Bounds: []float64{math.NaN()}, Counts: []uint64{1, 1}, Count: 2, Sum: 1},          // a single NaN bound
		{Bounds: []float64{math.Inf(-1), 10}, Counts: []uint64{1, 1, 1}, Count: 3, Sum: 1}, // -Inf bound
		{Bounds: []float64{5, 5}, Counts: []uint64{1, 1, 1}, Count: 3, Sum: 1},             // a bound repeated
	}
	for i, h := range bad {
		_, _, err := acc.AddHistogram(one("lat"), minute(i+1), h, false)
		assert.Error(t, err, "case %d", i)
	}
	sources, streams := acc.Len()
	assert.Equal(t, 0, sources+streams, "a rejected window creates no series")
}

func TestAddGauge(t *testing.T) {
	acc := New()
	gauge := func(key string, window pcommon.Timestamp) bool { return acc.AddGauge(one(key), KindGauge, window).Emit }
	assert.True(t, gauge("cpu", minute(1)))
	assert.False(t, gauge("cpu", minute(1)), "a re-scraped minute is emitted once")
	assert.False(t, gauge("cpu", minute(0)), "an older sample would be out of order")
	assert.True(t, gauge("cpu", minute(2)))
	assert.True(t, gauge("mem", minute(1)), "series are independent")
}

func TestEvictIdle(t *testing.T) {
	acc := New()
	start := time.Date(2026, 9, 6, 12, 0, 0, 0, time.UTC)
	acc.BeginScrape(start)
	_, _, _ = acc.AddSum(one("gone"), minute(1), 1, false)
	acc.AddGauge(one("gone-gauge"), KindGauge, minute(1))
	_, _, _ = acc.AddHistogram(one("gone-hist"), minute(1), histogram(1, 0, 0), false)
	acc.BeginScrape(start.Add(time.Hour))
	_, _, _ = acc.AddSum(one("alive"), minute(2), 1, false)
	sources, streams := acc.Len()
	require.Equal(t, 4, sources)
	require.Equal(t, 4, streams)

	var evicted []string
	acc.EvictIdle(start.Add(30*time.Minute), func(key string) { evicted = append(evicted, key) })
	sources, streams = acc.Len()
	assert.Equal(t, 1, sources)
	assert.Equal(t, 1, streams)
	assert.ElementsMatch(t, []string{"out/gone", "out/gone-gauge", "out/gone-hist"}, evicted)
	assert.Zero(t, acc.LastWritten("out/gone"))
	assert.Equal(t, minute(2), acc.LastWritten("out/alive"))

	// A forgotten series that returns starts over after its old points.
	em, total, err := acc.AddSum(one("gone"), minute(61), 2, false)
	require.NoError(t, err)
	assert.True(t, em.Opens)
	assert.Equal(t, 2.0, total)
}

func TestASourceMovedToAnotherStreamEndsTheOldOneAndNeverCountsAWindowTwice(t *testing.T) {
	// A new version of a served entity: the same Databricks series, now written under other labels.
	acc := New()
	v3 := Series{Source: "requests", Stream: "v3/requests"}
	v4 := Series{Source: "requests", Stream: "v4/requests"}
	_, _, err := acc.AddSum(v3, minute(1), 10, false)
	require.NoError(t, err)
	_, total, err := acc.AddSum(v3, minute(2), 5, false)
	require.NoError(t, err)
	require.Equal(t, 15.0, total)

	em, total, err := acc.AddSum(v4, minute(2), 5, false)
	require.NoError(t, err)
	assert.False(t, em.Emit, "minute 2 was counted under v3: it is not counted again under v4")
	assert.Equal(t, "v3/requests", em.Ended, "the old stream ends")
	assert.Equal(t, minute(2)+ms, em.EndedAt, "its stale marker follows its last point")
	assert.False(t, acc.Open("v3/requests"))
	assert.Zero(t, total, "the new stream has counted nothing yet")

	em, total, err = acc.AddSum(v4, minute(3), 7, false)
	require.NoError(t, err)
	assert.True(t, em.Emit)
	assert.True(t, em.Opens, "the new stream opens with a zero point")
	assert.Empty(t, em.Ended, "the old stream was ended once")
	assert.Equal(t, minute(3)-ms, em.Start)
	assert.Equal(t, 7.0, total, "the streams add up: 15 + 7 is what was served after the first window")

	// The labels flip back: the old stream starts again from zero, after its stale marker.
	em, _, err = acc.AddSum(v3, minute(3), 7, false)
	require.NoError(t, err)
	assert.False(t, em.Emit)
	assert.Equal(t, "v4/requests", em.Ended)
	em, total, err = acc.AddSum(v3, minute(4), 1, false)
	require.NoError(t, err)
	assert.True(t, em.Opens)
	assert.Equal(t, 1.0, total)
	assert.Greater(t, em.Start, minute(2)+ms, "a restarted stream starts after everything it wrote, stale marker included")
}

func TestAStreamEndedBeforeItsNextWindowStartsAfterItsStaleMarker(t *testing.T) {
	// An endpoint leaves the list (stale markers at the collector's clock) and returns within the minute.
	acc := New()
	a := one("a")
	acc.BeginScrape(minute(2).AsTime().Add(40 * time.Second))
	_, _, err := acc.AddSum(a, minute(2), 3, false)
	require.NoError(t, err)
	at, ok := acc.End(a.Stream)
	require.True(t, ok)
	assert.Equal(t, minute(2)+pcommon.Timestamp(40*time.Second), at, "stale marker at the scrape's time, after the last point")
	_, ok = acc.End(a.Stream)
	assert.False(t, ok, "a closed stream gets one stale marker")

	em, total, err := acc.AddSum(a, minute(2)+pcommon.Timestamp(30*time.Second), 4, false)
	require.NoError(t, err)
	assert.True(t, em.Opens)
	assert.Greater(t, em.Start, at, "the zero point follows the stale marker")
	assert.Greater(t, em.Timestamp, em.Start)
	assert.Equal(t, 4.0, total)

	g := one("g")
	acc.AddGauge(g, KindGauge, minute(2))
	gAt, ok := acc.End(g.Stream)
	require.True(t, ok)
	em = acc.AddGauge(g, KindGauge, minute(2)+ms)
	assert.True(t, em.Emit)
	assert.Greater(t, em.Timestamp, gAt, "a gauge point after a stale marker is written after it")
}

func TestATypeChangeEndsTheSeriesAndStartsANewOne(t *testing.T) {
	acc := New()
	asGauge := Series{Source: "custom", Stream: "gauge/custom"}
	asSum := Series{Source: "custom", Stream: "sum/custom"}
	asHistogram := Series{Source: "custom", Stream: "histogram/custom"}
	require.True(t, acc.AddGauge(asGauge, KindGauge, minute(1)).Emit)

	em, total, err := acc.AddSum(asSum, minute(2), 40, false)
	require.NoError(t, err)
	assert.Equal(t, "gauge/custom", em.Ended)
	assert.True(t, em.Emit, "the first window of the counter counts")
	assert.True(t, em.Opens)
	assert.Equal(t, 40.0, total, "the gauge's values are never part of the total")

	em, h, err := acc.AddHistogram(asHistogram, minute(3), histogram(1, 2, 3), false)
	require.NoError(t, err)
	assert.Equal(t, "sum/custom", em.Ended)
	assert.True(t, em.Opens)
	assert.Equal(t, uint64(6), h.Count)

	// Back to a counter: a new stream, from zero, counting the new window.
	em, total, err = acc.AddSum(asSum, minute(4), 9, false)
	require.NoError(t, err)
	assert.Equal(t, "histogram/custom", em.Ended)
	assert.True(t, em.Opens)
	assert.Equal(t, 9.0, total)
}

func TestResetKeepsOnlyWhereEachStreamStopped(t *testing.T) {
	acc := New()
	a := one("a")
	_, _, err := acc.AddSum(a, minute(1), 10, false)
	require.NoError(t, err)
	acc.Reset()
	assert.False(t, acc.Open(a.Stream))
	assert.Equal(t, minute(1), acc.LastWritten(a.Stream))
	// Clean state: the minute is new again (the receiver treats the next scrape as a baseline, so it is not
	// added again), and the stream starts again after its last point.
	em, _, err := acc.AddSum(a, minute(1), 10, true)
	require.NoError(t, err)
	assert.False(t, em.Emit)
	em, total, err := acc.AddSum(a, minute(2), 5, false)
	require.NoError(t, err)
	assert.True(t, em.Opens)
	assert.Greater(t, em.Start, minute(1))
	assert.Equal(t, 5.0, total)
}

func TestAFamilyWhoseTypeFlipsBackNeverCountsAWindowAgain(t *testing.T) {
	acc := New()
	asSum := Series{Source: "custom", Stream: "sum/custom"}
	asGauge := Series{Source: "custom", Stream: "gauge/custom"}
	_, total, err := acc.AddSum(asSum, minute(1), 40, false)
	require.NoError(t, err)
	require.Equal(t, 40.0, total)
	require.True(t, acc.AddGauge(asGauge, KindGauge, minute(1)).Emit, "as a gauge, minute 1 is new")
	em, total, err := acc.AddSum(asSum, minute(1), 40, false)
	require.NoError(t, err)
	assert.False(t, em.Emit, "minute 1 was counted when the family was a counter before")
	assert.Zero(t, total, "the counter's stream started again from zero")
	assert.False(t, acc.AddGauge(asGauge, KindGauge, minute(1)).Emit, "and was written as a gauge before")
}
