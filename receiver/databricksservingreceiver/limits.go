// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/exposition"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"
)

// limitError reports an endpoint that broke one of the configured limits; limit names it (max_samples...), for
// databricks.serving.limit.exceeded.
type limitError struct{ msg, limit string }

func (e *limitError) Error() string { return e.msg }

// bodyStats is what one walk over a parsed body learns besides the limits.
type bodyStats struct {
	samples int  // exposition lines, as Prometheus counts samples
	untimed bool // some sample has no timestamp
}

// checkLimits enforces limits.max_samples and the label limits on a parsed body, before anything of it is
// converted: an endpoint over a limit contributes nothing, like a Prometheus target over its sample_limit. The
// same walk counts the samples and looks for samples without a timestamp.
func checkLimits(families []exposition.Family, limits LimitsConfig) (bodyStats, error) {
	var stats bodyStats
	for i := range families {
		f := &families[i]
		for j := range f.Samples {
			s := &f.Samples[j]
			stats.samples += f.SampleLines(s)
			stats.untimed = stats.untimed || !s.HasTimestamp
			if len(s.Labels) > limits.MaxLabels {
				return stats, &limitError{limit: "max_labels", msg: fmt.Sprintf("%s has %d labels, more than limits.max_labels (%d)", f.Name, len(s.Labels), limits.MaxLabels)}
			}
			for _, l := range s.Labels {
				if len(l.Name) > limits.MaxLabelNameLength {
					return stats, &limitError{limit: "max_label_name_length", msg: fmt.Sprintf("%s has a label name of %d bytes, longer than limits.max_label_name_length (%d)", f.Name, len(l.Name), limits.MaxLabelNameLength)}
				}
				if len(l.Value) > limits.MaxLabelValueLength {
					return stats, &limitError{limit: "max_label_value_length", msg: fmt.Sprintf("%s label %q has a value of %d bytes, longer than limits.max_label_value_length (%d)", f.Name, l.Name, len(l.Value), limits.MaxLabelValueLength)}
				}
			}
		}
	}
	if stats.samples > limits.MaxSamples {
		return stats, &limitError{limit: "max_samples", msg: fmt.Sprintf("%d samples, more than limits.max_samples (%d)", stats.samples, limits.MaxSamples)}
	}
	return stats, nil
}

// parseLimits are the limits the parser enforces as it reads a body.
func (s *servingScraper) parseLimits() exposition.Limits {
	l := s.cfg.Limits
	return exposition.Limits{
		MaxSamples: l.MaxSamples, MaxLabels: l.MaxLabels, MaxLabelNameLength: l.MaxLabelNameLength,
		MaxLabelValueLength: l.MaxLabelValueLength, MaxNameLength: l.MaxFamilyNameLength, MaxHelpLength: l.MaxHelpLength,
	}
}

// listBytesPerEndpoint sizes the list's body bound: limits.max_endpoints times this. A listed endpoint with a
// few served entities and tags is 1-2 KB; the list is read once per discovery refresh.
const listBytesPerEndpoint = 8 << 10

// descriptionLimits are the caps the workspace client applies to the list and to every description.
func (s *servingScraper) descriptionLimits() workspace.Limits {
	l := s.cfg.Limits
	return workspace.Limits{
		MaxEndpoints: l.MaxEndpoints, MaxListBytes: int64(l.MaxEndpoints) * listBytesPerEndpoint,
		MaxServedEntities: l.MaxServedEntities, MaxTags: l.MaxTags, MaxTagKeyLength: l.MaxTagKeyLength, MaxTagValueLength: l.MaxTagValueLength,
	}
}

// limitCount is what one limit dropped: 1 for a body refused, else the items dropped.
type limitCount struct {
	limit string
	n     int
}

// trims are the limits that trimmed an endpoint's scrape without failing it: new series refused, and what the
// client dropped from its description.
func (c *converter) trims() []limitCount {
	t := c.ep.description.Trimmed
	var out []limitCount
	for _, lc := range []limitCount{
		{"max_series", c.refused}, {"max_workspace_series", c.refusedWorkspace}, {"max_served_entities", t.ServedEntities + c.entitiesRefused}, {"max_tags", t.Tags},
		{"max_tag_key_length", t.TagKeys}, {"max_tag_value_length", t.TagValues + t.Fields},
	} {
		if lc.n > 0 {
			out = append(out, lc)
		}
	}
	return out
}

