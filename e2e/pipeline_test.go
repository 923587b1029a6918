// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-databricks/otelcol-databricks/internal/ddintake"
	"github.com/otelcol-databricks/otelcol-databricks/internal/simulator"
)

var repoRoot = flag.String("repo-root", "..", "the repository root, where bin/, cmd/, testdata/ and docs/ are")

const (
	// Known secret values: the suite asserts that none of them ever appears in the collector's output.
	simulatorToken = "dapi-e2e-simulator-token-4f0e9d21"
	datadogAPIKey  = "e2e0dd0api0key0c1b2a3d4e5f607182"

	windowLength = 2 * time.Second
	// observedWindows is how long the collector runs before the ground truth is read.
	observedWindows = 8

	endpointLabel = "databricks_serving_endpoint_name"
	endpointTag   = "databricks.serving.endpoint.name"
)

// stack is the whole scenario, every part on 127.0.0.1.
type stack struct {
	simulatorPort int
	prometheus    *prometheusServer
	p3            prometheus3Servers
	intake        *ddintake.Server
	collector     *process
	// configs and env are the collector's command line and environment, for tests that start more collectors.
	configs, env []string
	// workspace, when set, narrows every check to the series of the workspace with this host (account mode,
	// where several workspaces have endpoints of the same name); see forWorkspace.
	workspace string
}

// forWorkspace is a view of the stack whose checks read the series of the workspace at host alone.
func (s *stack) forWorkspace(host string) *stack {
	view := *s
	view.workspace = host
	return &view
}

// matches returns the Prometheus and Datadog matchers of an endpoint's series, narrowed to the stack's workspace
// when it has one.
func (s *stack) matches(endpoint string) (prom, dd map[string]string) {
	prom, dd = map[string]string{endpointLabel: endpoint}, map[string]string{endpointTag: endpoint}
	if s.workspace != "" {
		prom["databricks_workspace_host"], dd["databricks.workspace.host"] = s.workspace, s.workspace
	}
	return prom, dd
}

// stackOptions vary the scenario; the zero value is the standard one.
type stackOptions struct {
	simulatorArgs  []string // replace the standard endpoint mix
	overlays       []string // extra collector configs under testdata/e2e, merged after collector.yaml
	env            []string // extra collector environment
	withoutDatadog bool
	// noCollector leaves starting collectors to the test (several, for sharding).
	noCollector bool
	// simulatorPort, when set, is the simulator's port (for configs that must name it in advance).
	simulatorPort int
	// collectorArgs are added to the collector's command line (e.g. feature gates).
	collectorArgs []string
	// prometheus3 selects the Prometheus 3 servers the collector also delivers to, besides Prometheus 2.42.
	prometheus3 prometheus3Paths
}

// prometheus3Paths selects the ways into Prometheus 3 a scenario checks; each has a Prometheus 3 of its own, so
// the same names and labels arriving by two paths cannot mix.
type prometheus3Paths uint8

const (
	// p3RemoteWrite: remote write with the shipped exporter's settings (testdata/e2e/prometheus3-remote-write.yaml).
	p3RemoteWrite prometheus3Paths = 1 << iota
	// p3OTLP: the shipped otlp.yaml into Prometheus 3's OTLP receiver.
	p3OTLP
	// p3Scrape: the shipped prometheus-scrape.yaml, scraped by Prometheus 3.
	p3Scrape
)

// prometheus3Servers are a scenario's Prometheus 3 servers, nil where the path is not selected.
type prometheus3Servers struct {
	remoteWrite, otlp, scrape *prometheusServer
}

// otlpPrometheusConfig is the prometheus.yml of the OTLP Prometheus: every resource attribute becomes a label, as
// resource_to_telemetry_conversion makes them with remote write, and names get the same translation as the
// remote-write exporter's.
const otlpPrometheusConfig = `global:
  evaluation_interval: 1m
otlp:
  translation_strategy: UnderscoreEscapingWithSuffixes
  promote_all_resource_attributes: true
`

// scrapePrometheusConfig scrapes the collector's prometheus exporter (%d: its port) twice per simulated window,
// so the scrapes see nearly every state the exporter goes through, and soon after the last one.
const scrapePrometheusConfig = `global:
  evaluation_interval: 1m
scrape_configs:
  - job_name: e2e-scrape
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ["127.0.0.1:%d"]
`

