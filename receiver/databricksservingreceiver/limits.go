// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

import (
	"fmt"

	dto "github.com/prometheus/client_model/go"
)

// limitError reports an endpoint that broke one of the configured limits.
type limitError struct{ msg string }

func (e *limitError) Error() string { return e.msg }

// checkLimits enforces limits.max_samples and the label limits on a parsed body, before anything of it is
// converted: an endpoint over a limit contributes nothing, like a Prometheus target over its sample_limit.
func checkLimits(families []*dto.MetricFamily, limits LimitsConfig) error {
	samples := 0
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			samples += sampleCount(m)
			labels := m.GetLabel()
			if len(labels) > limits.MaxLabels {
				return &limitError{fmt.Sprintf("%s has %d labels, more than limits.max_labels (%d)", mf.GetName(), len(labels), limits.MaxLabels)}
			}
			for _, l := range labels {
				if len(l.GetName()) > limits.MaxLabelNameLength {
					return &limitError{fmt.Sprintf("%s has a label name of %d bytes, longer than limits.max_label_name_length (%d)", mf.GetName(), len(l.GetName()), limits.MaxLabelNameLength)}
				}
				if len(l.GetValue()) > limits.MaxLabelValueLength {
					return &limitError{fmt.Sprintf("%s label %q has a value of %d bytes, longer than limits.max_label_value_length (%d)", mf.GetName(), l.GetName(), len(l.GetValue()), limits.MaxLabelValueLength)}
				}
			}
		}
	}
	if samples > limits.MaxSamples {
		return &limitError{fmt.Sprintf("%d samples, more than limits.max_samples (%d)", samples, limits.MaxSamples)}
	}
	return nil
}
