// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// accessLog writes one line per /metrics request, for load benchmarks that measure scrape cycles from the
// server's side (first request to last response):
//
//	<arrival unix ns> <response written unix ns> <status> <endpoint>
//
// Lines are buffered; Close flushes them.
type accessLog struct {
	mu  sync.Mutex
	w   *bufio.Writer
	buf []byte
	err error
}

// WithAccessLog makes the server write a line per /metrics request to w (see accessLog). The server flushes the
// log on Close; w itself is not closed.
func WithAccessLog(w io.Writer) Option {
	return func(s *Server) { s.accessLog = &accessLog{w: bufio.NewWriterSize(w, 64<<10)} }
}

func (l *accessLog) record(arrival, done time.Time, status int, endpoint string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := strconv.AppendInt(l.buf[:0], arrival.UnixNano(), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, done.UnixNano(), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, endpoint...)
	b = append(b, '\n')
	l.buf = b
	if _, err := l.w.Write(b); err != nil && l.err == nil {
		l.err = err
	}
}

func (l *accessLog) flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.w.Flush(); err != nil && l.err == nil {
		l.err = err
	}
	return l.err
}

// logAccess wraps the /metrics handler with the access log, when there is one.
func (s *Server) logAccess(next http.HandlerFunc) http.Handler {
	if s.accessLog == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrival := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next(rec, r)
		s.accessLog.record(arrival, time.Now(), rec.status, r.PathValue("name"))
	})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the connection's writer (the slow-body faults flush through it).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
