// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package accumulator // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/accumulator"

// Saved state: what a collector that restarts needs to go on counting as if it had not stopped.
//
// Only cumulative series are saved: for each source, the newest window it counted and the stream it writes;
// for each stream, whether it is open and stamped with the collector's clock (Series.Clock), its start, the last
// timestamp written and its total. Gauges are not saved: a gauge written again after a restart is the same value
// for the same minute. The counted windows collapse into the newest one: Databricks serves only the last minute,
// so a window older than it cannot arrive new (a late window older than it, which the in-memory ring would still
// have taken, is dropped instead).
//
// The encoding is compact binary (a thousand endpoints are saved every cycle): unsigned varints for counts,
// lengths and timestamps, IEEE 754 bits for floats, and a table of histogram layouts, which the series of an
// endpoint share.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Dirty reports whether cumulative state changed since the last ClearDirty: whether there is anything new to
// save.
func (a *Accumulator) Dirty() bool { return a.dirty }

// ClearDirty marks the state as saved.
func (a *Accumulator) ClearDirty() { a.dirty = false }

func cumulative(k Kind) bool { return k == KindSum || k == KindHistogram }

// AppendState appends the saved form of the accumulator's cumulative state to b.
func (a *Accumulator) AppendState(b []byte) []byte {
	// The streams written to, and those of every source: a source whose only window was its baseline has a
	// stream with nothing written yet, and its floor must be saved all the same.
	streams := make([]string, 0, len(a.streams))
	for key, st := range a.streams {
		if cumulative(st.kind) && st.lastWritten != 0 {
			streams = append(streams, key)
		}
	}
	for _, src := range a.sources {
		if st, ok := a.streams[src.stream]; ok && cumulative(src.kind) && st.kind == src.kind && st.lastWritten == 0 {
			streams = append(streams, src.stream)
		}
	}
	sort.Strings(streams) // the same state always saves the same bytes
	index := make(map[string]int, len(streams))
	var layouts [][]float64
	b = binary.AppendUvarint(b, uint64(len(streams)))
	for i, key := range streams {
		index[key] = i
		b = a.streams[key].appendState(b, key, &layouts)
	}
	sources := make([]string, 0, len(a.sources))
	for key, src := range a.sources {
		if _, ok := index[src.stream]; ok && cumulative(src.kind) {
			sources = append(sources, key)
		}
	}
	sort.Strings(sources)
	b = binary.AppendUvarint(b, uint64(len(sources)))
	for _, key := range sources {
		src := a.sources[key]
		b = appendString(b, key)
		b = append(b, byte(src.kind))
		b = binary.AppendUvarint(b, uint64(max(src.windows.floor, src.windows.newest())))
		b = binary.AppendUvarint(b, uint64(index[src.stream]))
	}
	b = binary.AppendUvarint(b, uint64(len(layouts)))
	for _, bounds := range layouts {
		b = binary.AppendUvarint(b, uint64(len(bounds)))
		for _, bound := range bounds {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(bound))
		}
	}
	return b
}

func (st *stream) appendState(b []byte, key string, layouts *[][]float64) []byte {
	b = appendString(b, key)
	b = append(b, byte(st.kind))
	flags := byte(0)
	if st.open {
		flags = 1
	}
	if st.clock {
		flags |= 2
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(st.start))
	b = binary.AppendUvarint(b, uint64(st.lastWritten))
	if st.kind == KindSum {
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(st.sum))
	}
	layout := slices.IndexFunc(*layouts, func(bounds []float64) bool { return slices.Equal(bounds, st.histogram.Bounds) })
	if layout < 0 {
		layout = len(*layouts)
		*layouts = append(*layouts, st.histogram.Bounds)
	}
	b = binary.AppendUvarint(b, uint64(layout))
	b = binary.AppendUvarint(b, uint64(len(st.histogram.Counts)))
	for _, c := range st.histogram.Counts {
		b = binary.AppendUvarint(b, c)
	}
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(st.histogram.Sum))
	return binary.AppendUvarint(b, st.histogram.Count)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// errCorrupt reports saved state that does not decode.
var errCorrupt = errors.New("saved state is corrupt")

// maxSavedSkew bounds how far after the load a saved timestamp may be: windows are accepted up to 10 minutes
// ahead of the collector's clock, so anything later than this is corruption.
const maxSavedSkew = time.Hour

// stateReader reads the saved form; the first error sticks.
type stateReader struct {
	b      []byte
	err    error
	latest pcommon.Timestamp // the latest plausible timestamp
}

