// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"context"
	"crypto/tls"
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
	cfg         Config
	now         func() time.Time
	catalog     *catalog
	credentials *credentials

	bodies   *bodyCache
	served   *servedWindows
	counters requestCounters
	requests *requestLog
	timeline *arrivalTimeline
	// accessLog is nil unless WithAccessLog was given.
	accessLog *accessLog
	// scheduleErrors receives the failed events of RunSchedule; nil logs
	// them.
	scheduleErrors func(ScheduledEvent, error)
	handler        http.Handler

	// workspaceFaults are the faults of the list, get and token calls.
	workspaceFaults workspaceFaults

	// tokenIssuer, when set, authenticates the bearer tokens this
	// workspace did not issue itself: those of an Account's Entra ID
	// endpoint (see withTokenIssuer).
	tokenIssuer func(token string) (label string, err error)

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

// withTokenIssuer makes the workspace also accept the bearer tokens that
// authenticate accepts (returning their holder's label), as a workspace
// accepts the tokens of its tenant's identity provider; its own tokens are
// checked first.
func withTokenIssuer(authenticate func(token string) (string, error)) Option {
	return func(s *Server) { s.tokenIssuer = authenticate }
}

// New validates cfg and builds the workspace. Zero Window, GPUsPerEndpoint
// and TokenLifetime take their defaults (60s, 4 and 1h).
func New(cfg Config, opts ...Option) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("simulator: invalid config: %w", err)
	}
	c, err := newCatalog(cfg)
	if err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	s := &Server{
		cfg:      cfg,
		now:      time.Now,
		catalog:  c,
		bodies:   newBodyCache(),
		served:   newServedWindows(),
		requests: newRequestLog(),
		timeline: newArrivalTimeline(),
		closing:  make(chan struct{}),
	}
	for _, opt := range opts {
		opt(s)
	}
	// After the options: token expiry follows the injected clock.
	s.credentials = newCredentials(s.now, cfg.TokenLifetime, []string{cfg.Token})
	s.handler = s.routes()
	return s, nil
}

// Handler returns the HTTP handler serving the workspace APIs and the
// /simulator/ introspection endpoints.
func (s *Server) Handler() http.Handler {
	return s.handler
}

// Endpoints returns the names of the endpoints the list API shows now, in
// list order: an endpoint absent after a lifecycle event is left out.
func (s *Server) Endpoints() []string {
	return s.catalog.names(s.now())
}

// Stats returns the request counters, as served by GET /simulator/stats.
func (s *Server) Stats() Stats {
	return s.counters.snapshot()
}

// Requests returns the /metrics requests per endpoint and credential, as
// served by GET /simulator/requests.
func (s *Server) Requests() RequestCounts {
	return s.requests.snapshot(false)
}

// Truth returns every window served so far for every endpoint, deleted ones
// included, as served by GET /simulator/truth.
func (s *Server) Truth() Truth {
	return s.truth(s.served.names())
}

func (s *Server) truth(names []string) Truth {
	windowMillis := s.cfg.Window.Milliseconds()
	t := Truth{WindowMillis: windowMillis, Seed: s.cfg.Seed, Endpoints: make(map[string]EndpointTruth)}
	for _, name := range names {
		served := s.served.windows(name)
		if len(served) == 0 {
			continue
		}
		windows := make([]WindowTruth, 0, len(served))
		for _, w := range served {
			windows = append(windows, generateWindowTruth(s.cfg.Seed, w.ep, windowAt(w.index, windowMillis)))
		}
		t.Endpoints[name] = EndpointTruth{Windows: windows}
	}
	return t
}

// Start serves the handler on addr (for example "127.0.0.1:0") in the
// background and returns the address actually bound.
func (s *Server) Start(addr string) (net.Addr, error) {
	return s.start(addr, nil)
}

// StartTLS is Start over HTTPS with cert (TLS 1.2 or later).
func (s *Server) StartTLS(addr string, cert tls.Certificate) (net.Addr, error) {
	return s.start(addr, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
}

func (s *Server) start(addr string, tlsConfig *tls.Config) (net.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.httpServer != nil {
		return nil, errors.New("simulator: already started")
	}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("simulator: listen on %s: %w", addr, err)
	}
	if tlsConfig != nil {
		listener = tls.NewListener(listener, tlsConfig)
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

// Close stops the server started by Start, waiting a short while for in-flight
// requests; pending response delays are cut short. It is safe to call more
// than once, and without Start.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	s.mu.Lock()
	httpServer, serveDone := s.httpServer, s.serveDone
	s.mu.Unlock()
	if httpServer == nil {
		return s.flushAccessLog()
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := httpServer.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, httpServer.Close())
	}
	<-serveDone
	return errors.Join(err, s.flushAccessLog())
}

func (s *Server) flushAccessLog() error {
	if s.accessLog == nil {
		return nil
	}
	return s.accessLog.flush()
}
