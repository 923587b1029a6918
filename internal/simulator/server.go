// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// shutdownTimeout bounds how long Close waits for in-flight requests.
const shutdownTimeout = 5 * time.Second

// Server is a simulated Databricks workspace. Its handler is safe for
// concurrent use.
type Server struct {
	cfg     Config
	now     func() time.Time
	catalog *catalog

	listBody     []byte
	detailBodies map[string][]byte
	bodies       *bodyCache
	served       *servedWindows
	counters     requestCounters
	handler      http.Handler

	// closing aborts pending response delays so Close returns promptly.
	closing   chan struct{}
	closeOnce sync.Once

	mu         sync.Mutex
	httpServer *http.Server
	serveDone  chan struct{}
}

// Option customizes a Server.
type Option func(*Server)

// WithClock replaces the wall clock that selects the served window, so
// tests can move time deterministically.
func WithClock(now func() time.Time) Option {
	return func(s *Server) { s.now = now }
}

// New validates cfg and builds the workspace. Zero Window and
// GPUsPerEndpoint take their defaults (60s and 4).
func New(cfg Config, opts ...Option) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("simulator: invalid config: %w", err)
	}
	c := newCatalog(cfg)
	list, details, err := marshalCatalog(c)
	if err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	s := &Server{
		cfg:          cfg,
		now:          time.Now,
		catalog:      c,
		listBody:     list,
		detailBodies: details,
		bodies:       newBodyCache(len(c.endpoints)),
		served:       newServedWindows(len(c.endpoints)),
		closing:      make(chan struct{}),
	}
	for _, opt := range opts {
		opt(s)
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the HTTP handler serving the workspace APIs and the
// /simulator/ introspection endpoints.
func (s *Server) Handler() http.Handler {
	return s.handler
}

// Endpoints returns the names of all endpoints, in list order.
func (s *Server) Endpoints() []string {
	return s.catalog.names()
}

// Stats returns the request counters, as served by GET /simulator/stats.
func (s *Server) Stats() Stats {
	return s.counters.snapshot()
}

// Truth returns every window served so far for every endpoint, as served by
// GET /simulator/truth.
func (s *Server) Truth() Truth {
	return s.truth(s.catalog.endpoints)
}

func (s *Server) truth(endpoints []*endpoint) Truth {
	windowMillis := s.cfg.Window.Milliseconds()
	t := Truth{WindowMillis: windowMillis, Seed: s.cfg.Seed, Endpoints: make(map[string]EndpointTruth)}
	for _, ep := range endpoints {
		indexes := s.served.windows(ep.position)
		if len(indexes) == 0 {
			continue
		}
		windows := make([]WindowTruth, 0, len(indexes))
		for _, index := range indexes {
			windows = append(windows, generateWindowTruth(s.cfg.Seed, ep, windowAt(index, windowMillis)))
		}
		t.Endpoints[ep.name] = EndpointTruth{Windows: windows}
	}
	return t
}

// Start serves the handler on addr (for example "127.0.0.1:0") in the
// background and returns the address actually bound.
func (s *Server) Start(addr string) (net.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.httpServer != nil {
		return nil, errors.New("simulator: already started")
	}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("simulator: listen on %s: %w", addr, err)
	}
	s.httpServer = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	s.serveDone = make(chan struct{})
	go func(httpServer *http.Server, done chan<- struct{}) {
		defer close(done)
		// Serve returns http.ErrServerClosed after Close; nothing to report.
		_ = httpServer.Serve(listener)
	}(s.httpServer, s.serveDone)
	return listener.Addr(), nil
}

// Close stops the server started by Start, waiting briefly for in-flight
// requests; pending response delays are cut short. It is safe to call more
// than once, and without Start.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	s.mu.Lock()
	httpServer, serveDone := s.httpServer, s.serveDone
	s.mu.Unlock()
	if httpServer == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := httpServer.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, httpServer.Close())
	}
	<-serveDone
	return err
}
