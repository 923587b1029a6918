// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

// This file is written by hand; ocb (`make generate`) writes only main.go, main_others.go, main_windows.go,
// components.go and go.mod in this folder, and leaves it alone.

package main

import "go.opentelemetry.io/collector/featuregate"

// datadogSerializerGate selects the datadog exporter's serializer path for metrics. It is a beta gate, so on by
// default upstream; this distribution turns it off.
const datadogSerializerGate = "exporter.datadogexporter.metricexportserializerclient"

// init makes the datadog exporter's native path this distribution's default.
//
// On the serializer path the exporter hands each payload to the Datadog Agent's in-memory forwarder, which
// reports success at once and retries failures on its own: the exporter's retry_on_failure and sending_queue
// (datadog.yaml) never see a failed send. Through a Datadog outage of a few minutes most latency observations
// were lost that way (docs/reliability.md: 232 of 16 198 distribution points arrived after a 3-minute outage).
// On the native path failed sends go to the exporter's retry and sending queue, and nothing was lost.
//
// Go runs this after the datadog exporter's package registered the gate (an imported package is initialised
// first) and before the command line is parsed: the --feature-gates flag sets gates while cobra parses the
// flags, so a user's --feature-gates=exporter.datadogexporter.metricexportserializerclient still turns the
// serializer path back on (docs/configuration.md).
func init() {
	if err := featuregate.GlobalRegistry().Set(datadogSerializerGate, false); err != nil {
		// The gate is gone or was made stable in a newer datadog exporter: fail loudly at start-up rather than
		// run the path that loses data during an outage without saying so.
		panic("otelcol-databricks: cannot select the datadog exporter's native path: " + err.Error())
	}
}
