// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package accumulator

// Tests named for one behaviour each, written so that the one-line mutation of that behaviour fails them (see
// docs/development.md, "Mutation testing").

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// When the ring of remembered windows is full, a new window replaces the oldest: every one of the newest
// RememberedWindows windows scraped again adds nothing, and the one that fell out is too late to add.
func TestTheWindowRingForgetsTheOldestWindowNotTheNewest(t *testing.T) {
	for _, kind := range []string{"sum", "histogram"} {
		t.Run(kind, func(t *testing.T) {
			acc := New()
			add := func(n int) (Emission, error) {
				if kind == "sum" {
					em, _, err := acc.AddSum(one("a"), minute(n), 1, false)
					return em, err
				}
				em, _, err := acc.AddHistogram(one("a"), minute(n), histogram(1, 0, 0), false)
				return em, err
			}
			// Windows 1..RememberedWindows+3 in order: the ring keeps the last RememberedWindows of them.
			last := RememberedWindows + 3
			for n := 1; n <= last; n++ {
				em, err := add(n)
				require.NoError(t, err)
				require.True(t, em.Emit, "window %d", n)
			}
			// Every remembered window scraped again (late repeats, oldest first, then newest first) is a re-scrape.
			for n := last - RememberedWindows + 1; n <= last; n++ {
				em, err := add(n)
				require.NoError(t, err, "window %d is remembered", n)
				assert.False(t, em.Emit, "window %d scraped again was added a second time", n)
			}
			for n := last; n > last-RememberedWindows; n-- {
				em, err := add(n)
				require.NoError(t, err)
				assert.False(t, em.Emit, "window %d scraped again was added a second time", n)
			}
			// The windows that fell out of the ring are dropped as too late, never added again.
			for n := 1; n <= last-RememberedWindows; n++ {
				em, err := add(n)
				require.ErrorIs(t, err, ErrLateWindow, "window %d", n)
				assert.False(t, em.Emit)
			}
		})
	}
	t.Run("a late window that arrives when the ring is full takes the oldest slot", func(t *testing.T) {
		acc := New()
		// Windows 1..8 but 5: 4 is the window that arrives late, after 9.
		for _, n := range []int{1, 2, 3, 4, 6, 7, 8, 9} {
			_, _, err := acc.AddSum(one("a"), minute(n), 1, false)
			require.NoError(t, err)
		}
		em, total, err := acc.AddSum(one("a"), minute(5), 10, false)
		require.NoError(t, err)
		require.True(t, em.Emit)
		require.Equal(t, 18.0, total)
		for _, n := range []int{2, 3, 4, 5, 6, 7, 8, 9} {
			em, total, err = acc.AddSum(one("a"), minute(n), 10, false)
			require.NoError(t, err, "window %d", n)
			assert.False(t, em.Emit, "window %d scraped again was added a second time", n)
			assert.Equal(t, 18.0, total)
		}
		_, _, err = acc.AddSum(one("a"), minute(1), 10, false)
		require.ErrorIs(t, err, ErrLateWindow, "window 1, the oldest, fell out of the ring")
	})
}

// A series first seen in a scrape that is not a baseline counts its first window; one first seen in a baseline
// does not. The flag is the caller's, per observation: it says nothing about other series.
func TestOnlyASeriesFirstSeenInABaselineSkipsItsFirstWindow(t *testing.T) {
	acc := New()
	em, total, err := acc.AddSum(one("old"), minute(1), 7, true)
	require.NoError(t, err)
	assert.False(t, em.Emit)
	assert.Zero(t, total)
	em, total, err = acc.AddSum(one("new"), minute(2), 5, false)
	require.NoError(t, err)
	assert.True(t, em.Emit, "a series that appears after the baseline counts its first window")
	assert.True(t, em.Opens)
	assert.Equal(t, 5.0, total)
	// The baseline flag on a series already known changes nothing: its windows count.
	em, total, err = acc.AddSum(one("old"), minute(2), 3, true)
	require.NoError(t, err)
	assert.True(t, em.Emit)
	assert.Equal(t, 3.0, total)

	_, h, err := acc.AddHistogram(one("new-h"), minute(2), histogram(1, 2, 3), false)
	require.NoError(t, err)
	assert.Equal(t, uint64(6), h.Count, "a histogram that appears after the baseline counts its first window")
}

