// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Workspace-level faults make a whole call fail rather than one endpoint's
// /metrics: the list call, the get call of every endpoint, or both token
// endpoints, as when a workspace's API or its identity provider is down.
// They let the receiver's tests check its backoff and Retry-After handling
// during discovery and token renewal, and, with echo_request,
// amplified_describe and huge_list, what a hostile workspace can make it
// hold or log.

// The calls a workspace-level fault can be set on, as named by
// PUT /simulator/faults/{call}.
const (
	faultCallList  = "list"
	faultCallGet   = "get"
	faultCallToken = "token"
)

// workspaceFaultModes are the modes a workspace-level fault of each call
// may use: the other modes alter a /metrics exposition, which none of these
// calls serve.
var workspaceFaultModes = map[string][]FaultMode{
	faultCallList:  {FaultStatus, FaultSlowHeaders, FaultEchoRequest, FaultHugeList},
	faultCallGet:   {FaultStatus, FaultSlowHeaders, FaultEchoRequest, FaultAmplifiedDescribe},
	faultCallToken: {FaultStatus, FaultSlowHeaders, FaultEchoRequest},
}

// tokenUnavailableDescription is the error_description of a token fault.
//
//nolint:gosec // G101: an error message that mentions a token, not a credential
const tokenUnavailableDescription = "The token service is temporarily unavailable. Please retry after some time."

// workspaceFaults holds the workspace-level faults; nil means none. The
// handlers load them on every request, so they are atomic rather than
// guarded by a lock.
type workspaceFaults struct {
	list, get, token atomic.Pointer[activeFault]
}

// slot returns where the fault of call is kept, or nil for an unknown call.
func (wf *workspaceFaults) slot(call string) *atomic.Pointer[activeFault] {
	switch call {
	case faultCallList:
		return &wf.list
	case faultCallGet:
		return &wf.get
	case faultCallToken:
		return &wf.token
	}
	return nil
}

// SetAPIFault makes a workspace call answer as f describes until the next
// SetAPIFault for that call; a nil f clears it. call is "list" (GET
// /api/2.0/serving-endpoints) or "get" (GET /api/2.0/serving-endpoints/{name},
// whatever the name, existing or not). Requests are still authenticated
// first, as for /metrics faults. The modes status, slow_headers and
// echo_request apply to both calls, huge_list to the list call and
// amplified_describe to the get call (which then still answers 404 for an
// endpoint that does not exist). It is the Go form of PUT
// /simulator/faults/{call} and fails, changing nothing, when call is
// unknown or f is invalid.
func (s *Server) SetAPIFault(call string, f *Fault) error {
	if call != faultCallList && call != faultCallGet {
		return fmt.Errorf("simulator: set API fault: unknown call %q: want %s or %s (token faults are set with SetTokenFault)",
			call, faultCallList, faultCallGet)
	}
	if err := s.setWorkspaceFault(call, f); err != nil {
		return fmt.Errorf("simulator: set %s fault: %w", call, err)
	}
	return nil
}

// SetTokenFault makes both client-credentials token endpoints, POST
// /oidc/v1/token and POST /{tenant}/oauth2/v2.0/token, answer as f
// describes until the next SetTokenFault; a nil f clears it. The fault
// comes before any check of the request, as an outage of the token service
// would. Only the modes status, slow_headers and echo_request (which echoes
// the form too) apply. It is the Go form of PUT /simulator/faults/token and
// fails, changing nothing, when f is invalid.
func (s *Server) SetTokenFault(f *Fault) error {
	if err := s.setWorkspaceFault(faultCallToken, f); err != nil {
		return fmt.Errorf("simulator: set token fault: %w", err)
	}
	return nil
}

// setWorkspaceFault validates f and stores a copy of it for call, which
// must be known.
func (s *Server) setWorkspaceFault(call string, f *Fault) error {
	slot := s.workspaceFaults.slot(call)
	if f == nil {
		slot.Store(nil)
		return nil
	}
	if _, known := faultModes[f.Mode]; known && !slices.Contains(workspaceFaultModes[call], f.Mode) {
		return fmt.Errorf("fault.mode: mode %s is not supported for the %s call: want %s",
			f.Mode, call, joinModes(workspaceFaultModes[call]))
	}
	fault, err := newActiveFault(f)
	if err != nil {
		return err
	}
	slot.Store(fault)
	return nil
}

