// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package ddintake

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/DataDog/agent-payload/v5/gogen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSeriesDecoding(t *testing.T) {
	counter := protoSeries("databricks.serving.requests", gogen.MetricPayload_COUNT, "host-a",
		[]string{"endpoint:chat", "status:200"}, Point{100, 3}, Point{110, 4})
	counter.Resources = append(counter.Resources, &gogen.MetricPayload_Resource{Type: "device", Name: "gpu0"})
	counter.Interval = 10
	gauge := protoSeries("databricks.serving.cpu", gogen.MetricPayload_GAUGE, "", []string{"endpoint:chat"}, Point{100, 0.25})
	gauge.Unit = "percent"
	payload := marshalSeries(t, counter, gauge)

	want := []Series{
		{
			Metric: "databricks.serving.requests", Type: "count", Tags: []string{"endpoint:chat", "status:200"},
			Host: "host-a", Resources: map[string]string{"host": "host-a", "device": "gpu0"}, Interval: 10,
			Points: []Point{{100, 3}, {110, 4}},
		},
		{
			Metric: "databricks.serving.cpu", Type: "gauge", Tags: []string{"endpoint:chat"}, Unit: "percent",
			Points: []Point{{100, 0.25}},
		},
	}

	for _, encoding := range []string{"deflate", "gzip", ""} {
		t.Run("encoding="+encoding, func(t *testing.T) {
			ti := newTestIntake(t)
			code, body := ti.post(t, PathSeries, testAPIKey, encoding, compress(t, encoding, payload))
			require.Equal(t, http.StatusAccepted, code, body)
			assert.JSONEq(t, `{"errors":[]}`, body)
			assert.Equal(t, want, ti.Series())
			assert.Equal(t, map[string]int{PathSeries: 1}, ti.Requests())
		})
	}
}

func TestMetricTypeNames(t *testing.T) {
	for typ, name := range map[gogen.MetricPayload_MetricType]string{
		gogen.MetricPayload_UNSPECIFIED: "unspecified",
		gogen.MetricPayload_COUNT:       "count",
		gogen.MetricPayload_RATE:        "rate",
		gogen.MetricPayload_GAUGE:       "gauge",
	} {
		assert.Equal(t, name, metricTypeName(typ))
	}
	assert.Equal(t, "7", metricTypeName(7), "unknown types stay visible")
}

func TestSketchDecoding(t *testing.T) {
	ti := newTestIntake(t)
	d := dogsketch(200, []float64{1, 2, 3, 4, 100})
	ti.postSketches(t, gogen.SketchPayload_Sketch{
		Metric: "databricks.serving.latency", Host: "host-a", Tags: []string{"endpoint:chat"},
		Dogsketches: []gogen.SketchPayload_Sketch_Dogsketch{d},
	})

	got := ti.Sketches()
	require.Len(t, got, 1)
	assert.Equal(t, "databricks.serving.latency", got[0].Metric)
	assert.Equal(t, "host-a", got[0].Host)
	assert.Equal(t, []string{"endpoint:chat"}, got[0].Tags)
	require.Len(t, got[0].Points, 1)
	p := got[0].Points[0]
	assert.Equal(t, SketchPoint{
		Timestamp: 200, Count: 5, Sum: 110, Min: 1, Max: 100, Avg: 22, Keys: d.K, Counts: d.N,
	}, p)
	assert.Len(t, p.Keys, 5, "five distinct values fall into five bins")
}

