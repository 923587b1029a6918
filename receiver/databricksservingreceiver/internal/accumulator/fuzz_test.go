// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package accumulator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// FuzzAccumulator plays arbitrary sequences of windows (any order, repeats, baselines, odd values, sums and
// histograms) into the accumulator next to a model of what it must count, and checks after every observation:
// every total is exactly the previous total plus the window's value (a histogram's buckets, count and sum each
// the sum of its windows'), a window already counted adds nothing and emits nothing, a window newer than every
// one seen is always added, and points strictly ascend in time after their start.
//
// Each op is 3 bytes: flags (bits 0-1 the source, 2 histogram, 5 another bucket layout, 6 odd value or
// out-of-order bounds, 7 baseline), the window in minutes, and the value (for histograms, 2 bits per bucket).
func FuzzAccumulator(f *testing.F) {
	f.Add([]byte{0, 1, 10, 0, 1, 10, 0, 2, 4})
	f.Add([]byte{1, 5, 3, 1, 3, 7, 1, 4, 2, 1, 9, 1, 1, 4, 2})
	f.Add([]byte{0x80, 5, 1, 0, 5, 1, 0, 4, 1, 0, 6, 1})
	// A late window after more windows than the ring holds: window 1 again (counted, then forgotten) and
	// window 0 (never seen) are both too late, and neither may add anything.
	late := []byte{}
	for w := range byte(RememberedWindows + 2) {
		late = append(late, 0, w+1, 1, 4, w+1, 0x55)
	}
	f.Add(append(late, 0, 1, 9, 0, 0, 9, 4, 1, 0x55, 4, 0, 0x55))
	// A repeat of the second-newest window after the ring wrapped: windows 1 to RememberedWindows+1 fill the
	// ring and make it evict once, then window RememberedWindows comes again. Evicting the oldest keeps it (a
	// re-scrape, nothing added); a ring that evicted the newest would have forgotten it and count it twice.
	wrapped := []byte{}
	for w := range byte(RememberedWindows + 1) {
		wrapped = append(wrapped, 0, w+1, 3, 4, w+1, 0x55)
	}
	f.Add(append(wrapped, 0, RememberedWindows, 3, 4, RememberedWindows, 0x55))
	// Histograms: everything in the overflow (+Inf) bucket, re-scraped; bounds out of order (rejected); a new
	// bucket layout (the stream starts over); a baseline then the same window.
	f.Add([]byte{4, 3, 0xC0, 4, 3, 0xC0, 4, 4, 0xE4, 0x44, 5, 0x1B, 0x24, 6, 0xFF, 0x24, 6, 0xFF, 0x85, 2, 7, 5, 2, 7, 5, 3, 7})
	f.Fuzz(func(t *testing.T, ops []byte) {
		acc := New()
		acc.BeginScrape(time.Unix(0, 0))
		models := map[string]*fuzzModel{}
		for ; len(ops) >= 3; ops = ops[3:] {
			op, windowByte, valueByte := ops[0], ops[1], ops[2]
			window := pcommon.Timestamp(int64(windowByte)+1) * pcommon.Timestamp(time.Minute)
			key := fmt.Sprintf("s%d", op&0x03)
			if op&0x04 != 0 {
				key = "h" + key[1:]
			}
			m := models[key]
			if m == nil {
				m = &fuzzModel{counted: map[pcommon.Timestamp]bool{}}
				models[key] = m
			}
			series, baseline := Series{Source: key, Stream: "out/" + key}, op&0x80 != 0
			if op&0x04 == 0 {
				value := float64(valueByte)
				if op&0x40 != 0 {
					value = math.Float64frombits(binary.LittleEndian.Uint64(append([]byte{valueByte, windowByte, op}, 0, 0, 0, 0, 0)))
				}
				em, total, err := acc.AddSum(series, window, value, baseline)
				m.checkSum(t, key, window, value, baseline, em, total, err)
			} else {
				h := fuzzHistogram(op, valueByte)
				em, total, err := acc.AddHistogram(series, window, h, baseline)
				m.checkHistogram(t, key, window, h, baseline, em, total, err)
			}
		}
	})
}

