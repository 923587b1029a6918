// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import "sync/atomic"

// Stats is the body of GET /simulator/stats: what the simulator was asked,
// for load and fault tests to check the receiver's request pattern.
type Stats struct {
	Requests      RequestStats      `json:"requests"`
	MaxInFlight   int64             `json:"max_in_flight"`
	TokenRequests TokenRequestStats `json:"token_requests"`
	// ExpiredTokenRejections counts the 401s (among Requests.Unauthorized)
	// answered to an issued token past its expiry.
	ExpiredTokenRejections int64 `json:"expired_token_rejections"`
}

// RequestStats counts /api/ requests. List, Get and Metrics count every
// authenticated request of that kind whatever its outcome, the answers of
// workspace-level faults (Server.SetAPIFault) included; Unauthorized counts
// 401s and NotFound every 404, those of status faults included; Faulted
// counts only the /metrics answers an endpoint's fault changed, so that it
// keeps its meaning when a test also fails the list or get call.
type RequestStats struct {
	List         int64 `json:"list"`
	Get          int64 `json:"get"`
	Metrics      int64 `json:"metrics"`
	Unauthorized int64 `json:"unauthorized"`
	NotFound     int64 `json:"not_found"`
	Faulted      int64 `json:"faulted"`
}

// TokenRequestStats counts the token endpoints' answers: OAuth and Azure
// count issued tokens, Rejected every refusal of either, token fault
// answers included, so that their sum (Total) counts every token request.
// Faulted counts the requests a token fault changed: a status answer is
// also a Rejected one, a slow_headers answer also counts as what it finally
// was.
type TokenRequestStats struct {
	OAuth    int64 `json:"oauth"`
	Azure    int64 `json:"azure"`
	Rejected int64 `json:"rejected"`
	Faulted  int64 `json:"faulted"`
}

// Total is the number of token requests answered, by either endpoint.
func (t TokenRequestStats) Total() int64 {
	return t.OAuth + t.Azure + t.Rejected
}

type requestCounters struct {
	list, get, metrics, unauthorized, notFound atomic.Int64
	faulted                                    atomic.Int64
	inFlight, maxInFlight                      atomic.Int64
	oauthTokens, azureTokens, rejectedTokens   atomic.Int64
	faultedTokens                              atomic.Int64
	expiredTokens                              atomic.Int64
}

// enter marks the start of an /api/ request and keeps the high-water mark
// of concurrent requests; the returned function marks its end.
func (c *requestCounters) enter() (exit func()) {
	current := c.inFlight.Add(1)
	for {
		highest := c.maxInFlight.Load()
		if current <= highest || c.maxInFlight.CompareAndSwap(highest, current) {
			break
		}
	}
	return func() { c.inFlight.Add(-1) }
}

func (c *requestCounters) snapshot() Stats {
	return Stats{
		Requests: RequestStats{
			List:         c.list.Load(),
			Get:          c.get.Load(),
			Metrics:      c.metrics.Load(),
			Unauthorized: c.unauthorized.Load(),
			NotFound:     c.notFound.Load(),
			Faulted:      c.faulted.Load(),
		},
		MaxInFlight: c.maxInFlight.Load(),
		TokenRequests: TokenRequestStats{
			OAuth:    c.oauthTokens.Load(),
			Azure:    c.azureTokens.Load(),
			Rejected: c.rejectedTokens.Load(),
			Faulted:  c.faultedTokens.Load(),
		},
		ExpiredTokenRejections: c.expiredTokens.Load(),
	}
}
