// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

// Package accumulator turns Databricks' per-window values into cumulative series.
//
// Databricks reports request counts and latency histograms as the value of the last minute (despite the
// "_total" names), stamped with a minute-aligned timestamp. Prometheus rate()/increase() and Datadog counts need
// monotonic cumulative series, and the prometheusremotewrite exporter rejects delta temporality. So each series
// keeps a running total to which every window is added exactly once.
//
// # Sources and streams
//
// Every observation names two things (Series):
//
//   - its source, the series as Databricks served it: the endpoint's family and exposition labels. Which
//     windows were counted is remembered per source, so a window is counted once whatever happens to the
//     labels the receiver adds;
//   - its stream, the output series it is written to: the resource (served entity, version, tags...), the
//     metric, its attributes and its type. The running total, the start timestamp and the last timestamp
//     written belong to the stream.
//
// A source is written to one stream at a time. When its samples start going to another stream (a new version,
// tag or workload size changes the resource, or the family changes type), the old stream ends: the caller writes
// a stale marker after its last point (Emission.Ended), and the new stream starts from zero with its own start
// timestamp. Summed over its streams, a source's totals therefore count every window once. A stream that
// ends and later starts again (the labels flip back) restarts from zero after everything it ever wrote, so no
// backend ever receives a point at or before one it already has.
//
// # Windows
//
//   - a window already counted (a re-scrape of the same minute) adds nothing and emits nothing;
//   - a window not seen before is added even when it is older than the newest one (it arrived late), and is
//     emitted at a timestamp after the last one written, because backends reject out-of-order samples;
//   - a window older than everything the source still remembers is dropped (ErrLateWindow): it may have been
//     added before and forgotten, and double counting is worse than losing a window that is this late;
//   - the values are per-window, so a smaller value never means a reset: a restarted endpoint simply reports
//     smaller windows and the total keeps growing.
//
// Every stream opens with a zero point at its start timestamp, just before its first added window. Both
// backends need it to count that window: Prometheus sees the counter go from 0 to the window's value, and the
// Datadog exporter (which turns cumulative into delta and drops the first point of every series) then reports
// the first window as a delta instead of discarding it.
//
// A source first seen in a "baseline" observation (the receiver's first scrape of an endpoint after it starts)
// records that window without adding it: a previous collector instance may already have counted it, and the
// sample it wrote would then clash with ours. Counting starts with the next window, as it does for any counter
// a collector starts watching. Sources that appear later (a new endpoint or served entity) count from their
// first window.
package accumulator // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/accumulator"

