// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// SetFault makes the named endpoint's /metrics answer as f describes until
// the next SetFault; a nil f clears the fault. It is the Go form of
// PATCH /simulator/endpoints/{name} {"fault": ...} and fails, changing
// nothing, when the endpoint does not exist or f is invalid (the error
// names the offending field).
func (s *Server) SetFault(endpoint string, f *Fault) error {
	_, err := s.catalog.update(endpoint, statusPatch{Fault: faultChange{set: true, fault: f}})
	if err != nil {
		return fmt.Errorf("simulator: set fault on %s: %w", endpoint, err)
	}
	return nil
}

// serveReplacingFault answers a fault that needs no normal body.
func (s *Server) serveReplacingFault(w http.ResponseWriter, r *http.Request, f *activeFault, name string) {
	s.counters.faulted.Add(1)
	switch f.Mode {
	case FaultStatus:
		s.writeStatusFault(w, f, faultError(f.Status, name))
	case FaultHTMLLogin:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(htmlLoginPage)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(htmlLoginPage))
	case FaultRedirect:
		w.Header().Set("Location", f.Location)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusFound)
	case FaultGzipBomb:
		body := gzipBombBody(f.Size)
		w.Header().Set("Content-Type", expositionContentType)
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	case FaultEchoRequest:
		s.countAPIStatus(f.Status)
		writeEchoFault(w, r, f, false)
	}
}

// writeStatusFault answers a status fault with the Databricks error body e.
// Its 401s and 404s are counted like the real ones, so that stats tell a
// test what the client saw whatever produced it.
func (s *Server) writeStatusFault(w http.ResponseWriter, f *activeFault, e apiError) {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	s.countAPIStatus(f.Status)
	writeJSON(w, f.Status, e)
}

// serveBodyFault answers a fault that alters the window's normal body;
// record adds the window to the truth.
func (s *Server) serveBodyFault(w http.ResponseWriter, r *http.Request, f *activeFault, ep *endpoint, current window, body []byte, record func()) {
	s.counters.faulted.Add(1)
	switch f.Mode {
	case FaultSlowHeaders:
		if err := s.wait(r.Context(), time.Duration(f.Delay)); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, apiError{ErrorCode: errorCodeUnavailable, Message: err.Error()})
			return
		}
	case FaultSlowBody:
		record()
		writeExpositionHeader(w, len(body))
		half := len(body) / 2
		_, _ = w.Write(body[:half])
		_ = http.NewResponseController(w).Flush()
		if err := s.wait(r.Context(), time.Duration(f.Delay)); err != nil {
			// The client left or the server closes: cut the connection
			// so the client never takes the short body for a whole one.
			panic(http.ErrAbortHandler)
		}
		_, _ = w.Write(body[half:])
		return
	case FaultTruncated:
		writeExpositionHeader(w, len(body))
		_, _ = w.Write(body[:len(body)/2])
		_ = http.NewResponseController(w).Flush()
		// Abort closes the connection short of the declared length: the
		// client reads an unexpected EOF. The server does not log it.
		panic(http.ErrAbortHandler)
	case FaultSeriesChurn:
		// Never cached: every scrape brings new series.
		body = seriesChurnBody(body, f.Labels, f.scrapes.Add(1), current.endMillis)
	default:
		body = f.derivedBody(ep, current.index, func() []byte { return s.faultBody(f, ep, current, body) })
	}
	if f.recordsTruth() {
		record()
	}
	writeExpositionHeader(w, len(body))
	_, _ = w.Write(body)
}

// faultBody builds the body a mode derives from the window's normal one.
func (s *Server) faultBody(f *activeFault, ep *endpoint, current window, body []byte) []byte {
	switch f.Mode {
	case FaultMalformed:
		return malformedBody(body, current.endMillis)
	case FaultDuplicateSeries:
		return duplicateSeriesBody(body)
	case FaultNaNInf:
		return nanInfBody(generateWindowTruth(s.cfg.Seed, ep, current))
	case FaultHugeBody:
		return hugeBody(body, f.Size, f.PaddingSeries, current.endMillis)
	case FaultInvalidUTF8:
		return invalidUTF8Body(body)
	case FaultManyLabels:
		return manyLabelsBody(body, f.Labels, f.LabelValueLength, current.endMillis)
	}
	panic(errors.New("simulator: fault mode " + string(f.Mode) + " derives no body"))
}

func writeExpositionHeader(w http.ResponseWriter, length int) {
	w.Header().Set("Content-Type", expositionContentType)
	w.Header().Set("Content-Length", strconv.Itoa(length))
	w.WriteHeader(http.StatusOK)
}
