// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

// Package e2e is the end-to-end suite: the workspace simulator, a real Prometheus (Debian's 2.42, and Prometheus 3
// by remote write, OTLP and scrape), a Datadog intake that decodes the datadog exporter's payloads with Datadog's
// own protobuf types, and the otelcol-databricks binary built by ocb, all on 127.0.0.1. The suite compares what
// reaches the backends with the simulator's ground truth.
//
// Scenarios: the pipeline's ground truth (pipeline_test.go), a workspace that changes (lifecycle_test.go), fleets,
// service principals and shards (fleet_test.go), restarts (restart_test.go), backend outages (outage_test.go), the
// container image (image_test.go), the failure suite (failures_test.go): one scenario per way collection can
// fail, each checked against the shipped alerts and monitors, and a hostile endpoint among normal ones
// (hostile_test.go): the receiver's limits, redaction and memory bound against the simulator's hostile modes. The
// outage, failure and hostile scenarios mostly wait, each on its own stack, and run in parallel.
//
// It needs the `e2e` build tag and must run inside a loopback-only network namespace: `make test-e2e` builds the
// binaries and the test binary, and runs it under scripts/in-loopback-namespace.sh.
package e2e