// timestamp reads a timestamp, which must not be later than r.latest.
func (r *stateReader) timestamp() pcommon.Timestamp {
	ts := pcommon.Timestamp(r.uvarint())
	if ts > r.latest {
		r.err = fmt.Errorf("%w: a timestamp lies in the future", errCorrupt)
		return 0
	}
	return ts
}

func (r *stateReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length that must fit in what is left (each item takes at least itemSize bytes).
func (r *stateReader) count(itemSize int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)/itemSize) {
		r.err = errCorrupt
		return 0
	}
	return int(n)
}

func (r *stateReader) byte() byte {
	if r.err != nil || len(r.b) < 1 {
		r.err = errCorrupt
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *stateReader) float() float64 {
	if r.err != nil || len(r.b) < 8 {
		r.err = errCorrupt
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *stateReader) string() string {
	n := r.count(1)
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// LoadState replaces the accumulator's state with saved state (AppendState's form). Every stream it restores
// is resumed on its first observation (see Emission.Resumed); every source goes on with its stream and counts
// only windows newer than the newest it counted. now is the time of the load: what is restored counts as seen
// then (for EvictIdle), and a timestamp more than maxSavedSkew after it makes the state corrupt. On error the
// accumulator is left empty.
func (a *Accumulator) LoadState(b []byte, now time.Time) error {
	clear(a.sources)
	clear(a.streams)
	r := &stateReader{b: b, latest: pcommon.NewTimestampFromTime(now.Add(maxSavedSkew))}
	streams, layoutOf := r.streams()
	sources := r.count(3)
	restored := map[string]*source{}
	for range sources {
		key, kind, newest, index := r.string(), Kind(r.byte()), r.timestamp(), r.uvarint()
		if r.err != nil || index >= uint64(len(streams)) || !cumulative(kind) || streams[index].st.kind != kind {
			r.err = errCorrupt
			break
		}
		src := &source{kind: kind, stream: streams[index].key, current: streams[index].st, touched: now}
		src.windows.setBaseline(newest)
		restored[key] = src
	}
	layouts := r.layouts()
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d bytes left over", errCorrupt, len(r.b))
	}
	for i, s := range streams {
		if r.err != nil {
			break
		}
		if s.st.kind == KindHistogram && (len(s.st.histogram.Counts) > 0 || s.st.open) { // none: only a baseline was seen
			if layoutOf[i] >= uint64(len(layouts)) || len(layouts[layoutOf[i]])+1 != len(s.st.histogram.Counts) {
				r.err = errCorrupt
				break
			}
			s.st.histogram.Bounds = layouts[layoutOf[i]]
		}
	}
	if r.err != nil {
		return r.err
	}
	for _, s := range streams {
		s.st.touched = now
		a.streams[s.key] = s.st
	}
	maps.Copy(a.sources, restored)
	return nil
}

type savedStream struct {
	key string
	st  *stream
}

// streams reads the saved streams, and for histograms the index of their layout.
func (r *stateReader) streams() ([]savedStream, []uint64) {
	n := r.count(10)
	out := make([]savedStream, 0, n)
	layoutOf := make([]uint64, n)
	for i := range n {
		key, kind, flags := r.string(), Kind(r.byte()), r.byte()
		st := &stream{kind: kind, open: flags&1 != 0, clock: flags&2 != 0, resumed: true}
		st.start, st.lastWritten = r.timestamp(), r.timestamp()
		switch kind {
		case KindSum:
			st.sum = r.float()
		case KindHistogram:
			layoutOf[i] = r.uvarint()
			var counts []uint64
			if n := r.count(1); n > 0 {
				counts = make([]uint64, n)
			}
			for j := range counts {
				counts[j] = r.uvarint()
			}
			st.histogram = Histogram{Counts: counts, Sum: r.float(), Count: r.uvarint()}
			var total uint64
			for _, c := range counts {
				total += c
			}
			if total != st.histogram.Count {
				r.err = errCorrupt
			}
		default:
			r.err = errCorrupt
		}
		if r.err != nil {
			return nil, nil
		}
		out = append(out, savedStream{key: key, st: st})
	}
	return out, layoutOf
}

func (r *stateReader) layouts() [][]float64 {
	n := r.count(1)
	out := make([][]float64, 0, n)
	for range n {
		bounds := make([]float64, r.count(8))
		for j := range bounds {
			bounds[j] = r.float()
		}
		if r.err != nil {
			return nil
		}
		out = append(out, bounds)
	}
	return out
}
