// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

// Package exposition turns a /metrics response body into Prometheus metric families. It accepts the Prometheus
// text format (what Databricks documents and sends by default) and OpenMetrics text (which the Databricks API
// reference says it may also return), so the rest of the receiver sees one data model.
package exposition // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/exposition"

import (
	"bytes"
	"fmt"
	"mime"
	"sort"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

const openMetricsMediaType = "application/openmetrics-text"

// Parse parses body into metric families sorted by name. contentType is the response's Content-Type header;
// an OpenMetrics body is also recognised by its mandatory trailing "# EOF" line when the header is missing or
// generic, because gateways in front of Databricks are known to rewrite it.
func Parse(body []byte, contentType string) ([]*dto.MetricFamily, error) {
	if isOpenMetrics(body, contentType) {
		normalized, err := openMetricsToText(body)
		if err != nil {
			return nil, err
		}
		body = normalized
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parsing exposition: %w", err)
	}
	families := make([]*dto.MetricFamily, 0, len(byName))
	for _, mf := range byName {
		families = append(families, mf)
	}
	sort.Slice(families, func(i, j int) bool { return families[i].GetName() < families[j].GetName() })
	return families, nil
}

func isOpenMetrics(body []byte, contentType string) bool {
	if mediaType, _, err := mime.ParseMediaType(contentType); err == nil && mediaType == openMetricsMediaType {
		return true
	}
	trimmed := bytes.TrimRight(body, "\n")
	return bytes.HasSuffix(trimmed, []byte("# EOF"))
}
