// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"encoding/json"
	"flag"
	"fmt"
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

// datadogNativePath disables the datadog exporter's serializer path, as the shipped configuration recommends
// (docs/reliability.md): only on the native path do failed sends reach the exporter's retry and sending queue.
const datadogNativePath = "-exporter.datadogexporter.metricexportserializerclient"

// stack is the whole scenario, every part on 127.0.0.1.
type stack struct {
	simulatorPort int
	prometheus    *prometheusServer
	intake        *ddintake.Server
	collector     *process
	// configs and env are the collector's command line and environment, for tests that start more collectors.
	configs, env []string
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
}

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
			"--config", filepath.Join(*repoRoot, "testdata", "e2e", "datadog-intake.yaml"),
			"--feature-gates="+datadogNativePath)
		env = append(env, "DD_API_KEY="+datadogAPIKey, "DD_INTAKE_URL="+s.intake.URL())
	}
	configs = append(configs, "--config", filepath.Join(*repoRoot, "testdata", "e2e", "collector.yaml"))
	for _, overlay := range opts.overlays {
		configs = append(configs, "--config", filepath.Join(*repoRoot, "testdata", "e2e", overlay))
	}
	configs = append(configs, opts.collectorArgs...)
	s.configs, s.env = configs, env
	if !opts.noCollector {
		s.collector = startCollector(t, "otelcol-databricks", configs, append(env, opts.env...))
	}
	return s
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
				resp.Body.Close()
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
	defer resp.Body.Close()
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
	defer resp.Body.Close()
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
// Prometheus and the Datadog intake hold exactly what the simulator served.
func TestPipelineDeliversGroundTruth(t *testing.T) {
	requireLoopbackOnly(t)
	rows := readMetricsTable(t)
	s := startStack(t, stackOptions{})

	time.Sleep(observedWindows * windowLength)
	truth := s.truth(t)
	require.Equal(t, windowLength.Milliseconds(), truth.WindowMillis)
	require.Len(t, truth.Endpoints, 5, "every endpoint with metrics must have been scraped")
	for name, ep := range truth.Endpoints {
		require.GreaterOrEqual(t, len(ep.Windows), observedWindows-2, "%s: windows served", name)
	}

	waitForLastWindows(t, s, rows, truth, nil)

	t.Run("every endpoint with metrics is in both backends and the 404 endpoint in neither", func(t *testing.T) {
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
		assert.Equal(t, want, s.intake.TagValues(rows["request_count_total"].DDName, endpointTag))
		for _, absent := range s.endpointsWithoutMetrics(t) {
			assert.NotContains(t, inPrometheus, absent)
			assert.NotContains(t, s.intake.TagValues(rows["request_count_total"].DDName, endpointTag), absent)
		}
	})

	t.Run("documented names reach both backends", func(t *testing.T) {
		promNames, err := s.prometheus.metricNames()
		require.NoError(t, err)
		ddNames := s.intake.MetricNames()
		for family, row := range rows {
			if row.Kind == "histogram" {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					assert.Contains(t, promNames, row.PromName+suffix, family)
				}
			} else {
				assert.Contains(t, promNames, row.PromName, family)
			}
			assert.Contains(t, ddNames, row.DDName, family)
		}
	})

	for name, ep := range truth.Endpoints {
		t.Run(name, func(t *testing.T) {
			checkEndpoint(t, s, rows, name, ep.Windows, true)
		})
	}

	t.Run("GPU series per GPU", func(t *testing.T) {
		row := rows["gpu_usage_percentage"]
		series, err := s.prometheus.rawSamples(selector(row.PromName, map[string]string{endpointLabel: "gpu-endpoint-0"}))
		require.NoError(t, err)
		var gpus []string
		for _, ser := range series {
			gpus = append(gpus, ser.Labels["gpu"])
		}
		want := []string{"gpu0", "gpu1", "gpu2", "gpu3"}
		assert.Equal(t, want, sortedUnique(gpus))
		assert.Equal(t, want, s.intake.TagValues(row.DDName, "gpu"))
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
		series, err := s.prometheus.rawSamples(selector(rows["request_count_total"].PromName, map[string]string{endpointLabel: name}))
		if err != nil {
			return err
		}
		if !anySampleAt(series, last) {
			return fmt.Errorf("prometheus: %s has no request count at window %d yet", name, last)
		}
		if s.intake != nil && !anyDatadogPointAt(s.intake, rows["request_count_total"].DDName, map[string]string{endpointTag: name}, last/1000) {
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
		promMatch := map[string]string{endpointLabel: endpoint}
		ddMatch := map[string]string{endpointTag: endpoint}
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

func checkHistogram(t *testing.T, s *stack, row metricRow, promMatch, ddMatch map[string]string, what string, windows map[int64]*simulator.HistogramTruth, baseline, last int64) {
	counts := map[int64]float64{}
	var merged *simulator.HistogramTruth
	for ts, h := range windows {
		if ts == baseline {
			continue
		}
		counts[ts] = float64(h.Count)
		if merged == nil {
			merged = &simulator.HistogramTruth{Bounds: h.Bounds, CumulativeCounts: make([]uint64, len(h.CumulativeCounts))}
		}
		for i, c := range h.CumulativeCounts {
			merged.CumulativeCounts[i] += c
		}
		merged.Count += h.Count
		merged.Sum += h.Sum
	}
	require.NotNil(t, merged, "%s: no counted window", what)

	countSamples := onlySeries(t, s.prometheus, selector(row.PromName+"_count", promMatch))
	wantCounts := cumulativeWithZeroPoint(counts)
	assert.Equal(t, wantCounts, withoutResumedTotals(samplesUntil(countSamples, last), wantCounts), "prometheus %s_count", what)
	if s.intake != nil {
		assert.Equal(t, int64(merged.Count), s.intake.SketchCountUntil(row.DDName, ddMatch, last/1000), "datadog %s: observations in the distribution", what)
	}
	if merged.Count == 0 {
		return // no latency to take a quantile of (a scaled-to-zero endpoint that stayed idle)
	}
	for _, q := range []float64{0.5, 0.99} {
		// Prometheus' histogram_quantile finds the bucket holding rank q·n.
		lower, upper := bucketHolding(merged, q*float64(merged.Count))
		values, err := s.prometheus.instant(fmt.Sprintf("histogram_quantile(%g, %s)", q, selector(row.PromName+"_bucket", promMatch)), last)
		require.NoError(t, err)
		require.Len(t, values, 1, "prometheus %s p%g", what, q*100)
		assert.True(t, values[0] > lower && values[0] <= upper, "prometheus %s p%g = %v, want in the truth bucket (%v, %v]", what, q*100, values[0], lower, upper)

		if s.intake == nil {
			continue
		}
		// Datadog's sketches answer with the observation of rank round(q·(n−1)) (0-based), within ~1 %.
		rank := math.RoundToEven(q*float64(merged.Count-1)) + 1
		lower, upper = bucketHolding(merged, rank)
		got, ok := s.intake.SketchQuantileUntil(row.DDName, ddMatch, q, last/1000)
		require.True(t, ok, "datadog %s p%g", what, q*100)
		const relativeAccuracy = 0.01
		assert.True(t, got >= lower*(1-relativeAccuracy) && got <= upper*(1+relativeAccuracy), "datadog %s p%g = %v, want in the truth bucket [%v, %v]", what, q*100, got, lower, upper)
	}
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