// joinModes names modes as "a, b or c".
func joinModes(modes []FaultMode) string {
	names := make([]string, len(modes))
	for i, mode := range modes {
		names[i] = string(mode)
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// serveAPIFault applies the fault of call, if any, to a list or get
// request and reports whether it answered; when it did not, the caller
// answers normally. name is the endpoint of a get request.
func (s *Server) serveAPIFault(w http.ResponseWriter, r *http.Request, call, name string) bool {
	f := s.workspaceFaults.slot(call).Load()
	if f == nil {
		return false
	}
	switch f.Mode {
	case FaultStatus:
		e := faultError(f.Status, name)
		if call == faultCallList && f.Status == http.StatusNotFound {
			// The list call names no endpoint: a 404 there means the API
			// itself is missing, as for an unknown /api/ path.
			e = apiError{ErrorCode: errorCodeNoSuchAPI, Message: fmt.Sprintf("No API found for '%s %s'", r.Method, r.URL.Path)}
		}
		s.writeStatusFault(w, f, e)
		return true
	case FaultSlowHeaders:
		if err := s.wait(r.Context(), time.Duration(f.Delay)); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, apiError{ErrorCode: errorCodeUnavailable, Message: err.Error()})
			return true
		}
	case FaultEchoRequest:
		s.countAPIStatus(f.Status)
		writeEchoFault(w, r, f, false)
		return true
	}
	// huge_list and amplified_describe alter the normal answer: the
	// handlers apply them.
	return false
}

// serveTokenFault applies the token fault, if any, to a token request and
// reports whether it answered. Every answer it gives is a refusal, counted
// as the token endpoints count theirs.
func (s *Server) serveTokenFault(w http.ResponseWriter, r *http.Request) bool {
	f := s.workspaceFaults.token.Load()
	if f == nil {
		return false
	}
	s.counters.faultedTokens.Add(1)
	switch f.Mode {
	case FaultStatus:
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		s.writeTokenError(w, f.Status, oauthError{Error: oauthErrorTemporarilyUnavailable, Description: tokenUnavailableDescription}, false)
		return true
	case FaultEchoRequest:
		// The form, client secret included, is echoed too.
		writeEchoFault(w, r, f, true)
		return true
	case FaultSlowHeaders:
		if err := s.wait(r.Context(), time.Duration(f.Delay)); err != nil {
			s.writeTokenError(w, http.StatusServiceUnavailable, oauthError{Error: oauthErrorTemporarilyUnavailable, Description: err.Error()}, false)
			return true
		}
	}
	return false
}

// setWorkspaceFaultRequest is the body of PUT /simulator/faults/{call}.
type setWorkspaceFaultRequest struct {
	Fault faultChange `json:"fault"`
}

// handleSetWorkspaceFault is PUT /simulator/faults/{call}: {"fault": {...}}
// sets the fault of the list, get or token call, {"fault": null} clears it.
func (s *Server) handleSetWorkspaceFault(w http.ResponseWriter, r *http.Request) {
	call := r.PathValue("call")
	if s.workspaceFaults.slot(call) == nil {
		writeBadRequest(w, fmt.Errorf("unknown fault call %q: want %s, %s or %s", call, faultCallList, faultCallGet, faultCallToken))
		return
	}
	var req setWorkspaceFaultRequest
	if err := decodeControlBody(w, r, &req); err != nil {
		writeBadRequest(w, err)
		return
	}
	if !req.Fault.set {
		writeBadRequest(w, errors.New(`fault is required: {"fault": {...}} sets the fault, {"fault": null} clears it`))
		return
	}
	if err := s.setWorkspaceFault(call, req.Fault.fault); err != nil {
		writeBadRequest(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
