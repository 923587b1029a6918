// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

// Package simulator serves a fake Databricks workspace: the serving-endpoint
// list, get and metrics APIs, backed by deterministic per-window values.
//
// It is the default data source of `make run`, the fixture of the end-to-end
// tests and the target of load benchmarks. Because every value is a pure
// function of (seed, endpoint, served entity, window index), a test can ask
// the simulator what it served (GET /simulator/truth) and compare that with
// what reached the exporters, exactly.
package simulator
