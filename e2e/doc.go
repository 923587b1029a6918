// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

// Package e2e is the end-to-end suite: the workspace simulator, a real Prometheus, a Datadog intake that decodes
// the datadog exporter's payloads with Datadog's own protobuf types, and the otelcol-databricks binary built by
// ocb, all on 127.0.0.1. The suite compares what reaches both backends with the simulator's ground truth.
//
// It needs the `e2e` build tag and must run inside a loopback-only network namespace: `make test-e2e` builds the
// binaries and the test binary, and runs it under scripts/in-loopback-namespace.sh.
package e2e
