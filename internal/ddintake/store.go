// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package ddintake

import (
	"encoding/json"
	"maps"
	"slices"
	"sync"
)

// Series is one metric series of a MetricPayload (POST /api/v2/series), as Datadog receives it.
type Series struct {
	Metric string
	// Type is "count", "rate", "gauge" or "unspecified".
	Type string
	Tags []string
	// Host is the name of the resource of type "host"; the v2 series API carries the host there, not in tags.
	Host string
	// Resources maps each resource type (e.g. "host", "device") to its name.
	Resources map[string]string
	Unit      string
	Interval  int64
	Points    []Point
}

// Point is one value of a Series.
type Point struct {
	// Timestamp is in seconds since the Unix epoch.
	Timestamp int64
	Value     float64
}

// Sketch is one distribution series of a SketchPayload (POST /api/beta/sketches).
type Sketch struct {
	Metric string
	Tags   []string
	Host   string
	Points []SketchPoint
}

// SketchPoint is one Dogsketch: the summary of a distribution over one interval plus its DDSketch bins.
type SketchPoint struct {
	// Timestamp is in seconds since the Unix epoch.
	Timestamp int64
	Count     int64
	Sum       float64
	Min       float64
	Max       float64
	Avg       float64
	// Keys and Counts are the sketch bins: Counts[i] values fell into the bin of Keys[i]. A key may repeat when
	// a bin holds more values than its counter can.
	Keys   []int32
	Counts []uint32
}

// store holds everything the server accepted. It is the only shared state of a Server, guarded by one mutex:
// tests read it while the exporter writes it.
type store struct {
	mu           sync.Mutex
	series       []Series
	sketches     []Sketch
	hostMetadata []json.RawMessage
	requests     map[string]int
}

func newStore() *store {
	return &store{requests: make(map[string]int)}
}

// count increments the request counters of every key given.
func (st *store) count(keys ...string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, k := range keys {
		st.requests[k]++
	}
}

func (st *store) addSeries(series []Series) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.series = append(st.series, series...)
}

func (st *store) addSketches(sketches []Sketch) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sketches = append(st.sketches, sketches...)
}

func (st *store) addHostMetadata(doc json.RawMessage) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.hostMetadata = append(st.hostMetadata, doc)
}

func (st *store) reset() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.series = nil
	st.sketches = nil
	st.hostMetadata = nil
	st.requests = make(map[string]int)
}

// Series returns a copy of every series received, in arrival order.
func (s *Server) Series() []Series {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	out := make([]Series, len(s.store.series))
	for i := range s.store.series {
		out[i] = s.store.series[i].clone()
	}
	return out
}

// Sketches returns a copy of every sketch series received, in arrival order.
func (s *Server) Sketches() []Sketch {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	out := make([]Sketch, len(s.store.sketches))
	for i := range s.store.sketches {
		out[i] = s.store.sketches[i].clone()
	}
	return out
}

// HostMetadata returns a copy of every host metadata document (POST /intake/) received, in arrival order.
func (s *Server) HostMetadata() []json.RawMessage {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	out := make([]json.RawMessage, len(s.store.hostMetadata))
	for i, doc := range s.store.hostMetadata {
		out[i] = slices.Clone(doc)
	}
	return out
}

// Requests returns how many requests reached each URL path, whatever their outcome, plus the outcome counters
// described by the Count* constants, both in total and per path (e.g. "rejected:/api/v2/series").
func (s *Server) Requests() map[string]int {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	return maps.Clone(s.store.requests)
}

// Reset forgets all data and request counts, so one server can serve several phases of a test.
func (s *Server) Reset() {
	s.store.reset()
}

func (ser Series) clone() Series {
	ser.Tags = slices.Clone(ser.Tags)
	ser.Resources = maps.Clone(ser.Resources)
	ser.Points = slices.Clone(ser.Points)
	return ser
}

func (sk Sketch) clone() Sketch {
	sk.Tags = slices.Clone(sk.Tags)
	sk.Points = slices.Clone(sk.Points)
	for i := range sk.Points {
		sk.Points[i].Keys = slices.Clone(sk.Points[i].Keys)
		sk.Points[i].Counts = slices.Clone(sk.Points[i].Counts)
	}
	return sk
}