var standardEndpoints = []string{"-cpu", "2", "-gpu", "1", "-multi-entity", "1", "-scale-to-zero", "1", "-fmapi", "1", "-gpus", "4"}

func startStack(t *testing.T, opts stackOptions) *stack {
	t.Helper()
	s := &stack{simulatorPort: opts.simulatorPort}
	if s.simulatorPort == 0 {
		s.simulatorPort = freePort(t)
	}
	simulatorArgs := opts.simulatorArgs
	if simulatorArgs == nil {
		simulatorArgs = standardEndpoints
	}
	sim := startProcess(t, "workspace-simulator", filepath.Join(*repoRoot, "bin", "workspace-simulator"), append([]string{
		"-listen", fmt.Sprintf("127.0.0.1:%d", s.simulatorPort), "-token", simulatorToken,
		"-window", windowLength.String(), "-seed", "42",
	}, simulatorArgs...), nil)
	waitHTTP200(t, sim, localURL(s.simulatorPort, "/simulator/stats"), 30*time.Second)

	s.prometheus = startPrometheus(t)
	distribution := filepath.Join(*repoRoot, "cmd", "otelcol-databricks")
	configs := []string{"--config", filepath.Join(distribution, "config.yaml")}
	env := []string{
		"DATABRICKS_HOST=" + localURL(s.simulatorPort, ""),
		"DATABRICKS_TOKEN=" + simulatorToken,
		"PROMETHEUS_REMOTE_WRITE_ENDPOINT=" + s.prometheus.remoteWriteURL(),
		fmt.Sprintf("SELF_TELEMETRY_PORT=%d", freePort(t)),
	}
	if !opts.withoutDatadog {
		s.intake = ddintake.New(datadogAPIKey)
		require.NoError(t, s.intake.Start("127.0.0.1:0"))
		t.Cleanup(func() { _ = s.intake.Close() })
		configs = append(configs, "--config", filepath.Join(distribution, "datadog.yaml"),
			"--config", filepath.Join(*repoRoot, "testdata", "e2e", "datadog-intake.yaml"))
		// No --feature-gates: the distribution runs the datadog exporter's native path by default (featuregates_test.go).
		env = append(env, "DD_API_KEY="+datadogAPIKey, "DD_INTAKE_URL="+s.intake.URL())
	}
	configs = append(configs, "--config", filepath.Join(*repoRoot, "testdata", "e2e", "collector.yaml"))
	for _, overlay := range opts.overlays {
		configs = append(configs, "--config", filepath.Join(*repoRoot, "testdata", "e2e", overlay))
	}
	configs, env = s.startPrometheus3(t, opts.prometheus3, configs, env)
	configs = append(configs, opts.collectorArgs...)
	s.configs, s.env = configs, env
	if !opts.noCollector {
		s.collector = startCollector(t, "otelcol-databricks", configs, append(env, opts.env...))
	}
	return s
}

// startPrometheus3 starts the Prometheus 3 servers of paths and returns the collector's configs and environment
// with what delivers to each: the shipped otlp.yaml and prometheus-scrape.yaml as users add them, and an overlay
// with a second remote-write exporter.
func (s *stack) startPrometheus3(t *testing.T, paths prometheus3Paths, configs, env []string) ([]string, []string) {
	t.Helper()
	distribution := filepath.Join(*repoRoot, "cmd", "otelcol-databricks")
	if paths&p3RemoteWrite != 0 {
		s.p3.remoteWrite = launchPrometheus3(t, "prometheus3-remote-write", "global:\n  evaluation_interval: 1m\n")
		configs = append(configs, "--config", filepath.Join(*repoRoot, "testdata", "e2e", "prometheus3-remote-write.yaml"))
		env = append(env, "PROMETHEUS3_REMOTE_WRITE_ENDPOINT="+s.p3.remoteWrite.remoteWriteURL())
	}
	if paths&p3OTLP != 0 {
		s.p3.otlp = launchPrometheus3(t, "prometheus3-otlp", otlpPrometheusConfig, "--web.enable-otlp-receiver")
		configs = append(configs, "--config", filepath.Join(distribution, "otlp.yaml"))
		// OTLP_HEADERS stays unset: it is optional (a local Prometheus wants no header).
		env = append(env, "OTLP_ENDPOINT="+s.p3.otlp.otlpURL())
	}
	if paths&p3Scrape != 0 {
		port := freePort(t)
		s.p3.scrape = launchPrometheus3(t, "prometheus3-scrape", fmt.Sprintf(scrapePrometheusConfig, port))
		configs = append(configs, "--config", filepath.Join(distribution, "prometheus-scrape.yaml"))
		env = append(env, fmt.Sprintf("PROMETHEUS_EXPORTER_ENDPOINT=127.0.0.1:%d", port))
	}
	for _, p := range []*prometheusServer{s.p3.remoteWrite, s.p3.otlp, s.p3.scrape} {
		if p != nil {
			p.waitReady(t)
		}
	}
	return configs, env
}

