// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

func (s *Server) routes() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("GET /api/2.0/serving-endpoints", s.handleList)
	api.HandleFunc("GET /api/2.0/serving-endpoints/{name}", s.handleGet)
	api.Handle("GET /api/2.0/serving-endpoints/{name}/metrics", s.logAccess(s.handleMetrics))
	api.HandleFunc("/api/", s.handleUnknownAPI)

	// The introspection and control endpoints need no token: test harnesses
	// use them. The token endpoints authenticate clients themselves.
	other := http.NewServeMux()
	other.HandleFunc("GET /simulator/truth", s.handleTruth)
	other.HandleFunc("GET /simulator/stats", s.handleStats)
	other.HandleFunc("GET /simulator/requests", s.handleRequests)
	other.HandleFunc("DELETE /simulator/requests", s.handleResetRequests)
	other.HandleFunc("GET /simulator/timeline", s.handleTimeline)
	other.HandleFunc("POST /simulator/endpoints", s.handleCreateEndpoint)
	other.HandleFunc("PATCH /simulator/endpoints/{name}", s.handleUpdateEndpoint)
	other.HandleFunc("DELETE /simulator/endpoints/{name}", s.handleDeleteEndpoint)
	other.HandleFunc("POST /simulator/endpoints/{name}/events", s.handleEndpointEvent)
	other.HandleFunc("PUT /simulator/tokens", s.handleSetTokens)
	other.HandleFunc("PUT /simulator/faults/{call}", s.handleSetWorkspaceFault)
	other.HandleFunc("POST /oidc/v1/token", s.handleOAuthToken)
	other.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.handleAzureToken)

	// Two muxes because the Entra path's {tenant} wildcard would conflict
	// with "/api/" in one: the more specific "/api/" wins here.
	mux := http.NewServeMux()
	mux.Handle("/api/", s.trackInFlight(s.requireToken(api)))
	mux.Handle("/", other)
	return mux
}

func (s *Server) trackInFlight(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		exit := s.counters.enter()
		defer exit()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	s.counters.list.Add(1)
	if s.serveAPIFault(w, r, faultCallList, "") {
		return
	}
	body := s.catalog.snapshot().listBodyAt(s.now())
	if f := s.workspaceFaults.list.Load(); f != nil && f.Mode == FaultHugeList {
		s.writePaddedList(w, body, f)
		return
	}
	writeJSONBytes(w, http.StatusOK, body)
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	s.counters.get.Add(1)
	name := r.PathValue("name")
	// Before the lookup: a failing get call fails for every name.
	if s.serveAPIFault(w, r, faultCallGet, name) {
		return
	}
	entry, ok := s.catalog.presentEntry(name, s.now())
	if !ok {
		s.writeNotFound(w, errorCodeNotFound, endpointNotFoundMessage(name))
		return
	}
	if f := s.workspaceFaults.get.Load(); f != nil && f.Mode == FaultAmplifiedDescribe {
		body, err := amplifiedDescription(entry.ep, entry.status, f.Size, f.Labels, f.amplifiedTagLength())
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, apiError{ErrorCode: errorCodeInternal, Message: err.Error()})
			return
		}
		writeJSONBytes(w, http.StatusOK, body)
		return
	}
	writeJSONBytes(w, http.StatusOK, entry.detail)
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	s.counters.metrics.Add(1)
	name := r.PathValue("name")
	s.requests.record(name, credentialFrom(r.Context()))
	s.timeline.record(name)
	// The window is chosen on arrival: the delay emulates a slow response,
	// not a later request.
	current := lastCompletedWindow(s.now(), s.cfg.Window)
	if err := s.delayResponse(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{ErrorCode: errorCodeUnavailable, Message: err.Error()})
		return
	}

	entry, ok := s.catalog.presentEntry(name, s.now())
	if !ok {
		s.writeNotFound(w, errorCodeNotFound, endpointNotFoundMessage(name))
		return
	}
	fault := entry.status.fault
	if fault != nil && fault.replacesAnswer() {
		s.serveReplacingFault(w, r, fault, name)
		return
	}
	ep := entry.endpointFor(current)
	if !ep.kind.hasMetrics() {
		s.writeNotFound(w, errorCodeNotFound, metricsUnavailableMessage(name))
		return
	}
	if entry.status.metricsStatus == http.StatusNotFound {
		s.writeNotFound(w, errorCodeNotFound, noMetricsMessage(name))
		return
	}

	body := s.bodies.get(current.index, ep, func() []byte {
		return renderExposition(generateWindowTruth(s.cfg.Seed, ep, current))
	})
	// Record before writing, so a client that has read the body always
	// finds its window in /simulator/truth. HEAD receives no body.
	record := func() {
		if r.Method != http.MethodHead {
			s.served.record(ep, current.index)
		}
	}
	if fault != nil {
		s.serveBodyFault(w, r, fault, ep, current, body, record)
		return
	}
	record()
	writeExpositionHeader(w, len(body))
	_, _ = w.Write(body)
}

// delayResponse waits ResponseDelay, giving up early when the client goes
// away or the server closes.
func (s *Server) delayResponse(ctx context.Context) error {
	return s.wait(ctx, s.cfg.ResponseDelay)
}

// wait waits d, giving up early when the client goes away or the server
// closes.
func (s *Server) wait(ctx context.Context, d time.Duration) error {
	return waitOrStop(ctx, s.closing, d)
}

// waitOrStop waits d, giving up early when ctx ends or closing closes.
func waitOrStop(ctx context.Context, closing <-chan struct{}, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("request abandoned: %w", ctx.Err())
	case <-closing:
		return fmt.Errorf("simulator is shutting down")
	}
}

func (s *Server) handleUnknownAPI(w http.ResponseWriter, r *http.Request) {
	s.writeNotFound(w, errorCodeNoSuchAPI, fmt.Sprintf("No API found for '%s %s'", r.Method, r.URL.Path))
}

func (s *Server) writeNotFound(w http.ResponseWriter, code, message string) {
	s.counters.notFound.Add(1)
	writeJSON(w, http.StatusNotFound, apiError{ErrorCode: code, Message: message})
}

// handleTruth serves Truth, optionally for the one endpoint named by the
// "endpoint" query parameter. A name that is neither in the catalog nor was
// ever served is a 404 so typos in a test do not read as "nothing was
// served"; a deleted endpoint keeps its served windows.
func (s *Server) handleTruth(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("endpoint")
	if name == "" {
		writeJSON(w, http.StatusOK, s.Truth())
		return
	}
	if _, ok := s.catalog.lookup(name); !ok && !s.served.has(name) {
		writeJSON(w, http.StatusNotFound, apiError{ErrorCode: errorCodeNotFound, Message: endpointNotFoundMessage(name)})
		return
	}
	writeJSON(w, http.StatusOK, s.truth([]string{name}))
}

func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSONBytes(w, status, body)
}

func writeJSONBytes(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
