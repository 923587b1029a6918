// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package ddintake

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/DataDog/agent-payload/v5/gogen"
	"github.com/DataDog/datadog-agent/pkg/util/quantile"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

const testAPIKey = "0123456789abcdef0123456789abcdef"

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testIntake is a Server behind httptest plus a client whose connections are closed with the test.
type testIntake struct {
	*Server
	url    string
	client *http.Client
}

func newTestIntake(t *testing.T) *testIntake {
	t.Helper()
	s := New(testAPIKey)
	hs := httptest.NewServer(s.Handler())
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(func() {
		transport.CloseIdleConnections()
		hs.Close()
	})
	return &testIntake{Server: s, url: hs.URL, client: &http.Client{Transport: transport, Timeout: 10 * time.Second}}
}

// post sends body to path with the given API key ("" sends no key) and Content-Encoding ("" sends none).
func (ti *testIntake) post(t *testing.T, path, apiKey, encoding string, body []byte) (int, string) {
	t.Helper()
	return ti.do(t, http.MethodPost, path, apiKey, encoding, body)
}

func (ti *testIntake) do(t *testing.T, method, path, apiKey, encoding string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, ti.url+path, bytes.NewReader(body))
	require.NoError(t, err)
	if apiKey != "" {
		req.Header.Set("DD-API-KEY", apiKey)
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := ti.client.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	respBody, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(respBody)
}

// compress encodes data as the exporter would for the given Content-Encoding.
func compress(t *testing.T, encoding string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch encoding {
	case "deflate":
		w = zlib.NewWriter(&buf)
	case "gzip":
		w = gzip.NewWriter(&buf)
	default:
		return data
	}
	_, err := w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func marshalSeries(t *testing.T, series ...*gogen.MetricPayload_MetricSeries) []byte {
	t.Helper()
	data, err := (&gogen.MetricPayload{Series: series}).Marshal()
	require.NoError(t, err)
	return data
}

func marshalSketches(t *testing.T, sketches ...gogen.SketchPayload_Sketch) []byte {
	t.Helper()
	data, err := (&gogen.SketchPayload{Sketches: sketches}).Marshal()
	require.NoError(t, err)
	return data
}

func protoSeries(metric string, typ gogen.MetricPayload_MetricType, host string, tags []string, points ...Point) *gogen.MetricPayload_MetricSeries {
	ps := &gogen.MetricPayload_MetricSeries{Metric: metric, Type: typ, Tags: tags}
	if host != "" {
		ps.Resources = []*gogen.MetricPayload_Resource{{Type: "host", Name: host}}
	}
	for _, p := range points {
		ps.Points = append(ps.Points, &gogen.MetricPayload_MetricPoint{Timestamp: p.Timestamp, Value: p.Value})
	}
	return ps
}

// dogsketch builds a Dogsketch of values exactly as the agent serializer does: an Agent sketch, its bins as
// columns and its summary.
func dogsketch(ts int64, values []float64) gogen.SketchPayload_Sketch_Dogsketch {
	var agent quantile.Agent
	for _, v := range values {
		agent.Insert(v, 1)
	}
	sk := agent.Finish()
	keys, counts := sk.Cols()
	cnt, minV, maxV, sum, avg := sk.BasicStats()
	return gogen.SketchPayload_Sketch_Dogsketch{
		Ts: ts, Cnt: cnt, Min: minV, Max: maxV, Sum: sum, Avg: avg, K: keys, N: counts,
	}
}

func (ti *testIntake) postSeries(t *testing.T, series ...*gogen.MetricPayload_MetricSeries) {
	t.Helper()
	code, body := ti.post(t, PathSeries, testAPIKey, "deflate", compress(t, "deflate", marshalSeries(t, series...)))
	require.Equal(t, http.StatusAccepted, code, body)
}

func (ti *testIntake) postSketches(t *testing.T, sketches ...gogen.SketchPayload_Sketch) {
	t.Helper()
	code, body := ti.post(t, PathSketches, testAPIKey, "deflate", compress(t, "deflate", marshalSketches(t, sketches...)))
	require.Equal(t, http.StatusAccepted, code, body)
}
