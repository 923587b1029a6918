// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package ddintake

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Paths of the Datadog intake that the datadog exporter uses. Any other path is accepted and only counted.
const (
	PathValidate = "/api/v1/validate"
	PathSeries   = "/api/v2/series"
	PathSketches = "/api/beta/sketches"
	PathIntake   = "/intake/"
)

// Outcome counters of Requests, kept in total and per path as "<counter>:<path>".
const (
	// CountRejected counts requests other than validate refused for a wrong or missing API key (403).
	CountRejected = "rejected"
	// CountFault counts requests answered with the status set by SetPayloadStatus.
	CountFault = "fault"
	// CountInvalid counts requests whose body could not be read or decoded (400, 405, 413, 415).
	CountInvalid = "invalid"
)

const apiKeyHeader = "DD-API-KEY" //nolint:gosec // G101: a header name, not a credential

// Server is a Datadog metrics intake for tests. The zero value is not usable; call New.
type Server struct {
	apiKey        string
	store         *store
	handler       http.Handler
	payloadStatus atomic.Int32

	lifecycle sync.Mutex
	listener  net.Listener
	srv       *http.Server
	served    chan struct{}
}

// New returns a server that accepts apiKey. An empty apiKey accepts any key, including none.
func New(apiKey string) *Server {
	s := &Server{apiKey: apiKey, store: newStore()}
	s.handler = http.HandlerFunc(s.serveHTTP)
	return s
}

// Handler returns the intake's HTTP handler, for use with net/http/httptest instead of Start.
func (s *Server) Handler() http.Handler {
	return s.handler
}

// Start listens on addr, which must be a loopback address such as "127.0.0.1:0", and serves in the background.
func (s *Server) Start(addr string) error {
	if err := checkLoopback(addr); err != nil {
		return err
	}

	s.lifecycle.Lock()
	defer s.lifecycle.Unlock()
	if s.srv != nil {
		return errors.New("ddintake: server already started")
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("ddintake: listen on %q: %w", addr, err)
	}
	// A host name like "localhost" may resolve to anything; check where we actually are.
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		_ = ln.Close()
		return fmt.Errorf("ddintake: %q resolved to non-loopback address %s", addr, ln.Addr())
	}

	s.listener = ln
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	s.served = make(chan struct{})
	go func(srv *http.Server, done chan<- struct{}) {
		defer close(done)
		// Serve always returns an error; after Close it is http.ErrServerClosed, which is the normal end.
		_ = srv.Serve(ln)
	}(s.srv, s.served)
	return nil
}

// URL returns the base URL of the started server, e.g. "http://127.0.0.1:40123", or "" before Start.
func (s *Server) URL() string {
	s.lifecycle.Lock()
	defer s.lifecycle.Unlock()
	if s.listener == nil {
		return ""
	}
	return "http://" + s.listener.Addr().String()
}

// Close stops the server started by Start and closes its connections. Received data stays readable. Closing a
// server that is not started does nothing.
func (s *Server) Close() error {
	s.lifecycle.Lock()
	defer s.lifecycle.Unlock()
	if s.srv == nil {
		return nil
	}
	err := s.srv.Close()
	<-s.served
	s.srv, s.listener, s.served = nil, nil, nil
	return err
}

// SetPayloadStatus makes every request except validate answer code without storing anything, to simulate an
// intake outage; 0 restores normal operation. Codes outside 100..599 other than 0 answer 500.
func (s *Server) SetPayloadStatus(code int) {
	if code != 0 && (code < 100 || code > 599) {
		code = http.StatusInternalServerError
	}
	s.payloadStatus.Store(int32(code))
}

// WaitFor polls cond until it returns true or ctx ends, for tests that wait on the exporter's asynchronous sends.
func (s *Server) WaitFor(ctx context.Context, cond func(*Server) bool) error {
	const interval = 20 * time.Millisecond
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if cond(s) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ddintake: condition not met: %w", context.Cause(ctx))
		case <-ticker.C:
		}
	}
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("ddintake: invalid address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("ddintake: refusing non-loopback address %q: the test intake must not be reachable from outside", addr)
	}
	return nil
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	s.store.count(path)
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	// Drain what a handler left unread so the client can reuse the connection.
	defer func() { _, _ = io.Copy(io.Discard, r.Body) }()

	if path == PathValidate {
		s.handleValidate(w, r)
		return
	}

	if code := int(s.payloadStatus.Load()); code != 0 {
		s.store.count(CountFault, CountFault+":"+path)
		writeErrors(w, code, http.StatusText(code))
		return
	}
	if !s.authorized(r) {
		s.store.count(CountRejected, CountRejected+":"+path)
		writeErrors(w, http.StatusForbidden, "Forbidden")
		return
	}

	var err error
	switch path {
	case PathSeries:
		err = s.acceptPayload(r, func(data []byte) error {
			series, decodeErr := decodeSeries(data, r.Header.Get("Content-Type"))
			if decodeErr == nil {
				s.store.addSeries(series)
			}
			return decodeErr
		})
	case PathSketches:
		err = s.acceptPayload(r, func(data []byte) error {
			sketches, decodeErr := decodeSketches(data)
			if decodeErr == nil {
				s.store.addSketches(sketches)
			}
			return decodeErr
		})
	case PathIntake, "/intake":
		err = s.acceptPayload(r, func(data []byte) error {
			doc, decodeErr := decodeHostMetadata(data)
			if decodeErr == nil {
				s.store.addHostMetadata(doc)
			}
			return decodeErr
		})
	default:
		// Other forwarder endpoints (check runs, metadata, ...) are acknowledged so the exporter carries on.
	}

	if err != nil {
		s.store.count(CountInvalid, CountInvalid+":"+path)
		writeErrors(w, statusFor(err), err.Error())
		return
	}
	writeErrors(w, http.StatusAccepted)
}

func (s *Server) handleValidate(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		writeErrors(w, http.StatusForbidden, "Forbidden")
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"valid": true})
}

// authorized reports whether the request carries the API key. The forwarder sends it in the DD-API-KEY header;
// the api_key query parameter is the form Datadog documents for clients that cannot set headers.
func (s *Server) authorized(r *http.Request) bool {
	if s.apiKey == "" {
		return true
	}
	key := r.Header.Get(apiKeyHeader)
	if key == "" {
		key = r.URL.Query().Get("api_key")
	}
	return subtle.ConstantTimeCompare([]byte(key), []byte(s.apiKey)) == 1
}

// errMethodNotAllowed is returned for payload paths reached with another method than POST.
var errMethodNotAllowed = errors.New("method not allowed")

func (s *Server) acceptPayload(r *http.Request, accept func([]byte) error) error {
	if r.Method != http.MethodPost {
		return fmt.Errorf("%w: %s", errMethodNotAllowed, r.Method)
	}
	data, err := readBody(r)
	if err != nil {
		return err
	}
	return accept(data)
}

func statusFor(err error) int {
	switch {
	case errors.Is(err, errMethodNotAllowed):
		return http.StatusMethodNotAllowed
	case errors.Is(err, errUnsupportedEncoding):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	default:
		return http.StatusBadRequest
	}
}

// writeErrors answers in the shape of Datadog's intake: {"errors":[...]}, an empty list on success.
func writeErrors(w http.ResponseWriter, code int, errs ...string) {
	if errs == nil {
		errs = []string{}
	}
	writeJSON(w, code, map[string][]string{"errors": errs})
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}
