// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"
)

// timelineCapacity is how many arrivals the timeline keeps per endpoint.
const timelineCapacity = 1000

// EndpointTimeline is the body of GET /simulator/timeline?endpoint=NAME:
// the arrival times of the endpoint's last /metrics requests, oldest first.
type EndpointTimeline struct {
	Endpoint string `json:"endpoint"`
	// ArrivalsMillis are Unix times in milliseconds.
	ArrivalsMillis []int64 `json:"arrivals_ms"`
}

// arrivalTimeline keeps, per endpoint name, the arrival times of the last
// timelineCapacity authenticated /metrics requests, whatever their outcome.
type arrivalTimeline struct {
	mu     sync.Mutex
	byName map[string]*arrivalRing
}

// arrivalRing grows to timelineCapacity, then overwrites its oldest entry.
type arrivalRing struct {
	times []time.Time
	next  int // index of the oldest entry once full
}

func newArrivalTimeline() *arrivalTimeline {
	return &arrivalTimeline{byName: make(map[string]*arrivalRing)}
}

// record notes a request arriving now. The clock is read under the lock so
// that every ring stays in arrival order.
func (t *arrivalTimeline) record(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ring := t.byName[name]
	if ring == nil {
		ring = &arrivalRing{}
		t.byName[name] = ring
	}
	now := time.Now()
	if len(ring.times) < timelineCapacity {
		ring.times = append(ring.times, now)
		return
	}
	ring.times[ring.next] = now
	ring.next = (ring.next + 1) % timelineCapacity
}

// arrivals returns the named endpoint's arrivals, oldest first, and whether
// it has any.
func (t *arrivalTimeline) arrivals(name string) ([]time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ring := t.byName[name]
	if ring == nil {
		return []time.Time{}, false
	}
	return slices.Concat(ring.times[ring.next:], ring.times[:ring.next]), true
}

// Timeline returns the arrival times of the named endpoint's last 1000
// authenticated /metrics requests, oldest first, whatever their answer, as
// served by GET /simulator/timeline. They are read from the real wall clock
// (time.Now, with its monotonic reading), not the clock of WithClock: they
// are for checking the real spacing of requests, such as a Retry-After
// honoured, a backoff or the spread of start offsets.
func (s *Server) Timeline(endpoint string) []time.Time {
	times, _ := s.timeline.arrivals(endpoint)
	return times
}

// handleTimeline is GET /simulator/timeline?endpoint=NAME. A name neither in
// the catalog nor ever requested is a 404, like in /simulator/truth.
func (s *Server) handleTimeline(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("endpoint")
	if name == "" {
		writeBadRequest(w, errors.New("the endpoint query parameter is required"))
		return
	}
	times, seen := s.timeline.arrivals(name)
	if _, ok := s.catalog.lookup(name); !ok && !seen {
		writeJSON(w, http.StatusNotFound, apiError{ErrorCode: errorCodeNotFound, Message: endpointNotFoundMessage(name)})
		return
	}
	body := EndpointTimeline{Endpoint: name, ArrivalsMillis: make([]int64, len(times))}
	for i, at := range times {
		body.ArrivalsMillis[i] = at.UnixMilli()
	}
	writeJSON(w, http.StatusOK, body)
}
