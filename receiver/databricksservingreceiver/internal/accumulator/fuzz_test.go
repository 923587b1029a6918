// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package accumulator

import (
	"encoding/binary"
	"fmt"
	"math"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// FuzzAccumulator plays arbitrary sequences of windows (any order, repeats, baselines, odd values) into the
// accumulator and checks its promises: a window is added at most once, totals never shrink, every series' points
// strictly ascend in time after their start, and nothing at or before a baseline is added.
func FuzzAccumulator(f *testing.F) {
	f.Add([]byte{0, 1, 10, 0, 1, 10, 0, 2, 4})
	f.Add([]byte{1, 5, 3, 1, 3, 7, 1, 4, 2, 1, 9, 1, 1, 4, 2})
	f.Add([]byte{0x80, 5, 1, 0, 5, 1, 0, 4, 1, 0, 6, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		acc := New()
		acc.BeginScrape(time.Unix(0, 0))
		type state struct {
			total    float64
			last     pcommon.Timestamp
			counted  map[pcommon.Timestamp]bool
			baseline pcommon.Timestamp
		}
		series := map[string]*state{}
		for len(ops) >= 3 {
			op, windowByte, valueByte := ops[0], ops[1], ops[2]
			ops = ops[3:]
			key := fmt.Sprintf("s%d", op&0x03)
			baseline := op&0x80 != 0
			window := pcommon.Timestamp(int64(windowByte)+1) * pcommon.Timestamp(time.Minute)
			value := float64(valueByte)
			if op&0x40 != 0 {
				value = math.Float64frombits(binary.LittleEndian.Uint64(append([]byte{valueByte, windowByte, op}, 0, 0, 0, 0, 0)))
			}
			st := series[key]
			isNew := st == nil
			if isNew {
				st = &state{counted: map[pcommon.Timestamp]bool{}}
				series[key] = st
			}
			em, total, err := acc.AddSum(Series{Source: key, Stream: "out/" + key}, window, value, baseline)
			if isNew && baseline && err == nil {
				st.baseline = window
			}
			if err != nil || !em.Emit {
				if total < st.total && err == nil {
					t.Fatalf("%s: total shrank from %v to %v", key, st.total, total)
				}
				continue
			}
			if st.counted[window] {
				t.Fatalf("%s: window %d added twice", key, window)
			}
			if st.baseline != 0 && window <= st.baseline {
				t.Fatalf("%s: window %d at or before the baseline %d was added", key, window, st.baseline)
			}
			st.counted[window] = true
			if total != st.total+value {
				t.Fatalf("%s: total %v after %v and a window of %v", key, total, st.total, value)
			}
			if total < st.total || math.IsNaN(total) || math.IsInf(total, 0) {
				t.Fatalf("%s: total %v after %v", key, total, st.total)
			}
			if em.Opens && em.Start >= em.Timestamp {
				t.Fatalf("%s: zero point at %d not before the point at %d", key, em.Start, em.Timestamp)
			}
			if em.Timestamp <= st.last || (em.Opens && em.Start <= st.last) {
				t.Fatalf("%s: point at %d (start %d) does not follow %d", key, em.Timestamp, em.Start, st.last)
			}
			st.total, st.last = total, em.Timestamp
		}
	})
}
