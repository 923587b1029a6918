// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

// Package accumulator turns Databricks' per-window values into cumulative series.
//
// Databricks reports request counts and latency histograms as the value of the last minute (despite the
// "_total" names), stamped with a minute-aligned timestamp. Prometheus rate()/increase() and Datadog counts need
// monotonic cumulative series, and the prometheusremotewrite exporter rejects delta temporality. So each series
// keeps a running total to which every window is added exactly once, keyed by the window's timestamp:
//
//   - a window already added (a re-scrape of the same minute) adds nothing and emits nothing;
//   - a window not seen before is added even when it is older than the newest one (it arrived late), and is
//     emitted at a timestamp after the last one emitted, because backends reject out-of-order samples;
//   - a window older than everything the series still remembers is dropped (ErrLateWindow): it may have been
//     added before and forgotten, and double counting is worse than losing a window that is this late;
//   - the values are per-window, so a smaller value never means a reset: a restarted endpoint simply reports
//     smaller windows and the total keeps growing.
//
// Every series opens with a zero point at its start timestamp, just before its first added window. Both
// backends need it to count that window: Prometheus sees the counter go from 0 to the window's value, and the
// Datadog exporter (which turns cumulative into delta and drops the first point of every series) then reports
// the first window as a delta instead of discarding it.
//
// A series first seen in a "baseline" observation (the receiver's first scrape of an endpoint after it starts)
// records that window without adding it: a previous collector instance may already have counted it, and the
// sample it wrote would then clash with ours. Counting starts with the next window, as it does for any counter
// a collector starts watching. Series that appear later (a new endpoint or served entity) count from their first
// window.
package accumulator // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/accumulator"

