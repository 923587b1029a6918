// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"encoding/json"
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

// prometheusServer is a real Prometheus (Debian's package) with its remote-write receiver on 127.0.0.1.
type prometheusServer struct {
	port    int
	binary  string
	args    []string
	process *process
	starts  int
}

func startPrometheus(t *testing.T) *prometheusServer {
	t.Helper()
	binary, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus is not installed: run `make deps` (Debian package prometheus)")
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "prometheus.yml")
	// No scrape jobs: every sample arrives by remote write from the collector.
	require.NoError(t, os.WriteFile(config, []byte("global:\n  evaluation_interval: 1m\n"), 0o644))
	p := &prometheusServer{port: freePort(t), binary: binary}
	p.args = []string{
		"--config.file=" + config,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", p.port),
		"--web.enable-remote-write-receiver",
		"--log.level=warn",
	}
	p.start(t)
	return p
}

// start runs Prometheus (again, on the same port and storage after stop) and waits until it is ready.
func (p *prometheusServer) start(t *testing.T) {
	t.Helper()
	name := "prometheus"
	if p.starts > 0 {
		name = fmt.Sprintf("prometheus-%d", p.starts)
	}
	p.starts++
	p.process = startProcess(t, name, p.binary, p.args, nil)
	waitHTTP200(t, p.process, localURL(p.port, "/-/ready"), 60*time.Second)
}

// stop stops Prometheus: remote writes fail until start.
func (p *prometheusServer) stop(t *testing.T) { p.process.stop(t) }

func (p *prometheusServer) remoteWriteURL() string { return localURL(p.port, "/api/v1/write") }

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
	defer resp.Body.Close()
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
