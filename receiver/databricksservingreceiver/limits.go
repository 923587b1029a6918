// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

import (
	"fmt"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/exposition"
)

// limitError reports an endpoint that broke one of the configured limits.
type limitError struct{ msg string }

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
				return stats, &limitError{fmt.Sprintf("%s has %d labels, more than limits.max_labels (%d)", f.Name, len(s.Labels), limits.MaxLabels)}
			}
			for _, l := range s.Labels {
				if len(l.Name) > limits.MaxLabelNameLength {
					return stats, &limitError{fmt.Sprintf("%s has a label name of %d bytes, longer than limits.max_label_name_length (%d)", f.Name, len(l.Name), limits.MaxLabelNameLength)}
				}
				if len(l.Value) > limits.MaxLabelValueLength {
					return stats, &limitError{fmt.Sprintf("%s label %q has a value of %d bytes, longer than limits.max_label_value_length (%d)", f.Name, l.Name, len(l.Value), limits.MaxLabelValueLength)}
				}
			}
		}
	}
	if stats.samples > limits.MaxSamples {
		return stats, &limitError{fmt.Sprintf("%d samples, more than limits.max_samples (%d)", stats.samples, limits.MaxSamples)}
	}
	return stats, nil
}
