// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"golang.org/x/oauth2"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/accumulator"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/exposition"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"
)

// The values of the error.type attribute of databricks.serving.scrape.up.
const (
	errorTypeAuth        = "auth"
	errorTypeNotFound    = "not_found"
	errorTypeRateLimited = "rate_limited"
	errorTypeTimeout     = "timeout"
	errorTypeParse       = "parse"
	errorTypeServerError = "server_error"
	errorTypeNetwork     = "network"
	errorTypeLimit       = "limit"
	// errorTypeInternal is a bug in the receiver that the endpoint's answer or state triggered: the scrape was
	// dropped and the endpoint's state reset (see scrapeEndpoint).
	errorTypeInternal = "internal"
)

// internalError marks a scrape that failed because of a bug in the receiver (a recovered panic).
type internalError struct{ err error }

func (e *internalError) Error() string { return e.err.Error() }
func (e *internalError) Unwrap() error { return e.err }

// parseError marks a body that could not be parsed.
type parseError struct{ err error }

func (e *parseError) Error() string { return e.err.Error() }
func (e *parseError) Unwrap() error { return e.err }

// classifyError maps a failed scrape to the reason class users alert and filter on.
func classifyError(err error) string {
	var apiErr *workspace.APIError
	var authErr *workspace.AuthError
	var parseErr *parseError
	var netErr net.Error
	var limitErr *limitError
	var bodyLimitErr *workspace.BodyLimitError
	var internalErr *internalError
	switch {
	case errors.As(err, &internalErr):
		return errorTypeInternal
	case errors.As(err, &limitErr), errors.As(err, &bodyLimitErr):
		return errorTypeLimit
	case errors.As(err, &authErr):
		return classifyTokenFailure(authErr)
	case errors.Is(err, workspace.ErrHTMLPage):
		return errorTypeAuth
	case errors.As(err, &apiErr):
		switch apiErr.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return errorTypeAuth
		case http.StatusNotFound:
			return errorTypeNotFound
		case http.StatusTooManyRequests:
			return errorTypeRateLimited
		default:
			return errorTypeServerError
		}
	case errors.As(err, &parseErr):
		return errorTypeParse
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return errorTypeTimeout
	default:
		return errorTypeNetwork
	}
}

// classifyTokenFailure tells credentials that were refused (auth: the alert that asks for new ones) from a token
// service that is down, throttling or unreachable, which new credentials would not fix.
func classifyTokenFailure(err *workspace.AuthError) string {
	var retrieve *oauth2.RetrieveError
	var netErr net.Error
	switch {
	case errors.As(err, &retrieve) && retrieve.Response != nil:
		switch status := retrieve.Response.StatusCode; {
		case status == http.StatusTooManyRequests:
			return errorTypeRateLimited
		case status >= 500:
			return errorTypeServerError
		}
		return errorTypeAuth
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return errorTypeTimeout
	case errors.As(err, &netErr):
		return errorTypeNetwork
	}
	return errorTypeAuth
}

// recordScrapeHealth writes the endpoint's scrape.up, scrape.duration, scrape.samples and windows.missed points.
func (c *converter) recordScrapeHealth(start time.Time, duration time.Duration, scrapeErr error) {
	ts := pcommon.NewTimestampFromTime(start)
	tmpl := c.ep.resources.endpoint
	c.ep.lastErrorType = ""
	if scrapeErr != nil {
		c.ep.lastErrorType = classifyError(scrapeErr)
	}
	c.recordUp(ts)
	c.recordComputed(tmpl, scrapeDurationMetric, "", "", ts, duration.Seconds())
	c.recordComputed(tmpl, scrapeSamplesMetric, "", "", ts, float64(c.samples))
	c.recordMissedWindows(tmpl, ts)
	exceeded := c.trims()
	if limit := failedLimit(scrapeErr); limit != "" {
		exceeded = append(exceeded, limitCount{limit: limit, n: 1})
	}
	c.recordLimits(tmpl, ts, exceeded)
}

// recordSkipped is the scrape health of an endpoint that was not asked this cycle because it waits out
// Retry-After or a backoff: scrape.up 0 with the error.type of the answer that made it wait, so the endpoint is
// "not collected" for as long as it is not, and windows.missed as on every scrape.
func (c *converter) recordSkipped(stamp time.Time) {
	ts := pcommon.NewTimestampFromTime(stamp)
	c.recordUp(ts)
	c.recordMissedWindows(c.ep.resources.endpoint, ts)
}

// recordUp writes scrape.up for the endpoint's last outcome (ep.lastErrorType). Each error.type is a series of
// its own: when the outcome changes, the previous series gets a stale marker at once, so an alert on a failure
// resolves with the first scrape that has another outcome instead of five minutes later.
func (c *converter) recordUp(ts pcommon.Timestamp) { c.recordOutcome(scrapeUpMetric, ts) }

