// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

// Package databricksservingreceiver discovers the serving endpoints of a Databricks workspace, scrapes the
// per-minute health metrics of each one from GET /api/2.0/serving-endpoints/<name>/metrics and emits them as
// OpenTelemetry metrics: the per-minute request counts and latency histograms become true cumulative sums and
// histograms, each minute added exactly once.
//
//go:generate make -C ../.. generate
package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"
