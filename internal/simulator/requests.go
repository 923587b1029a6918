// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"maps"
	"sync"
)

// RequestCounts is the body of GET /simulator/requests: how many /metrics
// requests each credential made, by endpoint name, then credential label
// ("static:<first 8 hex digits of the token's SHA-256>", "oauth:<client id>"
// or "azure:<client id>"). Fleet tests give every collector its own
// credential and check that each endpoint is scraped by exactly one.
type RequestCounts map[string]map[string]int64

// requestLog counts authenticated /metrics requests per endpoint and
// credential, whatever their outcome: a test of retries wants to see the
// requests that got a 404 too.
type requestLog struct {
	mu     sync.Mutex
	counts RequestCounts
}

func newRequestLog() *requestLog {
	return &requestLog{counts: make(RequestCounts)}
}

func (l *requestLog) record(endpoint, credential string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	byCredential := l.counts[endpoint]
	if byCredential == nil {
		byCredential = make(map[string]int64)
		l.counts[endpoint] = byCredential
	}
	byCredential[credential]++
}

// snapshot returns a copy of the counts and, when reset is set, zeroes them
// in the same step so that no request is lost between reading and zeroing.
func (l *requestLog) snapshot(reset bool) RequestCounts {
	l.mu.Lock()
	defer l.mu.Unlock()
	if reset {
		counts := l.counts
		l.counts = make(RequestCounts)
		return counts
	}
	counts := make(RequestCounts, len(l.counts))
	for endpoint, byCredential := range l.counts {
		counts[endpoint] = maps.Clone(byCredential)
	}
	return counts
}
