// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"slices"
	"sync"
)

// servedWindows records which windows of which endpoint were served in a 200
// /metrics response. It keeps only window indexes: the values are recomputed
// on demand, which keeps long load tests cheap in memory.
type servedWindows struct {
	mu         sync.Mutex
	byEndpoint []map[int64]struct{} // indexed by endpoint position
}

func newServedWindows(endpoints int) *servedWindows {
	return &servedWindows{byEndpoint: make([]map[int64]struct{}, endpoints)}
}

func (s *servedWindows) record(position int, windowIndex int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	windows := s.byEndpoint[position]
	if windows == nil {
		windows = make(map[int64]struct{})
		s.byEndpoint[position] = windows
	}
	windows[windowIndex] = struct{}{}
}

// windows returns the served window indexes of the endpoint, oldest first.
func (s *servedWindows) windows(position int) []int64 {
	s.mu.Lock()
	indexes := make([]int64, 0, len(s.byEndpoint[position]))
	for index := range s.byEndpoint[position] {
		indexes = append(indexes, index)
	}
	s.mu.Unlock()
	slices.Sort(indexes)
	return indexes
}