import (
	"errors"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// RememberedWindows is how many of its most recent window timestamps a source remembers to recognise
// re-scrapes and late windows. Databricks serves only the latest minute, so a handful is plenty.
const RememberedWindows = 8

// ErrLateWindow reports a window older than every window the source remembers, or not newer than its baseline:
// it is not added.
var ErrLateWindow = errors.New("window is older than every window the series remembers; not added")

// oneMillisecond separates a stream's zero point from its first window, and a late window from the point
// before it.
const oneMillisecond = pcommon.Timestamp(time.Millisecond)

// Kind is what a stream holds. A source that changes kind (a family whose "# TYPE" changed) starts over: a
// per-minute gauge and a cumulative total are never mixed.
type Kind uint8

// The kinds.
const (
	KindGauge Kind = iota + 1
	KindSummary
	KindSum
	KindHistogram
)

// Series names an observation: Source is its identity in Databricks (family and exposition labels), Stream the
// output series it is written to (resource, metric, attributes and kind). Two streams of different kinds must
// have different keys.
type Series struct {
	Source string
	Stream string
	// Clock marks a stream stamped with the collector's clock (a metric the receiver computes, such as its scrape
	// health) rather than with Databricks' windows. A restored accumulator keeps the two apart (SetNotBefore):
	// the receiver's clock runs on between the windows, and a minute's samples must not wait for it.
	Clock bool
}

// Emission describes what the caller must write after an observation.
type Emission struct {
	// Emit is false when the observation added nothing new (a re-scrape, a baseline or a dropped window).
	Emit bool
	// Opens is true when the stream starts here: write a zero point at Start before the point at Timestamp.
	Opens bool
	// Start is the stream's start timestamp; every point of a cumulative stream carries it.
	Start pcommon.Timestamp
	// Timestamp is the timestamp of the point to write.
	Timestamp pcommon.Timestamp
	// Ended, when not empty, is the stream the source was written to until this observation moved it to
	// another one. That stream is closed: write a stale marker (a point without a value) for it at EndedAt.
	Ended   string
	EndedAt pcommon.Timestamp
	// Resumed is set on the first observation of a stream restored from saved state (see LoadState): before
	// anything else, write its total as it was saved (ResumedSum or ResumedHistogram) at ResumedAt, with the
	// stream's Start. A backend that lost track of the stream with the collector that wrote it (the Datadog
	// exporter's delta cache) gets its baseline back, and the next window reaches it in full.
	Resumed          bool
	ResumedAt        pcommon.Timestamp
	ResumedSum       float64
	ResumedHistogram Histogram
}

// Accumulator holds the cumulative state of one endpoint's series. It is not safe for concurrent use: the
// receiver gives each endpoint its own and scrapes an endpoint from one goroutine at a time.
type Accumulator struct {
	sources map[string]*source
	streams map[string]*stream
	now     time.Time // time of the current scrape, for eviction and stale markers
	// dirty is set when cumulative state changed since the last ClearDirty: what AppendState saves.
	dirty bool
	// notBefore and clockNotBefore are the earliest timestamps a stream the accumulator has no record of may be
	// written at, of Databricks' samples and of Clock streams (see SetNotBefore).
	notBefore, clockNotBefore pcommon.Timestamp
}

// SetNotBefore makes every stream the accumulator has no record of start after a mark: a collector restored from
// saved state writes nothing at or before what the collector before it wrote to series it did not save
// (gauges, stale markers). samples is the mark of the streams of Databricks' samples, clock that of Clock
// streams (which is the later one: the receiver stamps its own metrics on every scrape).
func (a *Accumulator) SetNotBefore(samples, clock pcommon.Timestamp) {
	a.notBefore, a.clockNotBefore = samples, max(samples, clock)
}

// WrittenUpTo returns the latest timestamp written to a stream, stale markers included: of the streams of
// Databricks' samples, and of every stream (Clock ones included).
func (a *Accumulator) WrittenUpTo() (samples, all pcommon.Timestamp) {
	samples, all = a.notBefore, a.clockNotBefore
	for _, st := range a.streams {
		all = max(all, st.lastWritten)
		if !st.clock {
			samples = max(samples, st.lastWritten)
		}
	}
	return samples, max(samples, all)
}

// source is what is remembered of one Databricks series.
type source struct {
	kind    Kind
	windows windowLog
	// stream is the key of the stream the source is written to now ("" before its first observation), and
	// current that stream, so that the usual observation (same stream as last time) costs one map lookup. A
	// stream is touched whenever its source is, so it is never evicted before its source.
	stream  string
	current *stream
	touched time.Time
	// earlier holds the window logs of the kinds the source had before its type changed, so that a family
	// whose type flips back does not count again the windows it counted as that type. Nil until a change.
	earlier map[Kind]windowLog
}

// stream is one output series.
type stream struct {
	kind Kind
	// open is true from the stream's first point to its end (a stale marker).
	open  bool
	start pcommon.Timestamp
	// lastWritten is the timestamp of the last point written, stale markers included; it outlives the end of
	// the stream, so a stream that starts again starts after it.
	lastWritten pcommon.Timestamp
	clock       bool // see Series.Clock
	sum         float64
	histogram   Histogram
	touched     time.Time
	// resumed is set on a stream restored from saved state until its first observation (see
	// Emission.Resumed).
	resumed bool
}

// New returns an empty accumulator.
func New() *Accumulator {
	return &Accumulator{sources: map[string]*source{}, streams: map[string]*stream{}}
}

// BeginScrape marks the series touched from now on as alive at now (see EvictIdle), and is the earliest time a
// stale marker written during the scrape may carry.
func (a *Accumulator) BeginScrape(now time.Time) { a.now = now }

// EvictIdle forgets sources and streams not observed since before cutoff, so endpoints whose served entities
// come and go do not grow memory without bound. A forgotten source that returns is counted again from its next
// window, in a new stream (a reset that both backends handle). evicted, when not nil, is called with the key of
// every forgotten stream.
func (a *Accumulator) EvictIdle(cutoff time.Time, evicted func(stream string)) {
	for k, s := range a.sources {
		if s.touched.Before(cutoff) {
			delete(a.sources, k)
			a.dirty = a.dirty || cumulative(s.kind) // the saved state must forget it too
		}
	}
	for k, s := range a.streams {
		if s.touched.Before(cutoff) {
			delete(a.streams, k)
			a.dirty = a.dirty || cumulative(s.kind)
			if evicted != nil {
				evicted(k)
			}
		}
	}
}

// End closes a stream: it reports whether the stream was open and, if so, the timestamp of its stale marker,
// after everything the stream wrote and not before the current scrape. The caller writes the marker. The next
// observation of the stream starts it again from zero.
func (a *Accumulator) End(key string) (pcommon.Timestamp, bool) {
	st, ok := a.streams[key]
	if !ok || !st.open {
		return 0, false
	}
	st.open, st.resumed = false, false
	st.sum, st.histogram = 0, Histogram{}
	if st.kind == KindSum || st.kind == KindHistogram {
		a.dirty = true
	}
	at := st.lastWritten + oneMillisecond
	if !a.now.IsZero() {
		at = max(at, pcommon.NewTimestampFromTime(a.now))
	}
	st.lastWritten = at
	st.touched = a.now
	return st.lastWritten, true
}

// Open reports whether the stream has points and no stale marker after them.
func (a *Accumulator) Open(key string) bool {
	st, ok := a.streams[key]
	return ok && st.open
}

// LastWritten returns the timestamp of the last point written to a stream, stale markers included (0 when
// none).
func (a *Accumulator) LastWritten(key string) pcommon.Timestamp {
	if st, ok := a.streams[key]; ok {
		return st.lastWritten
	}
	return 0
}

// Reset forgets every source and every total, as if the endpoint were new, but keeps each stream's last
// timestamp: a receiver that recovers from a bug starts clean without writing before what it already wrote.
// Every stream is closed without a stale marker.
func (a *Accumulator) Reset() {
	a.dirty = true
	clear(a.sources)
	for _, st := range a.streams {
		*st = stream{kind: st.kind, lastWritten: st.lastWritten, touched: st.touched, clock: st.clock}
	}
}

// Len returns how many sources and streams the accumulator holds.
func (a *Accumulator) Len() (sources, streams int) { return len(a.sources), len(a.streams) }

// observe returns the source and stream of an observation of kind, creating them as needed. fresh is true when
// the source is new or changed kind (and so starts over). When the observation moves the source to another
// stream, the old one is closed and reported in the emission.
func (a *Accumulator) observe(s Series, kind Kind) (src *source, st *stream, fresh bool, em Emission) {
	src, ok := a.sources[s.Source]
	switch {
	case !ok:
		src = &source{kind: kind}
		a.sources[s.Source] = src
		fresh = true
	case src.kind != kind:
		fresh = src.changeKind(kind)
	}
	src.touched = a.now
	if src.stream == s.Stream && src.current != nil && src.current.kind == kind {
		// The caller says on every observation whether the stream is a Clock stream: state saved before the
		// flag was saved restores it unset.
		src.current.touched, src.current.clock = a.now, s.Clock
		return src, src.current, fresh, em
	}
	if src.stream != s.Stream && src.stream != "" {
		if at, ended := a.End(src.stream); ended {
			em.Ended, em.EndedAt = src.stream, at
		}
	}
	st, ok = a.streams[s.Stream]
	if !ok {
		st = &stream{kind: kind, lastWritten: a.notBefore, clock: s.Clock}
		if s.Clock {
			st.lastWritten = a.clockNotBefore
		}
		a.streams[s.Stream] = st
	} else if st.kind != kind {
		// The caller keys streams by kind, so this is a defence: a stream never mixes kinds.
		*st = stream{kind: kind, lastWritten: st.lastWritten, clock: s.Clock}
	}
	st.touched, st.clock = a.now, s.Clock
	src.stream, src.current = s.Stream, st
	return src, st, fresh, em
}

// changeKind switches the source to another kind (its family's type changed): the windows of the old kind are
// put aside, those the source had as the new kind, if ever, come back. It reports whether the source is new as
// this kind.
func (src *source) changeKind(kind Kind) (fresh bool) {
	if src.earlier == nil {
		src.earlier = map[Kind]windowLog{}
	}
	src.earlier[src.kind] = src.windows
	previous, known := src.earlier[kind]
	delete(src.earlier, kind)
	src.kind, src.windows = kind, previous
	return !known
}

// resume fills in the emission of a restored stream's first observation (see Emission.Resumed), no earlier than
// notBefore.
func (a *Accumulator) resume(st *stream, notBefore pcommon.Timestamp, em *Emission) {
	if !st.resumed {
		return
	}
	st.resumed = false
	if !st.open {
		return
	}
	a.dirty = true
	em.Resumed, em.ResumedAt = true, max(st.lastWritten+oneMillisecond, notBefore)
	em.Start = st.start
	em.ResumedSum = st.sum
	if st.kind == KindHistogram {
		em.ResumedHistogram = Histogram{
			Bounds: slices.Clone(st.histogram.Bounds), Counts: slices.Clone(st.histogram.Counts),
			Sum: st.histogram.Sum, Count: st.histogram.Count,
		}
	}
	st.lastWritten = em.ResumedAt
}

// stamp records a point for an added window and fills in its emission. reopen forces a new start (the
// histogram's bucket layout changed).
func (st *stream) stamp(window pcommon.Timestamp, reopen bool, em *Emission) {
	em.Emit = true
	if !st.open || reopen {
		// Start just before the window, and after anything the stream wrote before.
		st.start = window - oneMillisecond
		if st.lastWritten != 0 {
			st.start = max(st.start, st.lastWritten+oneMillisecond)
		}
		st.open = true
		em.Opens = true
	}
	ts := max(window, st.start+oneMillisecond)
	if st.lastWritten != 0 {
		ts = max(ts, st.lastWritten+oneMillisecond)
	}
	st.lastWritten = ts
	em.Start, em.Timestamp = st.start, ts
}

// windowLog is which windows of a source were counted.
type windowLog struct {
	seen      [RememberedWindows]pcommon.Timestamp
	seenCount int // how many entries of seen are used
	next      int // ring position of the next entry
	// floor is the baseline window: it and every window before it may have been counted by a previous
	// collector, so they are never added.
	floor pcommon.Timestamp
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

// admit decides whether window is new for the source. It returns false without error for a re-scrape, and
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

// newest returns the newest window remembered (0 when none).
func (l *windowLog) newest() pcommon.Timestamp {
	var newest pcommon.Timestamp
	for i := 0; i < l.seenCount; i++ {
		newest = max(newest, l.seen[i])
	}
	return newest
}