// startCollector runs the distribution and waits for its health check. A port picked by freePort can be taken by
// another socket before the collector binds it; then the collector is started again on fresh ports.
func startCollector(t *testing.T, name string, configs, env []string) *process {
	t.Helper()
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "STATE_DIR=") }) {
		// Every collector saves the receiver's state (the shipped config); two must never share it.
		env = append(append([]string{}, env...), "STATE_DIR="+t.TempDir())
	}
	for attempt := 1; ; attempt++ {
		healthPort := freePort(t)
		withPorts := append(append([]string{}, env...), fmt.Sprintf("HEALTH_CHECK_ENDPOINT=127.0.0.1:%d", healthPort), fmt.Sprintf("SELF_TELEMETRY_PORT=%d", freePort(t)))
		p := startProcess(t, fmt.Sprintf("%s-%d", name, attempt), filepath.Join(*repoRoot, "bin", "otelcol-databricks"), configs, withPorts)
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if resp, err := http.Get(localURL(healthPort, "/")); err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return p
				}
			}
			if p.exited() {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if !p.exited() || !strings.Contains(p.out.String(), "address already in use") || attempt == 3 {
			t.Fatalf("%s did not become healthy: %v\n%s", name, p.err, p.out.String())
		}
	}
}

// collectorBinary is the distribution the suite runs.
func (s *stack) collectorBinary() string {
	return filepath.Join(*repoRoot, "bin", "otelcol-databricks")
}

// requireLoopbackOnly fails unless the suite runs in a network namespace whose only interface is loopback.
func requireLoopbackOnly(t *testing.T) {
	t.Helper()
	ifaces, err := net.Interfaces()
	require.NoError(t, err)
	for _, iface := range ifaces {
		if iface.Flags&net.FlagLoopback == 0 && iface.Flags&net.FlagUp != 0 {
			t.Fatalf("interface %s is up: the end-to-end suite runs the datadog exporter, whose cloud metadata probes must not leave the machine; run it with `make test-e2e` (a loopback-only namespace)", iface.Name)
		}
	}
}

func (s *stack) truth(t *testing.T) simulator.Truth {
	t.Helper()
	resp, err := http.Get(localURL(s.simulatorPort, "/simulator/truth"))
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	var truth simulator.Truth
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&truth))
	return truth
}

// endpointsWithoutMetrics lists the simulator's pay-per-token Foundation Model endpoints.
func (s *stack) endpointsWithoutMetrics(t *testing.T) []string {
	t.Helper()
	var names []string
	for name, endpointType := range s.listEndpoints(t) {
		if endpointType == "FOUNDATION_MODEL_API" {
			names = append(names, name)
		}
	}
	require.NotEmpty(t, names, "the scenario needs a pay-per-token endpoint")
	sort.Strings(names)
	return names
}