// fuzzHistogram builds a histogram window: bits 5 and 6 of op pick the bounds (bit 6: out of order), each pair
// of bits of v the count of one bucket, the last pair the overflow (+Inf) bucket.
func fuzzHistogram(op, v byte) Histogram {
	bounds := []float64{1, 10, 100}
	switch {
	case op&0x40 != 0:
		bounds = []float64{10, 1, 100}
	case op&0x20 != 0:
		bounds = []float64{1, 10, 1000}
	}
	h := Histogram{Bounds: bounds, Counts: make([]uint64, len(bounds)+1), Sum: float64(v) + 0.1}
	for i := range h.Counts {
		h.Counts[i] = uint64(v>>(2*i)) & 3
		h.Count += h.Counts[i]
	}
	return h
}

// fuzzModel is what one source must hold: the windows it counted (or took as its baseline) and its totals.
type fuzzModel struct {
	known   bool // the accumulator has the source: a baseline observation is only one if it comes first
	counted map[pcommon.Timestamp]bool
	newest  pcommon.Timestamp // the newest window counted or baselined
	last    pcommon.Timestamp // the last point written
	sum     float64
	hist    Histogram
}

// admitted checks whether the accumulator was right to add the window or not, and records it when added. It
// reports whether the caller must compare the new total (the window was added).
func (m *fuzzModel) admitted(t *testing.T, key string, window pcommon.Timestamp, baseline bool, em Emission, err error) bool {
	t.Helper()
	if !m.known && baseline {
		m.known, m.counted[window], m.newest = true, true, window
		if em.Emit || err != nil {
			t.Fatalf("%s: the baseline window %d was written (err %v)", key, window, err)
		}
		return false
	}
	m.known = true
	switch {
	case m.counted[window] && em.Emit:
		t.Fatalf("%s: window %d, already counted, was added again", key, window)
	case m.counted[window]:
		return false
	case !em.Emit && !errors.Is(err, ErrLateWindow):
		t.Fatalf("%s: window %d, never counted, was neither added nor reported late: %v", key, window, err)
	case !em.Emit && window > m.newest:
		t.Fatalf("%s: window %d, newer than every window seen (%d), was reported late", key, window, m.newest)
	case !em.Emit:
		return false
	}
	if em.Timestamp <= m.last || em.Start >= em.Timestamp || (em.Opens && em.Start <= m.last) {
		t.Fatalf("%s: point at %d (start %d, opens %v) does not follow %d", key, em.Timestamp, em.Start, em.Opens, m.last)
	}
	m.counted[window], m.newest, m.last = true, max(m.newest, window), em.Timestamp
	return true
}

func (m *fuzzModel) checkSum(t *testing.T, key string, window pcommon.Timestamp, value float64, baseline bool, em Emission, total float64, err error) {
	t.Helper()
	if math.IsNaN(value) || math.IsInf(value, 0) || value < 0 {
		if err == nil || em.Emit {
			t.Fatalf("%s: the invalid value %v was accepted", key, value)
		}
		return
	}
	if m.admitted(t, key, window, baseline, em, err) {
		m.sum += value
	}
	if total != m.sum {
		t.Fatalf("%s: total %v after window %d of %v; want %v (emitted %v, err %v)", key, total, window, value, m.sum, em.Emit, err)
	}
}

func (m *fuzzModel) checkHistogram(t *testing.T, key string, window pcommon.Timestamp, h Histogram, baseline bool, em Emission, total Histogram, err error) {
	t.Helper()
	if h.Validate() != nil {
		if err == nil || em.Emit {
			t.Fatalf("%s: the malformed histogram %+v was accepted", key, h)
		}
		return
	}
	if m.admitted(t, key, window, baseline, em, err) {
		if newLayout := !slices.Equal(m.hist.Bounds, h.Bounds); newLayout != em.Opens {
			t.Fatalf("%s: window %d: the stream opens %v; want %v (bounds %v after %v)", key, window, em.Opens, newLayout, h.Bounds, m.hist.Bounds)
		}
		if em.Opens {
			m.hist = Histogram{Bounds: h.Bounds, Counts: make([]uint64, len(h.Counts))}
		}
		for i, c := range h.Counts {
			m.hist.Counts[i] += c
		}
		m.hist.Sum += h.Sum
		m.hist.Count += h.Count
	}
	if len(total.Counts) == 0 && m.hist.Count == 0 {
		return // nothing counted yet: the accumulator has no layout to show
	}
	if !slices.Equal(total.Bounds, m.hist.Bounds) || !slices.Equal(total.Counts, m.hist.Counts) || total.Sum != m.hist.Sum || total.Count != m.hist.Count {
		t.Fatalf("%s: total %+v after window %d of %+v; want the sum of the windows %+v (emitted %v, err %v)", key, total, window, h, m.hist, em.Emit, err)
	}
}
