// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"cmp"
	"maps"
	"slices"
	"sync"
)

// servedWindows records which windows of which endpoint were served in a 200
// /metrics response. It keeps only window indexes and the endpoint that
// served them: the values are recomputed on demand, which keeps long load
// tests cheap in memory. It is keyed by name and outlives the catalog entry,
// so the truth of a deleted endpoint stays available to the test.
type servedWindows struct {
	mu     sync.Mutex
	byName map[string]map[int64]*endpoint
}

// servedWindow is one window index with the endpoint that served it: after a
// delete and a create under the same name, windows may differ in kind.
type servedWindow struct {
	index int64
	ep    *endpoint
}

func newServedWindows() *servedWindows {
	return &servedWindows{byName: make(map[string]map[int64]*endpoint)}
}

func (s *servedWindows) record(ep *endpoint, windowIndex int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	windows := s.byName[ep.name]
	if windows == nil {
		windows = make(map[int64]*endpoint)
		s.byName[ep.name] = windows
	}
	windows[windowIndex] = ep
}

// windows returns the served windows of the named endpoint, oldest first.
func (s *servedWindows) windows(name string) []servedWindow {
	s.mu.Lock()
	served := make([]servedWindow, 0, len(s.byName[name]))
	for index, ep := range s.byName[name] {
		served = append(served, servedWindow{index: index, ep: ep})
	}
	s.mu.Unlock()
	slices.SortFunc(served, func(a, b servedWindow) int { return cmp.Compare(a.index, b.index) })
	return served
}

// names returns every endpoint name with at least one served window.
func (s *servedWindows) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Keys(s.byName))
}

func (s *servedWindows) has(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.byName[name]
	return ok
}
