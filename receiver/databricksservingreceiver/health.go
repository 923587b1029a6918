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
)

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
	switch {
	case errors.As(err, &limitErr), errors.As(err, &bodyLimitErr):
		return errorTypeLimit
	case errors.As(err, &authErr), errors.Is(err, workspace.ErrHTMLPage):
		return errorTypeAuth
	case errors.As(err, &apiErr):
		switch {
		case apiErr.StatusCode == http.StatusUnauthorized || apiErr.StatusCode == http.StatusForbidden:
			return errorTypeAuth
		case apiErr.StatusCode == http.StatusNotFound:
			return errorTypeNotFound
		case apiErr.StatusCode == http.StatusTooManyRequests:
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

// recordScrapeHealth writes the endpoint's scrape.up, scrape.duration and scrape.samples points.
func (c *converter) recordScrapeHealth(start time.Time, duration time.Duration, scrapeErr error) {
	ts := pcommon.NewTimestampFromTime(start)
	up, attrs := int64(1), pcommon.NewMap()
	if scrapeErr != nil {
		up = 0
		attrs.PutStr("error.type", classifyError(scrapeErr))
	}
	c.recordComputed(c.ep.resources.endpoint, scrapeUpMetric, attrs, ts, float64(up))
	c.recordComputed(c.ep.resources.endpoint, scrapeDurationMetric, pcommon.NewMap(), ts, duration.Seconds())
	c.recordComputed(c.ep.resources.endpoint, scrapeSamplesMetric, pcommon.NewMap(), ts, float64(c.samples))
}

// recordStates writes the endpoint's readiness and config update state, and each served entity's deployment
// state, from the endpoint's last description.
func (c *converter) recordStates(at time.Time) {
	ts := pcommon.NewTimestampFromTime(at)
	desc := c.ep.description
	c.recordState(c.ep.resources.endpoint, endpointStateMetric, readyStates, desc.State.Ready, ts)
	c.recordState(c.ep.resources.endpoint, configUpdateStateMetric, configUpdateStates, desc.State.ConfigUpdate, ts)
	for _, entity := range desc.Config.ServedEntities {
		if tmpl, ok := c.ep.resources.entities[entity.Name]; ok {
			c.recordState(tmpl, deploymentStateMetric, deploymentStates, entity.State.Deployment, ts)
		}
	}
}

// recordState writes one point per known state, 1 for the current one: the semantic-conventions pattern for
// states (e.g. hw.status), so "in state X" is the one-line query state{state="X"} == 1.
func (c *converter) recordState(tmpl *resourceTemplate, def metricDef, known []string, current string, ts pcommon.Timestamp) {
	if current == "" {
		return // Databricks did not say; no guess.
	}
	states := known
	if !slices.Contains(known, current) {
		states = append(slices.Clone(known), current)
	}
	for _, state := range states {
		attrs := pcommon.NewMap()
		attrs.PutStr("state", state)
		value := 0.0
		if state == current {
			value = 1
		}
		c.recordComputed(tmpl, def, attrs, ts, value)
	}
}

// recordComputed writes one point of a metric the receiver computes itself.
func (c *converter) recordComputed(tmpl *resourceTemplate, def metricDef, attrs pcommon.Map, ts pcommon.Timestamp, value float64) {
	if !def.enabled(c.metricsConfig) {
		return
	}
	b := append(c.keyBuf[:0], tmpl.key...)
	b = append(b, '\xfd')
	b = append(b, def.name...)
	for k, v := range attrs.All() {
		b = appendPair(b, k, v.Str())
	}
	c.keyBuf = b
	key := string(b)
	if !c.ep.acc.NewGaugeSample(key, ts) {
		return
	}
	metric, err := c.group(tmpl).metric(def)
	if err != nil {
		return
	}
	dp := metric.Gauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	if def.kind == kindState {
		dp.SetIntValue(int64(value))
	} else {
		dp.SetDoubleValue(value)
	}
	attrs.CopyTo(dp.Attributes())
	c.track(key, tmpl, def, attrs, nil)
}
