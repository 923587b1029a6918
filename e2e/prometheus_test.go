// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// prometheus3 is the Prometheus 3 binary: `make test-e2e` builds it from the module pinned in
// internal/tools/prometheus and passes its path.
var prometheus3 = flag.String("prometheus3", "", "the Prometheus 3 binary (default <repo-root>/.tools/prometheus3, built by `make test-e2e`)")

// promtool3 is Prometheus 3's promtool, built from the same module: the documentation's Prometheus examples are
// checked with both versions (examples_test.go).
var promtool3 = flag.String("promtool3", "", "Prometheus 3's promtool (default <repo-root>/.tools/promtool3, built by `make test-e2e`)")

// prometheusServer is a real Prometheus (Debian's 2.42 package, or the pinned 3.x) with its remote-write receiver
// on 127.0.0.1.
type prometheusServer struct {
	port    int
	binary  string
	args    []string
	process *process
	starts  int
	name    string
}

// startPrometheus starts Debian's Prometheus 2.42, which takes remote writes only: it is the version the suite
// has always run, and the one `make run` starts by default.
func startPrometheus(t *testing.T) *prometheusServer {
	t.Helper()
	binary, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus is not installed: run `make deps` (Debian package prometheus)")
	}
	// No scrape jobs: every sample arrives by remote write from the collector.
	p := launchPrometheus(t, "prometheus", binary, "global:\n  evaluation_interval: 1m\n")
	p.waitReady(t)
	return p
}

// launchPrometheus3 starts the pinned Prometheus 3 with config as its prometheus.yml and extra flags (the OTLP
// receiver's), and returns without waiting until it is ready (waitReady), so that several start side by side.
// Its remote-write receiver is on, like 2.42's.
func launchPrometheus3(t *testing.T, name, config string, extraArgs ...string) *prometheusServer {
	t.Helper()
	binary := *prometheus3
	if binary == "" {
		binary = filepath.Join(*repoRoot, ".tools", "prometheus3")
	}
	if _, err := os.Stat(binary); err != nil {
		t.Fatalf("Prometheus 3 is missing (%v): `make test-e2e` builds it (make .tools/prometheus3), or pass -prometheus3", err)
	}
	return launchPrometheus(t, name, binary, config, extraArgs...)
}

func launchPrometheus(t *testing.T, name, binary, config string, extraArgs ...string) *prometheusServer {
	t.Helper()
	dir := t.TempDir()
	configFile := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(configFile, []byte(config), 0o644))
	p := &prometheusServer{port: freePort(t), binary: binary, name: name}
	p.args = append([]string{
		"--config.file=" + configFile,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", p.port),
		"--web.enable-remote-write-receiver",
		"--log.level=warn",
	}, extraArgs...)
	p.launch(t)
	return p
}

// start runs Prometheus (again, on the same port and storage after stop) and waits until it is ready.
func (p *prometheusServer) start(t *testing.T) {
	t.Helper()
	p.launch(t)
	p.waitReady(t)
}

func (p *prometheusServer) launch(t *testing.T) {
	t.Helper()
	name := p.name
	if p.starts > 0 {
		name = fmt.Sprintf("%s-%d", p.name, p.starts)
	}
	p.starts++
	p.process = startProcess(t, name, p.binary, p.args, nil)
}

func (p *prometheusServer) waitReady(t *testing.T) {
	t.Helper()
	waitHTTP200(t, p.process, localURL(p.port, "/-/ready"), 60*time.Second)
}

// stop stops Prometheus: remote writes fail until start.
func (p *prometheusServer) stop(t *testing.T) { p.process.stop(t) }

func (p *prometheusServer) remoteWriteURL() string { return localURL(p.port, "/api/v1/write") }

// otlpURL is the base URL of Prometheus 3's OTLP receiver (--web.enable-otlp-receiver); the otlphttp exporter
// appends /v1/metrics.
func (p *prometheusServer) otlpURL() string { return localURL(p.port, "/api/v1/otlp") }

// sample is one raw sample of a series.
type sample struct {
	TimestampMs int64
	Value       float64
}

type promSeries struct {
	Labels  map[string]string
	Samples []sample
}