// listEndpoints returns the simulator's endpoints by name, with their endpoint_type, as the list API answers.
func (s *stack) listEndpoints(t *testing.T) map[string]string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, localURL(s.simulatorPort, "/api/2.0/serving-endpoints"), http.NoBody)
	req.Header.Set("Authorization", "Bearer "+simulatorToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	var list struct {
		Endpoints []struct {
			Name         string `json:"name"`
			EndpointType string `json:"endpoint_type"`
		} `json:"endpoints"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	out := map[string]string{}
	for _, ep := range list.Endpoints {
		out[ep.Name] = ep.EndpointType
	}
	return out
}

// TestPipelineDeliversGroundTruth runs the distribution against the simulator and checks, window by window, that
// every backend holds exactly what the simulator served: Prometheus 2.42 and the Datadog intake, and Prometheus 3
// by remote write, by OTLP and by scraping the prometheus exporter. One collector run feeds them all.
func TestPipelineDeliversGroundTruth(t *testing.T) {
	requireLoopbackOnly(t)
	rows := readMetricsTable(t)
	s := startStack(t, stackOptions{prometheus3: p3RemoteWrite | p3OTLP | p3Scrape})

	time.Sleep(observedWindows * windowLength)
	truth := s.truth(t)
	require.Equal(t, windowLength.Milliseconds(), truth.WindowMillis)
	require.Len(t, truth.Endpoints, 5, "every endpoint with metrics must have been scraped")
	for name, ep := range truth.Endpoints {
		require.GreaterOrEqual(t, len(ep.Windows), observedWindows-2, "%s: windows served", name)
	}

	// The backends are checked side by side (after the sequential subtests below): they only read.
	t.Run("Prometheus 2.42 remote write and Datadog", func(t *testing.T) {
		t.Parallel()
		checkDelivered(t, s, rows, truth)
	})
	// The same assertions against Prometheus 3: views of the stack with another Prometheus and no intake.
	t.Run("Prometheus 3 remote write", func(t *testing.T) {
		t.Parallel()
		checkDelivered(t, s.prometheusOnly(s.p3.remoteWrite), rows, truth)
	})
	t.Run("Prometheus 3 OTLP", func(t *testing.T) {
		t.Parallel()
		checkDelivered(t, s.prometheusOnly(s.p3.otlp), otlpRows(rows), truth)
	})
	t.Run("Prometheus 3 scrape", func(t *testing.T) {
		t.Parallel()
		checkScraped(t, s, rows, truth)
	})

	t.Run("the datadog exporter authenticated every payload", func(t *testing.T) {
		assert.Zero(t, s.intake.Requests()[ddintake.CountRejected])
	})

	t.Run("no secret in the collector's output", func(t *testing.T) {
		out := s.collector.out.String()
		assert.NotContains(t, out, simulatorToken)
		assert.NotContains(t, out, datadogAPIKey)
	})
}

// prometheusOnly is a view of the stack whose backend is p alone: the checks written for the stack's Prometheus
// and intake then check p, and skip Datadog.
func (s *stack) prometheusOnly(p *prometheusServer) *stack {
	view := *s
	view.prometheus, view.intake = p, nil
	return &view
}

// checkDelivered checks the stack's Prometheus (and its Datadog intake, when it has one) against the truth: the
// endpoints and names present, every window of every series, the dashboard's panels, the GPU series.
func checkDelivered(t *testing.T, s *stack, rows map[string]metricRow, truth simulator.Truth) {
	waitForLastWindows(t, s, rows, truth, nil)

	t.Run("every endpoint with metrics is in the backends and the 404 endpoint in none", func(t *testing.T) {
		checkEndpointsPresent(t, s, rows, truth)
	})

	t.Run("documented names reach the backends", func(t *testing.T) {
		checkDocumentedNames(t, s.prometheus, rows)
		if s.intake != nil {
			ddNames := s.intake.MetricNames()
			for family, row := range rows {
				assert.Contains(t, ddNames, row.DDName, family)
			}
		}
	})

	for name, ep := range truth.Endpoints {
		t.Run(name, func(t *testing.T) {
			checkEndpoint(t, s, rows, name, ep.Windows, true)
		})
	}

	t.Run("the request rate and latency P99 panels equal the truth", func(t *testing.T) {
		checkDashboardAgainstTruth(t, s, truth)
	})

	t.Run("GPU series per GPU", func(t *testing.T) {
		checkGPUSeries(t, s, rows)
	})
}

// checkEndpointsPresent checks that every endpoint the truth has is in the backends, and no pay-per-token endpoint
// (whose /metrics answers 404) is.
func checkEndpointsPresent(t *testing.T, s *stack, rows map[string]metricRow, truth simulator.Truth) {
	var want []string
	for name := range truth.Endpoints {
		want = append(want, name)
	}
	sort.Strings(want)
	series, err := s.prometheus.rawSamples(selector(rows["request_count_total"].PromName, nil))
	require.NoError(t, err)
	var inPrometheus []string
	for _, ser := range series {
		inPrometheus = append(inPrometheus, ser.Labels[endpointLabel])
	}
	assert.Equal(t, want, sortedUnique(inPrometheus))
	for _, absent := range s.endpointsWithoutMetrics(t) {
		assert.NotContains(t, inPrometheus, absent)
	}
	if s.intake != nil {
		assert.Equal(t, want, s.intake.TagValues(rows["request_count_total"].DDName, endpointTag))
		for _, absent := range s.endpointsWithoutMetrics(t) {
			assert.NotContains(t, s.intake.TagValues(rows["request_count_total"].DDName, endpointTag), absent)
		}
	}
}

// checkGPUSeries checks that the GPU endpoint has one series per GPU, labelled (tagged) gpu.
func checkGPUSeries(t *testing.T, s *stack, rows map[string]metricRow) {
	row := rows["gpu_usage_percentage"]
	series, err := s.prometheus.rawSamples(selector(row.PromName, map[string]string{endpointLabel: "gpu-endpoint-0"}))
	require.NoError(t, err)
	var gpus []string
	for _, ser := range series {
		gpus = append(gpus, ser.Labels["gpu"])
	}
	want := []string{"gpu0", "gpu1", "gpu2", "gpu3"}
	assert.Equal(t, want, sortedUnique(gpus))
	if s.intake != nil {
		assert.Equal(t, want, s.intake.TagValues(row.DDName, "gpu"))
	}
}

// checkDocumentedNames checks that p holds every Prometheus name of rows (a histogram's _bucket, _sum and _count).
func checkDocumentedNames(t *testing.T, p *prometheusServer, rows map[string]metricRow) {
	promNames, err := p.metricNames()
	require.NoError(t, err)
	for family, row := range rows {
		if row.Kind == "histogram" {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				assert.Contains(t, promNames, row.PromName+suffix, family)
			}
		} else {
			assert.Contains(t, promNames, row.PromName, family)
		}
	}
}

// waitForLastWindows waits until the backends hold the last window the truth snapshot has for each endpoint
// (all of them when names is nil): the collector needs a moment to ship what it scraped.
func waitForLastWindows(t *testing.T, s *stack, rows map[string]metricRow, truth simulator.Truth, names []string) {
	t.Helper()
	waitForWindows(t, s, rows, truth, names, 30*time.Second)
}

func waitForWindows(t *testing.T, s *stack, rows map[string]metricRow, truth simulator.Truth, names []string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "the backends hold the last window of every endpoint", func() error {
		return lastWindowsArrived(s, rows, truth, names)
	})
}

// lastWindowsArrived reports, as an error, the first endpoint (of names; all when nil) whose last window in the
// truth snapshot is missing from either backend.
func lastWindowsArrived(s *stack, rows map[string]metricRow, truth simulator.Truth, names []string) error {
	if names == nil {
		for name := range truth.Endpoints {
			names = append(names, name)
		}
	}
	for _, name := range names {
		ep, ok := truth.Endpoints[name]
		if !ok || len(ep.Windows) == 0 {
			return fmt.Errorf("the simulator served %s nothing", name)
		}
		last := ep.Windows[len(ep.Windows)-1].TimestampMillis
		promMatch, ddMatch := s.matches(name)
		series, err := s.prometheus.rawSamples(selector(rows["request_count_total"].PromName, promMatch))
		if err != nil {
			return err
		}
		if !anySampleAt(series, last) {
			return fmt.Errorf("prometheus: %s has no request count at window %d yet", name, last)
		}
		if s.intake != nil && !anyDatadogPointAt(s.intake, rows["request_count_total"].DDName, ddMatch, last/1000) {
			return fmt.Errorf("datadog: %s has no request count at window %d yet", name, last)
		}
	}
	return nil
}

// seriesOf groups one endpoint's truth by series: family + labels → the values of each window it appears in.
type truthSeries struct {
	family    string
	labels    map[string]string
	values    map[int64]float64                   // gauges and counts, by window timestamp (ms)
	histogram map[int64]*simulator.HistogramTruth // by window timestamp (ms)
}

func groupSeries(windows []simulator.WindowTruth) map[string]*truthSeries {
	out := map[string]*truthSeries{}
	for _, w := range windows {
		for _, s := range w.Series {
			key := s.Name + fmt.Sprint(s.Labels)
			ts := out[key]
			if ts == nil {
				ts = &truthSeries{family: s.Name, labels: s.Labels, values: map[int64]float64{}, histogram: map[int64]*simulator.HistogramTruth{}}
				out[key] = ts
			}
			if s.Histogram != nil {
				ts.histogram[w.TimestampMillis] = s.Histogram
			} else {
				ts.values[w.TimestampMillis] = *s.Value
			}
		}
	}
	return out
}

// checkEndpoint compares everything the backends hold for endpoint with the windows the simulator served it.
// baselined says the endpoint existed when the collector started, so its first window is the baseline (see
// docs/metrics.md) and counting starts with the second; an endpoint created later counts from its first.
func checkEndpoint(t *testing.T, s *stack, rows map[string]metricRow, endpoint string, windows []simulator.WindowTruth, baselined bool) {
	baseline := int64(-1)
	if baselined {
		baseline = windows[0].TimestampMillis
	}
	last := windows[len(windows)-1].TimestampMillis
	for _, ts := range groupSeries(windows) {
		row, ok := rows[ts.family]
		require.True(t, ok, "docs/metrics.md has no row for %s", ts.family)
		promMatch, ddMatch := s.matches(endpoint)
		for k, v := range ts.labels {
			promMatch[k], ddMatch[k] = v, v
		}
		for k, v := range row.PromMatch {
			promMatch[k] = v
		}
		for k, v := range row.DDMatch {
			ddMatch[k] = v
		}
		what := fmt.Sprintf("%s%v", ts.family, ts.labels)

		switch row.Kind {
		case "gauge":
			require.NotEmpty(t, ts.values, what)
			// Every window's value, exactly, once.
			promSamples := onlySeries(t, s.prometheus, selector(row.PromName, promMatch))
			assert.Equal(t, ts.values, samplesUntil(promSamples, last), "prometheus %s", what)
			if s.intake != nil {
				assert.Equal(t, secondsKeys(ts.values), datadogPointsUntil(s.intake.GaugePoints(row.DDName, ddMatch), last/1000), "datadog %s", what)
			}
		case "sum":
			counted := countedWindows(ts.values, baseline)
			require.GreaterOrEqual(t, len(counted), observedWindows-3, "%s: counted windows", what)
			promSamples := onlySeries(t, s.prometheus, selector(row.PromName, promMatch))
			want := cumulativeWithZeroPoint(counted)
			assert.Equal(t, want, withoutResumedTotals(samplesUntil(promSamples, last), want), "prometheus %s: the counter at each window is the sum of the windows counted so far", what)
			if s.intake != nil {
				ddPoints := datadogPointsUntil(s.intake.SeriesPoints(row.DDName, "count", ddMatch), last/1000)
				assert.Equal(t, secondsKeys(counted), ddPoints, "datadog %s: one count point per window, holding that window's value", what)
				assert.Equal(t, total(counted), total(ddPoints), "datadog %s: the counts add up to the truth", what)
			}
		case "histogram":
			checkHistogram(t, s, row, promMatch, ddMatch, what, ts.histogram, baseline, last)
		}
	}
}

// checkHistogram compares a histogram family window by window: in Prometheus every bucket (the +Inf one included),
// _count and _sum at each window equal the truth's values summed over the windows counted so far; in Datadog each
// window's sketch holds exactly the window's count and sum, and its quantiles fall in the truth's bucket of the
// exact quantile (see checkSketchWindows).
func checkHistogram(t *testing.T, s *stack, row metricRow, promMatch, ddMatch map[string]string, what string, windows map[int64]*simulator.HistogramTruth, baseline, last int64) {
	counted := map[int64]*simulator.HistogramTruth{}
	for ts, h := range windows {
		if ts != baseline {
			counted[ts] = h
		}
	}
	require.NotEmpty(t, counted, "%s: no counted window", what)
	perWindow := func(value func(h *simulator.HistogramTruth) float64) map[int64]float64 {
		out := map[int64]float64{}
		for ts, h := range counted {
			out[ts] = value(h)
		}
		return cumulativeWithZeroPoint(out)
	}
	promSamples := func(suffix string, extra map[string]string) map[int64]float64 {
		match := maps.Clone(promMatch)
		maps.Copy(match, extra)
		return samplesUntil(onlySeries(t, s.prometheus, selector(row.PromName+suffix, match)), last)
	}

	wantCounts := perWindow(func(h *simulator.HistogramTruth) float64 { return float64(h.Count) })
	assert.Equal(t, wantCounts, withoutResumedTotals(promSamples("_count", nil), wantCounts), "prometheus %s_count", what)
	wantSums := perWindow(func(h *simulator.HistogramTruth) float64 { return h.Sum })
	gotSums := withoutResumedTotals(promSamples("_sum", nil), wantSums)
	assert.Equal(t, sortedKeys(wantSums), sortedKeys(gotSums), "prometheus %s_sum: one sample per window", what)
	for ts, want := range wantSums {
		// The collector and this test add the same float64 windows in the same order; the tolerance only
		// allows for a different association of the additions, far below a lost or repeated window (≥ 0.1 ms).
		assert.InDelta(t, want, gotSums[ts], 1e-9*math.Max(1, math.Abs(want)), "prometheus %s_sum at %d", what, ts)
	}
	var bounds []float64
	for _, h := range counted {
		bounds = h.Bounds
	}
	for i := range len(bounds) + 1 {
		le := "+Inf"
		if i < len(bounds) {
			le = strconv.FormatFloat(bounds[i], 'f', -1, 64)
		}
		want := perWindow(func(h *simulator.HistogramTruth) float64 { return float64(h.CumulativeCounts[i]) })
		assert.Equal(t, want, withoutResumedTotals(promSamples("_bucket", map[string]string{"le": le}), want), "prometheus %s_bucket{le=%q}", what, le)
	}
	if s.intake != nil {
		checkSketchWindows(t, s.intake, row.DDName, ddMatch, what, counted, last)
	}
}

// checkSketchWindows checks each counted window's Datadog sketch. Count and sum are carried exactly. Quantiles
// cannot be exact: Databricks exposes buckets, not observations, so the exporter can only spread each bucket's
// count over the bucket when it builds the sketch. What the pipeline must preserve is the bucket: the sketch's
// q-quantile (the value of rank RoundToEven(q·(n−1)), 0-based) lies in the bucket of the truth that holds the
// observation of that rank, widened by the sketch's relative accuracy (a bin's value is within it of the values
// the bin holds).
func checkSketchWindows(t *testing.T, intake *ddintake.Server, metric string, match map[string]string, what string, counted map[int64]*simulator.HistogramTruth, last int64) {
	sketches := intake.SketchWindows(metric, match)
	var total int64
	for ts, w := range sketches {
		if ts <= last/1000 {
			total += w.Count
		}
	}
	alpha := ddintake.SketchRelativeAccuracy()
	var want int64
	for ts, h := range counted {
		want += int64(h.Count)
		w := sketches[ts/1000]
		if h.Count == 0 {
			assert.True(t, w == nil || w.Count == 0, "datadog %s at %d: a sketch of %v observations for an empty window", what, ts, w)
			continue
		}
		if !assert.NotNil(t, w, "datadog %s: no sketch for the window at %d", what, ts) {
			continue
		}
		assert.Equal(t, int64(h.Count), w.Count, "datadog %s at %d: observations in the window's sketch", what, ts)
		assert.InEpsilon(t, h.Sum, w.Sum, 1e-9, "datadog %s at %d: sum of the window's sketch", what, ts)
		for _, q := range []float64{0.5, 0.9, 0.99} {
			rank := math.RoundToEven(q*float64(h.Count-1)) + 1
			lower, upper := bucketHolding(h, rank)
			got, ok := w.Quantile(q)
			require.True(t, ok, "datadog %s p%g at %d", what, q*100, ts)
			assert.True(t, got >= lower*(1-alpha) && got <= upper*(1+alpha), "datadog %s p%g at %d = %v, want in the truth bucket (%v, %v] within %.2g %%", what, q*100, ts, got, lower, upper, alpha*100)
		}
	}
	assert.Equal(t, want, total, "datadog %s: observations in every sketch up to the last window", what)
}

func sortedKeys(m map[int64]float64) []int64 {
	keys := make([]int64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// bucketHolding returns the bounds (lower, upper] of the first bucket whose cumulative count reaches rank.
func bucketHolding(h *simulator.HistogramTruth, rank float64) (float64, float64) {
	lower := 0.0
	for i, c := range h.CumulativeCounts {
		upper := math.Inf(1)
		if i < len(h.Bounds) {
			upper = h.Bounds[i]
		}
		if float64(c) >= rank {
			return lower, upper
		}
		lower = upper
	}
	return lower, math.Inf(1)
}

// countedWindows drops the baseline window.
func countedWindows(values map[int64]float64, baseline int64) map[int64]float64 {
	out := map[int64]float64{}
	for ts, v := range values {
		if ts != baseline {
			out[ts] = v
		}
	}
	return out
}

// cumulativeWithZeroPoint is what a counter must hold: a zero 1 ms before the first counted window, then at each
// window the sum of the windows up to it.
func cumulativeWithZeroPoint(windows map[int64]float64) map[int64]float64 {
	keys := make([]int64, 0, len(windows))
	for ts := range windows {
		keys = append(keys, ts)
	}
	slices.Sort(keys)
	out := map[int64]float64{}
	if len(keys) == 0 {
		return out
	}
	out[keys[0]-1] = 0
	running := 0.0
	for _, ts := range keys {
		running += windows[ts]
		out[ts] = running
	}
	return out
}

func total(values map[int64]float64) float64 {
	sum := 0.0
	for _, v := range values {
		sum += v
	}
	return sum
}

func secondsKeys(values map[int64]float64) map[int64]float64 {
	out := map[int64]float64{}
	for ts, v := range values {
		out[ts/1000] = v
	}
	return out
}

// onlySeries returns the samples of the one series selector matches.
func onlySeries(t *testing.T, p *prometheusServer, sel string) []sample {
	t.Helper()
	series, err := p.rawSamples(sel)
	require.NoError(t, err)
	require.Len(t, series, 1, "prometheus series matching %s", sel)
	return series[0].Samples
}

// withoutResumedTotals drops from a counter's samples those a collector restored from saved state writes first:
// the total it had, again, just after the last point (docs/reliability.md). A sample is dropped only when its
// timestamp is not one of want's and its value repeats the sample before it: a change of value anywhere, or a
// window's sample missing, still fails the comparison.
func withoutResumedTotals(got, want map[int64]float64) map[int64]float64 {
	keys := make([]int64, 0, len(got))
	for ts := range got {
		keys = append(keys, ts)
	}
	slices.Sort(keys)
	out := map[int64]float64{}
	for i, ts := range keys {
		if _, expected := want[ts]; !expected && i > 0 && got[keys[i-1]] == got[ts] {
			continue
		}
		out[ts] = got[ts]
	}
	return out
}

func samplesUntil(samples []sample, lastMs int64) map[int64]float64 {
	out := map[int64]float64{}
	for _, s := range samples {
		if s.TimestampMs <= lastMs {
			out[s.TimestampMs] = s.Value
		}
	}
	return out
}

func datadogPointsUntil(points []ddintake.Point, lastSeconds int64) map[int64]float64 {
	out := map[int64]float64{}
	for _, p := range points {
		if p.Timestamp <= lastSeconds {
			out[p.Timestamp] += p.Value
		}
	}
	return out
}

func anySampleAt(series []promSeries, ts int64) bool {
	for _, s := range series {
		for _, smp := range s.Samples {
			if smp.TimestampMs >= ts {
				return true
			}
		}
	}
	return false
}

func anyDatadogPointAt(intake *ddintake.Server, metric string, match map[string]string, ts int64) bool {
	for _, p := range intake.SeriesPoints(metric, "count", match) {
		if p.Timestamp >= ts {
			return true
		}
	}
	return false
}

// selector renders a Prometheus series selector with labels in a stable order.
func selector(name string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+strconv.Quote(labels[k]))
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

func sortedUnique(values []string) []string {
	out := slices.Clone(values)
	slices.Sort(out)
	return slices.Compact(out)
}
