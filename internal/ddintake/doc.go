// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

// Package ddintake is an in-process stand-in for the Datadog metrics intake.
//
// End-to-end tests point the datadog exporter's metrics endpoint at a Server and then assert what Datadog would
// have received. The server decodes the exporter's real payloads with Datadog's own protobuf types
// (github.com/DataDog/agent-payload/v5/gogen) instead of a hand-written schema, so a drift in the wire format shows
// up as a test failure rather than as silently empty data. Sketch quantiles are computed with the bin key mapping
// of the agent's quantile package, which is the package the exporter uses to build the sketches.
//
// The server only ever listens on a loopback address: it exists for tests, and tests must not expose it.
package ddintake // import "github.com/otelcol-databricks/otelcol-databricks/internal/ddintake"