func (p *prometheusServer) get(path string, params url.Values, result any) error {
	resp, err := http.Get(localURL(p.port, path) + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	var envelope struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&envelope); err != nil {
		return fmt.Errorf("%s: decoding: %w", path, err)
	}
	if envelope.Status != "success" {
		return fmt.Errorf("%s %v: %s", path, params, envelope.Error)
	}
	return json.Unmarshal(envelope.Data, result)
}

// rawSamples returns every stored sample of the series matching selector (a range selector evaluated now).
func (p *prometheusServer) rawSamples(selector string) ([]promSeries, error) {
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		} `json:"result"`
	}
	params := url.Values{"query": {selector + "[1h]"}, "time": {strconv.FormatInt(time.Now().Unix()+1, 10)}}
	if err := p.get("/api/v1/query", params, &data); err != nil {
		return nil, err
	}
	out := make([]promSeries, 0, len(data.Result))
	for _, r := range data.Result {
		s := promSeries{Labels: r.Metric}
		for _, v := range r.Values {
			ts, _ := v[0].(float64)
			val, err := strconv.ParseFloat(v[1].(string), 64)
			if err != nil {
				return nil, err
			}
			s.Samples = append(s.Samples, sample{TimestampMs: int64(math.Round(ts * 1000)), Value: val})
		}
		out = append(out, s)
	}
	return out, nil
}

// instant evaluates expr at atMs and returns the vector's values by their labels' string form.
func (p *prometheusServer) instant(expr string, atMs int64) ([]float64, error) {
	var data struct {
		Result []struct {
			Value [2]any `json:"value"`
		} `json:"result"`
	}
	at := strconv.FormatFloat(float64(atMs)/1000, 'f', 3, 64)
	if err := p.get("/api/v1/query", url.Values{"query": {expr}, "time": {at}}, &data); err != nil {
		return nil, err
	}
	values := make([]float64, 0, len(data.Result))
	for _, r := range data.Result {
		v, err := strconv.ParseFloat(r.Value[1].(string), 64)
		if err != nil {
			return nil, err
		}
		values = append(values, v)
	}
	return values, nil
}

// metricNames lists every metric name Prometheus holds.
func (p *prometheusServer) metricNames() ([]string, error) {
	var names []string
	err := p.get("/api/v1/label/__name__/values", url.Values{}, &names)
	sort.Strings(names)
	return names, err
}

// labeledValue is one element of an instant vector.
type labeledValue struct {
	Labels map[string]string
	Value  float64
}

// instantWithLabels evaluates expr at atMs and returns each element of the vector with its labels.
func (p *prometheusServer) instantWithLabels(expr string, atMs int64) ([]labeledValue, error) {
	var data struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	at := strconv.FormatFloat(float64(atMs)/1000, 'f', 3, 64)
	if err := p.get("/api/v1/query", url.Values{"query": {expr}, "time": {at}}, &data); err != nil {
		return nil, err
	}
	out := make([]labeledValue, 0, len(data.Result))
	for _, r := range data.Result {
		v, err := strconv.ParseFloat(r.Value[1].(string), 64)
		if err != nil {
			return nil, err
		}
		out = append(out, labeledValue{Labels: r.Metric, Value: v})
	}
	return out, nil
}

// labelNames lists the label names of the series of metric (none when Prometheus holds no such metric).
func (p *prometheusServer) labelNames(metric string) ([]string, error) {
	var names []string
	err := p.get("/api/v1/labels", url.Values{"match[]": {metric}}, &names)
	return names, err
}

// instantSeries evaluates expr now and returns the labels of each result.
func (p *prometheusServer) instantSeries(expr string) ([]map[string]string, error) {
	return p.instantSeriesAt(expr, 0)
}

// instantSeriesAt evaluates expr at atMs (0: now) and returns the labels of each result.
func (p *prometheusServer) instantSeriesAt(expr string, atMs int64) ([]map[string]string, error) {
	var data struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
		} `json:"result"`
	}
	params := url.Values{"query": {expr}}
	if atMs != 0 {
		params.Set("time", strconv.FormatFloat(float64(atMs)/1000, 'f', 3, 64))
	}
	if err := p.get("/api/v1/query", params, &data); err != nil {
		return nil, err
	}
	out := make([]map[string]string, 0, len(data.Result))
	for _, r := range data.Result {
		out = append(out, r.Metric)
	}
	return out, nil
}