// recordOutcome writes an up metric (def) for the last outcome of what c.ep stands for, ep.lastErrorType.
func (c *converter) recordOutcome(def metricDef, ts pcommon.Timestamp) {
	if !def.enabled(c.metricsConfig) {
		return
	}
	tmpl := c.ep.resources.endpoint
	var ref *seriesRef
	if c.ep.lastErrorType != "" {
		ref = c.computedSeries(tmpl, def, "error.type", c.ep.lastErrorType)
	} else {
		ref = c.computedSeries(tmpl, def, "", "")
	}
	if previous, ok := c.ep.series[c.ep.upStream]; ok && c.ep.upStream != ref.key {
		if at, ended := c.ep.acc.End(previous.key); ended {
			c.stale.write(previous, at)
		}
	}
	c.ep.upStream = ref.key
	value := 1.0
	if c.ep.lastErrorType != "" {
		value = 0
	}
	if em := c.ep.acc.AddGauge(ref.series(), accumulator.KindGauge, ts); em.Emit {
		_ = c.appendNumber(ref, 0, em.Timestamp, value)
	}
}

// recordMissedWindows adds the endpoint's newly missed windows to its count and writes it: on every scrape, so
// that an alert on its increase sees the series from the first cycle.
func (c *converter) recordMissedWindows(tmpl *resourceTemplate, ts pcommon.Timestamp) {
	if !windowsMissedMetric.enabled(c.metricsConfig) {
		return
	}
	ref := c.computedSeries(tmpl, windowsMissedMetric, "", "")
	em, total := c.ep.acc.AddComputedSum(ref.series(), ts, float64(c.ep.missedPending))
	c.ep.missedPending = 0
	_ = c.writeSum(ref, em, total)
}

// stateRewriteInterval is how often the state metrics are written while they do not change. They can only
// change when the endpoint descriptions are refreshed (discovery.refresh_interval), so writing them on every
// scrape would only multiply points (eleven per endpoint and scrape, more than its metrics); once a minute keeps
// them well inside Prometheus' five-minute lookback and Datadog's evaluation windows.
const stateRewriteInterval = time.Minute

// recordStates writes the endpoint's readiness and config update state, and each served entity's deployment
// state, from the endpoint's last description: when they change, and otherwise once every stateRewriteInterval.
func (c *converter) recordStates(at time.Time) {
	desc := c.ep.description
	signature := c.stateSignature()
	if signature == c.ep.statesWritten && at.Sub(c.ep.statesWrittenAt) < stateRewriteInterval {
		return
	}
	c.ep.statesWritten, c.ep.statesWrittenAt = signature, at
	ts := pcommon.NewTimestampFromTime(at)
	c.recordState(c.ep.resources.endpoint, endpointStateMetric, readyStates, desc.State.Ready, ts)
	c.recordState(c.ep.resources.endpoint, configUpdateStateMetric, configUpdateStates, desc.State.ConfigUpdate, ts)
	for _, entity := range desc.Config.ServedEntities {
		if tmpl, ok := c.ep.resources.entities[entity.Name]; ok {
			c.recordState(tmpl, deploymentStateMetric, deploymentStates, entity.State.Deployment, ts)
		}
	}
}

// stateSignature identifies the states to write and the resources they go to (a new description may change
// either), in the converter's key buffer.
func (c *converter) stateSignature() string {
	desc := c.ep.description
	b := c.keyBuf[:0]
	b = append(b, c.ep.resources.endpoint.key...)
	b = appendPair(b, desc.State.Ready, desc.State.ConfigUpdate)
	for _, entity := range desc.Config.ServedEntities {
		if tmpl, ok := c.ep.resources.entities[entity.Name]; ok {
			b = append(b, tmpl.key...)
			b = appendPair(b, entity.Name, entity.State.Deployment)
		}
	}
	c.keyBuf = b
	if string(b) == c.ep.statesWritten {
		return c.ep.statesWritten // no allocation while nothing changes
	}
	return string(b)
}

// recordState writes one point per known state, 1 for the current one: the semantic-conventions pattern for
// states (e.g. hw.status), so "in state X" is the one-line query state{state="X"} == 1.
func (c *converter) recordState(tmpl *resourceTemplate, def metricDef, known []string, current string, ts pcommon.Timestamp) {
	if current == "" {
		return // Databricks did not say; no guess.
	}
	for _, state := range known {
		c.recordComputed(tmpl, def, "state", state, ts, boolValue(state == current))
	}
	if !slices.Contains(known, current) {
		c.recordComputed(tmpl, def, "state", current, ts, 1)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// recordComputed writes one point of a metric the receiver computes itself, with at most one attribute
// (attrKey "" for none). It runs several times per endpoint and scrape, so it builds no attribute map unless the
// series is new.
func (c *converter) recordComputed(tmpl *resourceTemplate, def metricDef, attrKey, attrValue string, ts pcommon.Timestamp, value float64) {
	if !def.enabled(c.metricsConfig) {
		return
	}
	ref := c.computedSeries(tmpl, def, attrKey, attrValue)
	em := c.ep.acc.AddGauge(ref.series(), accumulator.KindGauge, ts)
	if !em.Emit {
		return
	}
	_ = c.appendNumber(ref, 0, em.Timestamp, value)
}

// computedSeries returns the stream record of a computed metric of tmpl with at most one attribute.
func (c *converter) computedSeries(tmpl *resourceTemplate, def metricDef, attrKey, attrValue string) *seriesRef {
	b := c.streamKeyPrefix(tmpl, def)
	if attrKey != "" {
		b = appendPair(b, attrKey, attrValue)
	}
	c.keyBuf = b
	return c.series(b, tmpl, def, true, func(string) []exposition.Label {
		if attrKey == "" {
			return nil
		}
		return []exposition.Label{{Name: attrKey, Value: attrValue}}
	})
}
