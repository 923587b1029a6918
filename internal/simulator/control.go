// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// The control API lets a test harness change the workspace while a
// collector scrapes it: create, delete and change endpoints, rotate the
// static tokens. Like the introspection endpoints it needs no token.

const (
	errorCodeInvalidParameter = "INVALID_PARAMETER_VALUE"
	errorCodeAlreadyExists    = "RESOURCE_ALREADY_EXISTS"
	errorCodeInternal         = "INTERNAL_ERROR"
	// maxControlBodyBytes bounds control request bodies; real ones are tiny.
	maxControlBodyBytes = 1 << 20
)

type createEndpointRequest struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

type setTokensRequest struct {
	Tokens []string `json:"tokens"`
}

// handleCreateEndpoint is POST /simulator/endpoints: it adds an endpoint
// and answers 201 with its list item.
func (s *Server) handleCreateEndpoint(w http.ResponseWriter, r *http.Request) {
	var req createEndpointRequest
	if err := decodeControlBody(w, r, &req); err != nil {
		writeBadRequest(w, err)
		return
	}
	if err := validateEndpointName(req.Name); err != nil {
		writeBadRequest(w, err)
		return
	}
	kind, err := parseKind(req.Kind)
	if err != nil {
		writeBadRequest(w, err)
		return
	}
	entry, err := s.catalog.create(kind, req.Name)
	switch {
	case errors.Is(err, errEndpointExists):
		writeJSON(w, http.StatusConflict, apiError{ErrorCode: errorCodeAlreadyExists, Message: fmt.Sprintf("Serving endpoint with name %s already exists", req.Name)})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, apiError{ErrorCode: errorCodeInternal, Message: err.Error()})
	default:
		writeJSONBytes(w, http.StatusCreated, entry.summary)
	}
}

// handleDeleteEndpoint is DELETE /simulator/endpoints/{name}. The windows
// already served for the endpoint stay in the truth.
func (s *Server) handleDeleteEndpoint(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.catalog.remove(name); err != nil {
		writeJSON(w, http.StatusNotFound, apiError{ErrorCode: errorCodeNotFound, Message: endpointNotFoundMessage(name)})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleUpdateEndpoint is PATCH /simulator/endpoints/{name}: it changes the
// states list and get report, or the /metrics status, and answers 200 with
// the endpoint's get body.
func (s *Server) handleUpdateEndpoint(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var patch statusPatch
	if err := decodeControlBody(w, r, &patch); err != nil {
		writeBadRequest(w, err)
		return
	}
	entry, err := s.catalog.update(name, patch)
	switch {
	case errors.Is(err, errEndpointNotFound):
		writeJSON(w, http.StatusNotFound, apiError{ErrorCode: errorCodeNotFound, Message: endpointNotFoundMessage(name)})
	case errors.Is(err, errInvalidPatch):
		writeBadRequest(w, err)
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, apiError{ErrorCode: errorCodeInternal, Message: err.Error()})
	default:
		writeJSONBytes(w, http.StatusOK, entry.detail)
	}
}

// handleSetTokens is PUT /simulator/tokens: the given tokens replace the
// accepted static tokens at once, as when a workspace admin rotates them.
// An empty list leaves only issued tokens valid.
func (s *Server) handleSetTokens(w http.ResponseWriter, r *http.Request) {
	var req setTokensRequest
	if err := decodeControlBody(w, r, &req); err != nil {
		writeBadRequest(w, err)
		return
	}
	if req.Tokens == nil {
		writeBadRequest(w, errors.New("tokens is required"))
		return
	}
	for i, token := range req.Tokens {
		if token == "" {
			writeBadRequest(w, fmt.Errorf("tokens[%d] is empty", i))
			return
		}
	}
	s.credentials.setStatic(req.Tokens)
	w.WriteHeader(http.StatusNoContent)
}

// handleRequests is GET /simulator/requests; with ?reset=1 it also zeroes
// the counts it returns.
func (s *Server) handleRequests(w http.ResponseWriter, r *http.Request) {
	reset := false
	if value := r.URL.Query().Get("reset"); value != "" {
		var err error
		if reset, err = strconv.ParseBool(value); err != nil {
			writeBadRequest(w, fmt.Errorf("invalid reset %q: want 1 or 0", value))
			return
		}
	}
	writeJSON(w, http.StatusOK, s.requests.snapshot(reset))
}

// handleResetRequests is DELETE /simulator/requests.
func (s *Server) handleResetRequests(w http.ResponseWriter, _ *http.Request) {
	s.requests.snapshot(true)
	w.WriteHeader(http.StatusNoContent)
}

// decodeControlBody decodes a JSON body strictly: an unknown field is more
// likely a typo in a test than something to ignore.
func decodeControlBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxControlBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("invalid JSON body: trailing data after the object")
	}
	return nil
}

func writeBadRequest(w http.ResponseWriter, err error) {
	writeJSON(w, http.StatusBadRequest, apiError{ErrorCode: errorCodeInvalidParameter, Message: err.Error()})
}