func TestWrongAPIKeyIsRejected(t *testing.T) {
	ti := newTestIntake(t)
	series := compress(t, "deflate", marshalSeries(t, protoSeries("m", gogen.MetricPayload_COUNT, "h", nil, Point{1, 1})))
	sketches := compress(t, "deflate", marshalSketches(t, gogen.SketchPayload_Sketch{
		Metric: "d", Dogsketches: []gogen.SketchPayload_Sketch_Dogsketch{dogsketch(1, []float64{1})},
	}))

	for _, key := range []string{"wrong", ""} {
		code, body := ti.post(t, PathSeries, key, "deflate", series)
		assert.Equal(t, http.StatusForbidden, code)
		assert.JSONEq(t, `{"errors":["Forbidden"]}`, body)
		code, _ = ti.post(t, PathSketches, key, "deflate", sketches)
		assert.Equal(t, http.StatusForbidden, code)
	}
	assert.Empty(t, ti.Series())
	assert.Empty(t, ti.Sketches())
	assert.Empty(t, ti.MetricNames())
	assert.Equal(t, map[string]int{
		PathSeries:                         2,
		PathSketches:                       2,
		CountRejected:                      4,
		CountRejected + ":" + PathSeries:   2,
		CountRejected + ":" + PathSketches: 2,
	}, ti.Requests())
}

func TestInvalidPayloads(t *testing.T) {
	valid := marshalSeries(t, protoSeries("m", gogen.MetricPayload_COUNT, "h", nil, Point{1, 1}))
	tests := []struct {
		name     string
		method   string
		path     string
		encoding string
		body     []byte
		want     int
	}{
		{"unknown encoding", http.MethodPost, PathSeries, "br", valid, http.StatusUnsupportedMediaType},
		{"zstd", http.MethodPost, PathSketches, "zstd", valid, http.StatusUnsupportedMediaType},
		{"not a zlib stream", http.MethodPost, PathSeries, "deflate", valid, http.StatusBadRequest},
		{"not a gzip stream", http.MethodPost, PathSeries, "gzip", valid, http.StatusBadRequest},
		{"truncated protobuf", http.MethodPost, PathSeries, "", []byte{0x0a, 0xff, 0xff}, http.StatusBadRequest},
		{"truncated sketch protobuf", http.MethodPost, PathSketches, "", []byte{0x0a, 0x05, 0x0a}, http.StatusBadRequest},
		{"not JSON", http.MethodPost, PathIntake, "", []byte("{"), http.StatusBadRequest},
		{"GET on a payload path", http.MethodGet, PathSeries, "", nil, http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ti := newTestIntake(t)
			code, body := ti.do(t, tt.method, tt.path, testAPIKey, tt.encoding, tt.body)
			assert.Equal(t, tt.want, code, body)
			assert.Empty(t, ti.Series())
			assert.Empty(t, ti.HostMetadata())
			assert.Equal(t, 1, ti.Requests()[CountInvalid+":"+tt.path])
		})
	}
}

func TestHostMetadata(t *testing.T) {
	ti := newTestIntake(t)
	doc := []byte(`{"internalHostname":"host-a","meta":{"hostname":"host-a"}}`)
	for _, tc := range []struct{ path, encoding string }{{PathIntake, "gzip"}, {"/intake", "deflate"}, {PathIntake, ""}} {
		code, body := ti.post(t, tc.path, testAPIKey, tc.encoding, compress(t, tc.encoding, doc))
		require.Equal(t, http.StatusAccepted, code, body)
	}

	docs := ti.HostMetadata()
	require.Len(t, docs, 3)
	for _, got := range docs {
		var meta struct {
			InternalHostname string `json:"internalHostname"`
		}
		require.NoError(t, json.Unmarshal(got, &meta))
		assert.Equal(t, "host-a", meta.InternalHostname)
	}
	assert.Equal(t, 2, ti.Requests()[PathIntake])
	assert.Equal(t, 1, ti.Requests()["/intake"])
}

func TestDecodeJSONSeriesOfTheNativePath(t *testing.T) {
	body := []byte(`{"series":[{"metric":"databricks.serving.request.count","type":1,"interval":10,
		"tags":["databricks.serving.endpoint.name:cpu-endpoint-0"],"resources":[{"name":"otelcol-databricks","type":"host"}],
		"points":[{"timestamp":1788718020,"value":37}]}]}`)
	series, err := decodeSeries(body, "application/json")
	require.NoError(t, err)
	require.Len(t, series, 1)
	assert.Equal(t, "count", series[0].Type)
	assert.Equal(t, "otelcol-databricks", series[0].Host)
	assert.Equal(t, []Point{{Timestamp: 1788718020, Value: 37}}, series[0].Points)
}