// failedLimit is the limit a failed scrape broke ("" when it broke none).
func failedLimit(err error) string {
	var limitErr *limitError
	var bodyErr *workspace.BodyLimitError
	switch {
	case errors.As(err, &limitErr):
		return limitErr.limit
	case errors.As(err, &bodyErr):
		return "max_body_bytes"
	}
	return ""
}

// recordLimits writes databricks.serving.limit.exceeded for each limit in exceeded (0 included), and 0 once for
// each limit written before and not in exceeded now, so an alert on it resolves with the first scrape that is within
// the limits instead of when the series goes stale.
func (c *converter) recordLimits(tmpl *resourceTemplate, ts pcommon.Timestamp, exceeded []limitCount) {
	if !limitExceededMetric.enabled(c.metricsConfig) {
		return
	}
	now := map[string]bool{}
	for _, lc := range exceeded {
		now[lc.limit] = true
		c.recordComputed(tmpl, limitExceededMetric, "limit", lc.limit, ts, float64(lc.n))
	}
	for _, limit := range slices.Sorted(maps.Keys(c.ep.limitsWritten)) {
		if !now[limit] {
			c.recordComputed(tmpl, limitExceededMetric, "limit", limit, ts, 0)
		}
	}
	c.ep.limitsWritten = now
}

// describeTrims is the log text of what limits trimmed, e.g. "max_series: 40 samples of new series refused".
func describeTrims(trims []limitCount) string {
	parts := make([]string, 0, len(trims))
	for _, lc := range trims {
		what := map[string]string{
			"max_series":           "samples of new series refused (the endpoint holds limits.max_series series; those go on)",
			"max_workspace_series": "samples of new series refused (the workspace's endpoints hold limits.max_workspace_series series; those go on)", "max_served_entities": "served entities beyond limits.max_served_entities dropped",
			"max_tags": "tags beyond limits.max_tags dropped", "max_tag_key_length": "tags with keys longer than limits.max_tag_key_length dropped",
			"max_tag_value_length": "tags with values, or other description fields, longer than limits.max_tag_value_length dropped",
		}[lc.limit]
		parts = append(parts, fmt.Sprintf("%d %s", lc.n, what))
	}
	return strings.Join(parts, "; ")
}

// trimsCondition names the limits that trimmed, for log deduplication: the names, not the counts, which vary
// while the condition lasts.
func trimsCondition(trims []limitCount) string {
	names := make([]string, 0, len(trims))
	for _, lc := range trims {
		names = append(names, lc.limit)
	}
	return strings.Join(names, ",")
}

// seriesBudget is the series the workspace's endpoints may still add this cycle: limits.max_workspace_series
// minus those held when the cycle started. It is shared by the cycle's concurrent scrapes; series forgotten
// during the cycle are given back at the next, when the budget is counted again, so it never runs over.
type seriesBudget struct {
	limit int64
	used  atomic.Int64
}

func newSeriesBudget(limit, held int) *seriesBudget {
	b := &seriesBudget{limit: int64(limit)}
	b.used.Store(int64(held))
	return b
}

// take reserves one new series, and reports false when the budget is spent. A nil budget is no limit.
func (b *seriesBudget) take() bool {
	if b == nil || b.limit <= 0 {
		return true
	}
	if b.used.Add(1) > b.limit {
		b.used.Add(-1)
		return false
	}
	return true
}

// heldSeries counts the series the receiver holds: listed endpoints, those that left the list and are kept,
// and the workspace's own. s.mu must be held.
func (s *servingScraper) heldSeries() int {
	n := 0
	for _, ep := range s.endpoints {
		n += len(ep.series)
	}
	for _, gone := range s.removed {
		n += len(gone.state.series)
	}
	if s.workspace != nil {
		n += len(s.workspace.series)
	}
	return n
}