import (
	"errors"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// RememberedWindows is how many of its most recent window timestamps a series remembers to recognise
// re-scrapes and late windows. Databricks serves only the latest minute, so a handful is plenty.
const RememberedWindows = 8

// ErrLateWindow reports a window older than every window the series remembers, or not newer than its baseline:
// it is not added.
var ErrLateWindow = errors.New("window is older than every window the series remembers; not added")

// oneMillisecond separates a series' zero point from its first window, and a late window from the point before it.
const oneMillisecond = pcommon.Timestamp(time.Millisecond)

// Emission describes what the caller must emit after an observation.
type Emission struct {
	// Emit is false when the observation added nothing new (a re-scrape, a baseline or a dropped window).
	Emit bool
	// Opens is true when the series starts here: emit a zero point at Start before the point at Timestamp.
	Opens bool
	// Start is the series' start timestamp; every point of the series carries it.
	Start pcommon.Timestamp
	// Timestamp is the timestamp of the point to emit.
	Timestamp pcommon.Timestamp
}

// Accumulator holds the cumulative state of one endpoint's series. It is not safe for concurrent use: the
// receiver gives each endpoint its own and scrapes an endpoint from one goroutine at a time.
type Accumulator struct {
	sums       map[string]*sumSeries
	histograms map[string]*histogramSeries
	gauges     map[string]*gaugeSeries
	now        time.Time // time of the current scrape, for eviction
}

// New returns an empty accumulator.
func New() *Accumulator {
	return &Accumulator{
		sums:       map[string]*sumSeries{},
		histograms: map[string]*histogramSeries{},
		gauges:     map[string]*gaugeSeries{},
	}
}

// BeginScrape marks the series touched from now on as alive at now (see EvictIdle).
func (a *Accumulator) BeginScrape(now time.Time) { a.now = now }

// EvictIdle forgets series not observed since before cutoff, so endpoints whose served entities come and go do
// not grow memory without bound. A forgotten series that returns is counted again from its next window, with a
// new start timestamp (a reset that both backends handle).
// evicted, when not nil, is called with the key of every forgotten series.
func (a *Accumulator) EvictIdle(cutoff time.Time, evicted func(key string)) {
	for k, s := range a.sums {
		if s.touched.Before(cutoff) {
			delete(a.sums, k)
			notify(evicted, k)
		}
	}
	for k, s := range a.histograms {
		if s.touched.Before(cutoff) {
			delete(a.histograms, k)
			notify(evicted, k)
		}
	}
	for k, s := range a.gauges {
		if s.touched.Before(cutoff) {
			delete(a.gauges, k)
			notify(evicted, k)
		}
	}
}

func notify(fn func(string), key string) {
	if fn != nil {
		fn(key)
	}
}

// LastEmitted returns the timestamp of the last point emitted for key (0 when none), so a stale marker can be
// placed after it.
func (a *Accumulator) LastEmitted(key string) pcommon.Timestamp {
	if s, ok := a.sums[key]; ok {
		return s.lastEmitted
	}
	if s, ok := a.histograms[key]; ok {
		return s.lastEmitted
	}
	if g, ok := a.gauges[key]; ok {
		return g.lastEmitted
	}
	return 0
}

// Len returns how many series the accumulator holds.
func (a *Accumulator) Len() int { return len(a.sums) + len(a.histograms) + len(a.gauges) }

// windowLog is the bookkeeping every windowed series shares: which windows were added and what was emitted.
type windowLog struct {
	seen      [RememberedWindows]pcommon.Timestamp
	seenCount int // how many entries of seen are used
	next      int // ring position of the next entry
	// floor is the baseline window: it and every window before it may have been counted by a previous
	// collector, so they are never added.
	floor       pcommon.Timestamp
	start       pcommon.Timestamp
	lastEmitted pcommon.Timestamp
	touched     time.Time
}

// setBaseline records window as seen and as the floor below which nothing is added.
func (l *windowLog) setBaseline(window pcommon.Timestamp) {
	l.remember(window)
	l.floor = window
}

func (l *windowLog) hasSeen(window pcommon.Timestamp) bool {
	for i := 0; i < l.seenCount; i++ {
		if l.seen[i] == window {
			return true
		}
	}
	return false
}

func (l *windowLog) oldestSeen() pcommon.Timestamp {
	oldest := l.seen[0]
	for i := 1; i < l.seenCount; i++ {
		oldest = min(oldest, l.seen[i])
	}
	return oldest
}

func (l *windowLog) remember(window pcommon.Timestamp) {
	if l.seenCount == RememberedWindows {
		// Replace the oldest entry, so the ring always holds the newest windows even when one arrives late.
		oldestIdx := 0
		for i := 1; i < RememberedWindows; i++ {
			if l.seen[i] < l.seen[oldestIdx] {
				oldestIdx = i
			}
		}
		l.seen[oldestIdx] = window
		return
	}
	l.seen[l.next] = window
	l.next = (l.next + 1) % RememberedWindows
	l.seenCount++
}

// admit decides whether window is new for the series. It returns false without error for a re-scrape, and
// ErrLateWindow for a window older than every remembered one.
func (l *windowLog) admit(window pcommon.Timestamp) (bool, error) {
	if l.hasSeen(window) {
		return false, nil
	}
	if window <= l.floor || (l.seenCount == RememberedWindows && window < l.oldestSeen()) {
		return false, ErrLateWindow
	}
	l.remember(window)
	return true, nil
}

// stamp records an emission for an admitted window and returns it. reopen forces a new start (the histogram's
// bucket layout changed).
func (l *windowLog) stamp(window pcommon.Timestamp, reopen bool) Emission {
	e := Emission{Emit: true}
	if l.start == 0 || reopen {
		// Start just before the window, and after anything the series emitted before.
		l.start = window - oneMillisecond
		if l.lastEmitted != 0 {
			l.start = max(l.start, l.lastEmitted+oneMillisecond)
		}
		e.Opens = true
	}
	ts := max(window, l.start+oneMillisecond)
	if l.lastEmitted != 0 {
		ts = max(ts, l.lastEmitted+oneMillisecond)
	}
	l.lastEmitted = ts
	e.Start, e.Timestamp = l.start, ts
	return e
}