// A stream's stale marker comes after its last point, also when Databricks' clock runs ahead of the
// collector's (windows up to 10 minutes ahead are accepted): a marker at the collector's clock would land
// before the last point, which backends reject as out of order.
func TestAStaleMarkerFollowsTheLastPointWhenTheWorkspaceClockRunsAhead(t *testing.T) {
	now := minute(10).AsTime()
	ahead := minute(15) // Databricks' clock is 5 minutes ahead
	for _, tc := range []struct {
		name string
		end  func(acc *Accumulator) (pcommon.Timestamp, bool)
	}{
		{"ended by the caller", func(acc *Accumulator) (pcommon.Timestamp, bool) { return acc.End("out/a") }},
		{"ended by a move to another stream", func(acc *Accumulator) (pcommon.Timestamp, bool) {
			em, _, err := acc.AddSum(Series{Source: "a", Stream: "out/a-v2"}, ahead+pcommon.Timestamp(time.Minute), 1, false)
			require.NoError(t, err)
			return em.EndedAt, em.Ended == "out/a"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acc := New()
			acc.BeginScrape(now)
			em, _, err := acc.AddSum(one("a"), ahead, 4, false)
			require.NoError(t, err)
			require.Equal(t, ahead, em.Timestamp)
			at, ended := tc.end(acc)
			require.True(t, ended)
			assert.Greater(t, at, ahead, "the stale marker is after the stream's last point")
			assert.Equal(t, ahead+ms, at)
			assert.Equal(t, at, acc.LastWritten("out/a"))
		})
	}
	t.Run("a marker is not before the scrape's time either", func(t *testing.T) {
		acc := New()
		acc.BeginScrape(now)
		_, _, err := acc.AddSum(one("a"), minute(8), 4, false)
		require.NoError(t, err)
		at, ended := acc.End("out/a")
		require.True(t, ended)
		assert.Equal(t, pcommon.NewTimestampFromTime(now), at)
	})
}

// A source whose ring of windows is full saves its newest window, and a restored source counts only windows
// after it.
func TestAFullRingSavesItsNewestWindow(t *testing.T) {
	acc := New()
	for n := 1; n <= RememberedWindows+2; n++ {
		_, _, err := acc.AddSum(one("a"), minute(n), 1, false)
		require.NoError(t, err)
	}
	restored := New()
	require.NoError(t, restored.LoadState(acc.AppendState(nil), minute(20).AsTime()))
	em, _, err := restored.AddSum(one("a"), minute(RememberedWindows+2), 1, false) // the floor
	require.NoError(t, err, "the newest window saved, scraped again, is a re-scrape")
	assert.False(t, em.Emit)
	_, _, err = restored.AddSum(one("a"), minute(RememberedWindows+1), 1, false)
	require.ErrorIs(t, err, ErrLateWindow, "nothing before the newest window saved is added")
	em, total, err := restored.AddSum(one("a"), minute(RememberedWindows+3), 1, false)
	require.NoError(t, err)
	assert.True(t, em.Emit)
	assert.Equal(t, float64(RememberedWindows+3), total)
}

// A window that arrives late, after the ring has wrapped, is still counted when it is newer than the oldest window
// the ring remembers, wherever in the ring that oldest window sits.
func TestALateWindowNewerThanTheOldestRememberedIsCountedAfterTheRingWrapped(t *testing.T) {
	acc := New()
	// Windows 1..10 but 5: 10 replaces window 1, so the oldest remembered (2) is no longer in the ring's first slot.
	for _, n := range []int{1, 2, 3, 4, 6, 7, 8, 9, 10} {
		_, _, err := acc.AddSum(one("a"), minute(n), 1, false)
		require.NoError(t, err)
	}
	em, total, err := acc.AddSum(one("a"), minute(5), 10, false)
	require.NoError(t, err, "window 5 is newer than window 2, the oldest remembered")
	assert.True(t, em.Emit)
	assert.Equal(t, 19.0, total)
	_, _, err = acc.AddSum(one("a"), minute(2), 10, false)
	require.ErrorIs(t, err, ErrLateWindow, "window 5 took window 2's place: 2 is now older than every window remembered")
}

// Ending a cumulative stream changes what is saved (the stream is closed); ending a gauge does not.
func TestEndingAStreamMakesTheStateDirtyOnlyForCumulativeKinds(t *testing.T) {
	acc := New()
	acc.AddGauge(one("cpu"), KindGauge, minute(1))
	_, _, err := acc.AddHistogram(one("latency"), minute(1), histogram(1, 0, 0), false)
	require.NoError(t, err)
	_, _, err = acc.AddSum(one("requests"), minute(1), 1, false)
	require.NoError(t, err)
	acc.ClearDirty()
	_, ok := acc.End("out/cpu")
	require.True(t, ok)
	assert.False(t, acc.Dirty(), "a gauge is not saved: ending it leaves nothing to save")
	for _, key := range []string{"out/latency", "out/requests"} {
		_, ok = acc.End(key)
		require.True(t, ok)
		assert.True(t, acc.Dirty(), "%s ended", key)
		acc.ClearDirty()
	}
}
