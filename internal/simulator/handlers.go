// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func (s *Server) routes() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("GET /api/2.0/serving-endpoints", s.handleList)
	api.HandleFunc("GET /api/2.0/serving-endpoints/{name}", s.handleGet)
	api.HandleFunc("GET /api/2.0/serving-endpoints/{name}/metrics", s.handleMetrics)
	api.HandleFunc("/api/", s.handleUnknownAPI)

	mux := http.NewServeMux()
	mux.Handle("/api/", s.trackInFlight(s.requireToken(api)))
	// The introspection endpoints need no token: test harnesses read them.
	mux.HandleFunc("GET /simulator/truth", s.handleTruth)
	mux.HandleFunc("GET /simulator/stats", s.handleStats)
	return mux
}

func (s *Server) trackInFlight(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		exit := s.counters.enter()
		defer exit()
		next.ServeHTTP(w, r)
	})
}

// requireToken answers 401 like a workspace does for a missing, malformed or
// wrong personal access token.
func (s *Server) requireToken(next http.Handler) http.Handler {
	want := []byte(s.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(token), want) != 1 {
			s.counters.unauthorized.Add(1)
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeJSON(w, http.StatusUnauthorized, apiError{ErrorCode: errorCodeUnauthenticated, Message: "Invalid access token."})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) handleList(w http.ResponseWriter, _ *http.Request) {
	s.counters.list.Add(1)
	writeJSONBytes(w, http.StatusOK, s.listBody)
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	s.counters.get.Add(1)
	name := r.PathValue("name")
	body, ok := s.detailBodies[name]
	if !ok {
		s.writeNotFound(w, errorCodeNotFound, endpointNotFoundMessage(name))
		return
	}
	writeJSONBytes(w, http.StatusOK, body)
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	s.counters.metrics.Add(1)
	// The window is chosen on arrival: the delay emulates a slow response,
	// not a later request.
	current := lastCompletedWindow(s.now(), s.cfg.Window)
	if err := s.delayResponse(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{ErrorCode: errorCodeUnavailable, Message: err.Error()})
		return
	}

	name := r.PathValue("name")
	ep, ok := s.catalog.lookup(name)
	if !ok {
		s.writeNotFound(w, errorCodeNotFound, endpointNotFoundMessage(name))
		return
	}
	if !ep.kind.hasMetrics() {
		s.writeNotFound(w, errorCodeNotFound, metricsUnavailableMessage(name))
		return
	}

	body := s.bodies.get(current.index, ep.position, func() []byte {
		return renderExposition(generateWindowTruth(s.cfg.Seed, ep, current))
	})
	// Record before writing, so a client that has read the body always
	// finds its window in /simulator/truth. HEAD receives no body.
	if r.Method != http.MethodHead {
		s.served.record(ep.position, current.index)
	}
	w.Header().Set("Content-Type", expositionContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// delayResponse waits ResponseDelay, giving up early when the client goes
// away or the server closes.
func (s *Server) delayResponse(ctx context.Context) error {
	if s.cfg.ResponseDelay <= 0 {
		return nil
	}
	timer := time.NewTimer(s.cfg.ResponseDelay)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("request abandoned: %w", ctx.Err())
	case <-s.closing:
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
// "endpoint" query parameter. An unknown name is a 404 so typos in a test
// do not read as "nothing was served".
func (s *Server) handleTruth(w http.ResponseWriter, r *http.Request) {
	endpoints := s.catalog.endpoints
	if name := r.URL.Query().Get("endpoint"); name != "" {
		ep, ok := s.catalog.lookup(name)
		if !ok {
			writeJSON(w, http.StatusNotFound, apiError{ErrorCode: errorCodeNotFound, Message: endpointNotFoundMessage(name)})
			return
		}
		endpoints = []*endpoint{ep}
	}
	writeJSON(w, http.StatusOK, s.truth(endpoints))
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
